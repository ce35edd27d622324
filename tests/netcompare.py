"""A bundled spec's whole network against its reference implementation (tests/reference/),
parameter by parameter *name*.

``reftools.assert_same_as`` pairs parameters by leaf name in order, which suits a block; a
whole network registers its modules in another order than it runs them (ConvNeXt's
``downsample_layers`` before its ``stages``, pycls's projection before the block's body), so
here a family gives the translation of each of our parameter names into the reference's
(``rename``) and the pairing is exact:

* :func:`assert_same_names`: the translation is a bijection onto the reference's parameters
  and every pair has the same shape (on the meta device: no storage, any size of network);
* :func:`assert_same_network`: additionally, with the reference's weights copied in by name,
  both give the same output, and the ``paper``, ``fvcore`` and ``torchinfo`` conventions equal
  fvcore's and torchinfo's counts measured on the reference module; ``--verify`` passes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.resolve.ir import Model
from cnninspect.build.verify import verify

from reftools import fvcore_counts, torchinfo_counts


def assert_same_names(ours: nn.Module, reference: nn.Module, rename: Callable[[str], str]) -> dict[str, str]:
    """Our parameter name -> the reference's, checked to be a bijection with equal shapes."""
    mine = dict(ours.named_parameters())
    theirs = dict(reference.named_parameters())
    mapping = {n: rename(n) for n in mine}
    assert len(set(mapping.values())) == len(mapping), "two of our parameters map to one of the reference's"
    assert set(mapping.values()) == set(theirs), (
        sorted(set(mapping.values()) - set(theirs))[:5], sorted(set(theirs) - set(mapping.values()))[:5])
    for n, m in mapping.items():
        assert mine[n].shape == theirs[m].shape, (n, m, mine[n].shape, theirs[m].shape)
    return mapping


def assert_same_network(model: Model, reference: nn.Module, rename: Callable[[str], str],
                        fvcore_delta: int = 0) -> dict[str, int]:
    """Everything :func:`assert_same_names` checks, plus the same output with the same weights
    and every convention's count measured on the reference; returns our counts.

    ``fvcore_delta``: how much more our ``fvcore`` count is than fvcore's on the reference,
    where the reference computes a layer with elementwise ops fvcore does not count (the
    ConvNeXt authors' hand-written channels-first layer norm); the caller derives it."""
    torch.manual_seed(0)
    ours = build_module(model).eval()
    reference = reference.eval()
    mapping = assert_same_names(ours, reference, rename)
    theirs = dict(reference.named_parameters())
    with torch.no_grad():
        for n, p in ours.named_parameters():
            p.copy_(theirs[mapping[n]])
        x = torch.randn((2,) + tuple(model.input_shape))
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)
    shape = tuple(model.input_shape)
    weights, fv_total = fvcore_counts(reference, shape)
    ti_macs, ti_params = torchinfo_counts(reference, shape)
    counts = {
        "params": analyze(model, "paper").totals.params,
        "paper": analyze(model, "paper").totals.mult_adds,
        "fvcore": analyze(model, "fvcore").totals.mult_adds,
        "torchinfo": analyze(model, "torchinfo").totals.mult_adds,
    }
    assert counts["params"] == sum(p.numel() for p in reference.parameters()) == ti_params
    assert (counts["paper"], counts["fvcore"], counts["torchinfo"]) == (weights, fv_total + fvcore_delta, ti_macs)
    v = verify(model)
    assert v.ok, v.mismatch.text()
    return counts
