"""``fit``: the largest configurations of a spec that meet a budget.

Pure data (no printing, no torch). A fit is a grid over axes (width, resolution, depth, phi
or any numeric spec parameter, in the sweep's value syntax) and budgets (upper limits on
the metrics of :mod:`cnninspect.explore.checks`). It reports:

* the **feasible** points: every budget met;
* the **frontier**: the feasible points that no other feasible point beats or equals on
  every axis (the largest models one can afford, one per trade-off);
* the **best** feasible point by a maximised metric (mult-adds by default); ties go to
  the point with the larger axis values (compared axis by axis in the fit's order), so with
  a monotone metric the best point is on the frontier.

Every reported number is the exact total of that point (:class:`~cnninspect.measure.totals.TotalsEngine`),
never interpolated.

Search. Exhaustive by default: every grid point is evaluated. Pruned where that is proved
sound for the grid at hand (:meth:`Fit._pruned_lines`): when every metric involved is monotone and
every configuration of the grid has the same structure with counts that grow with width,
depth and resolution, feasibility is downward closed along every axis, so along each line
of resolutions only the boundary needs evaluating (a galloping search started at the
boundary of the neighbouring lines). The proof is checked on the grid's own models; where
it fails the search is exhaustive and the reason is reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..base.errors import CnnInspectError, UsageError
from ..measure.analysis import Report
from ..measure.memory import MemorySettings, memory_report
from .metrics import LATENCY, METRIC_LIST, Measures, Metric
from ..ops.primitives import window_out
from ..resolve.resolver import Overrides, resolve, resolved_settings
from ..measure.roofline import Device
from ..lang.spec import Spec
from ..measure.totals import CAT, GATE, OP, RES, SEQ, SIDE, UNSET, CNode, Template, TotalsEngine, Unsupported

# axes whose effect is known to be monotone when the structure does not change
PRUNABLE_AXES = ("width", "depth", "resolution")


@dataclass(frozen=True)
class Axis:
    """A fit axis: its name and its values, ascending and distinct."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Budget:
    """An upper limit on a metric, with the text it was written as (``150M``)."""

    metric: Metric
    limit: float
    text: str

    def allows(self, metrics: Mapping[str, int]) -> bool:
        return metrics[self.metric.name] <= self.limit

    def describe(self) -> str:
        return f"{self.metric.name} <= {self.text}"


@dataclass(frozen=True)
class FitPoint:
    """A grid point: its index and value on every axis, the variant used, and the exact
    value of every metric."""

    index: tuple[int, ...]
    settings: tuple[tuple[str, Any], ...]
    variant: str | None
    metrics: Mapping[str, int]

    def value(self, axis: str) -> Any:
        return dict(self.settings)[axis]

    def describe(self) -> str:
        return ", ".join(f"{k} {_fmt(v)}" for k, v in self.settings)


@dataclass(frozen=True)
class FitResult:
    """What a fit found; ``feasible_mask`` (one byte per grid point, in the order of
    :meth:`Fit.points`) and ``budget_masks`` (the same per budget) feed the plot."""

    model: str
    variant: str | None
    axes: tuple[Axis, ...]
    budgets: tuple[Budget, ...]
    maximize: Metric
    size: int
    evaluated: int
    feasible: int
    frontier: tuple[FitPoint, ...]
    best: FitPoint | None
    search: str  # pruned | exhaustive
    reason: str
    feasible_mask: bytes = b""
    budget_masks: Mapping[str, bytes] = field(default_factory=dict)
    memory: MemorySettings = MemorySettings()  # where byte metrics are evaluated


def _latency_device(device: Device | None, budgets: Sequence[Budget], maximize: Metric) -> Device | None:
    """The device of a latency budget; refused when one is given without the other."""
    wants = any(m is LATENCY for m in (maximize, *(b.metric for b in budgets)))
    if wants and device is None:
        raise UsageError("--max-latency needs --device NAME|FILE (the device the latency is predicted on)")
    if device is not None and not wants:
        raise UsageError("--device applies to a --max-latency budget; give one")
    return device


