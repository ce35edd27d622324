"""Per-element ops that are neither activations nor normalisation (role ``ELEMENTWISE``)."""

from __future__ import annotations

import math

from ..formulas import formula, term
from ..kind import (
    MASK_BYTES, SAVES_INPUT, SAVES_NOTHING, AliasRule, ModuleRecipe, OpKind, Role, Saves, always, const, register_kind,
)
from ..primitives import Attrs, Shape
from .norm import over_channels


def passthrough(attrs: Attrs, shape: Shape) -> Shape:
    return shape


register_kind(OpKind(
    "identity", "identity", Role.ELEMENTWISE, passthrough, lambda a: ModuleRecipe("Identity"),
    saves=const(SAVES_NOTHING), alias=always, channels_last=True,
))

# a no-op at inference; with p = 0 PyTorch returns the input itself, in training too
TRAINING_ONLY: AliasRule = lambda a, training: not training or a["p"] == 0  # noqa: E731


def _p_detail(a: Attrs) -> str:
    return f"p={a['p']:g}"


register_kind(OpKind(
    "dropout", "dropout (training only)", Role.ELEMENTWISE, passthrough, lambda a: ModuleRecipe("Dropout", (a["p"],)),
    # the fused dropout kernel of GPUs keeps a bool mask (on the CPU, PyTorch keeps a float one)
    saves=lambda a, i, o: Saves(index_bytes=MASK_BYTES * math.prod(i)), alias=TRAINING_ONLY,
    aten=("native_dropout",), channels_last=True, detail=_p_detail,
))
register_kind(OpKind(
    "drop_path", "stochastic depth (training only)", Role.ELEMENTWISE, passthrough,
    lambda a: ModuleRecipe("StochasticDepth", (a["p"],)),
    saves=const(Saves(extra=1)), alias=TRAINING_ONLY, aten=("bernoulli", "div", "mul"), channels_last=True,
    detail=_p_detail,
))
register_kind(OpKind(
    "layer_scale", "layer scale: a learned per-channel multiply", Role.ELEMENTWISE, over_channels("layer scale"),
    lambda a: ModuleRecipe("LayerScale", (a["ch"], a["init"]), {"channels_first": a["dim"] == "channels"}),
    params=lambda a: formula(term("gamma", ("C", a["ch"]), label="gamma")),
    saves=const(SAVES_INPUT),  # x * gamma keeps x for gamma's gradient
    aten=("mul",), channels_last=True,
))
