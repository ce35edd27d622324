"""Convolutions: learned weights over a sliding window (role ``CONV``)."""

from __future__ import annotations

import math
from typing import Any

from ..counting import BIAS, WEIGHTS, not_seen
from ..formulas import Formula, conv_weight_factors, formula, spatial_factors, table_weight_factors, term, weight_bias
from ..kind import (
    INDEX_BYTES, SAVES_INPUT, Counts, ModuleRecipe, OpFacts, OpKind, ReshapeRule, Role, Saves, Unsupported,
    call_window, register_kind, window,
)
from ..primitives import Attrs, Shape, ShapeError, need_map, tf_same_pad, window_shape

SUM_OF_PRODUCTS = "sum of products"


def conv_macs(f: OpFacts) -> Formula:
    """Kernel area x input channels per group x output channels x output positions."""
    return formula(term(WEIGHTS, *conv_weight_factors(f.attrs), *spatial_factors(f.out_shape)))


def table_conv_macs(f: OpFacts) -> Formula:
    """Kernel area x connected input maps (summed over output maps) x output positions."""
    return formula(term(WEIGHTS, *table_weight_factors(f.attrs), *spatial_factors(f.out_shape)))


def ptflops_conv(f: OpFacts) -> Formula:
    """ptflops hooks exact ``nn.Conv2d`` (weights and bias); a subclass is not seen."""
    if f.torch_class != "Conv2d":
        return Formula(uncounted=f"modules ptflops does not see ({f.torch_class}: a subclass of nn.Conv2d; "
                                 "hooks match exact classes and F.conv2d is not patched)")
    terms = [term(WEIGHTS, *conv_weight_factors(f.attrs), *spatial_factors(f.out_shape))]
    if f.attrs["bias"]:
        terms.append(term(BIAS, ("C_out", f.attrs["out_ch"]), *spatial_factors(f.out_shape), label="bias"))
    return formula(*terms)


def conv_reshape(attrs: Attrs, shape: Shape) -> Attrs:
    """TensorFlow 'same' padding depends on the input size; every other padding does not."""
    if attrs.get("pad_tag") != "same-tf":
        return attrs
    if len(shape) != 3:
        raise Unsupported
    kh, kw = attrs["kernel"]
    sh, sw = attrs["stride"]
    pad = tf_same_pad(shape[1], kh, sh) + tf_same_pad(shape[2], kw, sw)
    return attrs if pad == tuple(attrs["pad"]) else {**attrs, "pad": pad}


# --- conv2d ----------------------------------------------------------------------------------


def _conv_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "convolution")[0]
    if c != attrs["in_ch"]:
        raise ShapeError(f"convolution expects {attrs['in_ch']} input channels, got {c}")
    g = attrs["groups"]
    if attrs["in_ch"] % g or attrs["out_ch"] % g:
        raise ShapeError(
            f"groups={g} must divide both input channels ({attrs['in_ch']}) and output "
            f"channels ({attrs['out_ch']})"
        )
    return window_shape(attrs, shape, "convolution", attrs["out_ch"])


def _conv_module(a: Attrs) -> ModuleRecipe:
    t, b, left, r = a["pad"]
    d = a.get("dilation", (1, 1))
    kw = {"groups": a["groups"], "bias": a["bias"]}
    if a["pad_tag"] == "same-tf":  # timm's Conv2dSame pads at run time, asymmetrically
        return ModuleRecipe("Conv2dSame", (a["in_ch"], a["out_ch"], a["kernel"], a["stride"], 0, d), kw)
    assert t == b and left == r, "symmetric padding expected outside TF 'same'"
    return ModuleRecipe("Conv2d", (a["in_ch"], a["out_ch"], a["kernel"], a["stride"], (t, left), d), kw)


def _conv_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    if attrs.get("pad_tag") == "same-tf":  # Conv2dSame: the convolution keeps the padded copy
        t, b, left, r = attrs["pad"]
        return Saves(extra=i[0] * (i[1] + t + b) * (i[2] + left + r))
    return SAVES_INPUT