def _predicted(report: Report, device: Device, memory: MemorySettings) -> float:
    """The roofline's total predicted seconds of a report (docs/latency.md): a spec's at the
    memory settings' dtype and batch, a Python model's from its operators lowered onto the
    op records, at the batch it ran on (``memory.batch``) and the settings' dtype, as
    ``summary --device`` prices them."""
    from ..measure.roofline import predict, report_costs

    costs = report_costs(report, memory.precision, memory.batch)
    return predict(costs, device, memory.precision.activations).predicted_seconds


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Fit:
    """A fit over ``axes`` of ``spec`` (see the module docstring)."""

    def __init__(self, spec: Spec, variant: str | None, axes: Sequence[Axis], budgets: Sequence[Budget],
                 maximize: Metric, *, convention: str = "paper", base: Overrides | None = None,
                 memory: MemorySettings | None = None, device: Device | None = None) -> None:
        if not axes:
            raise UsageError("give at least one axis to fit over, e.g. --over width=0.25:1:0.05")
        if not budgets:
            raise UsageError("give at least one budget, e.g. --max-mult-adds 300M")
        self.spec = spec
        self.name = spec.name
        self.variant = variant
        self.axes = tuple(axes)
        self.budgets = tuple(budgets)
        self.maximize = maximize
        self.memory = memory or MemorySettings()
        # a byte metric that needs the memory simulation resolves every point in full
        self.needs_memory = any(m.needs_memory for m in (maximize, *(b.metric for b in budgets)))
        self.device = _latency_device(device, budgets, maximize)
        self.convention = convention
        self.engine = TotalsEngine(spec, convention, base)
        self.names = [a.name for a in self.axes]
        # lines run along the resolution (one resolved template serves a whole line)
        self.line_axis = self.names.index("resolution") if "resolution" in self.names else len(self.axes) - 1
        self.key_axes = [i for i in range(len(self.axes)) if i != self.line_axis]
        self.size = 1
        for a in self.axes:
            self.size *= len(a.values)
        self.evaluated: dict[tuple[int, ...], Mapping[str, int]] = {}
        self.count = 0

    # -- points -------------------------------------------------------------------------

    def point(self, index: Sequence[int]) -> dict[str, Any]:
        p: dict[str, Any] = {"variant": self.variant}
        for axis, i in zip(self.axes, index):
            p[axis.name] = axis.values[i]
        return p

    def points(self) -> Iterator[tuple[int, ...]]:
        """Every grid index, line by line (the line axis varies fastest)."""
        n = len(self.axes[self.line_axis].values)
        for key in itertools.product(*(range(len(self.axes[i].values)) for i in self.key_axes)):
            for j in range(n):
                yield self._index(key, j)

    def _index(self, key: Sequence[int], j: int) -> tuple[int, ...]:
        index = [0] * len(self.axes)
        for i, k in zip(self.key_axes, key):
            index[i] = k
        index[self.line_axis] = j
        return tuple(index)

    def position(self, index: Sequence[int]) -> int:
        """Where a grid index is in :meth:`points` order (and in the result's masks)."""
        pos = 0
        for i in self.key_axes:
            pos = pos * len(self.axes[i].values) + index[i]
        return pos * len(self.axes[self.line_axis].values) + index[self.line_axis]

    def measure(self, index: tuple[int, ...], keep: bool = True) -> Mapping[str, int]:
        """Every metric of a grid point, exactly; an impossible point is an error naming it."""
        if index in self.evaluated:
            return self.evaluated[index]
        p = self.point(index)
        try:
            m = self.engine.measure(p)
        except CnnInspectError as exc:
            where = ", ".join(f"{k}={_fmt(v)}" for k, v in p.items() if k != "variant")
            raise type(exc)(f"at {where}: {exc.one_line()}") from exc
        self.count += 1
        report = None
        model = None
        if self.needs_memory or self.device is not None:
            model = resolve(self.spec, p.get("variant"), self.engine.overrides(p))
        if self.needs_memory:
            report = memory_report(model, self.memory)
        latency = None
        if self.device is not None:
            from ..measure.analysis import analyze

            latency = _predicted(analyze(model, self.convention), self.device, self.memory)
        measures = Measures(m.totals, m.weight_depth, self.memory, report, latency)
        metrics = {mt.name: mt.value(measures) for mt in METRIC_LIST if not mt.needs_memory or report is not None}
        if latency is not None:
            metrics[LATENCY.name] = LATENCY.value(measures)
        if keep:
            self.evaluated[index] = metrics
        return metrics

    def fit_point(self, index: tuple[int, ...], metrics: Mapping[str, int]) -> FitPoint:
        p = self.point(index)
        used, settings = resolved_settings(self.spec, self.variant, self.engine.overrides(p))
        values = {"width": settings.width, "depth": settings.depth, "resolution": settings.resolution,
                  **settings.values}
        shown = tuple((a.name, a.values[i] if a.name == "phi" else values.get(a.name, a.values[i]))
                      for a, i in zip(self.axes, index))
        return FitPoint(index, shown, used, metrics)

    def feasible(self, metrics: Mapping[str, int], budgets: Sequence[Budget] | None = None) -> bool:
        return all(b.allows(metrics) for b in (self.budgets if budgets is None else budgets))

    # -- search ---------------------------------------------------------------------------

    def run(self, search: str = "auto", budget_masks: bool = False) -> FitResult:
        """Search the grid: ``auto`` prunes where the proof of :meth:`Fit._pruned_lines` holds,
        ``exhaustive`` evaluates every point. ``budget_masks`` also finds each budget's own
        feasible region (for the plot; free in an exhaustive search)."""
        if search == "exhaustive":
            return self._exhaustive("exhaustive search requested")
        try:
            lines = self._pruned_lines()
        except NotProven as exc:
            return self._exhaustive(str(exc))
        return self._pruned(lines, budget_masks)

    def _exhaustive(self, reason: str) -> FitResult:
        mask = bytearray(self.size)
        budget_masks = {b.metric.name: bytearray(self.size) for b in self.budgets}
        candidates: dict[tuple[int, ...], tuple[int, Mapping[str, int]]] = {}
        best: tuple[Any, ...] | None = None
        feasible = 0
        for pos, index in enumerate(self.points()):
            metrics = self.measure(index, keep=False)
            ok = True
            for b in self.budgets:
                if b.allows(metrics):
                    budget_masks[b.metric.name][pos] = 1
                else:
                    ok = False
            if not ok:
                continue
            mask[pos] = 1
            feasible += 1
            key = tuple(index[i] for i in self.key_axes)
            candidates[key] = (index[self.line_axis], metrics)  # the line's largest feasible value so far
            rank = (metrics[self.maximize.name], index)
            if best is None or rank > best[:2]:
                best = (*rank, metrics)
        frontier = self._frontier(candidates)
        best_point = self.fit_point(best[1], best[2]) if best is not None else None
        return self._result(frontier, best_point, feasible, "exhaustive", reason, bytes(mask),
                            {k: bytes(v) for k, v in budget_masks.items()})

    def _pruned_lines(self) -> dict[tuple[int, ...], int]:
        """The staircase of the budgets (the largest feasible index of every line), with the
        proof that pruning is sound checked line by line on the way; raises
        :class:`NotProven` (the search is then exhaustive).

        Pruning is sound when, for every combination of the width and depth values (a *line* of
        resolutions):

        1. all budgeted and maximised metrics are monotone, the axes are width, depth and
           resolution only, and there is a resolution axis (every other value needs its own
           resolve, so pruning there saves nothing);
        2. the model resolved at the largest resolution re-shapes exactly (no fallback) to the
           smallest and the largest (so, below, it has one structure on the whole line);
        3. every op's size map is *regular* (non-decreasing, never larger than its input, up
           by at most 1 per input pixel: every sliding window, global pool and size-keeping op
           is), every concatenation joins branches with the same size map, every projection
           shortcut maps sizes like its residual body, and every gate's branch keeps the size
           or ends at 1x1 at both ends. Then a subtree keeps its shape on a set of inputs closed
           downward, an input that fits at the smallest resolution fits at every larger one,
           and shapes agree wherever they agree at the ends: the structure (which shortcuts are
           identities, which blocks are residual) is the same at every resolution of the line,
           and every count grows with the resolution;
        4. models next to each other on the width or depth axis have the same structure (depth:
           plus extra blocks that keep their shape), the same size maps, and every op's counts
           and every tensor at least as large in the larger model, at both ends of the line.
           Every count is a constant plus a non-negative multiple of one size product (true of
           every registered convention), so "at least as large at both ends" holds in between.

        Then every metric is non-decreasing along every axis: feasibility is downward closed.
        """
        precheck(self)
        n = len(self.axes[self.line_axis].values)
        sizes = [len(self.axes[i].values) for i in self.key_axes]
        keep = 1
        for size in sizes[1:]:
            keep *= size  # the farthest neighbour below a key is this many lines back
        views: dict[tuple[int, ...], LineView] = {}
        lines: dict[tuple[int, ...], int] = {}
        for key in itertools.product(*(range(size) for size in sizes)):
            view = certify_line(self, key)
            for d, prev in _below(key):
                axis = self.axes[self.key_axes[d]]
                problem = _dominates(views[prev], view, grow=axis.name == "depth")
                if problem:
                    step = f"{axis.name} {_fmt(axis.values[prev[d]])} -> {_fmt(axis.values[key[d]])}"
                    raise NotProven(f"{step}: {problem}")
            views[key] = view
            if len(views) > keep:
                del views[next(iter(views))]
            lines[key] = self._gallop(key, self._upper_bound(key, lines, n), self.budgets)
        return lines

    def _pruned(self, lines: Mapping[tuple[int, ...], int], with_masks: bool) -> FitResult:
        candidates = {key: (j, self.evaluated[self._index(key, j)]) for key, j in lines.items() if j >= 0}
        frontier = self._frontier(candidates)
        best = max(frontier, key=lambda p: (p.metrics[self.maximize.name], p.index)) if frontier else None
        feasible = sum(j + 1 for j in lines.values())
        evaluated = self.count
        masks = {b.metric.name: self._mask(self.staircase((b,))) for b in self.budgets} if with_masks else {}
        names = " and ".join(self.names)
        result = self._result(frontier, best, feasible, "pruned", f"costs proved non-decreasing in {names} on this grid",
                              self._mask(lines), masks)
        return replace(result, evaluated=evaluated)

    def staircase(self, budgets: Sequence[Budget]) -> dict[tuple[int, ...], int]:
        """For each line, the index of its largest feasible value (-1: none), for a grid
        whose feasibility is proved downward closed along every axis."""
        n = len(self.axes[self.line_axis].values)
        out: dict[tuple[int, ...], int] = {}
        for key in itertools.product(*(range(len(self.axes[i].values)) for i in self.key_axes)):
            out[key] = self._gallop(key, self._upper_bound(key, out, n), budgets)
        return out

    @staticmethod
    def _upper_bound(key: tuple[int, ...], lines: Mapping[tuple[int, ...], int], n: int) -> int:
        """A line fits at most as far as any line below it on another axis (monotone costs)."""
        return min([n - 1, *(lines[prev] for _d, prev in _below(key))])

    def _gallop(self, key: tuple[int, ...], ub: int, budgets: Sequence[Budget]) -> int:
        def ok(j: int) -> bool:
            return self.feasible(self.measure(self._index(key, j)), budgets)

        if ub < 0 or ok(ub):
            return ub
        bad, step = ub, 1  # bad: known infeasible
        good = -1
        while True:
            probe = ub - step
            if probe < 0:
                break
            if ok(probe):
                good = probe
                break
            bad, step = probe, step * 2
        while bad - good > 1:
            mid = (good + bad) // 2
            if ok(mid):
                good = mid
            else:
                bad = mid
        return good

    def _mask(self, lines: Mapping[tuple[int, ...], int]) -> bytes:
        n = len(self.axes[self.line_axis].values)
        mask = bytearray()
        for key in itertools.product(*(range(len(self.axes[i].values)) for i in self.key_axes)):
            j = lines[key]
            mask += b"\x01" * (j + 1) + b"\x00" * (n - j - 1)
        return bytes(mask)

    def _frontier(self, candidates: Mapping[tuple[int, ...], tuple[int, Mapping[str, int]]]) -> list[FitPoint]:
        """The candidates no other candidate beats or equals on every axis. A line's
        largest feasible point dominates the rest of its line, so these suffice."""
        pts = sorted(((self._index(key, j), metrics) for key, (j, metrics) in candidates.items()), reverse=True)
        kept: list[tuple[tuple[int, ...], Mapping[str, int]]] = []
        for index, metrics in pts:  # descending: a dominating point always comes first
            if not any(all(a >= b for a, b in zip(k, index)) for k, _ in kept):
                kept.append((index, metrics))
        return sorted((self.fit_point(i, m) for i, m in kept), key=lambda p: p.index)

    def _result(self, frontier: list[FitPoint], best: FitPoint | None, feasible: int, search: str, reason: str,
                mask: bytes, budget_masks: Mapping[str, bytes]) -> FitResult:
        return FitResult(self.name, self.variant, self.axes, self.budgets, self.maximize, self.size, self.count,
                         feasible, tuple(frontier), best, search, reason, mask, budget_masks, self.memory)


