"""Sweep, trade-off, layer and fit plots (optional: needs matplotlib,
``pip install 'cnninspect[plot]'``).

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot: no
global figure state, no backend switched, and a figure returned to a notebook displays there.

Conventions the plots share: costs on log axes labelled in K, M, G, T (1K = 1,000); every
line and point set has a legend entry (lines that coincide, such as the parameters of one
width at every resolution, are drawn once and labelled with every setting they stand for);
and the *frontier* is the Pareto frontier of the trade-off between parameters and
mult-adds: the configurations that no other configuration beats with at most their
mult-adds and at least their parameters (the most parameters, i.e. capacity, that a
mult-add budget buys), as ``fit`` marks the largest configurations within its budgets.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec
from collections.abc import Callable, Iterable, Sequence

from ..base.errors import UsageError, shorten

if TYPE_CHECKING:
    from ..explore.fit import FitPlot

FRONTIER_STYLE = {"color": "black", "lw": 1.2, "ls": "--"}
FRONTIER_MARK = {"marker": "o", "ms": 9, "mfc": "none", "mec": "black", "mew": 1.3, "ls": "none"}


P = ParamSpec("P")


def _quiet(draw: Callable[P, None]) -> Callable[P, None]:
    """Run a drawing function with Python warnings silenced: matplotlib's (a font cache
    being built, a tight layout it could not make) are printed with its install path and
    say nothing to a user of cnninspect; stderr carries our one-line messages only."""

    @functools.wraps(draw)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draw(*args, **kwargs)

    return run


def _scale(values: Iterable[float]) -> str:
    """``log`` where a log axis can show every value, else ``linear`` (a zero cost)."""
    return "log" if all(v > 0 for v in values) else "linear"


def _figure(**kwargs: Any) -> Any:
    """A matplotlib Figure (no pyplot), or a one-line error naming the extra."""
    from ..base.extras import require

    require("plotting", "matplotlib")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def si(value: float, _pos: Any = None) -> str:
    """A tick label in K, M, G, T: 1500000 -> "1.5M", 1000 -> "1K", 0.5 -> "0.5"."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _si_axis(axis: Any) -> None:
    """K/M/G labels on an axis; on a log axis also at the 2x and 5x minor ticks when a decade
    has no major tick inside the view."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(si))
    if axis.get_scale() == "log":
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 3.0, 5.0)))
        low, high = sorted(axis.get_view_interval())
        import math

        one_decade = high > 0 and low > 0 and math.floor(math.log10(high)) - math.ceil(math.log10(low)) < 1
        axis.set_minor_formatter(FuncFormatter(si) if one_decade else NullFormatter())


@dataclass(frozen=True)
class PlotPoint:
    """One model or configuration of a trade-off plot."""

    label: str
    mult_adds: float
    params: float
    peak_activation_bytes: float | None = None


def frontier(points: Sequence[PlotPoint]) -> list[int]:
    """Indices of the Pareto frontier, by mult-adds: no other point has at most the
    mult-adds and at least the parameters with one of the two strictly better."""
    out = []
    for i, p in enumerate(points):
        dominated = any(
            q.mult_adds <= p.mult_adds and q.params >= p.params and (q.mult_adds < p.mult_adds or q.params > p.params)
            for q in points
        )
        if not dominated:
            out.append(i)
    return sorted(out, key=lambda i: (points[i].mult_adds, points[i].params))


def _label_points(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], which: Sequence[int]) -> None:
    for i in which:
        ax.annotate(labels[i], (xs[i], ys[i]), xytext=(4, 4), textcoords="offset points", fontsize=7)


MAX_LABELS = 24  # more points than this: only the frontier's are labelled


def _tradeoff_panels(axes: Sequence[Any], points: Sequence[PlotPoint], cost: str, what: str) -> None:
    """Mult-adds against parameters and (when known) against peak activation memory;
    ``what`` names the points in the legend ("models", "configurations (width, resolution)")."""
    front = frontier(points)
    labelled = range(len(points)) if len(points) <= MAX_LABELS else front
    ys = [p.mult_adds for p in points]
    labels = [p.label for p in points]
    panels = [("params", "Parameters")]
    if all(p.peak_activation_bytes for p in points):
        panels.append(("peak_activation_bytes", "Peak activation memory (bytes)"))
    for ax, (attr, xlabel) in zip(axes, panels):
        xs = [getattr(p, attr) for p in points]
        ax.plot(xs, ys, "o", color="C0", ms=5, label=f"{len(points)} {what}")
        fx, fy = [xs[i] for i in front], [ys[i] for i in front]
        ax.plot(fx, fy, **FRONTIER_MARK, label="frontier: most parameters for the mult-adds")
        if attr == "params" and len(front) > 1:
            ax.plot(fx, fy, **FRONTIER_STYLE)
        _label_points(ax, xs, ys, labels, labelled)
        ax.set_xscale(_scale(xs))
        ax.set_yscale(_scale(ys))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(cost)
        ax.grid(True, which="both", alpha=0.3)
        _si_axis(ax.xaxis)
        _si_axis(ax.yaxis)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(panels):]:
        ax.set_visible(False)


def tradeoff_figure(points: Sequence[PlotPoint], *, title: str, cost: str = "Mult-adds") -> Any:
    """``compare --plot``: one labelled point per model, mult-adds against parameters and
    against peak activation memory, the frontier marked."""
    fig = _figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    _tradeoff_panels(axes, points, cost, "models")
    fig.suptitle(title, fontsize=10)
    return fig


def _config_label(row: dict[str, Any], swept: Sequence[str]) -> str:
    """A configuration's point label: its swept values, in the order the legend names them."""
    return ", ".join(f"{row[a]:g}" if isinstance(row[a], float) else str(row[a]) for a in swept)


