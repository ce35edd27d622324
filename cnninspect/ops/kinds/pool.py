"""Pooling: sliding windows without weights (role ``POOL``; LeNet's subsampling scales its
average by a learned coefficient) and reductions of the whole map (role ``GLOBAL``)."""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable

from ..counting import POOLING, elements, per_element, ptflops_pool
from ..formulas import Formula, affine, formula, term
from ..kind import (
    INDEX_BYTES, SAVES_INPUT, SAVES_NOTHING, Counts, ModuleRecipe, OpFacts, OpKind, ReshapeRule, Role, Saves, const,
    call_pair, call_window, global_pool, keep, register_kind, window,
)
from ..primitives import Attrs, Shape, ShapeError, adaptive_size, adaptive_windows, need_map, window_shape

WINDOW = ReshapeRule(keep, "window")
WHOLE_MAP = ReshapeRule(keep, "global")
THOP_POOL = "average pooling, 1 per pooled input + 1 per output"


def _pool_infer(what: str) -> Callable[[Attrs, Shape], Shape]:
    def infer(attrs: Attrs, shape: Shape) -> Shape:
        c = need_map(shape, what)[0]
        kh, kw = attrs["kernel"]
        t, b, left, r = attrs["pad"]
        if max(t, b) > kh // 2 or max(left, r) > kw // 2:
            raise ShapeError(f"{what} padding must be at most half the kernel size")
        return window_shape(attrs, shape, what, c)

    return infer


def _pool_module(cls: str, average: bool) -> Callable[[Attrs], ModuleRecipe]:
    def make(a: Attrs) -> ModuleRecipe:
        t, _b, left, _r = a["pad"]
        kwargs = {"ceil_mode": a["ceil_mode"]}
        if average:
            kwargs["count_include_pad"] = a["count_include_pad"]
        return ModuleRecipe(cls, (a["kernel"], a["stride"], (t, left)), kwargs)

    return make


def _ceil_detail(a: Attrs) -> str:
    return "ceil" if a.get("ceil_mode") else ""


def _max_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    """Its input and the int64 index of each output's maximum."""
    return Saves(input=True, index_bytes=INDEX_BYTES * math.prod(o))


def _pool_from_call(call: Any) -> Attrs | None:
    """``aten.max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ...)``,
    ``aten.max_pool2d`` (the same arguments; the operator a pool without indices may run) and
    ``aten.avg_pool2d(input, kernel_size, stride, padding, ...)`` (no dilation)."""
    dilation = call.arg(4, "dilation", 1) if call.op.startswith("max") else 1
    return call_window(call_pair(call.arg(1, "kernel_size"), (1, 1)), call.arg(2, "stride", ()),
                       call.arg(3, "padding", 0), dilation)


def _adaptive_from_call(call: Any) -> Attrs | None:
    """``aten._adaptive_avg_pool2d(input, output_size)`` and ``adaptive_max_pool2d`` of a 2-d
    pool (``None`` for the 1-d pools PyTorch runs on them), and the ``aten.mean`` with which
    ``adaptive_avg_pool2d`` computes a pool to one position: global when it pools to one
    position."""
    if call.via not in (None, "adaptive_avg_pool2d", "adaptive_max_pool2d"):
        return None
    if call.op == "mean":
        return {}
    size = call_pair(call.arg(1, "output_size"), (1, 1))
    return {} if size == (1, 1) else {"size": size}


register_kind(OpKind(
    "maxpool2d", "max pooling", Role.POOL, _pool_infer("max pooling"), _pool_module("MaxPool2d", False),
    counts=Counts(ptflops=ptflops_pool("F.max_pool2d")), saves=_max_saves, field=window, reshape=WINDOW,
    aten=("max_pool2d_with_indices", "max_pool2d"), from_call=_pool_from_call, reduce="max", detail=_ceil_detail,
    teach=True,
))


def _window_sum(size: int, out: int, k: int, s: int, p: int, include_pad: bool) -> int:
    """Input elements summed over the windows of one axis, as average pooling clips them."""
    lower, upper = (-p, size + p) if include_pad else (0, size)
    return sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(out))


def _thop_avgpool(f: OpFacts) -> Formula:
    c, h, w = f.in_shape
    _, oh, ow = f.out_shape
    (kh, kw), (sh, sw) = f.attrs["kernel"], f.attrs["stride"]
    top, _b, left, _r = f.attrs["pad"]
    include = f.attrs["count_include_pad"]
    return formula(
        term(THOP_POOL, ("C", c), ("window rows", _window_sum(h, oh, kh, sh, top, include)),
             ("window cols", _window_sum(w, ow, kw, sw, left, include)), label="one add per pooled input"),
        term(THOP_POOL, ("C", c), ("H_out", oh), ("W_out", ow), label="one divide per output"),
    )