class ModuleFit(Fit):
    """A fit of a Python model over its input resolution only: each point is one captured
    forward pass (cnninspect/capture/pymodels.py), every point evaluated (no pruning proof holds for
    arbitrary code). Budgets are those of specs; training bytes are measured on meta copies
    of the model (cnninspect/capture/training.py); a latency budget prices each point's
    captured operators on ``device`` as ``summary --device`` does (:func:`_predicted`);
    ``rules``: the caller's operator rules, in every point's count."""

    def __init__(self, text: str, axis: Axis, budgets: Sequence[Budget], maximize: Metric, *,
                 convention: str = "paper", input_shape: tuple[int, ...] | None = None,
                 memory: MemorySettings | None = None, device: Device | None = None,
                 rules: Mapping[str, Any] | None = None) -> None:
        from ..capture.pymodels import build, load, parse_pyref

        if not budgets:
            raise UsageError("give at least one budget, e.g. --max-mult-adds 300M")
        from ..base.limits import MAX_FORWARD_PASSES

        if len(axis.values) > MAX_FORWARD_PASSES:
            raise UsageError(f"--over {axis.name}: a Python model is fitted over at most {MAX_FORWARD_PASSES:,} values "
                             f"(one forward pass each, as sweep), got {len(axis.values):,}")
        self.name = text
        self.variant = None
        self.axes = (axis,)
        self.budgets = tuple(budgets)
        self.maximize = maximize
        self.memory = memory or MemorySettings()
        # training bytes: measured on meta copies of the model at each point (capture/training.py)
        self.needs_memory = any(m.needs_memory for m in (maximize, *(b.metric for b in budgets)))
        self.device = _latency_device(device, budgets, maximize)
        self.convention = convention
        self.rules = rules  # the caller's operator rules (cnninspect.ops.custom_rules)
        self.input_shape = input_shape
        self.names = [axis.name]
        self.line_axis = 0
        self.key_axes: list[int] = []
        self.size = len(axis.values)
        self.evaluated: dict[tuple[int, ...], Mapping[str, int]] = {}
        self.count = 0
        self.pm = load(parse_pyref(text))
        self.built = build(self.pm)

    def measure(self, index: tuple[int, ...], keep: bool = True) -> Mapping[str, int]:
        from ..capture.module_analysis import analyze_trace
        from ..capture.pymodels import input_for, subject_for, trace_built

        if index in self.evaluated:
            return self.evaluated[index]
        res = self.axes[0].values[index[0]]
        inputs, source = input_for(self.built.module, self.pm.ref.shown, self.input_shape, res)
        trace = trace_built(self.pm, self.built, inputs)
        report = analyze_trace(trace, self.convention, subject_for(self.pm, trace, res, source), rules=self.rules)
        self.count += 1
        mem = self._memory(res) if self.needs_memory else None
        latency = self._latency(res, report) if self.device is not None else None
        measures = Measures(report.totals, report.subject.depth, self.memory, mem, latency)
        metrics = {m.name: m.value(measures) for m in METRIC_LIST if not m.needs_memory or mem is not None}
        if latency is not None:
            metrics[LATENCY.name] = LATENCY.value(measures)
        if keep:
            self.evaluated[index] = metrics
        return metrics

    def _cast(self) -> str | None:
        """The fit's ``--dtype`` as the one dtype a Python model's copy is cast to (None: fp32)."""
        from ..capture.training import CASTS

        prec = self.memory.precision
        if prec.weights != prec.activations or prec.weights not in CASTS:
            raise UsageError(f"--dtype: a Python model runs in one dtype ({', '.join(CASTS)}), not {prec.text()}")
        return None if prec.weights == "fp32" else prec.weights

    def _at_batch(self, res: Any) -> tuple[Any, Any]:
        """The inputs at ``res`` and the fit's batch, and that forward pass captured."""
        from ..capture.inputs import ModelInputs
        from ..capture.pymodels import input_for, trace_built

        batch = self.memory.batch
        shape = self.input_shape
        given = ModelInputs.single(shape, batch) if shape is not None else ModelInputs((), {}, batch)
        inputs, _ = input_for(self.built.module, self.pm.ref.shown, given, res)
        return inputs, trace_built(self.pm, self.built, inputs)

    def _latency(self, res: Any, report: Report) -> float:
        """The predicted seconds at ``res`` on the fit's device: the forward pass at the fit's
        batch (``report``'s own when that is its batch) priced at the fit's ``--dtype``, or at
        the model's own dtypes without one."""
        from ..capture.module_analysis import analyze_trace
        from ..capture.pymodels import subject_for

        from ..measure.traffic import as_run

        cast = self._cast()
        if report.subject.batch != self.memory.batch:
            _inputs, trace = self._at_batch(res)
            report = analyze_trace(trace, self.convention, subject_for(self.pm, trace, res), rules=self.rules)
        # uncast: at the model's own dtypes, as summary --device prices it
        return _predicted(report, self.device, self.memory if cast else as_run(report))

    def _memory(self, res: Any) -> Any:
        """The memory report at ``res``, measured on meta copies at the fit's batch, optimizer
        and dtype (one trainable dtype, cast on the copy)."""
        from ..capture.training import module_memory

        cast = self._cast()
        inputs, trace = self._at_batch(res)
        mem = module_memory(self.built.module, inputs, trace, cast=cast, batch=self.memory.batch,
                            optimizer=self.memory.optimizer)
        if mem.training is None:
            raise UsageError(f"training_bytes: {mem.training_unavailable}")
        return mem

    def fit_point(self, index: tuple[int, ...], metrics: Mapping[str, int]) -> FitPoint:
        return FitPoint(index, (("resolution", self.axes[0].values[index[0]]),), None, metrics)

    def run(self, search: str = "auto", budget_masks: bool = False) -> FitResult:
        return self._exhaustive("a Python model: every resolution is one captured forward pass")