def sweep_figure(rows: Sequence[dict[str, Any]], swept: Sequence[str], *, title: str, cost: str) -> Any:
    """``sweep --plot``: mult-adds and parameters against the first swept numeric axis (log
    scale, one line per value of the other swept axes; variants alone become a categorical
    axis), and below them the trade-off panels, the frontier ringed in all four."""
    numeric = [a for a in swept if a != "variant"]
    x_axis = numeric[0] if numeric else "variant"
    others = [a for a in swept if a != x_axis]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[a] for a in others), []).append(r)
    points = [PlotPoint(_config_label(r, swept) or "model", r["mult_adds"], r["params"], r.get("peak_activation_bytes"))
              for r in rows]
    front_rows = [rows[i] for i in frontier(points)]
    fig = _figure(figsize=(11, 8.4), layout="constrained")
    (ax_cost, ax_params), (ax_t1, ax_t2) = fig.subplots(2, 2)
    for ax, metric, ylabel in ((ax_cost, "mult_adds", cost), (ax_params, "params", "Parameters")):
        drawn: dict[tuple[Any, ...], list[str]] = {}  # a line's points -> the settings it stands for
        series = []
        for key, pts in groups.items():
            xs = list(range(len(pts))) if x_axis == "variant" else [p[x_axis] for p in pts]
            ys = [p[metric] for p in pts]
            name = ", ".join(f"{a}={v:g}" if isinstance(v, float) else f"{a}={v}" for a, v in zip(others, key))
            shape = (tuple(xs), tuple(ys))
            if shape not in drawn:
                drawn[shape] = []
                series.append((shape, pts))
            drawn[shape].append(name)
        for k, ((xs, ys), _pts) in enumerate(series):
            names = [n for n in drawn[(xs, ys)] if n]
            label = _merged_label(names, others) if names else ylabel
            ax.plot(xs, ys, marker="o", ms=3, color=f"C{k % 10}", label=label)
        ring = [(i if x_axis == "variant" else r[x_axis], r[metric]) for r in front_rows
                for i in [next(j for j, p in enumerate(groups[tuple(r[a] for a in others)]) if p is r)]]
        ax.plot([x for x, _ in ring], [y for _, y in ring], **{**FRONTIER_MARK, "ms": 7}, label="frontier")
        # log scale where it can show every point: a model without mult-adds (pooling only)
        # has zeros, which a log axis cannot show (matplotlib would warn on stderr)
        ax.set_yscale(_scale(r[metric] for r in rows))
        ax.set_xlabel(x_axis)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        _si_axis(ax.yaxis)
        if x_axis == "variant":
            first = next(iter(groups.values()))
            ax.set_xticks(range(len(first)), [str(p["variant"]) for p in first])
        ax.legend(fontsize=7, loc="best")
    _tradeoff_panels((ax_t1, ax_t2), points, cost, f"configurations ({', '.join(swept)})" if swept else "model")
    fig.suptitle(title, fontsize=10)
    return fig


def _merged_label(names: Sequence[str], others: Sequence[str]) -> str:
    """One legend entry for lines that coincide: ``resolution=128, 160, 224 (same line)``."""
    if len(names) == 1:
        return names[0]
    if len(others) == 1:
        prefix = f"{others[0]}="
        return prefix + ", ".join(n.removeprefix(prefix) for n in names) + " (same line)"
    return "; ".join(names) + " (same line)"


@_quiet
def plot_sweep(rows: Sequence[dict[str, Any]], swept: Sequence[str], path: str, *, title: str, cost: str,
               replace: bool = False) -> None:
    """Write :func:`sweep_figure` to ``path`` (.png or .svg)."""
    save_figure(sweep_figure(rows, swept, title=title, cost=cost), path, replace)


@_quiet
def plot_compare(points: Sequence[PlotPoint], path: str, *, title: str, cost: str, replace: bool = False) -> None:
    """Write :func:`tradeoff_figure` to ``path`` (.png or .svg)."""
    save_figure(tradeoff_figure(points, title=title, cost=cost), path, replace)


