"""``cnninspect profile``: measured latency per layer on this machine, beside the roofline."""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable

import click

from ..base.errors import UsageError
from .common import (
    device_option,
    emit,
    format_option,
    inputs_option,
    model_options,
    note_shadowed,
    overrides_from,
    pick_variant,
    python_inputs,
    refuse_spec_options,
)

CALIBRATION_SECONDS = 3.0


def named_or_calibrated(named: Any, precision: Any) -> tuple[Any, str]:
    """The device to predict on and its note: ``named``, or this machine calibrated now."""
    if named is not None:
        return named, f"{named.name}: {named.title}"
    from ..build.calibrate import calibrate

    click.echo(f"calibrating this machine ({CALIBRATION_SECONDS:g} s; --device FILE reuses a saved profile)", err=True)
    named = calibrate("this-machine", (precision.activations,), CALIBRATION_SECONDS)
    return named, f"this machine, calibrated just now in {CALIBRATION_SECONDS:g} s ({named.title})"


def throttled(every: float = 1.0) -> Callable[[str], None]:
    """A progress callback writing to stderr at most once per ``every`` seconds."""
    last = [time.monotonic()]

    def say(text: str) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            click.echo(text, err=True)

    return say


@click.command("profile")
@click.argument("model")
@model_options
@inputs_option
@device_option
@click.option("--runs", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="Forward passes measured (each plain and each timed per layer); the total is their median.")
@click.option("--warmup", type=click.IntRange(0, 1_000), default=3, show_default=True,
              help="Forward passes run first and not measured.")
@click.option("--max-seconds", type=click.FloatRange(min=0.1), default=60, show_default=True,
              help="Stop measuring after this long (at least one pass of each kind runs).")
@click.option("--batch", type=click.IntRange(1, 4096), help="Batch size of the passes (default 1).")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]),
              help="A spec's dtype for weights and activations (default fp32); a Python model runs at its own.")
@click.option("--threads", type=click.IntRange(1, 1024), help="Threads torch uses (default: torch's own choice).")
@click.option("--on", "on", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the passes run: the CPU, or the GPU (timed by CUDA events; needs --device).")
@format_option()
def profile(model: str, variant: str | None, width: float | None, resolution: int | None, depth: float | None,
            phi: float | None, set_values: tuple[str, ...], padding: str | None, input_texts: tuple[str, ...],
            device: str | None, runs: int, warmup: int, max_seconds: float, batch: int | None, dtype: str | None,
            threads: int | None, on: str, fmt: str) -> None:
    """Run MODEL (a spec or a Python model, as for summary) on this machine (--on cpu or
    cuda): warm-up passes, then RUNS forward passes, each layer timed, the median reported
    beside a spec's roofline prediction (docs/latency.md) on --device; without --device this
    machine is calibrated first (about 3 s; 'cnninspect device calibrate' saves a profile to
    reuse). A Python model is predicted from its operators lowered onto the op records, at
    the dtypes it runs in (fp32 unless it is another). The thread count and dtype are stated; progress goes to stderr. Timings vary from run to
    run: the spread of the passes is shown."""
    from ..base.extras import require

    require("profile", "torch")
    import torch

    from ..capture.targets import target_of
    from ..measure.memory import Precision
    from ..measure.roofline import get_device, predict, report_costs
    from ..render.latency import profile_document

    if on == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--on cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)")
        if device is None:
            raise UsageError("--on cuda needs --device (a GPU from 'cnninspect device list', or a profile file): "
                             "calibrate measures the CPU")
    if threads is not None:
        torch.set_num_threads(threads)
    progress = throttled()
    if target_of(model).python:
        from ..capture.timing import profile_python

        refuse_spec_options(model, **{"--variant": variant, "--width": width, "--depth": depth, "--phi": phi,
                                      "--set": set_values, "--padding": padding, "--dtype": dtype})
        inputs = python_inputs(model, input_texts, batch)
        named = get_device(device) if device is not None else None
        if named is not None:
            named.peak("fp32")
        report, timing = profile_python(model, "paper", inputs, resolution, runs=runs, warmup=warmup,
                                        max_seconds=max_seconds, progress=progress, on=on)
        named, note = named_or_calibrated(named, Precision())
        roofline = predict(report_costs(report, Precision(), inputs.batch), named, "fp32")
        emit(profile_document(report, timing, roofline, note), fmt)
        return
    from ..build.profiling import profile_spec
    from ..measure.analysis import analyze
    from ..resolve.catalog import parse_target
    from ..resolve.resolver import resolve

    if input_texts:
        raise UsageError("--input applies to Python models; a spec's input is set by --resolution")
    target = parse_target(model)
    note_shadowed(model)
    resolved = resolve(target.spec, pick_variant(target.variant, variant, model),
                       overrides_from(width, resolution, depth, phi, set_values, padding))
    named = get_device(device) if device is not None else None
    if named is not None:
        named.peak(dtype or "fp32")  # a device without this dtype's peak is refused before the run
    report = analyze(resolved, "paper")
    run_batch = batch or 1
    precision = Precision(dtype or "fp32", dtype or "fp32")
    timing = profile_spec(resolved, report, batch=run_batch, dtype=dtype or "fp32", runs=runs, warmup=warmup,
                          max_seconds=max_seconds, progress=progress, on=on)
    named, note = named_or_calibrated(named, precision)
    roofline = predict(report_costs(report, precision, run_batch), named, precision.activations)
    emit(profile_document(report, timing, roofline, note), fmt)
