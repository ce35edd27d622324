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

