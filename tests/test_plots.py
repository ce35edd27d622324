"""Plots that answer the question: K/M/G ticks, a legend entry for every line, the Pareto
frontier marked, a trade-off plot per model or configuration, and ``Summary.plot()``."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import ROOT, invoke

matplotlib = pytest.importorskip("matplotlib")

from cnninspect.render.plot import PlotPoint, frontier, si, sweep_figure, tradeoff_figure  # noqa: E402

SWEEP = ["sweep", "mobilenet_v1", "--width", "1,0.75,0.5,0.25", "--resolution", "224,192,160,128"]


def sweep_rows():
    return json.loads(invoke(*SWEEP, "-f", "json").stdout)["points"]


def dominated(p, q) -> bool:
    """q beats p: at most its mult-adds, at least its params, one strictly."""
    return (q["mult_adds"] <= p["mult_adds"] and q["params"] >= p["params"]
            and (q["mult_adds"] < p["mult_adds"] or q["params"] > p["params"]))


def drawn_labels(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
            for t in axis.get_ticklabels() + axis.get_ticklabels(minor=True) if t.get_text()]


def test_si_labels():
    assert [si(v) for v in (5e8, 1.5e6, 1000, 2e9, 3.2e12, 0.5, 224)] == ["500M", "1.5M", "1K", "2G", "3.2T", "0.5", "224"]


def test_frontier_is_pareto():
    pts = [PlotPoint("a", 10, 5), PlotPoint("b", 20, 5), PlotPoint("c", 20, 8), PlotPoint("d", 5, 1), PlotPoint("e", 30, 7)]
    # b: c has the same mult-adds and more params; e: c has fewer mult-adds and more params
    assert frontier(pts) == [3, 0, 2]


def test_the_sweep_plot(tmp_path):
    rows = sweep_rows()
    fig = sweep_figure(rows, ["width", "resolution"], title="t", cost="Mult-adds")
    ax_cost, ax_params, ax_trade, ax_memory = fig.axes
    # every line has a legend entry
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) and not ln.get_label().startswith("_")]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert sorted(legend) == sorted(ln.get_label() for ln in lines), legend
        assert not [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_label().startswith("_")
                    and ln.get_linestyle() != "--"], "an unlabelled line"
    # four resolutions' identical parameter lines: drawn once, labelled with all four
    assert [t.get_text() for t in ax_params.get_legend().get_texts()] == [
        "resolution=224, 192, 160, 128 (same line)", "frontier"]
    assert len([t.get_text() for t in ax_cost.get_legend().get_texts()]) == 5
    # the frontier, computed here by brute force, is ringed in the panels
    expected = [r for r in rows if not any(dominated(r, q) for q in rows)]
    assert {r["resolution"] for r in expected} == {128} and len(expected) == 4
    ring = next(ln for ln in ax_cost.get_lines() if ln.get_label() == "frontier")
    assert sorted(zip(ring.get_xdata(), ring.get_ydata())) == sorted((r["width"], r["mult_adds"]) for r in expected)
    ring = next(ln for ln in ax_trade.get_lines() if ln.get_label().startswith("frontier"))
    assert sorted(zip(ring.get_xdata(), ring.get_ydata())) == sorted((r["params"], r["mult_adds"]) for r in expected)
    # one labelled point per configuration
    assert sorted(t.get_text() for t in ax_trade.texts) == sorted(f"{r['width']:g}, {r['resolution']}" for r in rows)
    assert ax_memory.get_xlabel() == "Peak activation memory (bytes)"
    # costs in K/M/G, never 10^8
    labels = drawn_labels(fig)
    assert "500M" in labels and "500K" in labels and not [t for t in labels if "10^" in t or "e+" in t]


def test_the_compare_plot(tmp_path):
    models = ["mobilenet_v1", "mobilenet_v2", "shufflenet_v2", "squeezenet", "resnet:18"]
    png = tmp_path / "cmp.png"
    r = invoke("compare", *models, "--plot", str(png))
    assert r.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot written to {png}" in r.stdout
    data = json.loads(invoke("compare", *models, "-f", "json").stdout)["models"]
    points = [PlotPoint(m["model"], m["mult_adds"], m["params"], m["peak_activation_bytes"]) for m in data]
    fig = tradeoff_figure(points, title="t")
    ax_params, ax_memory = fig.axes
    for ax in fig.axes:
        assert sorted(t.get_text() for t in ax.texts) == sorted(models)
    expected = {m["model"] for m in data if not any(dominated(m, q) for q in data)}
    ring = next(ln for ln in ax_params.get_lines() if ln.get_label().startswith("frontier"))
    assert {m["model"] for m in data if (m["params"], m["mult_adds"]) in set(zip(ring.get_xdata(), ring.get_ydata()))} \
        == expected == {"shufflenet_v2", "mobilenet_v2", "mobilenet_v1", "resnet:18"}  # squeezenet: v1 beats it
    assert invoke("compare", *models, "--plot", str(png)).exit_code == 2  # exists, no --force


def test_summary_plot_returns_the_figure_and_leaves_pyplot_alone():
    import cnninspect
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    before = (plt.get_fignums(), matplotlib.get_backend())
    s = cnninspect.summary("mobilenet_v1")
    fig = s.plot()
    assert isinstance(fig, Figure) and (plt.get_fignums(), matplotlib.get_backend()) == before
    top = [r for r in s.rows if r.depth == 0]
    ax_cost, ax_params = fig.axes
    assert [p.get_width() for p in ax_cost.patches] == [r.mult_adds for r in top]
    assert [p.get_width() for p in ax_params.patches] == [r.params for r in top]
    assert [t.get_text() for t in ax_cost.get_yticklabels()] == [r.name for r in top]
    flops = cnninspect.summary("mobilenet_v1", unit="flops").plot()
    assert [p.get_width() for p in flops.axes[0].patches] == [2 * r.mult_adds for r in top]
    assert flops.axes[0].get_xlabel() == "FLOPs"


def test_the_plots_the_docs_show_are_drawn_by_their_commands(tmp_path):
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("update_docs", ROOT / "scripts" / "update_docs.py")
    update_docs = module_from_spec(spec)
    spec.loader.exec_module(update_docs)
    commands = update_docs.plot_commands()
    assert len(commands) == 3
    for command in commands:
        argv = shlex.split(command)[1:]
        image = argv[argv.index("--plot") + 1]
        assert (ROOT / image).is_file(), image
        shown = re.search(rf"!\[[^\]]+\]\({re.escape(image.removeprefix('docs/'))}\)", (ROOT / "docs" / "plots.md").read_text())
        assert shown, f"{image} is shown in docs/plots.md"
        argv[argv.index("--plot") + 1] = str(tmp_path / "x.png")
        r = invoke(*argv)
        assert r.exit_code == 0, (command, r.stderr)
        (tmp_path / "x.png").unlink()
