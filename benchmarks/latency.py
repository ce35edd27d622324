"""Predicted against measured latency: the roofline after calibration, on every bundled family.

    python benchmarks/latency.py            # measure, and replace the latency section of docs/benchmarks.md
    python benchmarks/latency.py --quick    # three small models, two runs (what run.py --quick runs)

This machine is calibrated first (``cnninspect device calibrate``'s measurements: a GEMM for
the peak, a large copy for the bandwidth, a tiny layer for the overhead, and what each role's
synthetic kernel attains; no bundled model is timed for it), then the default
variant of every bundled family runs as ``cnninspect profile`` runs it (warm-up, then plain
forward passes for the total alternated with passes timing every layer), on one torch thread
(calibration too), fp32, batch 1. Reported: the Spearman rank correlation between predicted
and measured totals (target >= 0.9), the median absolute error of the total relative to the
measured one (target <= 30%), the worst models with the layer kinds where measured time
exceeds predicted time the most, and the per-layer timing's overhead against plain passes
(target <= 10%); for comparison, the same measurements priced without the per-role figures
(the peak, the copy bandwidth and one overhead alone). ``benchmarks/run.py`` includes this
section in its report; a summary of it also replaces the block between
``<!-- benchmark: latency -->`` and ``<!-- end benchmark -->`` in docs/latency.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_MODELS = (("lenet5", {}), ("mobilenet_v1", {"resolution": 96}), ("resnet:18", {"resolution": 64}))
HEADING = "## Predicted against measured latency"
LATENCY_DOC = ROOT / "docs" / "latency.md"
BLOCK_START, BLOCK_END = "<!-- benchmark: latency -->\n", "<!-- end benchmark -->"


@dataclass
class Row:
    model: str
    mult_adds: int
    predicted: float
    predicted_device_wide: float  # without the per-role figures
    measured: float
    spread: tuple[float, float]
    overhead: float
    runs: int
    reason: str

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks."""
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def excess_reason(report, roofline, timing) -> str:  # type: ignore[no-untyped-def]
    """The layer kinds whose measured time differs most from their predicted time, summed."""
    per = roofline.by_name()
    by_kind: dict[str, list[float]] = {}
    for r in report.layers:
        measured = timing.layer_seconds.get(r.name)
        if measured is None:
            continue
        k = by_kind.setdefault(r.kind, [0.0, 0.0])
        k[0] += measured
        k[1] += per[r.name].predicted_seconds
    outside = timing.measured_seconds - sum(timing.layer_seconds.values())
    worst = sorted(by_kind.items(), key=lambda kv: -abs(kv[1][0] - kv[1][1]))[:2]
    bits = [f"{kind} layers measured {m * 1e3:.2f} ms against {p * 1e3:.2f} ms predicted" for kind, (m, p) in worst]
    text = "; ".join(bits)
    share = outside / timing.measured_seconds
    if share > 0.2:
        text += (f"; {share:.0%} of the measured time is outside the layers (the arithmetic of containers, "
                 "such as residual additions, concatenations and channel shuffles, which are not layers of their "
                 "own, and the framework's time between layers)")
    return text