def layers_figure(names: Sequence[str], params: Sequence[float], mult_adds: Sequence[float], *, title: str,
                  cost: str = "Mult-adds") -> Any:
    """``Summary.plot()``: the mult-adds and parameters of each top-level layer or block,
    as horizontal bars in execution order (K/M/G labels)."""
    fig = _figure(figsize=(10, max(3.0, 0.28 * len(names) + 1.4)), layout="constrained")
    ax_cost, ax_params = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(names)))
    ax_cost.barh(ys, mult_adds, color="C0", label=cost)
    ax_params.barh(ys, params, color="C1", label="Parameters")
    ax_cost.set_yticks(ys, list(names), fontsize=7)
    ax_cost.invert_yaxis()
    for ax, label in ((ax_cost, cost), (ax_params, "Parameters")):
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
        _si_axis(ax.xaxis)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    return fig


@_quiet
def plot_fit(data: FitPlot, path: str, *, title: str, replace: bool = False) -> None:
    """The feasible region of a fit over its first two axes: grid cells shaded feasible or
    not, one boundary line per budget (the largest feasible value of the second axis for
    each value of the first, that budget alone), the frontier and the best point. A
    one-axis fit shows each budgeted metric as a fraction of its limit against the axis,
    with the budget line at 1."""
    fig = _figure(figsize=(7.5, 5.2))
    ax = fig.subplots()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if data.y is None:
        for label, values in data.ratios.items():
            ax.plot(data.xs, values, marker="o", ms=2.5, lw=1.2, label=label)
        ax.axhline(1.0, color="black", lw=1, ls="--", label="budget")
        for i, ok in enumerate(data.feasible[0]):
            if ok:
                ax.axvspan(*_cell(data.xs, i), color="#cdebc5", lw=0)
        if data.best is not None:
            ax.axvline(data.best[0], color="#1b7837", lw=1.5, label=f"best: {data.x} {_fmt(data.best[0])}")
        ax.set_xlabel(data.x)
        ax.set_ylabel("value / limit")
    else:
        xe, ye = _edges(data.xs), _edges(data.ys)
        cells = [[1 if ok else 0 for ok in row] for row in data.feasible]
        ax.pcolormesh(xe, ye, cells, cmap=ListedColormap(["#eeeeee", "#cdebc5"]), vmin=0, vmax=1, shading="flat")
        for k, (label, region) in enumerate(data.regions.items()):  # each budget's own boundary
            segments = _boundary(region, xe, ye)
            color = f"C{k}"
            ax.add_collection(LineCollection(segments, colors=color, linewidths=1.6,
                                             linestyles=("-", "--", "-.", ":")[k % 4]))
            ax.plot([], [], color=color, lw=1.6, ls=("-", "--", "-.", ":")[k % 4], label=f"{label} (boundary)")
        if data.frontier:
            ax.plot([p[0] for p in data.frontier], [p[1] for p in data.frontier], "o", color="black", ms=4,
                    label="frontier")
        if data.best is not None:
            ax.plot([data.best[0]], [data.best[1]], "*", color="#d6604d", ms=14, mec="black", mew=0.6,
                    label=f"best: {data.x} {_fmt(data.best[0])}, {data.y} {_fmt(data.best[1])}")
        ax.set_xlabel(data.x)
        ax.set_ylabel(data.y)
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
    handles, labels = ax.get_legend_handles_labels()
    if data.y is not None:
        handles.insert(0, Patch(color="#cdebc5"))
        labels.insert(0, "every budget met")
    ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_title(title + (f" ({data.fixed})" if data.fixed else ""), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, replace)


def _boundary(region: Sequence[Sequence[bool]], xe: Sequence[float], ye: Sequence[float]) -> list[Any]:
    """Cell edges between a cell inside ``region`` ([y][x]) and one outside it."""
    segments = []
    for j, row in enumerate(region):
        for i, inside in enumerate(row):
            if i + 1 < len(row) and inside != row[i + 1]:
                segments.append([(xe[i + 1], ye[j]), (xe[i + 1], ye[j + 1])])
            if j + 1 < len(region) and inside != region[j + 1][i]:
                segments.append([(xe[i], ye[j + 1]), (xe[i + 1], ye[j + 1])])
    return segments


def _edges(values: Sequence[Any]) -> list[float]:
    """Cell edges around grid values: midpoints, and half a step beyond the ends."""
    v = [float(x) for x in values]
    if len(v) == 1:
        return [v[0] - 0.5, v[0] + 0.5]
    mids = [(a + b) / 2 for a, b in zip(v, v[1:])]
    return [v[0] - (mids[0] - v[0]), *mids, v[-1] + (v[-1] - mids[-1])]


def _cell(values: Sequence[Any], i: int) -> tuple[float, float]:
    e = _edges(values)
    return e[i], e[i + 1]


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def save_figure(fig: Any, path: str, replace: bool = False) -> None:
    """Write a figure, in the format its extension names, as every file cnninspect writes
    (:func:`cnninspect.base.files.write_file`): a new file is created exclusively (a file
    another run created meanwhile is never overwritten without ``--force``); with ``replace``
    (``--force``) an existing file is replaced whole or not at all."""
    from ..base.files import write_file

    fmt = path.rsplit(".", 1)[-1].lower()
    write_file(path, lambda fh: fig.savefig(fh, format=fmt), replace=replace, option="--plot")
