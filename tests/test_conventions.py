"""Counting conventions reproduce the peers exactly on the very modules our builder makes,
and ``--verify`` agrees with real tensors and fvcore layer by layer.

fvcore and torchinfo run real forward passes, so the models run at a reduced resolution
(``reduced_model``); the identity is exact at any resolution, so this loses nothing.
"""

from __future__ import annotations

import pytest
import torch

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.ops.conventions import CONVENTIONS
from cnninspect.ops.kinds import KINDS
from cnninspect.build.verify import verify

from conftest import all_variants, reduced_model, variant_id

VARIANTS = all_variants()
IDS = [variant_id(n, v) for n, v in VARIANTS]
BUDGET = 400_000_000


def test_every_convention_has_a_rule_or_none_for_every_op_kind():
    """Each convention is a field of every record's counts, or one rule for all kinds."""
    for conv in CONVENTIONS.values():
        for kind in KINDS:
            rule = conv.rule_for(kind)
            assert rule is None or callable(rule), (conv.name, kind)


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_verify_agrees_layer_by_layer_with_a_real_forward_pass_and_fvcore(name, variant):
    """``summary --verify``'s cross-check for every bundled spec and variant: per layer, shapes
    from a real CPU forward pass, parameters from the module, conv/linear multiply-adds and
    the fvcore convention against fvcore's per-module counts; and fvcore's total."""
    model = reduced_model(name, variant, BUDGET)
    v = verify(model)
    assert v.ok, v.mismatch.text()
    assert v.checks == 6 * v.layers
    assert v.fvcore_total == analyze(model, "fvcore").totals.mult_adds


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