def measure(quick: bool, runs: int) -> tuple[list[Row], object]:
    import torch

    from cnninspect.build.calibrate import calibrate
    from cnninspect.build.profiling import profile_spec
    from cnninspect.measure.analysis import analyze
    from cnninspect.measure.roofline import predict, report_costs
    from cnninspect.resolve.catalog import bundled_names, resolve_ref

    torch.set_num_threads(1)
    device = calibrate("this-machine", ("fp32",), 4.0 if quick else 15.0,
                       progress=lambda text: print(f"calibrate: {text}", file=sys.stderr))
    device_wide = replace(device, attained={})
    models = QUICK_MODELS if quick else tuple((n, {}) for n in bundled_names())
    rows = []
    for name, extra in models:
        model = resolve_ref(name, dict(extra))
        report = analyze(model, "paper")
        costs = report_costs(report)
        roofline = predict(costs, device, "fp32")
        timing = profile_spec(model, report, batch=1, dtype="fp32", runs=runs, warmup=1 if quick else 2,
                              max_seconds=10 if quick else 60)
        label = name + "".join(f" @{k}={v}" for k, v in extra.items())
        rows.append(Row(label, report.totals.mult_adds, roofline.predicted_seconds,
                        predict(costs, device_wide, "fp32").predicted_seconds, timing.measured_seconds,
                        timing.spread, timing.timing_overhead, len(timing.forward_seconds),
                        excess_reason(report, roofline, timing)))
        print(f"{label:<28} predicted {roofline.predicted_seconds * 1e3:9.2f} ms  measured "
              f"{timing.measured_seconds * 1e3:9.2f} ms  overhead {timing.timing_overhead:+.1%}", file=sys.stderr)
    return rows, device


def role_lines(device) -> list[str]:  # type: ignore[no-untyped-def]
    """What each role attained in the calibration, as a Markdown table."""
    lines = ["| Role | Attained | Overhead per layer |", "| :--- | ---: | ---: |"]
    for role, f in device.attained.get("fp32", {}).items():
        rate = (f"{f.ops_per_second.value / 1e9:.1f} G operations/s" if f.ops_per_second
                else f"{f.bytes_per_second.value / 1e9:.2f} GB/s")
        lines.append(f"| {role} | {rate} | {f.overhead_seconds.value * 1e6:.1f} us |")
    return lines


