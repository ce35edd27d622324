"""The builder's real modules agree with the analysis, for every bundled spec and variant.

* reported parameters == sum(p.numel()) of the built module (trainable ones separately);
* the meta engine (module on the meta device) and the torch-free spec engine give identical
  rows, so ``list``/``sweep`` (spec) and ``summary`` (meta) can never disagree;
* every layer's shape equals a real CPU forward pass (at a reduced resolution for the big
  variants, to keep the suite fast; the full resolution is covered by the meta engine);
* every op kind's module class is the one its registry entry announces.
"""

from __future__ import annotations

import pytest
import torch

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.resolve.ir import ops
from cnninspect.ops.kinds import KINDS
from cnninspect.build.torch_engine import analyze_meta, observe_module

from conftest import SPECS, all_variants, model_of, reduced_model, variant_id

# forward passes above this many mult-adds run at a reduced resolution
REAL_FORWARD_BUDGET = 1_000_000_000


VARIANTS = all_variants()
IDS = [variant_id(n, v) for n, v in VARIANTS]


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_params_equal_the_built_module(name, variant):
    model = model_of(name, variant)
    report = analyze(model)
    module = build_module(model, device="meta")
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert report.totals.trainable_params == sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_meta_engine_equals_spec_engine(name, variant):
    model = model_of(name, variant)
    for convention in ("paper", "fvcore", "torchinfo"):
        assert analyze_meta(model, convention).rows == analyze(model, convention).rows


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_shapes_equal_a_real_forward_pass(name, variant):
    torch.manual_seed(0)
    model = reduced_model(name, variant, REAL_FORWARD_BUDGET)
    module = build_module(model)
    observed = observe_module(model, module, device="cpu")
    for qual, op in ops(model.root):
        assert observed[qual].in_shape == op.in_shape, qual
        assert observed[qual].out_shape == op.out_shape, qual
    with torch.no_grad():
        y = module(torch.randn((2,) + model.input_shape))
    assert tuple(y.shape[1:]) == model.output_shape
    assert torch.isfinite(y).all()


def test_every_op_kind_builds_the_announced_class():
    seen: set[str] = set()
    for name, variant in VARIANTS:
        model = model_of(name, variant)
        module = build_module(model, device="meta")
        for qual, op in ops(model.root):
            cls = type(module.get_submodule(qual)).__name__
            assert cls == KINDS[op.kind].torch_class(op.attrs), qual
            seen.add(op.kind)
    assert seen, "no ops seen"


def test_module_names_mirror_the_spec():
    model = model_of("mobilenet_v1")
    module = build_module(model, device="meta")
    names = {n for n, _ in module.named_modules() if n}
    assert {"conv1.conv", "sep1.dw.conv", "sep1.pw.conv", "sep7.4.pw.bn", "fc"} <= names
    row = next(r for r in analyze(model).rows if r.name == "sep7")
    assert row.origin.path == "layers[7]"
    text = (SPECS / "mobilenet_v1.yaml").read_text().splitlines()
    assert text[row.origin.line - 1].strip().startswith("- name: sep7")
