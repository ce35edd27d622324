"""Normalisation: ops that scale their input by statistics of it (role ``NORM``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..counting import BN_2, BN_4, elements, not_seen, per_element, ptflops_act
from ..formulas import NOTHING, Formula, affine, formula, term
from ..kind import (
    GLOBAL, STAT_BYTES, Counts, Global, ModuleRecipe, OpFacts, OpKind, ReshapeRule, Role, Saves, Unsupported,
    norm_buffers, register_kind,
)
from ..primitives import ACTIVATIONS, Attrs, Shape, ShapeError, activation_text, need_flat, need_map
from .activation import ACT_SAVES, activation_module



def _bn_fvcore(f: OpFacts) -> Formula:
    """fvcore's ``batchnorm_flop_jit``: in eval mode 2 per input element with a learned scale
    and shift (1 without); normalising with the batch's own statistics (training mode), 5 (4
    without). A spec's batch norm is affine and counted in eval mode; a captured call says
    both (:func:`_bn_from_call`)."""
    affine = f.attrs.get("affine", True)
    if f.attrs.get("training", False):
        times = 5 if affine else 4
        return formula(elements(f.in_shape, f"batch norm in training mode, {times} per element", times=times))
    if affine:
        return formula(elements(f.in_shape, BN_2, times=2))
    return formula(elements(f.in_shape, "batch norm without affine, 1 per element"))


# batch norm in eval mode: fvcore and ptflops 2 per element, thop 4 (2, x2 when affine)
BN_COUNTS = Counts(fvcore=_bn_fvcore, ptflops=per_element(BN_2, 2), thop=per_element(BN_4, 4))
# every aten batch norm: eval mode, training mode with and without running statistics
BN_ATEN = ("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
           "_batch_norm_with_update", "_batch_norm_no_update")
_BN_ALWAYS_TRAINING = {"_native_batch_norm_legit_no_training": False, "_batch_norm_with_update": True,
                       "_batch_norm_no_update": False}


def _bn_from_call(call: Any) -> Attrs:
    """Any :data:`BN_ATEN` call ``(input, weight, bias, [running_mean, running_var,] training,
    ...)``: its channels, whether it has a learned scale, and whether it normalises with the
    batch's statistics (the ``training`` argument, or the overload's fixed mode)."""
    x = call.args[0]
    training = _BN_ALWAYS_TRAINING.get(call.op)
    if training is None:
        training = bool(call.arg(3 if call.overload == "no_stats" else 5, "training", False))
    return {"ch": x.shape[1] if len(x.shape) > 1 else x.shape[0], "affine": call.arg(1, "weight") is not None,
            "training": training}


def same_channels(what: str) -> Callable[[Attrs, Shape], Shape]:
    """Shape rule of an op that keeps a ``C x H x W`` map with ``attrs["ch"]`` channels."""

    def infer(attrs: Attrs, shape: Shape) -> Shape:
        c = need_map(shape, what)[0]
        if c != attrs["ch"]:
            raise ShapeError(f"{what} expects {attrs['ch']} channels, got {c}")
        return shape

    return infer


def bn_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    """Its input, and a float32 mean and inverse std per channel (whatever the dtype)."""
    return Saves(input=True, constant_bytes=2 * STAT_BYTES * attrs["ch"])


register_kind(OpKind(
    "bn2d", "batch normalisation", Role.NORM, same_channels("batch normalisation"),
    lambda a: ModuleRecipe("BatchNorm2d", (a["ch"],), {"eps": a.get("eps", 1e-5)}),
    params=affine, counts=BN_COUNTS, saves=bn_saves, buffers=norm_buffers,
    aten=BN_ATEN, from_call=_bn_from_call,
))

# --- timm's BatchNormAct2d -------------------------------------------------------------------


def _bn_act_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    """Batch norm's input and statistics, and what the activation keeps of the batch norm's
    output (an intermediate of the fused module) or of its own output."""
    act = ACT_SAVES[attrs["fn"]](attrs, i, o)
    return Saves(input=True, output=act.output, extra=act.extra + (math.prod(i) if act.input else 0),
                 constant_bytes=2 * STAT_BYTES * attrs["ch"])


def ptflops_bn_act(f: OpFacts) -> Formula:
    """BatchNormAct2d is a subclass of nn.BatchNorm2d, not hooked (F.batch_norm is not
    patched); its activation child is counted like any activation module."""
    return ptflops_act(replace(f, torch_class=ACTIVATIONS[f.attrs["fn"]].torch_class))


register_kind(OpKind(
    "bn_act2d", "batch norm with its activation in one module (timm's BatchNormAct2d)", Role.NORM,
    same_channels("batch normalisation"),
    lambda a: ModuleRecipe("BatchNormAct2d", (a["ch"], activation_module(a)), {"eps": a["eps"]}),
    params=affine,
    # thop: a subclass of nn.BatchNorm2d, count_normalization (its activation: zero_ops or no rule)
    counts=replace(BN_COUNTS, ptflops=ptflops_bn_act),
    saves=_bn_act_saves, buffers=norm_buffers,
    aten=BN_ATEN, from_call=_bn_from_call,
    detail=lambda a: activation_text(a["fn"], a),
))

# --- batch norm of a flat vector ---------------------------------------------------------------


def flat_channels(attrs: Attrs, shape: Shape) -> Attrs:
    """A norm over a flat vector takes the vector's size (which a flatten may change)."""
    if len(shape) != 1:
        raise Unsupported
    return attrs if attrs["ch"] == shape[0] else {**attrs, "ch": shape[0]}


