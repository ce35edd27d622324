"""The op-kind registry: one record per kind, everything about it in one place.

Coverage tests over the one registry (:data:`cnninspect.ops.kinds.KINDS`): every record is
complete and its parts name things that exist (module classes, aten operators, conventions).
Behaviour per kind is tested against real modules elsewhere (builder, memory, receptive
field, totals, tool parity); the worked example ``groupnorm`` is tested end to end here.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from cnninspect.build import modules as M
from cnninspect.ops.aten_rules import ATEN_OPS
from cnninspect.ops.conventions import CONVENTIONS
from cnninspect.ops.kind import Counts, OpKind, Role
from cnninspect.ops.kinds import KINDS, TEACH_KINDS


def test_every_record_is_registered_under_its_name_and_has_a_role():
    assert KINDS
    for name, record in KINDS.items():
        assert isinstance(record, OpKind) and record.kind == name
        assert isinstance(record.role, Role), name
        assert record.title and record.title == record.title.strip(), name


def test_every_role_is_used():
    assert {r.role for r in KINDS.values()} == set(Role)


def test_every_convention_is_a_counts_field_or_one_rule_for_all():
    fields = {f.name for f in dataclasses.fields(Counts)}
    for conv in CONVENTIONS.values():
        assert (conv.rule is not None) != (conv.name in fields), conv.name
    assert fields <= set(CONVENTIONS), "a Counts field no convention reads"


def test_every_aten_operator_a_record_names_is_registered():
    for name, record in KINDS.items():
        assert set(record.aten) <= set(ATEN_OPS), (name, set(record.aten) - set(ATEN_OPS))


def test_teach_kinds_are_windows():
    assert TEACH_KINDS
    for k in TEACH_KINDS:
        assert KINDS[k].role in (Role.CONV, Role.POOL) and KINDS[k].reduce, k


def _module_class(name: str) -> type:
    custom = getattr(M, name, None)
    return custom if isinstance(custom, type) and custom.__module__ == M.__name__ else getattr(nn, name)


def test_module_classes_of_the_bundled_ops_exist():
    """Every class a record builds for a bundled op is a module class (the builder test
    builds them all and compares the class it announces)."""
    from cnninspect.resolve.catalog import bundled_names
    from cnninspect.resolve.ir import ops

    from conftest import model_of

    seen = set()
    for name in bundled_names():
        for _q, op in ops(model_of(name).root):
            cls = KINDS[op.kind].torch_class(op.attrs)
            assert issubclass(_module_class(cls), nn.Module), cls
            seen.add(op.kind)
    assert {"conv2d", "bn2d", "act", "linear"} <= seen


# --- the worked example: groupnorm, one record end to end --------------------------------------

GN_SPEC = """
name: gn_net
input: {channels: 3, resolution: 20}
layers:
  - conv: {out: 16, kernel: 3}
  - name: gn
    groupnorm: 4
  - act: relu
  - conv: {out: 32, kernel: 3, stride: 2}
  - name: gn_plain
    gn: {groups: 8, affine: false, eps: 0.001}
  - maxpool: {kernel: 2}
  - avgpool: {global: true}
  - flatten
  - linear: {out: 10}
"""


def _gn_model():
    from cnninspect.lang.spec import spec_from_text
    from cnninspect.resolve.resolver import resolve

    return resolve(spec_from_text(GN_SPEC))


def _gn_reference() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, padding=1),
        nn.GroupNorm(8, 32, eps=0.001, affine=False), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, 10),
    )


def test_groupnorm_builds_a_real_group_norm():
    from cnninspect.build.builder import build_module

    model = _gn_model()
    module = build_module(model)
    gn, plain = module.get_submodule("gn"), module.get_submodule("gn_plain")
    assert type(gn) is nn.GroupNorm and (gn.num_groups, gn.num_channels, gn.eps, gn.affine) == (4, 16, 1e-5, True)
    assert type(plain) is nn.GroupNorm and (plain.num_groups, plain.num_channels, plain.affine) == (8, 32, False)
    assert plain.eps == 0.001
    rows = {r.name: r for r in __import__("cnninspect.measure.analysis", fromlist=["analyze"]).analyze(model).rows}
    assert rows["gn"].params == sum(p.numel() for p in gn.parameters()) == 32
    assert rows["gn_plain"].params == 0 and rows["gn"].type == "GroupNorm"


def test_groupnorm_counts_equal_the_tools_in_every_convention():
    """Parameters, outputs and every convention against the tools run on a hand-written
    module with real nn.GroupNorm layers (fvcore under no_grad, torchinfo, ptflops, thop,
    FlopCounterMode)."""
    from reftools import assert_every_convention

    counts = assert_every_convention(_gn_model(), _gn_reference())
    assert set(counts) >= {"paper", "fvcore", "torchinfo", "ptflops", "thop", "flopcounter"}
    # the group norms themselves: fvcore 5 (affine) and 4 per element, ptflops 2 and 1, thop 4 and 2
    elements = (16 * 20 * 20, 32 * 10 * 10)
    assert counts["fvcore"] - counts["paper"] == 5 * elements[0] + 4 * elements[1] + 32 * 5 * 5  # + avg pool
    assert counts["thop"] - counts["paper"] == 4 * elements[0] + 2 * elements[1] + 32 * 5 * 5 + 32  # + avg pool


def test_groupnorm_saves_what_autograd_saves():
    import torch

    from cnninspect.build.builder import build_module
    from cnninspect.measure.memory import MemorySettings, memory_report
    from test_memory import saved_by_autograd

    model = _gn_model()
    computed = memory_report(model, MemorySettings(batch=2)).training.saved_activation_bytes
    torch.manual_seed(0)
    measured = saved_by_autograd(build_module(model).train(), torch.randn((2,) + tuple(model.input_shape)))
    assert computed == measured


def test_groupnorm_refuses_channels_its_groups_do_not_divide():
    import pytest

    from cnninspect.base.errors import SpecError

    with pytest.raises(SpecError, match="group normalisation in 5 groups needs channels divisible by it, got 16"):
        from cnninspect.lang.spec import spec_from_text
        from cnninspect.resolve.resolver import resolve

        resolve(spec_from_text(GN_SPEC.replace("groupnorm: 4", "groupnorm: 5")))


def test_the_worked_example_in_the_docs_is_the_record():
    """docs/architecture.md shows groupnorm's record as the code has it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(register_kind\(OpKind\(\n    \"groupnorm\".*?)```", doc, re.S)
    assert block in (root / "cnninspect" / "ops" / "kinds" / "norm.py").read_text(encoding="utf-8")
