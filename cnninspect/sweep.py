"""Sweeps: the grid of totals over variants, widths, resolutions, depths and phi.

Pure data (no printing, no torch): ``parse_axis`` reads ``1,0.75,0.5`` or ranges
``0.25:2.0:0.05``; ``iter_sweep`` gives every point's totals from the totals-only fast path
(:mod:`cnninspect.totals`), calling ``progress`` after each one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from .errors import CnnInspectError, UsageError, shorten
from .memory import MemoryReport, MemorySettings, memory_report
from .numbers import NumberError, parse_float
from .resolve import Overrides, resolve, settings_for
from .lang.spec import Spec
from .totals import TotalsEngine

MAX_POINTS = 100_000
AXES = ("variant", "phi", "width", "resolution", "depth")


def parse_axis(text: str | None, name: str, integer: bool = False, label: str | None = None) -> list[Any]:
    """``a,b,c`` or ``start:stop:step`` (stop included) into a list of numbers.

    Numbers use :mod:`cnninspect.numbers` syntax (``1e-1`` included); ``nan``, ``inf``, an
    empty list, and ranges of more than :data:`MAX_POINTS` values are refused up front.
    Errors name the option as ``label`` (default ``--NAME``).
    """
    if text is None:
        return []
    label = label or f"--{name}"
    values: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" in part:
            values += _parse_range(part, label)
        else:
            values.append(_number(part, label))
    if not values:
        raise UsageError(f"{label} lists no values (write e.g. 1,0.75,0.5 or a range 0.25:1:0.25)")
    if integer:
        out = []
        for v in values:
            if v != int(v):
                raise UsageError(f"{label}: {v:g} is not a whole number")
            out.append(int(v))
        return out
    return [float(v) for v in values]


def _number(text: str, label: str) -> float:
    try:
        return parse_float(text)
    except NumberError as exc:
        raise UsageError(f"{label}: {exc}") from None


def _parse_range(part: str, label: str) -> list[float]:
    bits = part.split(":")
    if len(bits) != 3:
        raise UsageError(f"{label}: a range is start:stop:step, got {shorten(repr(part))}")
    start, stop, step = (_number(b, label) for b in bits)
    if step <= 0 or stop < start:
        raise UsageError(f"{label}: range {shorten(repr(part))} needs step > 0 and stop >= start")
    count = (stop - start) / step
    if not math.isfinite(count) or count + 1 > MAX_POINTS:
        raise UsageError(f"{label}: range {shorten(repr(part))} has more than {MAX_POINTS:,} values")
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
    """Check every value of every axis (variants, width, resolution, depth, phi, spec
    parameters) before anything is computed, so a bad value fails at once instead of after
    the points before it (``--resolution 1:100000:1``)."""
    base = base or Overrides()
    for variant in axes.get("variant") or [None]:
        for key, values in axes.items():
            if key == "variant":
                continue
            for value in values or ():
                if key in ("phi", "width", "resolution", "depth"):
                    over = replace(base, **{key: value})
                else:  # a spec parameter
                    over = replace(base, values={**base.values, key: value})
                try:
                    settings_for(spec, variant, over)
                except CnnInspectError as exc:
                    where = f"variant={variant}, " if variant else ""
                    raise UsageError(f"at {where}{key}={value:g}: {exc.one_line()}") from None
        if variant is not None or not axes.get("phi"):
            settings_for(spec, variant, replace(base, phi=None))


@dataclass(frozen=True)
class Grid:
    """The cartesian product of the non-empty axes in AXES order (variants outermost), as
    point dicts made one at a time: a 100,000-point grid is never held in memory."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.values)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for combo in itertools.product(*self.values):
            yield dict(zip(self.keys, combo))


def grid(axes: Mapping[str, Sequence[Any]]) -> Grid:
    """The grid of a sweep (at most MAX_POINTS points; one empty point when nothing is swept)."""
    keys = tuple(k for k in AXES if axes.get(k))
    g = Grid(keys, tuple(tuple(axes[k]) for k in keys))
    if len(g) > MAX_POINTS:
        raise UsageError(f"the sweep has {len(g):,} points (limit {MAX_POINTS:,})")
    return g


def iter_sweep(
    spec: Spec,
    points: Iterable[Mapping[str, Any]],
    *,
    convention: str = "paper",
    base: Overrides | None = None,
    progress: Callable[[], None] | None = None,
    memory: MemorySettings | None = None,
) -> Iterator[Point]:
    """Each point's totals, one at a time (and its memory at ``memory`` when given); an
    impossible point is an error naming it.

    Totals come from :class:`~cnninspect.totals.TotalsEngine` (a spec resolved once per
    width/depth/parameter combination, re-shaped per resolution; equal to resolving and
    analysing every point, tested). The memory report needs the resolved model of each
    point, so asking for it resolves every point in full.
    """
    engine = TotalsEngine(spec, convention, base)
    for p in points:
        try:
            m = engine.measure(p)
        except CnnInspectError as exc:
            where = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())
            raise type(exc)(f"at {where}: {exc.one_line()}") from exc
        t = m.totals
        report = None
        if memory is not None:
            report = memory_report(resolve(spec, p.get("variant"), engine.overrides(p)), memory)
        yield Point(m.variant, p.get("phi"), m.width, m.depth, m.resolution, t.params, t.trainable_params,
                    t.mult_adds, t.peak_activation_bytes, m.weight_depth, report)
        if progress is not None:
            progress()
