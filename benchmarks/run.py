"""Benchmark harness: whole processes, wall time and peak RSS, medians after a warm-up.

    python benchmarks/run.py                 # full run, writes docs/benchmarks.md
    python benchmarks/run.py --quick         # CI: one run each, small models, peers optional
    python benchmarks/run.py --output FILE   # write the report elsewhere
    python benchmarks/run.py --only floor,b7,module-b7,fvcore-b7,torchinfo-b7,ptflops-b7,growth
                                             # some cases only (a report of those)
    python benchmarks/latency.py             # the latency section alone, replaced in docs/benchmarks.md

Every case is a separate process started from a clean interpreter, so imports count: the
floor is `python -c "import torch"`. Peak RSS comes from the kernel (``os.wait4``'s
``ru_maxrss``). Timings are reported, never asserted; targets are judged in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass
class Case:
    key: str
    label: str
    argv: list[str]
    group: str  # floor | ours | peer
    quick: bool = True
    target: str = ""  # human text of the target, judged later
    model: str = ""  # a peer's model: a spec name or a Python reference
    shape: str = ""  # a Python reference's input
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average before each run
    output: str = ""
    error: str = ""
    skipped: str = ""

    @property
    def wall_range(self) -> str:
        return f"{min(self.walls):.2f}-{max(self.walls):.2f}" if self.walls else "-"

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def peak_mb(self) -> float:
        return statistics.median(self.rss) / 1024 if self.rss else float("nan")


# issue 20's target for the module path on every benchmark model (peers under torch.no_grad())
MODULE_TARGET = "faster than every peer, <= 1/2 the leanest peer's RSS above the floor"

# the 100,000-point targets of the fit issue: MobileNet v1 widths x resolutions
GRID_100K_SWEEP = ("--width", "0.25:2.24:0.005", "--resolution", "96:345:1")
GRID_100K_FIT = ("--over", "width=0.25:2.24:0.005", "--over", "resolution=96:345:1")
FIT_BUDGETS = ("--max-mult-adds", "150M", "--max-params", "1.5M")


def cnn(*args: str) -> list[str]:
    return [PY, "-m", "cnninspect", *args]


def peer(tool: str, model: str, input_text: str | None = None) -> list[str]:
    return [PY, str(ROOT / "benchmarks" / "peer.py"), tool, model] + ([input_text] if input_text else [])


# Python models read by the module path: (key, reference, input); every one plain PyTorch
MODULE_MODELS = [
    ("b7", "benchmarks/models.py:efficientnet_b7", "3x600x600"),
    ("resnet50", "benchmarks/models.py:resnet50", "3x224x224"),
    ("convnext", "benchmarks/models.py:convnext_tiny", "3x224x224"),
]
PEERS = ("fvcore", "torchinfo", "ptflops")


def cases(quick: bool) -> list[Case]:
    big = "efficientnet:b0" if quick else "efficientnet:b7"
    out = [
        Case("floor", 'python -c "import torch"', [PY, "-c", "import torch"], "floor"),
        Case("help", "cnninspect --help", cnn("--help"), "ours", target="< 0.3 s"),
        Case("list", "cnninspect list", cnn("list"), "ours", target="< 0.3 s"),
        Case("mobilenet", "summary mobilenet_v1", cnn("summary", "mobilenet_v1"), "ours"),
        Case("resnet50", "summary resnet:50", cnn("summary", "resnet:50"), "ours"),
        Case("b0", "summary efficientnet:b0", cnn("summary", "efficientnet:b0"), "ours"),
        Case("b7", "summary efficientnet:b7", cnn("summary", "efficientnet:b7"), "ours", quick=False,
             target="<= 1.5x floor wall, <= 1.3x floor RSS"),
        Case("b7meta", "summary efficientnet:b7 --engine meta", cnn("summary", "efficientnet:b7", "--engine", "meta"),
             "ours", quick=False),
        Case("sweep8", "sweep efficientnet --variants all", cnn("sweep", "efficientnet", "--variants", "all"), "ours",
             target="<= 2x floor wall"),
        Case("sweep1000", "sweep mobilenet_v1, 1,000 points (40 widths x 25 resolutions)",
             cnn("sweep", "mobilenet_v1", "--width", "0.25:2.2:0.05", "--resolution", "96:480:16", "--format", "csv"),
             "ours", target="< 15 s"),
        Case("sweep100k", "sweep mobilenet_v1 --format csv, 99,750 points (399 widths x 250 resolutions)",
             cnn("sweep", "mobilenet_v1", *GRID_100K_SWEEP, "--format", "csv"), "ours",
             target="< 20 s, <= 2x the RSS of the 1,000-point sweep"),
        Case("fit100k", "fit mobilenet_v1, 99,750 points (399 widths x 250 resolutions), pruned",
             cnn("fit", "mobilenet_v1", *GRID_100K_FIT, *FIT_BUDGETS), "ours",
             target="< 10 s, <= 2x the RSS of the 1,000-point sweep"),
        Case("fit100kx", "fit mobilenet_v1, the same 99,750 points, --search exhaustive",
             cnn("fit", "mobilenet_v1", *GRID_100K_FIT, *FIT_BUDGETS, "--search", "exhaustive"), "ours"),
    ]
    b7_ref, b7_shape = next((ref, shape) for key, ref, shape in MODULE_MODELS if key == "b7")
    for tool in PEERS:
        out.append(Case(f"{tool}-b0", f"{tool} on efficientnet:b0", peer(tool, "efficientnet:b0"), "peer",
                        model="efficientnet:b0"))
        # EfficientNet-B7 written in plain PyTorch (benchmarks/models.py), the spec's model
        # (tests/test_sameness.py): the peers' B7 for the spec path and the module path alike
        out.append(Case(f"{tool}-b7", f"{tool} on {b7_ref} {b7_shape}", peer(tool, b7_ref, b7_shape), "peer",
                        quick=False, model=b7_ref, shape=b7_shape))
    for key, ref, shape in MODULE_MODELS:
        out.append(Case(f"module-{key}", f"summary {ref} --input {shape}", cnn("summary", ref, "--input", shape),
                        "module", quick=key == "resnet50", target=MODULE_TARGET))
        if key != "b7":  # the peers on B7 are the cases above
            for tool in PEERS:
                out.append(Case(f"{tool}-{key}", f"{tool} on {ref} {shape}", peer(tool, ref, shape), "peer-module",
                                quick=False, model=ref, shape=shape))
    return [c for c in out if c.quick or not quick]


def run_measured(argv: list[str]) -> tuple[float, int, int, str, str]:
    """Run once; return wall seconds, peak RSS (KiB, from wait4), exit code, stdout, stderr."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    import importlib.metadata as md

    def ver(p: str) -> str:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return "not installed"

    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; torch {ver('torch')}, fvcore {ver('fvcore')}, "
            f"torchinfo {ver('torchinfo')}, ptflops {ver('ptflops')}, cnninspect {ver('cnninspect')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one run each, small models (CI)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per case (median), after one warm-up")
    ap.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--skip", default="", metavar="KEY,...",
                    help="cases not to run (reported as skipped), e.g. fvcore-b7 on a machine without 5 GB to spare")
    ap.add_argument("--only", default="", metavar="KEY,...",
                    help="run these cases only ('growth' for the growth table), e.g. to rerun one comparison")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    todo = cases(args.quick)
    skip = {k.strip() for k in args.skip.split(",") if k.strip()}
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    unknown = (skip | only) - {c.key for c in todo} - {"growth", "latency"}
    if unknown:
        ap.error(f"unknown case(s) {', '.join(sorted(unknown))}; cases: {', '.join(c.key for c in todo)}, growth, "
                 "latency")
    if only:
        todo = [c for c in todo if c.key in only or c.key == "floor"]
    load_start = os.getloadavg()
    for c in todo:
        if c.key in skip:
            c.skipped = "skipped (--skip)"
            print(f"{c.label:<60} skipped", file=sys.stderr)
            continue
        if not args.quick:
            run_measured(c.argv)  # warm-up: page cache, .pyc files
        for _ in range(runs):
            c.loads.append(os.getloadavg()[0])
            wall, rss, code, out, err = run_measured(c.argv)
            if code != 0:
                c.error = (err.strip().splitlines() or ["failed"])[-1][:200]
                break
            c.walls.append(wall)
            c.rss.append(rss)
            c.output = out
        status = f"{c.wall:6.2f} s {c.peak_mb:7.0f} MB" if not c.error else f"failed: {c.error}"
        print(f"{c.label:<60} {status}", file=sys.stderr)
    extra: list[str] = []
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if not only or "growth" in only:
        import growth

        print("growth with the number of layers ...", file=sys.stderr)
        sizes = growth.QUICK_SIZES if args.quick else growth.SIZES
        extra += ["", "## Growth with the number of layers", "", GROWTH_TEXT, ""]
        extra += growth.table(growth.run(sizes, runs))
    if not only or "latency" in only:
        import latency

        print("predicted against measured latency ...", file=sys.stderr)
        to_docs = Path(args.output).resolve().parent == latency.LATENCY_DOC.parent
        extra += [""] + latency.section(args.quick, 2 if args.quick else 10, to_docs)
    if not args.quick and not only:
        from module_breakdown import breakdown_table, options_table

        print("module-path breakdown and options ...", file=sys.stderr)
        extra += (["", "## The module path, phase by phase", "", BREAKDOWN_TEXT, ""] + breakdown_table(3)
                 + ["", "## Ways of reading a module, on EfficientNet-B7 at 600x600", "", OPTIONS_TEXT, ""]
                 + options_table("efficientnet_b7", 3))
    load = (load_start, os.getloadavg())
    report = render(todo, args.quick, runs, load, extra, args.only)
    Path(args.output).write_text(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def render(todo: list[Case], quick: bool, runs: int, load: tuple[tuple[float, ...], tuple[float, ...]] = ((), ()),
           extra: list[str] | None = None, only: str = "") -> str:
    by = {c.key: c for c in todo}
    floor = by["floor"]
    flags = (" --quick" if quick else "") + (f" --only {only}" if only else "")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python benchmarks/run.py{flags}` on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {machine()}.",
        "",
        f"Load average (1, 5, 15 min) when the run started: {_load(load[0])}; when it ended: {_load(load[1])} "
        f"(on {os.cpu_count()} cores; other work on the machine inflates every timing below).",
        "",
        f"Each case is a whole process from a fresh interpreter; wall time and peak RSS (kernel "
        f"`ru_maxrss`) are the median of {runs} run(s)" + ("" if quick else " after one warm-up") + ". "
        "The floor is `python -c \"import torch\"`. Peers (`benchmarks/peer.py`) run with real weights, "
        "because each of them runs a forward pass, under `torch.no_grad()` as their users would: on "
        "EfficientNet-B0 the module cnninspect builds from its spec, on EfficientNet-B7 and the other "
        "Python models the plain-PyTorch modules of `benchmarks/models.py`.",
        "",
        load_line(todo),
        "",
        "| Case | Wall (s) | Range (s) | Peak RSS (MB) | Wall / floor | RSS / floor | Target | Result |",
        "| :--- | ---: | ---: | ---: | ---: | ---: | :--- | :--- |",
    ]
    for c in todo:
        if c.error or c.skipped:
            lines.append(f"| {c.label} | - | - | - | - | - | {c.target} | {c.skipped or 'failed: ' + c.error} |")
            continue
        result = judge(c, floor, by)
        lines.append(
            f"| {c.label} | {c.wall:.2f} | {c.wall_range} | {c.peak_mb:.0f} | {c.wall / floor.wall:.2f} | "
            f"{c.peak_mb / floor.peak_mb:.2f} | {c.target} | {result} |"
        )
    peers = [c for c in todo if c.group == "peer" and not c.error and not c.skipped]
    if peers:
        lines += ["", "## Peers against cnninspect on the same model", "",
                  "| Peer | Model | Peer wall (s) | cnninspect wall (s) | Peer / cnninspect wall | Peer RSS (MB) | "
                  "cnninspect RSS (MB) | Peer count | cnninspect count (same convention) |",
                  "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for c in peers:
            tool, model = c.key.split("-")[0], c.model
            ours = by.get(c.key.split("-")[1])
            info = json.loads(c.output.strip().splitlines()[-1])
            mine = module_count(tool, model, c.shape) if c.shape else our_count(tool, model)
            same = "equal" if mine == info["count"] else (
                "differs: ptflops also counts bias, BN, activations, pooling" if tool == "ptflops" else "DIFFERS")
            ow = f"{ours.wall:.2f}" if ours and ours.walls else "-"
            ratio = f"{c.wall / ours.wall:.1f}" if ours and ours.walls else "-"
            orss = f"{ours.peak_mb:.0f}" if ours and ours.rss else "-"
            shown = f"{model} {c.shape}" if c.shape else model
            lines.append(f"| {tool} | {shown} | {c.wall:.2f} | {ow} | {ratio} | {c.peak_mb:.0f} | {orss} | "
                         f"{info['count']:,} | {mine:,} ({same}) |")
    lines += module_section(by)
    lines += extra or []
    return "\n".join(lines) + "\n" + NOTES


def _load(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "unknown"


def module_section(by: dict[str, Case]) -> list[str]:
    """The module path against the peers on the same Python-defined modules."""
    rows = []
    for key, ref, shape in MODULE_MODELS:
        ours = by.get(f"module-{key}")
        if ours is None or ours.error:
            continue
        cells = [f"{ref} {shape}", f"{ours.wall:.2f} ({min(ours.walls):.2f}-{max(ours.walls):.2f}), {ours.peak_mb:.0f} MB"]
        for tool in PEERS:
            c = by.get(f"{tool}-{key}")
            if c is None or c.error or not c.walls:
                cells.append("-")
                continue
            info = json.loads(c.output.strip().splitlines()[-1])
            mine = module_count(tool, ref, shape)
            same = "equal" if mine == info["count"] else ("differs" if tool == "ptflops" else "DIFFERS")
            cells.append(f"{c.wall:.2f} ({min(c.walls):.2f}-{max(c.walls):.2f}), {c.peak_mb:.0f} MB; "
                         f"{info['count']:,} ({same})")
        rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", "## Python models: the module path against the peers", "",
            "`cnninspect summary FILE.py:NAME` builds the model on the meta device and captures one forward pass "
            "(docs/benchmarks.md notes 5-6); the peers build it with real weights and run it. Each cell: median wall "
            "in seconds (range over the runs), peak RSS, and for the peers their count, compared with cnninspect's "
            "count of the same module in the matching convention (fvcore, torchinfo; ptflops counts differently).", "",
            "| Model | cnninspect | fvcore | torchinfo | ptflops |", "| :--- | :--- | :--- | :--- | :--- |", *rows]


def module_count(tool: str, ref: str, shape: str) -> int:
    from cnninspect.capture.pymodels import analyze_python, parse_input

    convention = {"fvcore": "fvcore", "torchinfo": "torchinfo"}.get(tool, "paper")
    return analyze_python(ref, convention, input_shape=parse_input(shape)).totals.mult_adds


GROWTH_TEXT = (
    "`cnninspect summary FILE --format json` on generated specs of N layers (`benchmarks/growth.py`: residual "
    "blocks written out one entry each, so the YAML reader counts too; the whole JSON document written to a "
    "file), each size in a fresh interpreter: median wall, range, median CPU time (user + system, less "
    "inflated by other load than wall time) and peak RSS; the slope columns are the cost of each added layer "
    "between consecutive sizes. Linear growth means a flat slope."
)
BREAKDOWN_TEXT = (
    "`cnninspect summary FILE.py:NAME` in phases, each benchmark model in a fresh interpreter (3 runs; "
    "median, range in parentheses, seconds): `benchmarks/module_breakdown.py`. *load the file* runs the "
    "user's Python file; *build* constructs the model on the meta device; *forward* is the capture of one "
    "forward pass; *count* turns the capture into the report."
)
OPTIONS_TEXT = (
    "Every way of reading a module that was tried, on the same model in a fresh interpreter (3 runs; median, "
    "range). Only cnninspect's path stays clear of sympy and torch._dynamo; the real-tensor options are "
    "what the peers pay before they count anything."
)

NOTES = """
## Targets

* `--help` and `list` under 0.3 s: neither imports torch (a test checks `sys.modules`).
* `summary efficientnet:b7` within 1.5x of the floor in wall time and 1.3x in peak RSS, with
  counts identical to fvcore's conv/linear multiply-adds: the default `spec` engine does not
  import torch at all, so it costs a fraction of the floor; its counts equal fvcore's on the
  built module (`tests/test_conventions.py`, and `summary --verify` layer by layer).
* `sweep efficientnet --variants all` within 2x of the floor, and 1,000 points under 15 s;
  no torch module is built.
* A 100,000-point `sweep --format csv` under 20 s and a 100,000-point `fit` over MobileNet v1
  widths x resolutions under 10 s, both with at most 2x the peak RSS of the 1,000-point
  sweep. Totals come from the totals-only fast path (`cnninspect/measure/totals.py`, docs/fit.md): the
  spec is resolved once per width and re-shaped per resolution, subtrees are memoised on
  their input shape (at most 20,000 entries, so memory stays flat), the grid is generated
  lazily and CSV rows are streamed. `fit` evaluates only the boundary of the feasible region
  where its monotonicity proof holds (about 1% of this grid); `--search exhaustive` is shown
  for comparison.
* No path allocates real weights unless `--verify` is asked for: the `meta` engine builds on
  PyTorch's meta device and `spec` builds nothing.
* Python models (`summary FILE.py:NAME`), on every model of `benchmarks/models.py` written in
  plain PyTorch (EfficientNet-B7 at 600x600 in torchvision's layout, equal to the spec's model
  in every count and layer, `compare efficientnet:b7 benchmarks/models.py:efficientnet_b7
  --equal`; ResNet-50 and ConvNeXt-T at 224x224): faster in wall time than every peer on the
  same module, and at most half the leanest peer's peak RSS above the floor, the peers running
  under `torch.no_grad()`, the fastest and leanest named from the measurement. Above the floor,
  because every one of these processes imports torch: on ResNet-50 half the leanest peer's
  whole RSS is below what `import torch` alone takes, so no tool that imports torch could meet
  the target measured from zero; the absolute ratio is shown beside it. Counts equal to
  fvcore's and torchinfo's in the matching conventions.
* The spec path grows linearly with the number of layers: the per-layer CPU cost between
  consecutive sizes of the growth table stays flat from 100 to 30,000 layers.
* Latency (docs/latency.md): after calibration, across the default variant of every bundled
  family, a Spearman rank correlation of at least 0.9 between the roofline's predicted and the
  measured total, and a median absolute error of the total of at most 30%; `profile`'s
  per-layer timing adds at most 10% to the passes it measures (section above).

## Profiling notes (what dominated, what changed)

1. **The meta-device forward imports sympy and torch._dynamo.** The first design ran every
   `summary` as a hooked forward pass of the built module on the meta device. Measured:
   3.0 s for EfficientNet-B0 and 3.4 s / 318 MB for B7 against a 1.7 s / 224 MB floor
   (`/usr/bin/time`), and the overhead did not grow with the model. `python -X importtime`
   and an import hook showed why: on torch 2.13 any operation on a meta tensor, even
   `F.relu`, runs Python meta registrations (`torch._decomp`, `torch._prims_common`) that
   import sympy and `torch._dynamo`, about 1 s and 90 MB. Change: the default engine became
   the torch-free `spec` engine, which gives identical rows (tested on every bundled spec and
   variant and on random specs); `--engine meta` keeps the module walk and costs what the
   table above shows.
2. **rich's table layout.** cProfile of `summary efficientnet:b7` with the spec engine: 1.05 s
   of 1.3 s went to `rich.table.Table` measuring and rendering 2,400 rows x 8 columns
   (`_measure_column`, `render_lines`). Change: the terminal format renders aligned text
   itself (ANSI styles only on a terminal): 1.32 s -> 0.30 s, and `list` lost rich's import.
3. **The 1,000-point sweep** (cProfile): about 40% resolving the spec (`Scope.op`, layer
   expansion) and 60% building the per-layer report; 1.7 s in all. At that rate the
   100,000-point grid needs about 150 s (measured: 1.5 ms to resolve and analyse each of
   3,750 of its points, load about 3) plus holding every row. Changes: the totals-only fast
   path above (no rows; one resolve per width, not per point; a MobileNet v1 point then costs
   about 50-100 us, mostly the ops of the first stages, whose input size is new at every
   resolution, while later stages hit the memo); the grid became lazy and CSV rows are
   streamed (peak RSS of the 100,000-point sweep 58 MB -> 38 MB); the memo is bounded at
   20,000 subtrees (60,000 gave 50 MB).
4. **`--help`** imports click and the command registry only; subcommand modules are imported
   when they run (`cli.LazyGroup`).
5. **`fit`'s proof of monotonicity** builds one template per width and observes it at the two
   ends of the resolution range: about 1 ms per width, so the pruned 100,000-point fit is
   dominated by it (399 widths), not by the ~1,000 points it evaluates.
6. **Reading any `nn.Module` without the meta-kernel tax.** A forward pass on the meta device
   with hooks, `FlopCounterMode`, or any `TorchDispatchMode` costs about 1.4 s over
   `import torch` on torch 2.13 (table above): entering a dispatch mode wraps its handler in
   `torch._dynamo`'s guard, which imports `torch._dynamo` and sympy, and most meta kernels are
   Python reference implementations that import them too (`relu`, `add`, batch norm, `mean`,
   `cat` ...) and run hundreds of Python frames per call. `FakeTensorMode` costs more. Real CPU
   tensors at full size pay for the arithmetic (and the memory) before counting anything; at a
   reduced size they would need shape scaling that is wrong for models whose shapes do not
   scale. Change: one dispatch mode that opts out of the dynamo guard (`_should_skip_dynamo`,
   PyTorch's own switch) and answers the hot operators by shape arithmetic on the meta device
   (`cnninspect/capture/meta_shapes.py`: convolution, matrix products, norms, pools, elementwise ops
   with PyTorch's layout rule ported, `cat`, in-place initialisers), each checked against
   PyTorch's meta kernel in `tests/test_meta_shapes.py`; any other operator goes to PyTorch's
   own meta kernel (correct, only slower). Building the model on the meta device runs under the
   same mode, so weight initialisation costs nothing either. The spec's `--engine meta` now
   runs under the same shortcuts (its table row above).
7. **What is left** (table "The module path, phase by phase"): `import torch` is most of the
   wall time; running the user's file, building on the meta device, capturing the forward pass
   and counting take a few hundredths to a few tenths of a second each, and peak RSS stays
   within a few tens of MB of `import torch` alone.
8. **Growth with the number of layers** (issue 22). `summary --format json` on generated
   specs (`benchmarks/growth.py`) took 0.148 ms of CPU per layer from 1,000 to 10,000 layers
   and 0.17 ms from 10,000 to 30,000 (user + system time, load about 4 on 2 cores), and
   peaked at 144 MB for 10,000 layers and 385 MB for 30,000. cProfile and `gc.callbacks`
   showed two causes. Writing JSON with `json.dumps(indent=2)` (the pure-Python encoder, as
   any indent is) held the whole text and millions of fragments before the short-list
   rewrite: the writer now produces the same bytes in pieces (`json_pieces`; scalars through
   the C string encoder) and the CLI writes them in 64 KB chunks, so 10,000 layers peak at
   79 MB and 30,000 at 183 MB. And the garbage collector: 11 full collections at 30,000
   layers walked the whole heap (2.6 s of 5.7 s), finding nothing to free but the working
   sets that the analysis' recursive closures kept in reference cycles. The closures now
   break their cycles (`tests/test_growth.py` checks that an analysis leaves nothing for the
   collector), and the CLI freezes the objects of its imports and lets a full collection wait
   for 1,000 young collections instead of 10: 0.132 ms per layer from 1,000 to 10,000 and
   0.129 ms from 10,000 to 30,000, flat; about 5.2 KB of peak RSS per layer. The measured
   growth table is above.
"""


def our_count(tool: str, model: str) -> int:
    """cnninspect's count of ``model`` in the convention that matches ``tool``."""
    from cnninspect.measure.analysis import analyze
    from cnninspect.resolve.catalog import parse_target
    from cnninspect.resolve.resolver import resolve

    t = parse_target(model)
    m = resolve(t.spec, t.variant)
    convention = {"fvcore": "fvcore", "torchinfo": "torchinfo"}.get(tool, "paper")
    return analyze(m, convention).totals.mult_adds


def load_line(todo: list[Case]) -> str:
    """The machine's load while measuring: timings on a shared machine are inflated by it."""
    loads = [x for c in todo for x in c.loads]
    if not loads:
        return "Load: not measured."
    cores = os.cpu_count() or 1
    return (f"Load (1-minute average before each run): median {statistics.median(loads):.1f}, "
            f"range {min(loads):.1f}-{max(loads):.1f}, on {cores} cores. A load above the core count "
            "means other processes competed for the CPU and the wall times below are inflated.")


def judge(c: Case, floor: Case, by: dict[str, Case] | None = None) -> str:
    if c.key in ("help", "list"):
        return "met" if c.wall < 0.3 else f"missed by {c.wall - 0.3:.2f} s"
    if c.key == "b7":
        ok = c.wall <= 1.5 * floor.wall and c.peak_mb <= 1.3 * floor.peak_mb
        return "met" if ok else "missed"
    if c.key == "sweep8":
        return "met" if c.wall <= 2 * floor.wall else "missed"
    if c.key == "sweep1000":
        return "met" if c.wall < 15 else "missed"
    if c.key in ("sweep100k", "fit100k"):
        base = (by or {}).get("sweep1000")
        limit = 20 if c.key == "sweep100k" else 10
        if base is None or not base.rss:
            return "met (time)" if c.wall < limit else "missed (time)"
        ratio = c.peak_mb / base.peak_mb
        verdict = "met" if c.wall < limit and ratio <= 2 else "missed"
        return f"{verdict} ({ratio:.2f}x the RSS)"
    if c.key.startswith("module-") and by is not None:
        model = c.key.removeprefix("module-")
        peers = [by[f"{t}-{model}"] for t in PEERS if f"{t}-{model}" in by and by[f"{t}-{model}"].walls]
        if not peers:
            return ""
        fastest = min(peers, key=lambda p: p.wall)
        leanest = min(peers, key=lambda p: p.peak_mb)
        # every process here imports torch (the floor); the memory a tool adds is what it costs
        # above it, and half the leanest peer's absolute RSS can be below the floor itself
        ours, theirs = c.peak_mb - floor.peak_mb, leanest.peak_mb - floor.peak_mb
        fast, lean = c.wall < fastest.wall, ours <= theirs / 2
        verdict = "met" if fast and lean else "missed" + ("" if fast else " (time)") + ("" if lean else " (memory)")
        return (f"{verdict}: fastest peer {fastest.key.split('-')[0]} {fastest.wall:.2f} s; above the floor "
                f"{ours:.0f} MB against the leanest peer's {theirs:.0f} MB ({leanest.key.split('-')[0]}; "
                f"absolute {c.peak_mb / leanest.peak_mb:.2f}x)")
    return ""


if __name__ == "__main__":
    if shutil.which("cnninspect") is None and not (ROOT / "cnninspect").exists():
        raise SystemExit("install cnninspect first: pip install '.[bench]'")
    sys.exit(main())