def _conv_detail(a: Attrs) -> str:
    bits = []
    g = a["groups"]
    if g > 1:
        bits.append("depthwise" if g == a["in_ch"] == a["out_ch"] else f"groups={g}")
    if "dilation" in a:
        dh, dw = a["dilation"]
        bits.append(f"dilation {dh}" if dh == dw else f"dilation {dh},{dw}")
    if a["pad_tag"] not in ("same", "valid"):
        t, b, left, r = a["pad"]
        bits.append(f"pad {t},{b},{left},{r}" if a["pad_tag"] == "same-tf" else f"pad {a['pad_tag']}")
    return ", ".join(bits)


def _conv_from_call(call: Any) -> Attrs | None:
    """``aten.convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
    groups)`` of a 2-d, not transposed convolution on an ``N x C x H x W`` map: its window and
    its channels, groups and bias, as a spec's ``conv2d`` holds them."""
    x, weight = call.args[0], call.args[1]
    if (bool(call.arg(6, "transposed", False)) or len(getattr(weight, "shape", ())) != 4
            or len(getattr(x, "shape", ())) != 4):
        return None
    return {**call_window((weight.shape[2], weight.shape[3]), call.arg(3, "stride", 1), call.arg(4, "padding", 0),
                          call.arg(5, "dilation", 1)),
            "in_ch": x.shape[1], "out_ch": weight.shape[0], "groups": int(call.arg(8, "groups", 1)),
            "bias": call.arg(2, "bias") is not None}


CONV2D = register_kind(OpKind(
    "conv2d", "2-D convolution", Role.CONV, _conv_infer, _conv_module,
    params=weight_bias(conv_weight_factors, "C_out", "out_ch"),
    counts=Counts(paper=conv_macs, fvcore=conv_macs, ptflops=ptflops_conv, thop=conv_macs, flopcounter=conv_macs),
    saves=_conv_saves, field=window, reshape=ReshapeRule(conv_reshape, "window"),
    aten=("convolution", "constant_pad_nd"), from_call=_conv_from_call, reduce=SUM_OF_PRODUCTS,
    detail=_conv_detail, teach=True,
))

# --- a convolution with a connection table (LeNet-5's C3) -------------------------------------


def _table_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "connection-table convolution")[0]
    if c != attrs["in_ch"]:
        raise ShapeError(f"convolution expects {attrs['in_ch']} input channels, got {c}")
    for i, row in enumerate(attrs["connections"]):
        bad = [x for x in row if x >= c]
        if bad:
            raise ShapeError(
                f"connections row {i} names input map {bad[0]} but the input has {c} maps "
                f"(0..{c - 1})"
            )
    return window_shape(attrs, shape, "convolution", attrs["out_ch"])


def _table_module(a: Attrs) -> ModuleRecipe:
    t, _b, left, _r = a["pad"]
    return ModuleRecipe("ConnectionTableConv2d", (a["connections"], a["kernel"], a["stride"], (t, left), a["bias"]))


def _table_traffic(attrs: Attrs, i: Shape, o: Shape) -> tuple[int, int]:
    """Each output map reads the input maps its row of the table names (an input map feeding
    several outputs is read once for each), and writes the output."""
    return sum(len(r) for r in attrs["connections"]) * i[1] * i[2], math.prod(o)


def _table_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    n = sum(len(r) for r in attrs["connections"])  # each row's selected maps, and its index list
    return Saves(extra=n * i[1] * i[2], constant_bytes=INDEX_BYTES * n)


register_kind(OpKind(
    "conv_table", "convolution with a connection table", Role.CONV, _table_infer, _table_module,
    params=weight_bias(table_weight_factors, "C_out", "out_ch"),
    counts=Counts(paper=table_conv_macs, fvcore=table_conv_macs,
                  ptflops=not_seen("ptflops", "a custom module; F.conv2d is not patched"),
                  thop=not_seen("thop", "no rule for the class; its F.conv2d calls are not counted"),
                  flopcounter=table_conv_macs),
    saves=_table_saves, field=window, reshape=ReshapeRule(conv_reshape, "window"),
    aten=("convolution", "index_select", "cat"), traffic=_table_traffic, reduce=SUM_OF_PRODUCTS,
    detail=lambda a: f"{sum(len(r) for r in a['connections'])} of {a['in_ch'] * a['out_ch']} connections",
))
