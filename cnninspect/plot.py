"""Sweep plots (optional: needs matplotlib, ``pip install 'cnninspect[plot]'``)."""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from .errors import UsageError, shorten


def plot_sweep(rows: Sequence[dict[str, Any]], swept: Sequence[str], path: str, *, title: str, cost: str) -> None:
    """Mult-adds and params against the first swept numeric axis, log scale, one line per
    value of the other swept axes (variants alone become a categorical x axis)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is an optional extra: pip install 'cnninspect[plot]'"
        ) from None
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
    for ax, ylabel in ((ax_cost, cost), (ax_params, "Parameters")):
        ax.set_yscale("log")
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
    save_figure(fig, path)
    plt.close(fig)


def _new_file_mode(path: str) -> int:
    """The mode an ordinary ``open(path, "w")`` would give: the old file's, or 0666 - umask."""
    import os

    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_figure(fig: Any, path: str) -> None:
    """Write a figure atomically: to a temporary file beside ``path``, then renamed over it,
    so an existing file is replaced whole or not at all."""
    import os
    import tempfile

    from .lang.yamlsrc import describe_os_error

    parent = os.path.dirname(path) or "."
    fmt = path.rsplit(".", 1)[-1].lower()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".cnninspect-", suffix="." + fmt)
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt)
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write the plot {shorten(path, 100)}: {describe_os_error(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