def _below(key: tuple[int, ...]) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(axis, key) of the neighbouring lines one step below ``key`` on each axis."""
    for d in range(len(key)):
        if key[d] > 0:
            yield d, key[:d] + (key[d] - 1,) + key[d + 1:]


# --- the pruning proof --------------------------------------------------------------------


class NotProven(Exception):
    """Pruning is not proved sound for this grid; the message says why."""


LineView = tuple[Template, Mapping[str, "NodeObs"], Mapping[str, "NodeObs"]]


def precheck(fit: Fit) -> None:
    """Conditions (1) of the proof (:meth:`Fit._pruned_lines`); raises :class:`NotProven`."""
    bad = [a.name for a in fit.axes if a.name not in PRUNABLE_AXES]
    if bad:
        raise NotProven(f"no monotonicity proof for the {', '.join(bad)} axis")
    if "resolution" not in fit.names:
        raise NotProven("without a resolution axis every point needs its own resolve, so pruning saves nothing")
    metrics = {b.metric for b in fit.budgets} | {fit.maximize}
    loose = sorted(m.name for m in metrics if not m.monotone)
    if loose:
        raise NotProven(f"{', '.join(loose)} is not monotone")


def certify_line(fit: Fit, key: tuple[int, ...]) -> LineView:
    """Conditions (2) and (3) of :meth:`Fit._pruned_lines` for one line; raises :class:`NotProven`."""
    res = fit.axes[fit.line_axis].values
    lo, hi = res[0], res[-1]
    where = ", ".join(f"{fit.axes[i].name} {_fmt(fit.axes[i].values[k])}" for i, k in zip(fit.key_axes, key))
    where = f" (at {where})" if where else ""
    point = fit.point(fit._index(key, len(res) - 1))
    try:
        template = fit.engine.template_at(point)
    except CnnInspectError:
        raise NotProven(f"resolution {hi}{where} does not resolve") from None
    if template.root is None:
        raise NotProven(template.reason + where)
    problem = _regular(template.root)
    if problem:
        raise NotProven(problem + where)
    try:
        obs_lo = observe(fit.engine, template, lo)
        obs_hi = observe(fit.engine, template, hi)
    except Unsupported:
        raise NotProven(f"the structure at resolution {lo} differs from {hi}{where}") from None
    problem = _line_checks(obs_lo, obs_hi)
    if problem:
        raise NotProven(problem + where)
    for j in (0, len(res) - 1):  # computed already (memoised): the search starts from them
        fit.measure(fit._index(key, j))
    return template, obs_lo, obs_hi


@dataclass(frozen=True)
class NodeObs:
    """A template node evaluated at one resolution (for the pruning proof)."""

    node: CNode
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    trainable: int
    mult_adds: int
    elements: int


def observe(engine: TotalsEngine, template: Template, resolution: int) -> dict[str, NodeObs]:
    """Every node of ``template`` at ``resolution`` by qualified name; raises Unsupported."""
    import math

    assert template.root is not None
    ev = engine.evaluator
    out: dict[str, NodeObs] = {}
    shape = (template.model.input_shape[0], resolution, resolution)
    ev.totals(template, resolution)  # the guards of the whole model

    def visit(c: CNode, qual: str, shape: tuple[int, ...], side: bool) -> tuple[int, ...]:
        s = ev.eval(c, shape, side)
        if qual:
            out[qual] = NodeObs(c, shape, s[0], s[1], s[2], s[3], math.prod(s[0]))
        inner = side or c.type == SIDE

        def name(child: CNode) -> str:
            return f"{qual}.{child.name}" if qual else child.name

        if c.type == SEQ:
            cur = shape
            for child in c.children:
                cur = visit(child, name(child), cur, inner)
        elif c.type == RES:
            body = visit(c.children[0], name(c.children[0]), shape, inner)
            visit(c.children[1], name(c.children[1]), shape, inner)
            if c.has_post:
                visit(c.children[2], name(c.children[2]), body, inner)
        else:
            for child in c.children:
                visit(child, name(child), shape, inner)
        return s[0]

    visit(template.root, "", shape, False)
    return out




def _dim_key(k: int, s: int, p0: int, p1: int, ceil: bool) -> tuple[Any, ...]:
    """The canonical form of one dimension's size map n -> window_out(n, ...)."""
    c = p0 + p1 - k
    return (s, c, p0) if ceil else (s, c)


