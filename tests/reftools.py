"""Compare a spec's built module with a hand-written ``nn.Module`` doing the same thing.

:func:`assert_same_as` checks, for one spec and one reference module:

* parameters: the same tensors in the same order, by leaf name (``weight``, ``bias``,
  ``gamma``; a ``rename`` map covers a reference that names one differently) and shape
  (``numel`` where a reference keeps a different but equivalent shape);
* the computation: with the reference's weights copied in, both give the same output on a
  random input (so a split, a shuffle or a permute is the same one, not just as cheap);
* every convention: ``paper`` equals fvcore's convolution and linear counts on the
  reference, ``fvcore`` equals fvcore's total on it, ``torchinfo`` equals torchinfo's
  ``total_mult_adds`` on it; and the parameter totals equal;
* ``--verify``'s layer-by-layer check of the spec's own module passes.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.resolve.ir import Model
from cnninspect.build.verify import verify


def fvcore_counts(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(conv + linear multiply-adds, total) as fvcore counts them, eval mode, batch 1."""
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(module.eval(), torch.randn((1,) + shape))
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    by_op = fca.by_operator()
    weights = sum(v for k, v in by_op.items() if k in ("conv", "linear", "addmm", "matmul"))
    return int(weights), int(fca.total())


def torchinfo_counts(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(total_mult_adds, total_params) as torchinfo reports them, batch 1."""
    import torchinfo

    stats = torchinfo.summary(module.eval(), input_size=(1,) + shape, verbose=0, device="cpu")
    return int(stats.total_mult_adds), int(stats.total_params)


def _leaf(name: str) -> str:
    return name.rpartition(".")[2]


def _matched(mine: list[Any], theirs: list[Any], rename: dict[str, str]) -> list[Any]:
    """The reference's parameters in our order: each of ours takes the first unused one with
    the same leaf name and size (a module's own parameter, like torchvision ConvNeXt's
    ``layer_scale``, comes before its children's in ``named_parameters``)."""
    pool = list(theirs)
    out = []
    for n, p in mine:
        for i, (m, q) in enumerate(pool):
            if rename.get(_leaf(m), _leaf(m)) == _leaf(n) and q.numel() == p.numel():
                out.append(pool.pop(i))
                break
    return out + pool


def assert_same_as(model: Model, reference: nn.Module, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """Assert the spec's model equals ``reference`` in every respect listed above; returns the
    counts (for the caller's own pins)."""
    rename = rename or {}
    torch.manual_seed(0)
    ours = build_module(model)
    reference = reference.eval()
    mine = list(ours.named_parameters())
    theirs = _matched(mine, list(reference.named_parameters()), rename)
    assert [(_leaf(n), p.numel()) for n, p in mine] == [
        (rename.get(_leaf(n), _leaf(n)), p.numel()) for n, p in theirs
    ], "parameters differ"
    for (n, p), (m, q) in zip(mine, theirs):
        if rename.get(_leaf(m), _leaf(m)) == _leaf(m):
            assert p.shape == q.shape, (n, m)
    with torch.no_grad():
        for (_, p), (_, q) in zip(mine, theirs):
            p.copy_(q.reshape(p.shape))
        x = torch.randn((2,) + tuple(model.input_shape))
        y_ours, y_ref = ours(x), reference(x)
    assert tuple(y_ours.shape[1:]) == model.output_shape
    assert y_ours.shape == y_ref.shape
    torch.testing.assert_close(y_ours, y_ref, rtol=1e-5, atol=1e-5)

    shape = tuple(model.input_shape)
    weights, fv_total = fvcore_counts(reference, shape)
    ti_macs, ti_params = torchinfo_counts(reference, shape)
    paper = analyze(model, "paper").totals
    counts = {
        "params": paper.params,
        "paper": paper.mult_adds,
        "fvcore": analyze(model, "fvcore").totals.mult_adds,
        "torchinfo": analyze(model, "torchinfo").totals.mult_adds,
    }
    assert counts["params"] == sum(p.numel() for p in reference.parameters()) == ti_params
    assert counts["paper"] == weights, ("paper", counts["paper"], weights)
    assert counts["fvcore"] == fv_total, ("fvcore", counts["fvcore"], fv_total)
    assert counts["torchinfo"] == ti_macs, ("torchinfo", counts["torchinfo"], ti_macs)
    v = verify(model)
    assert v.ok, v.mismatch.text()
    return counts


def peer_counts(module: nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    """What ptflops, thop and FlopCounterMode report for ``module`` (eval mode, batch 1), by the
    convention that names each (FlopCounterMode's FLOPs halved into mult-adds); each tool
    runs on its own copy, since ptflops and thop attach hooks and attributes while counting."""
    import copy

    from cnninspect.build.peers import TOOLS, installed

    out = {}
    for tool in TOOLS.values():
        if tool.convention in ("fvcore", "torchinfo") or not installed(tool):
            continue
        x = torch.randn((1,) + shape)
        with torch.no_grad():
            total = tool.measure(copy.deepcopy(module).eval(), x)
        out[tool.convention] = int(round(float(total))) // tool.factor
    return out


def assert_every_convention(model: Model, reference: nn.Module, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """:func:`assert_same_as` (parameters, outputs, paper, fvcore, torchinfo, ``--verify``) plus
    ptflops, thop and FlopCounterMode measured on the reference: every convention; returns
    every count."""
    counts = assert_same_as(model, reference, rename)
    for name, measured in peer_counts(reference, tuple(model.input_shape)).items():
        counts[name] = analyze(model, name).totals.mult_adds
        assert counts[name] == measured, (name, counts[name], measured)
    return counts
