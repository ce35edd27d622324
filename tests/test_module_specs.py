"""Every bundled spec and variant: the summary of the spec equals the summary of its built
module passed as a Python object (``cnninspect.summary(build_module(model))``), row by row,
in every convention.

The module path knows nothing of the spec: it captures the aten operators of one forward
pass and lowers them onto the op records (:mod:`cnninspect.ops.lowering`), so this proves
that a call counted by its record (and the operator rules of :mod:`cnninspect.ops.aten_rules`
for the calls no record takes, torchinfo's module rule) gives the spec's count of every layer. Modules are built on the meta device (no weights, full resolution); one
real CPU module checks the path that copies a user's parameters to the meta device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import cnninspect
from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.capture.forward import capture
from cnninspect.ops.aten_rules import ATEN_TABLES as MODULE_CONVENTIONS
from cnninspect.resolve.ir import ops
from cnninspect.capture.module_analysis import analyze_trace, module_subject

from conftest import all_variants, model_of, variant_id

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = all_variants()
IDS = [variant_id(n, v) for n, v in VARIANTS]


def _row(r):
    return (r.name, r.depth, r.is_leaf, r.input_shape, r.output_shape, r.params, r.trainable_params, r.mult_adds,
            r.type if r.is_leaf else None, r.kernel if r.kind in ("conv2d", "module") and r.kernel else None)


def _spec_row(r):
    # global pooling: the spec shows the whole input as its window; a module has no kernel
    kernel = r.kernel if r.kind in ("conv2d", "maxpool2d", "avgpool2d", "conv_table") else None
    return _row(r)[:-1] + (kernel,)


def _module_row(r):
    kernel = r.kernel if r.type not in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Subsample2d") else None
    return _row(r)[:-1] + (kernel,)


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_spec_and_its_built_module_agree_row_by_row_in_every_convention(name, variant):
    model = model_of(name, variant)
    module = build_module(model, device="meta")
    trace = capture(module, model.input_shape)
    for convention in MODULE_CONVENTIONS:
        spec = analyze(model, convention)
        mod = analyze_trace(trace, convention, module_subject(trace, name))
        assert [_spec_row(r) for r in spec.rows] == [_module_row(r) for r in mod.rows], convention
        assert (mod.totals.params, mod.totals.trainable_params, mod.totals.mult_adds) == (
            spec.totals.params, spec.totals.trainable_params, spec.totals.mult_adds), convention
        assert mod.subject.output_shape == spec.subject.output_shape
    spec, mod = analyze(model, "paper"), analyze_trace(trace, "paper", module_subject(trace, name))
    # depth: LeNet-5's trainable subsampling is a weight layer in the paper's count, but its
    # operators are an average pool and an elementwise scale, not a convolution or a product
    subsampling = sum(1 for _, op in ops(model.root) if op.kind == "subsample")
    assert mod.subject.depth == spec.subject.depth - subsampling
    # activation memory: equal, except that a projection shortcut (ResNet) frees the block's
    # input once the shortcut's convolution has read it, where the spec engine keeps it to
    # the end of the shortcut
    assert mod.totals.largest_activation_elements == spec.totals.largest_activation_elements
    if name == "resnet" and variant in (None, "50", "101", "152"):
        assert mod.totals.peak_activation_elements < spec.totals.peak_activation_elements
    elif name in ("resnext", "wide_resnet"):  # the same blocks; wider bodies may hide the difference
        assert mod.totals.peak_activation_elements <= spec.totals.peak_activation_elements
    else:
        assert mod.totals.peak_activation_elements == spec.totals.peak_activation_elements


def test_the_spec_rows_a_module_report_cannot_reproduce_are_named():
    """LeNet-5: under fvcore the RBF layer's distances are listed as uncounted (fvcore has no
    handle for them) where the spec convention says 0; the count is the same."""
    model = model_of("lenet5")
    trace = capture(build_module(model, device="meta"), model.input_shape)
    fv = analyze_trace(trace, "fvcore", module_subject(trace, "lenet5"))
    assert fv.uncounted == (("aten._cdist_forward", 1),)
    assert fv.totals.mult_adds == analyze(model, "fvcore").totals.mult_adds


def test_a_real_cpu_module_passed_from_python():
    """Weights on the CPU: analysed through meta copies, without computing anything."""
    model = model_of("mobilenet_v1", resolution=128)
    torch.manual_seed(0)
    module = build_module(model)
    for convention in MODULE_CONVENTIONS:
        r = cnninspect.summary(module, (1, *model.input_shape), convention=convention)
        spec = analyze(model, convention)
        assert [_module_row(x) for x in r.rows] == [_spec_row(x) for x in spec.rows]
        assert r.report.engine == "module-meta"


def test_ptflops_and_thop_conventions_on_a_python_file_equal_the_tools():
    """``--convention ptflops`` / ``thop`` on a Python file: the tools' own numbers, as their
    users call them (ptflops with a per-image input size, thop with a batch of one)."""
    import contextlib
    import io
    import json

    from conftest import invoke

    pytest.importorskip("ptflops")
    pytest.importorskip("thop")
    import thop
    from ptflops import get_model_complexity_info

    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        import my_model
    finally:
        sys.path.pop(0)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = {
            "ptflops": get_model_complexity_info(my_model.Net().eval(), (3, 32, 32), as_strings=False,
                                                 print_per_layer_stat=False)[0],
            "thop": int(thop.profile(my_model.Net(), (torch.randn(1, 3, 32, 32),), verbose=False)[0]),
        }
    for convention, total in theirs.items():
        r = invoke("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--convention", convention,
                   "--format", "json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["totals"]["mult_adds"] == total, convention