def _identity_key(key: tuple[Any, ...]) -> bool:
    return key[0] == 1 and key[1] == -1


_REGULAR: dict[tuple[Any, ...], bool] = {}


def _regular_dim(k: int, s: int, p0: int, p1: int, ceil: bool) -> bool:
    """Non-decreasing, never above its input, up by at most 1 per step: checked on one full
    period past every threshold (the map is periodic with period ``s`` from there)."""
    key = (k, s, p0, p1, ceil)
    if key not in _REGULAR:
        prev, ok = None, True
        for n in range(1, abs(p0 + p1 - k) + 3 * s + 3):
            g = window_out(n, k, s, (p0, p1), ceil)
            if g > n or (prev is not None and not 0 <= g - prev <= 1):
                ok = False
                break
            prev = g
        _REGULAR[key] = ok
    return _REGULAR[key]


def _window_keys(c: CNode) -> tuple[tuple[Any, ...], ...] | None:
    """(height map, width map) of a sliding window, or None when it is not regular."""
    a = c.attrs
    (kh, kw), (sh, sw) = a["kernel"], a["stride"]
    if a.get("pad_tag") == "same-tf":  # ceil(n / s) whatever the input: regular
        return ((sh, -1), (sw, -1))
    t, b, left, r = a["pad"]
    ceil = bool(a.get("ceil_mode", False))
    if not (_regular_dim(kh, sh, t, b, ceil) and _regular_dim(kw, sw, left, r, ceil)):
        return None
    return (_dim_key(kh, sh, t, b, ceil), _dim_key(kw, sw, left, r, ceil))


