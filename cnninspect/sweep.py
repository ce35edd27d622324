"""Sweeps: the grid of totals over variants, widths, resolutions, depths and phi.

Pure data (no printing, no torch): ``parse_axis`` reads ``1,0.75,0.5`` or ranges
``0.25:2.0:0.05``; ``run_sweep`` resolves and analyses every point with the spec engine
(about a millisecond per MobileNet point), calling ``progress`` after each one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from .analysis import analyze, weight_depth
from .errors import CnnInspectError, UsageError, shorten
from .memory import MemoryReport, MemorySettings, memory_report
from .numbers import NumberError, parse_number
from .resolve import Overrides, resolve, settings_for
from .lang.spec import Spec

MAX_POINTS = 100_000
AXES = ("variant", "phi", "width", "resolution", "depth")


def parse_axis(text: str | None, name: str, integer: bool = False) -> list[Any]:
    """``a,b,c`` or ``start:stop:step`` (stop included) into a list of numbers.

    Numbers use :mod:`cnninspect.numbers` syntax (``1e-1`` included); ``nan``, ``inf``, an
    empty list, and ranges of more than :data:`MAX_POINTS` values are refused up front.
    """
    if text is None:
        return []
    values: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" in part:
            values += _parse_range(part, name)
        else:
            values.append(_number(part, name))
    if not values:
        raise UsageError(f"--{name} lists no values (write e.g. 1,0.75,0.5 or a range 0.25:1:0.25)")
    if integer:
        out = []
        for v in values:
            if v != int(v):
                raise UsageError(f"--{name}: {v:g} is not a whole number")
            out.append(int(v))
        return out
    return [float(v) for v in values]


def _number(text: str, name: str) -> float:
    try:
        return float(parse_number(text))
    except NumberError as exc:
        raise UsageError(f"--{name}: {exc}") from None


def _parse_range(part: str, name: str) -> list[float]:
    bits = part.split(":")
    if len(bits) != 3:
        raise UsageError(f"--{name}: a range is start:stop:step, got {shorten(repr(part))}")
    start, stop, step = (_number(b, name) for b in bits)
    if step <= 0 or stop < start:
        raise UsageError(f"--{name}: range {shorten(repr(part))} needs step > 0 and stop >= start")
    count = (stop - start) / step
    if not math.isfinite(count) or count + 1 > MAX_POINTS:
        raise UsageError(f"--{name}: range {shorten(repr(part))} has more than {MAX_POINTS:,} values")
    n = int(round(count + 1e-9)) + 1
    return [round(start + i * step, 10) for i in range(n) if start + i * step <= stop + 1e-9]


def parse_variants(text: str | None, spec: Spec) -> list[str | None]:
    """``b0,b1`` or ``all``; every name is checked against the spec's variants."""
    if text is None:
        return []
    if text.strip() == "all":
        if not spec.variants:
            raise UsageError(f"{spec.name} has no variants")
        return list(spec.variants)
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise UsageError("--variants lists no variants (write e.g. b0,b1 or all)")
    return list(names)


@dataclass(frozen=True)
class Point:
    """One grid point: the requested settings and the resulting totals."""

    variant: str | None
    phi: float | None
    width: float
    depth: float
    resolution: int
    params: int
    trainable_params: int
    mult_adds: int
    peak_activation_bytes: int
    layers: int
    memory: MemoryReport | None = None


def validate_axes(spec: Spec, axes: Mapping[str, Sequence[Any]], base: Overrides | None = None) -> None:
    """Check every value of every axis before anything is computed, so a bad value fails
    at once instead of after the points before it (``--resolution 1:100000:1``)."""
    base = base or Overrides()
    for variant in axes.get("variant") or [None]:
        for key in ("phi", "width", "resolution", "depth"):
            for value in axes.get(key) or ():
                over = replace(base, **{key: value})
                try:
                    settings_for(spec, variant, over)
                except CnnInspectError as exc:
                    where = f"variant={variant}, " if variant else ""
                    raise UsageError(f"at {where}{key}={value:g}: {exc.one_line()}") from None
        if variant is not None or not axes.get("phi"):
            settings_for(spec, variant, replace(base, phi=None))


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product over the non-empty axes, in AXES order (variants outermost)."""
    keys = [k for k in AXES if axes.get(k)]
    total = 1
    for k in keys:
        total *= len(axes[k])
    if total > MAX_POINTS:
        raise UsageError(f"the sweep has {total:,} points (limit {MAX_POINTS:,})")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))] or [{}]


def run_sweep(
    spec: Spec,
    points: Sequence[Mapping[str, Any]],
    *,
    convention: str = "paper",
    base: Overrides | None = None,
    progress: Callable[[], None] | None = None,
    memory: MemorySettings | None = None,
) -> list[Point]:
    """Resolve and analyse each point (and its memory at ``memory`` when given); an
    impossible point is an error naming it."""
    base = base or Overrides()
    out: list[Point] = []
    for p in points:
        over = Overrides(
            width=p.get("width", base.width),
            depth=p.get("depth", base.depth),
            resolution=p.get("resolution", base.resolution),
            phi=p.get("phi", base.phi),
            padding=base.padding,
            values=base.values,
        )
        try:
            model = resolve(spec, p.get("variant"), over)
        except CnnInspectError as exc:
            where = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())
            raise type(exc)(f"at {where}: {exc.one_line()}") from exc
        t = analyze(model, convention).totals
        s = model.settings
        out.append(
            Point(model.variant, p.get("phi"), s.width, s.depth, s.resolution, t.params, t.trainable_params,
                  t.mult_adds, t.peak_activation_bytes, weight_depth(model),
                  memory_report(model, memory) if memory is not None else None)
        )
        if progress is not None:
            progress()
    return out