def _flat_infer(attrs: Attrs, shape: Shape) -> Shape:
    f = need_flat(shape, "batch normalisation")
    if f != attrs["ch"]:
        raise ShapeError(f"batch normalisation expects {attrs['ch']} features, got {f}")
    return shape


register_kind(OpKind(
    "bn1d", "batch normalisation of a flat vector", Role.NORM, _flat_infer,
    lambda a: ModuleRecipe("BatchNorm1d", (a["ch"],), {"eps": a["eps"]}),
    params=affine, counts=BN_COUNTS, saves=bn_saves, buffers=norm_buffers,
    reshape=ReshapeRule(flat_channels, "flat"), aten=BN_ATEN, from_call=_bn_from_call,
))

# --- layer normalisation over channels -----------------------------------------------------------


def over_channels(what: str) -> Callable[[Attrs, Shape], Shape]:
    """Shape rule of an op over channels: ``dim: channels`` on a ``C x H x W`` map (or its
    ``C x 1 x 1`` pooled form), ``dim: last`` on the last dimension of any tensor."""

    def infer(attrs: Attrs, shape: Shape) -> Shape:
        if attrs["dim"] == "channels":
            c = need_map(shape, what)[0]
        else:
            if not shape:
                raise ShapeError(f"{what} needs a tensor with a channel dimension")
            c = shape[-1]
        if c != attrs["ch"]:
            raise ShapeError(f"{what} expects {attrs['ch']} channels, got {c}")
        return shape

    return infer


def _layernorm_fvcore(f: OpFacts) -> Formula:
    """fvcore's ``aten::layer_norm`` handle: 5 per element with a learned affine, else 4."""
    if f.attrs["affine"]:
        return formula(elements(f.in_shape, "layer norm, 5 per element", times=5))
    return formula(elements(f.in_shape, "layer norm without affine, 4 per element", times=4))


def _layernorm_ptflops(f: OpFacts) -> Formula:
    """Only ``nn.LayerNorm`` itself is hooked (its batch-norm hook doubles for an ``affine``
    attribute, which LayerNorm does not have: 1 per element); LayerNorm2d is a subclass,
    not seen, and F.layer_norm is not patched."""
    if f.torch_class != "LayerNorm":
        return not_seen("ptflops", "a subclass of nn.LayerNorm; F.layer_norm is not patched")(f)
    return formula(elements(f.in_shape, "layer norm, 1 per element", "nn.LayerNorm hook"))


def _layernorm_thop(f: OpFacts) -> Formula:
    """``count_normalization``, matched along the class hierarchy (LayerNorm2d included):
    2 per element, x2 with a learned affine."""
    if f.attrs["affine"]:
        return formula(elements(f.in_shape, "layer norm, 4 per element (2, x2 when affine)", times=4))
    return formula(elements(f.in_shape, "layer norm without affine, 2 per element", times=2))


def _layernorm_reshape(attrs: Attrs, shape: Shape) -> Attrs:
    """Over the channels of a map: unchanged; over a flat vector: its size."""
    return flat_channels(attrs, shape) if len(shape) == 1 else attrs


def _layernorm_from_call(call: Any) -> Attrs:
    """``aten.native_layer_norm(input, normalized_shape, weight, bias, eps)``: over the last
    dimension, affine when it has a learned scale."""
    return {"ch": call.args[0].shape[-1], "dim": "last", "affine": call.arg(2, "weight") is not None}


