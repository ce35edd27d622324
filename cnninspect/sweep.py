"""Sweeps: the grid of totals over variants, widths, resolutions, depths and phi.

Pure data (no printing, no torch): ``parse_axis`` reads ``1,0.75,0.5`` or ranges
``0.25:2.0:0.05``; ``run_sweep`` resolves and analyses every point with the spec engine
(about a millisecond per MobileNet point), calling ``progress`` after each one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from .analysis import analyze, weight_depth
from .errors import CnnInspectError, UsageError
from .memory import MemoryReport, MemorySettings, memory_report
from .resolve import Overrides, resolve
from .spec import Spec

MAX_POINTS = 100_000
AXES = ("variant", "phi", "width", "resolution", "depth")


def parse_axis(text: str | None, name: str, integer: bool = False) -> list[Any]:
    """``a,b,c`` or ``start:stop:step`` (stop included) into a list of numbers."""
    if text is None or not text.strip():
        return []
    values: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" in part:
            bits = part.split(":")
            if len(bits) != 3:
                raise UsageError(f"--{name}: a range is start:stop:step, got {part!r}")
            try:
                start, stop, step = (float(b) for b in bits)
            except ValueError:
                raise UsageError(f"--{name}: {part!r} is not a numeric range") from None
            if step <= 0 or stop < start:
                raise UsageError(f"--{name}: range {part!r} needs step > 0 and stop >= start")
            n = int(round((stop - start) / step + 1e-9)) + 1
            if n > MAX_POINTS:
                raise UsageError(f"--{name}: range {part!r} has {n:,} values (limit {MAX_POINTS:,})")
            values += [round(start + i * step, 10) for i in range(n) if start + i * step <= stop + 1e-9]
        else:
            try:
                values.append(float(part))
            except ValueError:
                raise UsageError(f"--{name}: {part!r} is not a number") from None
    if integer:
        out = []
        for v in values:
            if v != int(v):
                raise UsageError(f"--{name}: {v:g} is not a whole number")
            out.append(int(v))
        return out
    return values


def parse_variants(text: str | None, spec: Spec) -> list[str | None]:
    if text is None or not text.strip():
        return []
    if text.strip() == "all":
        if not spec.variants:
            raise UsageError(f"{spec.name} has no variants")
        return list(spec.variants)
    return [v.strip() for v in text.split(",") if v.strip()]


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