def _size_map(c: CNode) -> tuple[Any, ...] | None:
    """A subtree's size map along its main path as a tuple of non-identity steps, or None
    when it is not regular or its branches disagree (computed once per node)."""
    if c.size_map is UNSET:
        c.size_map = _compute_size_map(c)
    return c.size_map  # type: ignore[no-any-return]


def _compute_size_map(c: CNode) -> tuple[Any, ...] | None:
    if c.type == OP:
        assert c.rule is not None
        kind = c.rule.spatial
        if kind == "window":
            keys = _window_keys(c)
            if keys is None:
                return None
            return () if all(_identity_key(k) for k in keys) else (keys,)
        if kind == "global":  # to 1 x 1, or to an adaptive pool's fixed size
            return (("global", *c.attrs.get("size", ())),)
        return {"same": (), "flat": (("flat",),)}.get(kind)
    if c.type == SEQ:
        steps: tuple[Any, ...] = ()
        for child in c.children:
            m = _size_map(child)
            if m is None:
                return None
            steps += m
        return steps
    if c.type == RES:
        body = _size_map(c.children[0])
        post = _size_map(c.children[2]) if c.has_post else ()
        return None if body is None or post is None else body + post
    if c.type == CAT:
        maps = {_size_map(b) for b in c.children}
        return maps.pop() if len(maps) == 1 else None
    return ()  # gate, side: the input goes on


