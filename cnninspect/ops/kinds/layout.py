"""Ops that move or select elements without arithmetic (role ``LAYOUT``)."""

from __future__ import annotations

import math

from ..kind import SAVES_NOTHING, ModuleRecipe, OpKind, ReshapeRule, Role, always, const, keep, register_kind, whole_map
from ..primitives import Attrs, Shape, ShapeError, fmt_shape, need_map

# a concat's 'from': the output of the earlier entry at module path ``point`` (its shape
# ``shape``), whatever the running tensor is; the builder keeps that output until it is taken
register_kind(OpKind(
    "take", "the output of an earlier entry (a concat's 'from')", Role.LAYOUT,
    lambda a, s: tuple(a["shape"]),
    lambda a: ModuleRecipe("TakePoint", (a["point"], {})),
    saves=const(SAVES_NOTHING), alias=always,  # the kept tensor itself (the memory simulation keeps it alive)
    reshape=None,  # its shape is another op's; such models take the full path
))
register_kind(OpKind(
    "flatten", "flatten", Role.LAYOUT, lambda a, s: (math.prod(s),), lambda a: ModuleRecipe("Flatten"),
    saves=const(SAVES_NOTHING), alias=always, field=whole_map, reshape=ReshapeRule(keep, "flat"),
    aten=("view", "_unsafe_view"),
))


def _permute_infer(attrs: Attrs, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"a permute to {attrs['to']} needs a 3-dimensional tensor, got {fmt_shape(shape)}")
    if attrs["to"] == "channels_last":
        return (shape[1], shape[2], shape[0])
    return (shape[2], shape[0], shape[1])


# batch dimension included: per-sample C x H x W <-> H x W x C
PERMUTATIONS = {"channels_last": (0, 2, 3, 1), "channels_first": (0, 3, 1, 2)}

register_kind(OpKind(
    "permute", "permute between channels-first (C x H x W) and channels-last (H x W x C)", Role.LAYOUT,
    _permute_infer, lambda a: ModuleRecipe("Permute", (PERMUTATIONS[a["to"]],)),
    saves=const(SAVES_NOTHING), alias=always,  # a view
    reshape=None,  # channels-last blocks (H x W x C between two permutes) always take the full path
    aten=("permute",), channels_last=True,
))


def _split_infer(attrs: Attrs, shape: Shape) -> Shape:
    c, h, w = need_map(shape, "a channel split")
    start, stop = attrs["start"], attrs["stop"]
    if not 0 <= start < stop <= c:
        raise ShapeError(f"a channel split takes channels {start}..{stop - 1} but the input has {c} (0..{c - 1})")
    return (stop - start, h, w)


register_kind(OpKind(
    "channel_split", "channel split: a contiguous slice of the input's channels", Role.LAYOUT, _split_infer,
    lambda a: ModuleRecipe("ChannelSplit", (a["start"], a["stop"])),
    saves=const(SAVES_NOTHING), alias=always, aten=("narrow", "slice"),  # x.narrow: a view
))


def _shuffle_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = need_map(shape, "a channel shuffle")[0]
    if c % attrs["groups"]:
        raise ShapeError(f"a channel shuffle in {attrs['groups']} groups needs channels divisible by it, got {c}")
    return shape


register_kind(OpKind(
    "channel_shuffle", "channel shuffle: interleave the channels of groups (ShuffleNet)", Role.LAYOUT,
    _shuffle_infer, lambda a: ModuleRecipe("ChannelShuffle", (a["groups"],)),
    saves=const(SAVES_NOTHING),  # view, transpose, contiguous: a copy, nothing kept
    aten=("view", "transpose", "clone"),
))