register_kind(OpKind(
    "layernorm", "layer normalisation over channels", Role.NORM, over_channels("layer normalisation"),
    lambda a: ModuleRecipe("LayerNorm2d" if a["dim"] == "channels" else "LayerNorm", (a["ch"],),
                         {"eps": a["eps"], "elementwise_affine": a["affine"]}),
    params=lambda a: affine(a) if a["affine"] else NOTHING,
    counts=Counts(fvcore=_layernorm_fvcore, ptflops=_layernorm_ptflops, thop=_layernorm_thop),
    # native_layer_norm keeps its input and a mean and a reciprocal std per normalised position
    saves=lambda a, i, o: Saves(input=True, extra=2 * math.prod(i) // a["ch"]),
    reshape=ReshapeRule(_layernorm_reshape, "same"), aten=("native_layer_norm",), channels_last=True,
    from_call=_layernorm_from_call,
))

# --- local response normalisation (AlexNet) ------------------------------------------------------


def _lrn_infer(attrs: Attrs, shape: Shape) -> Shape:
    need_map(shape, "local response normalisation")
    return shape


def _lrn_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    c, h, w = i  # the squared input padded across channels, the denominator before and after pow
    return Saves(input=True, extra=(c + attrs["size"] - 1) * h * w + 2 * c * h * w)


def _lrn_ptflops(f: OpFacts) -> Formula:
    """``F.local_response_norm``: ``x.mul(x)``, ``.mul(alpha)`` and ``.add(k)`` are patched tensor
    methods (one count per element each); ``F.avg_pool3d`` runs on the squares padded by
    ``size - 1`` channels."""
    c, h, w = f.in_shape
    cause = "local response norm internals (patched Tensor.mul/add, F.avg_pool3d)"
    return formula(
        elements(f.in_shape, cause, "Tensor.mul x2, Tensor.add", times=3),
        term(cause, ("C_in + size - 1", c + f.attrs["size"] - 1), ("H_in", h), ("W_in", w), label="F.avg_pool3d"),
    )


register_kind(OpKind(
    "lrn", "local response normalisation", Role.NORM, _lrn_infer,
    lambda a: ModuleRecipe("LocalResponseNorm", (a["size"], a["alpha"], a["beta"], a["k"])),
    counts=Counts(ptflops=_lrn_ptflops), saves=_lrn_saves,
    aten=("mul", "constant_pad_nd", "avg_pool3d", "add", "pow", "div"),
))

# --- group normalisation (Wu & He 2018) ----------------------------------------------------------


def _groupnorm_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "group normalisation")[0]
    if c != attrs["ch"]:
        raise ShapeError(f"group normalisation expects {attrs['ch']} channels, got {c}")
    if c % attrs["groups"]:
        raise ShapeError(f"group normalisation in {attrs['groups']} groups needs channels divisible by it, got {c}")
    return shape


def whole_input(attrs: Attrs, shape: Shape) -> Global:
    """Every output depends on the whole input map (through the group's statistics)."""
    return GLOBAL


def _per_element_if_affine(cause: str, affine: int, plain: int) -> Callable[[OpFacts], Formula]:
    """``affine`` per input element with a learned scale and shift, else ``plain``."""

    def rule(f: OpFacts) -> Formula:
        times = affine if f.attrs["affine"] else plain
        return formula(elements(f.in_shape, f"{cause}, {times} per element", times=times))

    rule.__doc__ = f"{affine} per input element with a learned scale and shift, else {plain} ({cause})."
    return rule


def _groupnorm_from_call(call: Any) -> Attrs:
    """``aten.native_group_norm(input, weight, bias, N, C, HxW, group, eps)``."""
    return {"groups": int(call.arg(6, "group", 1)), "ch": call.args[0].shape[1], "affine": call.arg(1, "weight") is not None}


register_kind(OpKind(
    "groupnorm", "group normalisation: statistics over each group of channels and the whole map", Role.NORM,
    _groupnorm_infer,
    lambda a: ModuleRecipe("GroupNorm", (a["groups"], a["ch"]), {"eps": a["eps"], "affine": a["affine"]}),
    params=lambda a: affine(a) if a["affine"] else NOTHING,
    counts=Counts(
        fvcore=_per_element_if_affine("group norm", 5, 4),  # aten::group_norm: norm_flop_counter
        ptflops=_per_element_if_affine("group norm", 2, 1),  # nn.GroupNorm: bn_flops_counter_hook
        thop=_per_element_if_affine("group norm", 4, 2),  # nn.GroupNorm: count_normalization
    ),
    # native_group_norm keeps its input and a mean and a reciprocal std per group
    saves=lambda a, i, o: Saves(input=True, extra=2 * a["groups"]),
    field=whole_input,  # each output's statistics come from every position of the map
    aten=("native_group_norm",), from_call=_groupnorm_from_call, detail=lambda a: f"{a['groups']} groups",
))