def _regular(root: CNode) -> str:
    """Static conditions of :meth:`Fit._pruned_lines` (3) on a template; the first problem, or ''."""

    def check(c: CNode, qual: str) -> str:
        for child in c.children:
            name = f"{qual}.{child.name}" if qual else child.name
            problem = check(child, name)
            if problem:
                return problem
        where = qual or "the model"
        if c.type == OP and _size_map(c) is None:
            return f"{where}: {c.kind} with kernel/stride/padding whose output size is irregular"
        if c.type == CAT and _size_map(c) is None:
            return f"{where}: concatenated branches map sizes differently"
        if c.type == RES and c.ratio is not None and _size_map(c.children[1]) != _size_map(c.children[0]):
            return f"{where}: the projection shortcut maps sizes unlike the residual body"
        return ""

    return check(root, "")


def _line_checks(lo: Mapping[str, NodeObs], hi: Mapping[str, NodeObs]) -> str:
    """Dynamic conditions of :meth:`Fit._pruned_lines` (3): gates, flat residual bodies."""
    for qual, o in hi.items():
        c = o.node
        if c.type == GATE:
            branch = f"{qual}.{c.children[0].name}"
            if _size_map(c.children[0]) != () and not all(
                len(obs[branch].out_shape) == 3 and obs[branch].out_shape[1:] == (1, 1) for obs in (lo, hi)
            ):
                return f"{qual}: the gate's branch neither keeps the size nor ends at 1x1"
        if c.type == RES and len(o.in_shape) != 3:
            body = f"{qual}.{c.children[0].name}"
            if lo[body].in_shape != hi[body].in_shape or lo[body].out_shape != hi[body].out_shape:
                return f"{qual}: a residual on flat vectors whose size depends on the resolution"
    return ""


def _dominates(a: LineView, b: LineView, *, grow: bool) -> str:
    """Whether model ``b`` is at least ``a`` everywhere (:meth:`Fit._pruned_lines` (4)); '' or why not."""
    _ta, a_lo, a_hi = a
    _tb, b_lo, b_hi = b
    for qual, oa in a_hi.items():
        if qual not in b_hi:
            parent = qual.rpartition(".")[0]
            if parent in b_hi and b_hi[parent].node.type != oa.node.type:
                continue  # reported at the parent
            return f"{qual} is missing from the larger model"
        x, y = oa.node, b_hi[qual].node
        if x.type != y.type or x.kind != y.kind:
            return f"{qual} changes from {_what(x)} to {_what(y)}"
        if len(x.children) != len(y.children) and not (grow and x.type == SEQ):
            return f"{qual} changes its structure"
    for qual, ob in b_hi.items():
        if qual not in a_hi:
            if not grow:
                return f"{qual} appears in the larger model"
            parent = qual.rpartition(".")[0]
            if parent and parent not in a_hi:
                continue  # inside an extra block, which is checked as a whole
            if any(o[qual].in_shape != o[qual].out_shape for o in (b_lo, b_hi)):
                return f"the extra block {qual} changes the shape"
            continue
        node = a_hi[qual].node
        if node.type == OP and _size_map(node) != _size_map(ob.node):
            return f"{qual} maps sizes differently"
        for x_, y_ in ((a_lo[qual], b_lo[qual]), (a_hi[qual], b_hi[qual])):
            if y_.elements < x_.elements:
                return f"{qual}'s output shrinks ({x_.elements:,} -> {y_.elements:,} values)"
            if node.type == OP and (y_.params < x_.params or y_.trainable < x_.trainable or y_.mult_adds < x_.mult_adds):
                return f"{qual}'s counts shrink"
    return ""


