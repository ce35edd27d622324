"""Sweep and fit plots (optional: needs matplotlib, ``pip install 'cnninspect[plot]'``)."""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any, ParamSpec
from collections.abc import Callable, Sequence

from .errors import UsageError, shorten

if TYPE_CHECKING:
    from .fit import FitPlot

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


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is an optional extra: pip install 'cnninspect[plot]'"
        ) from None
    return plt


@_quiet
def plot_sweep(rows: Sequence[dict[str, Any]], swept: Sequence[str], path: str, *, title: str, cost: str,
               replace: bool = False) -> None:
    """Mult-adds and params against the first swept numeric axis, log scale (linear with a zero), one line per
    value of the other swept axes (variants alone become a categorical x axis)."""
    plt = _pyplot()
    numeric = [a for a in swept if a != "variant"]
    x_axis = numeric[0] if numeric else "variant"
    others = [a for a in swept if a != x_axis]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[a] for a in others), []).append(r)
    fig, (ax_cost, ax_params) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, pts in groups.items():
        label = ", ".join(f"{a}={v:g}" if isinstance(v, float) else f"{a}={v}" for a, v in zip(others, key)) or None
        xs = list(range(len(pts))) if x_axis == "variant" else [p[x_axis] for p in pts]
        ax_cost.plot(xs, [p["mult_adds"] for p in pts], marker="o", ms=3, label=label)
        ax_params.plot(xs, [p["params"] for p in pts], marker="o", ms=3, label=label)
    for ax, ylabel, key in ((ax_cost, cost, "mult_adds"), (ax_params, "Parameters", "params")):
        # log scale where it can show every point: a model without mult-adds (pooling only)
        # has zeros, which a log axis cannot show (matplotlib would warn on stderr)
        ax.set_yscale("log" if all(r[key] > 0 for r in rows) else "linear")
        ax.set_xlabel(x_axis)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if x_axis == "variant":
            first = next(iter(groups.values()))
            ax.set_xticks(range(len(first)), [str(p["variant"]) for p in first])
    if len(groups) > 1:
        ax_cost.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, replace)
    plt.close(fig)


@_quiet
def plot_fit(data: FitPlot, path: str, *, title: str, replace: bool = False) -> None:
    """The feasible region of a fit over its first two axes: grid cells shaded feasible or
    not, one boundary line per budget (the largest feasible value of the second axis for
    each value of the first, that budget alone), the frontier and the best point. A
    one-axis fit shows each budgeted metric as a fraction of its limit against the axis,
    with the budget line at 1."""
    plt = _pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
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
    plt.close(fig)


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


def _new_file_mode(path: str) -> int:
    """The mode an ordinary ``open(path, "w")`` would give: the old file's, or 0666 - umask."""
    import os

    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_figure(fig: Any, path: str, replace: bool = False) -> None:
    """Write a figure. A new file is created exclusively: if another run created ``path``
    since the command checked it, this one refuses rather than overwrite it (without
    ``--force`` no file is ever replaced, even in a race). With ``replace`` (``--force``) it
    is written to a temporary file beside ``path`` and renamed over it, so an existing file is
    replaced whole or not at all (the last writer wins)."""
    import os
    import tempfile

    from .lang.yamlsrc import describe_os_error

    parent = os.path.dirname(path) or "."
    fmt = path.rsplit(".", 1)[-1].lower()
    tmp = None
    try:
        if not replace:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                raise UsageError(f"--plot {shorten(path, 100)} was created meanwhile (by another run?); refusing to "
                                 "overwrite it (use --force)") from None
            tmp = path  # removed if writing fails
        else:
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=".cnninspect-", suffix="." + fmt)
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt)
        if replace:
            os.chmod(tmp, _new_file_mode(path))
            os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write the plot {shorten(path, 100)}: {describe_os_error(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
