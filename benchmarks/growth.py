"""Growth of the spec path with the number of layers: generated specs, whole processes.

    python benchmarks/growth.py spec 10000 > deep.yaml     # write a generated spec
    python benchmarks/growth.py table                       # measure 100 ... 30,000 layers

A generated spec of N layers has N leaf rows in the summary table: a stem (conv, batch norm,
ReLU) and then residual blocks written out one entry each (no ``repeat``, so the YAML reader
is measured too), each block a 3x3 conv, batch norm, ReLU, 3x3 conv, batch norm with an
identity shortcut and a ReLU after the addition (7 rows with the shortcut), on a 16-channel
8x8 map, closed by global pooling, flatten and a linear classifier. Each size runs
``cnninspect summary FILE --format json`` (the whole document, written to a file) in a
fresh interpreter; wall time, CPU time and peak RSS come from ``os.wait4``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SIZES = (100, 1_000, 10_000, 30_000)
QUICK_SIZES = (100, 1_000)
STEM_ROWS = 3
BLOCK_ROWS = 7
HEAD_ROWS = 3


def spec_text(layers: int) -> str:
    """A spec with ``layers`` leaf rows (rounded down to whole blocks, at least one block)."""
    blocks = max(1, (layers - STEM_ROWS - HEAD_ROWS) // BLOCK_ROWS)
    out = [
        f"name: deep{layers}",
        f"title: Generated residual net, {blocks} blocks",
        "citation: {short: generated, paper: benchmarks/growth.py, table: '-'}",
        "input: {channels: 3, resolution: 8}",
        "blocks:",
        "  res:",
        "    help: two 3x3 convolutions with an identity shortcut",
        "    layers:",
        "      - residual:",
        "          body:",
        "            - conv: {out: 16, kernel: 3, bn: true, act: relu}",
        "            - conv: {out: 16, kernel: 3, bn: true}",
        "          shortcut: identity",
        "          post: relu",
        "layers:",
        "  - name: stem",
        "    conv: {out: 16, kernel: 3, bn: true, act: relu}",
    ]
    for i in range(blocks):
        out += [f"  - name: block{i + 1}", "    res: {}"]
    out += ["  - avgpool: {global: true}", "  - flatten", "  - linear: {out: 10}"]
    return "\n".join(out) + "\n"


def rows_of(layers: int) -> int:
    blocks = max(1, (layers - STEM_ROWS - HEAD_ROWS) // BLOCK_ROWS)
    return STEM_ROWS + BLOCK_ROWS * blocks + HEAD_ROWS


@dataclass
class Point:
    layers: int
    rows: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)  # KiB
    error: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def peak_mb(self) -> float:
        return statistics.median(self.rss) / 1024


def measure(layers: int, runs: int, workdir: Path) -> Point:
    """``summary FILE --format json`` on a generated spec, ``runs`` times (median)."""
    spec = workdir / f"deep{layers}.yaml"
    spec.write_text(spec_text(layers))
    point = Point(layers, rows_of(layers))
    for _ in range(runs):
        with open(workdir / "out.json", "wb") as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "cnninspect", "summary", str(spec), "--format", "json"],
                                    stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                err.seek(0)
                point.error = (err.read().decode(errors="replace").strip().splitlines() or ["failed"])[-1][:200]
                return point
        point.walls.append(wall)
        point.cpus.append(usage.ru_utime + usage.ru_stime)
        point.rss.append(usage.ru_maxrss)
    return point


def run(sizes: tuple[int, ...], runs: int) -> list[Point]:
    with tempfile.TemporaryDirectory() as tmp:
        points = []
        for n in sizes:
            p = measure(n, runs, Path(tmp))
            status = p.error or f"{p.wall:.2f} s wall, {p.cpu:.2f} s CPU, {p.peak_mb:.0f} MB"
            print(f"growth: {p.rows:>6} layers  {status}", file=sys.stderr)
            points.append(p)
        return points


def table(points: list[Point]) -> list[str]:
    """The growth table: per-layer cost between consecutive sizes (the slope) and overall."""
    good = [p for p in points if not p.error]
    lines = ["| Layers | Wall (s) | Range (s) | CPU (s) | Peak RSS (MB) | CPU per layer since previous (ms) | "
             "RSS per layer since previous (KB) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    prev = None
    for p in points:
        if p.error:
            lines.append(f"| {p.rows:,} | - | - | - | - | failed: {p.error} | |")
            continue
        slope = rss_slope = "-"
        if prev is not None:
            slope = f"{1000 * (p.cpu - prev.cpu) / (p.rows - prev.rows):.3f}"
            rss_slope = f"{1024 * (p.peak_mb - prev.peak_mb) / (p.rows - prev.rows):.1f}"
        lines.append(f"| {p.rows:,} | {p.wall:.2f} | {min(p.walls):.2f}-{max(p.walls):.2f} | {p.cpu:.2f} | "
                     f"{p.peak_mb:.0f} | {slope} | {rss_slope} |")
        prev = p
    if len(good) >= 2:
        lo, hi = good[0], good[-1]
        lines += ["", f"Slope over the whole range: {1000 * (hi.cpu - lo.cpu) / (hi.rows - lo.rows):.3f} ms of CPU "
                      f"and {1024 * (hi.peak_mb - lo.peak_mb) / (hi.rows - lo.rows):.1f} KB of peak RSS per layer "
                      f"({lo.rows:,} to {hi.rows:,} layers)."]
    return lines


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "spec":
        sys.stdout.write(spec_text(int(sys.argv[2])))
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "table":
        runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
        print("\n".join(table(run(SIZES, runs))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