def section(quick: bool, runs: int, update_docs: bool = True) -> list[str]:
    """The report's latency section (measured now); the summary block of docs/latency.md is
    replaced as a side effect when all families ran (not for ``--quick``) and ``update_docs``
    (not when the report goes elsewhere than docs/)."""
    load_start = os.getloadavg()
    rows, device = measure(quick, runs)
    load_end = os.getloadavg()
    rho = spearman([r.predicted for r in rows], [r.measured for r in rows])
    mae = statistics.median(abs(r.error) for r in rows)
    rho_wide = spearman([r.predicted_device_wide for r in rows], [r.measured for r in rows])
    mae_wide = statistics.median(abs(r.predicted_device_wide - r.measured) / r.measured for r in rows)
    overheads = [r.overhead for r in rows]
    scaled = []  # one efficiency factor, fitted without the model it is applied to
    for i, r in enumerate(rows):
        factor = statistics.median(o.measured / o.predicted for j, o in enumerate(rows) if j != i) if len(rows) > 1 \
            else 1.0
        scaled.append(abs(r.predicted * factor - r.measured) / r.measured)
    d = device
    lines = [
        HEADING, "",
        f"Generated by `python benchmarks/latency.py{' --quick' if quick else ''}` (also part of "
        f"`benchmarks/run.py`) on {time.strftime('%Y-%m-%d %H:%M')} UTC; load average {load_start[0]:.2f} at the "
        f"start, {load_end[0]:.2f} at the end, on {os.cpu_count()} cores.",
        "",
        f"This machine calibrated first, on one torch thread: peak {d.peak('fp32') / 1e9:.1f} G operations/s "
        f"(fp32 GEMM), bandwidth {d.bandwidth_bytes_per_second.value / 1e9:.1f} GB/s (copy), overhead "
        f"{d.overhead_seconds.value * 1e6:.1f} us per layer (an empty layer), and what each role's synthetic "
        "kernel attains (docs/latency.md; the layers of that role are priced by it):",
        "", *role_lines(d), "",
        "Then "
        + ("three small models" if quick else "the default variant of every bundled family")
        + f" as `cnninspect profile` runs it: one thread, fp32, batch 1, up to {runs} plain passes (the "
        "measured total is their median) alternated with as many passes timing every layer. Each "
        "layer's bytes are its op record's memory traffic (docs/traffic.md), containers' own arithmetic "
        "included.",
        "",
        "| Target | Value | Result |",
        "| :--- | ---: | :--- |",
        f"| Spearman rank correlation, predicted against measured total (>= 0.9) | {rho:.3f} | "
        f"{'met' if rho >= 0.9 else 'missed'} |",
        f"| Median absolute error of the total (<= 30%) | {mae:.0%} | {'met' if mae <= 0.3 else 'missed'} |",
        f"| For comparison: the same measurements priced without the per-role figures (peak, copy bandwidth, "
        f"one overhead): Spearman, median absolute error | {rho_wide:.3f}, {mae_wide:.0%} | not a target |",
        f"| For comparison: the roofline times one factor (the median measured / predicted of the other "
        f"models, leave-one-out), median absolute error | {statistics.median(scaled):.0%} | not a target |",
        f"| Per-layer timing overhead against plain passes (<= 10%), median over models | "
        f"{statistics.median(overheads):+.1%} (range {min(overheads):+.1%} to {max(overheads):+.1%}) | "
        f"{'met' if statistics.median(overheads) <= 0.1 else 'missed'} |",
        "",
        "| Model | Mult-adds | Predicted (ms) | Measured (ms) | Range (ms) | Error | Without roles | "
        "Timing overhead | Runs |",
        "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        wide = (r.predicted_device_wide - r.measured) / r.measured
        lines.append(f"| {r.model} | {r.mult_adds:,} | {r.predicted * 1e3:.2f} | {r.measured * 1e3:.2f} | "
                     f"{r.spread[0] * 1e3:.2f}-{r.spread[1] * 1e3:.2f} | {r.error:+.0%} | {wide:+.0%} | "
                     f"{r.overhead:+.1%} | {r.runs} |")
    worst = sorted(rows, key=lambda r: -abs(r.error))[:3]
    worst_lines = ["Worst models (largest relative error of the total), with the layer kinds whose measured "
                   "time differs most from the prediction:", ""]
    worst_lines += [f"* **{r.model}** ({r.error:+.0%}): {r.reason}." for r in worst]
    lines += ["", *worst_lines]
    if not quick and update_docs:
        replace_block(LATENCY_DOC, [
            f"Last run of `python benchmarks/latency.py` ({time.strftime('%Y-%m-%d %H:%M')} UTC, "
            f"{len(rows)} families, load average {load_start[0]:.2f} to {load_end[0]:.2f} on {os.cpu_count()} "
            f"cores; the full table in [benchmarks.md](benchmarks.md#predicted-against-measured-latency)):", "",
            "| | Spearman (>= 0.9) | Median absolute error (<= 30%) |", "| :--- | ---: | ---: |",
            f"| with the per-role figures | {rho:.3f} | {mae:.0%} |",
            f"| peak, copy bandwidth and one overhead alone | {rho_wide:.3f} | {mae_wide:.0%} |", "",
            *worst_lines])
    return lines


def replace_block(path: Path, lines: list[str]) -> None:
    """Put ``lines`` between the benchmark markers of ``path`` (which must have them)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(BLOCK_START) + len(BLOCK_START)
    end = text.index(BLOCK_END, start)
    path.write_text(text[:start] + "\n".join(lines) + "\n" + text[end:], encoding="utf-8")


def replace_section(path: Path, lines: list[str]) -> None:
    """Put the section in the report in place of its previous version (or at the end)."""
    text = path.read_text(encoding="utf-8")
    new = "\n".join(lines) + "\n"
    if HEADING in text:
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
        text = text[:start] + new + ("\n" + text[nxt + 1:] if nxt != -1 else "")
    elif "\n## Targets" in text:  # where benchmarks/run.py puts it
        at = text.index("\n## Targets") + 1
        text = text[:at] + new + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="three small models, two runs")
    ap.add_argument("--runs", type=int, default=10, help="measured passes per model (of each kind)")
    ap.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    to_docs = Path(args.output).resolve().parent == LATENCY_DOC.parent
    replace_section(Path(args.output), section(args.quick, 2 if args.quick else args.runs, to_docs))
    print(f"wrote the latency section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
