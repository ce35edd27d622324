"""``cnninspect device list|calibrate``: the devices a roofline can be computed for."""

from __future__ import annotations

import click

from .common import check_output_file, emit, format_option


@click.group("device")
def device() -> None:
    """Devices for --device: the shipped table of published peak figures, and this
    machine's own figures measured by 'device calibrate' (docs/latency.md)."""


@device.command("list")
@click.option("--sources", is_flag=True,
              help="Show every figure's note and source document with its address (long lines: addresses are "
                   "not broken).")
@format_option()
def list_devices(sources: bool, fmt: str) -> None:
    """The shipped devices: peak operations/s per dtype (one multiply-add is two
    operations), memory bandwidth and per-layer overhead; --sources shows where each figure
    comes from (JSON always has them)."""
    from ..measure.roofline import bundled_devices
    from ..render.document import Column, Document, Table, fmt_si

    rows = []
    cited_rows = []
    for d in bundled_devices().values():
        peaks = ", ".join(f"{k} {fmt_si(v.value)}" for k, v in d.peak_ops_per_second.items())
        rows.append({"device": d.name, "kind": d.kind, "title": d.title, "peak": peaks,
                     "bandwidth": d.bandwidth_bytes_per_second.value / 1e9, "overhead": d.overhead_seconds.value})
        figures = [*(f"{k}: {v.note}" for k, v in d.peak_ops_per_second.items()),
                   f"bandwidth: {d.bandwidth_bytes_per_second.note}", f"overhead: {d.overhead_seconds.note}"]
        cited_rows.append({"device": d.name, "source": f"{d.title}. Source: {d.source}. " + "; ".join(figures) + "."})
    table = Table((
        Column("device", "Device", priority=100, wrap=False),
        Column("kind", "Kind", priority=40),
        Column("peak", "Peak ops/s", priority=90),
        Column("bandwidth", "GB/s", "float", priority=85),
        Column("overhead", "Overhead", "seconds", priority=30),
        Column("title", "Title", priority=20),
    ), tuple(rows), view_skip=("title",))
    cited = Table((Column("device", "Device", priority=100, wrap=False), Column("source", "Figures and sources", "prose",
                                                                              priority=100, width=90)),
                  tuple(cited_rows), title="Figures and sources")
    data = {"schema": "cnninspect.devices/1", "devices": [d.as_json() for d in bundled_devices().values()]}
    meta = (("operations", "one multiply-add is two operations; dense peaks (half a 'with sparsity' figure)"),
            ("overhead", "a fixed cost per layer; no vendor publishes one, so 0 unless calibrated"))
    tables = (cited,) if sources else (table,)
    if not sources:
        meta += (("sources", "every figure's source: cnninspect device list --sources"),)
    emit(Document("Devices for --device", meta, tables, data=data), fmt)


@device.command("calibrate")
@click.option("--output", "-o", default="device.yaml", show_default=True, metavar="FILE",
              help="The device profile file to write (.yaml); read it with --device FILE.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--name", default="this-machine", show_default=True, help="The device's name in the profile.")
@click.option("--seconds", type=click.FloatRange(1, 600), default=10, show_default=True,
              help="The time the measurements take in all (about).")
@click.option("--dtype", "dtypes", multiple=True, type=click.Choice(["fp32", "bf16", "fp16"]),
              help="Dtypes whose peak to measure (repeatable; default fp32).")
@click.option("--threads", type=click.IntRange(1, 1024), help="Threads torch uses (default: torch's own choice).")
def calibrate(output: str, force: bool, name: str, seconds: float, dtypes: tuple[str, ...],
              threads: int | None) -> None:
    """Measure this machine and save a device profile: peak operations/s from a matrix
    product, memory bandwidth from a large copy, per-layer overhead from a tiny layer's call,
    and what each role of layer attains (synthetic kernels, docs/latency.md). Progress on
    stderr; the profile's path on stdout."""
    from ..base.extras import require

    require("device calibrate", "torch")
    check_output_file(output, force, "--output", (".yaml", ".yml"))
    import torch

    from ..build.calibrate import calibrate as measure
    from ..measure.roofline import device_yaml
    from .common import write_out, write_text_file

    if threads is not None:
        torch.set_num_threads(threads)
    profile = measure(name, dtypes or ("fp32",), seconds, progress=lambda text: click.echo(text, err=True))
    write_text_file(output, device_yaml(profile), force, "--output")
    write_out(f"{output}\n")
