"""``cnninspect guidelines``: ShuffleNet V2's guideline experiments on this machine."""

from __future__ import annotations

import statistics
from typing import Any

import click

from ..base.errors import UsageError
from .common import device_option, emit, format_option
from .profile import CALIBRATION_SECONDS, throttled


@click.command("guidelines")
@click.argument("experiments", nargs=-1)
@device_option
@click.option("--runs", type=click.IntRange(1, 10_000), default=15, show_default=True,
              help="Measured rounds; each round runs every configuration of an experiment once.")
@click.option("--warmup", type=click.IntRange(0, 1_000), default=2, show_default=True, help="Rounds run first, not measured.")
@click.option("--max-seconds", type=click.FloatRange(min=0.1), default=60, show_default=True,
              help="Stop measuring an experiment after this long (at least one round runs).")
@click.option("--threads", type=click.IntRange(1, 1024), help="Threads torch uses (default: torch's own choice).")
@format_option()
def guidelines(experiments: tuple[str, ...], device: str | None, runs: int, warmup: int, max_seconds: float,
               threads: int | None, fmt: str) -> None:
    """Run ShuffleNet V2's guideline experiments (Ma et al. 2018, Section 2: G1 channel
    ratio, G2 groups, G3 fragmentation, G4 element-wise operations; all by default, or the
    EXPERIMENTS named) on this machine's CPU: each configuration's mult-adds (equal within an
    experiment), predicted memory traffic and time (roofline on --device, or this machine
    calibrated first), measured time (median and spread), the paper's direction and whether
    this machine shows it. The paper measured a GPU and an ARM phone."""
    from ..base.extras import require

    require("guidelines", "torch")
    import torch

    from ..build.profiling import forward_call
    from ..capture.timing import time_interleaved
    from ..measure.analysis import analyze
    from ..measure.roofline import get_device, predict, report_costs
    from ..published.guideline_experiments import judge, load_experiments, resolve_configuration
    from ..render.document import Column, Document, Table

    paper, known = load_experiments()
    ids = [e.id for e in known]
    wanted = [e.upper() for e in experiments] or ids
    for w in wanted:
        if w not in ids:
            raise UsageError(f"unknown experiment '{w}'; experiments: {', '.join(ids)}")
    if threads is not None:
        torch.set_num_threads(threads)
    if device is None:
        from ..build.calibrate import calibrate

        click.echo(f"calibrating this machine ({CALIBRATION_SECONDS:g} s; --device FILE reuses a saved profile)",
                   err=True)
        named = calibrate("this-machine", ("fp32",), CALIBRATION_SECONDS)
        device_note = f"this machine, calibrated just now in {CALIBRATION_SECONDS:g} s"
    else:
        named = get_device(device)
        device_note = f"{named.name}: {named.title}"
    progress = throttled()
    rows: list[dict[str, Any]] = []
    styles: list[str] = []
    out: list[dict[str, Any]] = []
    for exp in (e for e in known if e.id in wanted):
        click.echo(f"{exp.id}: {len(exp.configurations)} configurations", err=True)
        models = [resolve_configuration(c) for c in exp.configurations]
        reports = [analyze(m, "paper") for m in models]
        rooflines = [predict(report_costs(r), named, "fp32") for r in reports]
        times = time_interleaved([forward_call(m) for m in models], runs=runs, warmup=warmup,
                                 max_seconds=max_seconds, progress=progress)
        medians = [statistics.median(t) for t in times]
        predicted = [r.predicted_seconds for r in rooflines]
        configs = []
        for c, rep, roof, t, med in zip(exp.configurations, reports, rooflines, times, medians):
            rows.append({"experiment": exp.id, "configuration": c.label, "mult_adds": rep.totals.mult_adds,
                         "bytes_moved": roof.bytes_moved, "predicted": roof.predicted_seconds, "measured": med,
                         "spread": f"{min(t) * 1e3:.2f}-{max(t) * 1e3:.2f} ms", "relative": med / medians[0]})
            styles.append("")
            configs.append({"label": c.label, "spec": c.spec, "variant": c.variant, "mult_adds": rep.totals.mult_adds,
                            "bytes_moved": roof.bytes_moved, "predicted_seconds": roof.predicted_seconds,
                            "measured_seconds": med, "measured_min_seconds": min(t), "measured_max_seconds": max(t),
                            "runs": len(t), "forward_seconds": t})
        shown, foreseen = judge(exp.order, medians), judge(exp.order, predicted)
        rows.append({"experiment": exp.id, "configuration": f"shows the paper's direction: {shown}",
                     "mult_adds": None, "bytes_moved": None, "predicted": None, "measured": None,
                     "spread": f"roofline: {foreseen}", "relative": None})
        styles.append({"yes": "pass", "partly": "warn", "no": "fail"}[shown])
        macs = [c["mult_adds"] for c in configs]
        out.append({"id": exp.id, "guideline": exp.guideline, "table": exp.table, "published": exp.published,
                    "order": exp.order, "configurations": configs, "shows_direction": shown,
                    "roofline_shows_direction": foreseen, "mult_adds_spread": max(macs) / min(macs) - 1})
    table = Table((
        Column("experiment", "Exp.", priority=100),
        Column("configuration", "Configuration", priority=100),
        Column("mult_adds", "Mult-adds", "int", priority=60),
        Column("bytes_moved", "Bytes moved", "bytes", priority=55),
        Column("predicted", "Predicted", "seconds", priority=80),
        Column("measured", "Measured", "seconds", priority=95),
        Column("spread", "Spread", priority=50),
        Column("relative", "vs first", "ratio", priority=90),
    ), tuple(rows), styles=tuple(styles))
    notes = tuple(f"{e['id']} ({e['table']}, {e['guideline']}): the paper: {e['published']}" for e in out)
    threads_now = torch.get_num_threads()
    meta = (
        ("paper", paper),
        ("run", f"CPU, {threads_now} thread{'s' * (threads_now != 1)}, fp32, batch 1, {warmup} warm-up rounds, "
                f"up to {runs} rounds interleaving an experiment's configurations; measured = median"),
        ("device", f"roofline on {device_note}"),
        ("specs", "cnninspect/published/guidelines/ (28x28 feature maps: cnninspect's choice)"),
    )
    data = {"schema": "cnninspect.guidelines/1", "paper": paper, "threads": torch.get_num_threads(),
            "device": named.as_json(), "experiments": out}
    emit(Document("ShuffleNet V2 guidelines on this machine", meta, (table,), notes=notes, data=data), fmt)