register_kind(OpKind(
    "avgpool2d", "average pooling", Role.POOL, _pool_infer("average pooling"), _pool_module("AvgPool2d", True),
    counts=Counts(ptflops=ptflops_pool("F.avg_pool2d"), thop=_thop_avgpool), saves=const(SAVES_INPUT),
    field=window, reshape=WINDOW, aten=("avg_pool2d",), from_call=_pool_from_call, reduce="mean",
    detail=_ceil_detail, teach=True,
))

# --- global and adaptive pooling ----------------------------------------------------------------


def _global_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "global pooling" if "size" not in attrs else "adaptive pooling")[0]
    return (c,) + adaptive_size(attrs)


def _thop_adaptive_avgpool(f: OpFacts) -> Formula:
    """``count_adap_avgpool``: one add per input of every window PyTorch pools (the windows
    overlap when the output size does not divide the input), one divide per output; a global
    pool (1 x 1) is every input element plus one divide per channel."""
    if "size" not in f.attrs:
        return formula(
            elements(f.in_shape, THOP_POOL, "one add per pooled input"),
            term(THOP_POOL, ("C", f.in_shape[0]), label="one divide per output"),
        )
    c, h, w = f.in_shape
    _, oh, ow = f.out_shape
    rows = sum(b - a for a, b in adaptive_windows(h, oh))
    cols = sum(b - a for a, b in adaptive_windows(w, ow))
    return formula(
        term(THOP_POOL, ("C", c), ("window rows", rows), ("window cols", cols), label="one add per pooled input"),
        term(THOP_POOL, ("C", c), ("H_out", oh), ("W_out", ow), label="one divide per output"),
    )


register_kind(OpKind(
    "gavgpool", "global average pooling", Role.GLOBAL, _global_infer,
    lambda a: ModuleRecipe("AdaptiveAvgPool2d", (a.get("size", 1),)),
    counts=Counts(fvcore=per_element(POOLING), ptflops=ptflops_pool("F.adaptive_avg_pool2d"),
                  thop=_thop_adaptive_avgpool),
    # global: a mean over the map, keeps only its shape; to a fixed size: _adaptive_avg_pool2d keeps its input
    saves=lambda a, i, o: SAVES_INPUT if "size" in a else SAVES_NOTHING,
    field=global_pool, reshape=WHOLE_MAP, aten=("_adaptive_avg_pool2d", "mean"), from_call=_adaptive_from_call,
    reduce="mean",
))
register_kind(OpKind(
    "gmaxpool", "global max pooling", Role.GLOBAL, _global_infer,
    lambda a: ModuleRecipe("AdaptiveMaxPool2d", (a.get("size", 1),)),
    counts=Counts(ptflops=ptflops_pool("F.adaptive_max_pool2d")), saves=_max_saves,
    field=global_pool, reshape=WHOLE_MAP, aten=("adaptive_max_pool2d",), from_call=_adaptive_from_call, reduce="max",
))


def _mean_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "a global mean")[0]
    return (c, 1, 1) if attrs["keepdim"] else (c,)


register_kind(OpKind(
    "mean", "global average pooling computed as x.mean((2, 3))", Role.GLOBAL, _mean_infer,
    lambda a: ModuleRecipe("GlobalMean", (a["keepdim"],)),
    saves=const(SAVES_NOTHING),  # keeps only the shape
    field=global_pool, reshape=WHOLE_MAP, aten=("mean",), reduce="mean",
))

# --- LeNet-5's trainable subsampling -------------------------------------------------------------


def _subsample_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "subsampling")[0]
    if c != attrs["ch"]:
        raise ShapeError(f"subsampling expects {attrs['ch']} maps, got {c}")
    return window_shape(attrs, shape, "subsampling", c)


register_kind(OpKind(
    "subsample", "trainable subsampling: window average x learned coefficient + learned bias", Role.POOL,
    _subsample_infer, lambda a: ModuleRecipe("Subsample2d", (a["ch"], a["kernel"], a["stride"])),
    params=affine,
    counts=Counts(ptflops=lambda f: formula(elements(f.in_shape, POOLING, "patched F.avg_pool2d in Subsample2d"))),
    saves=lambda a, i, o: Saves(input=True, extra=math.prod(o)),  # the pooled map
    field=window, reshape=WINDOW, aten=("avg_pool2d", "mul", "add"),
    reduce="mean, times a learned coefficient, plus a learned bias",
))
