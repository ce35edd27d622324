"""Scaling policy: channel rounding, repeat scaling and EfficientNet's compound coefficient.

Each rule is one small function so it can be tested alone and cited in the docs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..lang.expr import make_divisible

if TYPE_CHECKING:
    from ..lang.spec import Rounding

# EfficientNet's grid-searched constants (Tan & Le 2019, section 3.3): depth alpha,
# width beta, resolution gamma, with alpha * beta^2 * gamma^2 ~= 2.
ALPHA_DEPTH = 1.2
BETA_WIDTH = 1.1
GAMMA_RESOLUTION = 1.15


def round_channels(channels: int, width: float, rounding: Rounding) -> int:
    """Scale ``channels`` by ``width`` and round with the spec's rule.

    ``floor``: ``max(minimum or 1, int(width * channels))``; at width 1 the count is unchanged.
    ``divisor``: nearest multiple of ``divisor`` (at least ``minimum`` or ``divisor``), bumped
    up one divisor when rounding lost more than ``1 - min_ratio`` of the target. This is
    applied at every width, 1.0 included, as timm and torchvision do.
    """
    target = channels * width
    if rounding.rule == "floor":
        if width == 1.0:
            return channels
        return max(rounding.minimum or 1, int(target + 1e-9))
    return make_divisible(target, rounding.divisor, rounding.min_ratio, rounding.minimum)


def scale_repeat(repeats: int, depth: float) -> int:
    """Depth scaling of a stage: ``ceil(depth * repeats)`` (EfficientNet, timm), at least 1.

    The product is rounded down by 1e-9 before the ceiling so that float error in, say,
    ``1.1 * 10`` does not add a block; any depth > 0 keeps at least one block per stage, as
    ``ceil`` of a positive number does.
    """
    if depth == 1.0:
        return repeats
    return max(1, int(math.ceil(depth * repeats - 1e-9)))


def compound(phi: float, base_resolution: int) -> tuple[float, float, int]:
    """EfficientNet's idealised compound scaling for coefficient ``phi``.

    Returns (width 1.1^phi, depth 1.2^phi, resolution round(base x 1.15^phi)). The released
    B1-B7 only approximate this rule; their exact values live in the spec's variants table.
    """
    width = BETA_WIDTH**phi
    depth = ALPHA_DEPTH**phi
    resolution = int(round(base_resolution * GAMMA_RESOLUTION**phi))
    return width, depth, max(1, resolution)