def _what(c: CNode) -> str:
    return {OP: f"a {c.kind} op", SEQ: "a plain sequence", RES: "a residual block", CAT: "a concatenation",
            GATE: "a gate", SIDE: "a side branch"}[c.type]


def parse_fit_axis(name: str, text: str, spec: Spec, label: str) -> Axis:
    """One ``--over NAME=VALUES`` axis: sweep value syntax, sorted and deduplicated."""
    from ..lang.fields import Int
    from .sweep import parse_axis

    if name == "variant":
        raise UsageError(f"{label}: fit one variant at a time (NAME:VARIANT); variants are not a numeric axis")
    if name not in ("phi", *spec.params):
        from ..base.errors import did_you_mean, one_of

        raise UsageError(f"{label}: {spec.name} has no parameter '{name}'{did_you_mean(name, (*spec.params, 'phi'))}; "
                         f"axes: phi, {one_of(spec.params)}")
    integer = name != "phi" and isinstance(spec.params[name].kind, Int)
    values = parse_axis(text, name, integer=integer, label=label)
    return Axis(name, tuple(sorted(set(values))))


@dataclass(frozen=True)
class FitPlot:
    """What ``fit --plot`` draws: the feasible region over the first two axes (the others
    fixed), the region each budget alone allows, the frontier and the best point. With one axis,
    ``ratios`` holds every budgeted metric as a fraction of its limit instead."""

    x: str
    y: str | None
    xs: tuple[Any, ...]
    ys: tuple[Any, ...]
    feasible: tuple[tuple[bool, ...], ...]  # [y index][x index]
    regions: Mapping[str, tuple[tuple[bool, ...], ...]]  # budget -> where it alone is met, [y][x]
    ratios: Mapping[str, tuple[float, ...]]
    frontier: tuple[tuple[Any, Any], ...]
    best: tuple[Any, Any] | None
    fixed: str


def plot_data(fit: Fit, result: FitResult) -> FitPlot:
    """The plot of a fit (evaluates more points only for a one-axis fit's curves)."""
    ax0 = fit.axes[0]
    xs = ax0.values
    if len(fit.axes) == 1:
        ratios = {}
        for b in fit.budgets:
            ratios[b.describe()] = tuple(fit.measure((i,))[b.metric.name] / b.limit if b.limit else float("inf")
                                         for i in range(len(xs)))
        row = tuple(bool(result.feasible_mask[fit.position((i,))]) for i in range(len(xs)))
        frontier = tuple((p.value(ax0.name), None) for p in result.frontier)
        best = (result.best.value(ax0.name), None) if result.best else None
        return FitPlot(ax0.name, None, xs, (), (row,), {}, ratios, frontier, best, "")
    ax1 = fit.axes[1]
    ys = ax1.values
    base = list(result.best.index) if result.best else [0] * len(fit.axes)
    fixed = ", ".join(f"{a.name} {_fmt(a.values[base[k]])}" for k, a in enumerate(fit.axes) if k > 1)

    def at(i: int, j: int) -> int:
        index = list(base)
        index[0], index[1] = i, j
        return fit.position(index)

    def grid_of(mask: bytes) -> tuple[tuple[bool, ...], ...]:
        return tuple(tuple(bool(mask[at(i, j)]) for i in range(len(xs))) for j in range(len(ys)))

    def top(grid: tuple[tuple[bool, ...], ...]) -> list[int]:
        return [max((j for j in range(len(ys)) if grid[j][i]), default=-1) for i in range(len(xs))]

    feasible = grid_of(result.feasible_mask)
    regions = {b.describe(): grid_of(result.budget_masks[b.metric.name]) for b in fit.budgets}
    tops = top(feasible)
    frontier = []
    for i, j in enumerate(tops):  # the slice's own frontier: no larger x reaches as high
        if j >= 0 and all(tops[k] < j for k in range(i + 1, len(xs))):
            frontier.append((xs[i], ys[j]))
    best = (result.best.value(ax0.name), result.best.value(ax1.name)) if result.best else None
    return FitPlot(ax0.name, ax1.name, xs, ys, feasible, regions, {}, tuple(frontier), best, fixed)
