"""Counting conventions reproduce the peers exactly on the very modules our builder makes.

fvcore and torchinfo run real forward passes, so the models run at a reduced resolution
(``reduced_model``); the identity is exact at any resolution, so this loses nothing.
"""

from __future__ import annotations

import logging

import pytest
import torch

from cnninspect.analysis import analyze
from cnninspect.build import build_module
from cnninspect.conventions import CONVENTIONS
from cnninspect.ops import OPS

from conftest import all_variants, reduced_model, variant_id

VARIANTS = all_variants()
IDS = [variant_id(n, v) for n, v in VARIANTS]
BUDGET = 400_000_000


def test_every_convention_covers_every_op_kind():
    for conv in CONVENTIONS.values():
        assert set(conv.rules) == set(OPS), conv.name


def fvcore_counts(module: torch.nn.Module, shape: tuple[int, ...]):
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(module, torch.randn((1,) + shape))
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    return fca


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_fvcore_convention_equals_fvcore(name, variant):
    torch.manual_seed(0)
    model = reduced_model(name, variant, BUDGET)
    module = build_module(model)
    fca = fvcore_counts(module, model.input_shape)
    report = analyze(model, "fvcore")
    assert report.totals.mult_adds == fca.total()
    by_module = fca.by_module()
    for row in report.layers:
        assert by_module.get(row.name, 0) == row.mult_adds, row.name


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_torchinfo_convention_equals_torchinfo(name, variant):
    torchinfo = pytest.importorskip("torchinfo")
    torch.manual_seed(0)
    model = reduced_model(name, variant, BUDGET)
    module = build_module(model)
    stats = torchinfo.summary(module, input_size=(1,) + model.input_shape, verbose=0, device="cpu")
    report = analyze(model, "torchinfo")
    assert report.totals.mult_adds == stats.total_mult_adds
    assert report.totals.params == stats.total_params
    assert report.totals.trainable_params == stats.trainable_params


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_paper_convention_is_fvcore_conv_and_linear_only(name, variant):
    """The paper convention equals fvcore's conv + linear operator counts (plus RBF units)."""
    model = reduced_model(name, variant, BUDGET)
    module = build_module(model)
    fca = fvcore_counts(module, model.input_shape)
    ops = fca.by_operator()
    conv_linear = sum(v for k, v in ops.items() if k in ("conv", "linear", "addmm", "matmul"))
    layers = analyze(model).layers
    rbf = sum(r.mult_adds for r in layers if r.kind == "rbf")
    # fvcore's tracer drops side branches (aux classifiers) whose output is not returned
    side = sum(r.mult_adds for r in layers if r.side_branch)
    assert analyze(model).totals.mult_adds == conv_linear + rbf + side
