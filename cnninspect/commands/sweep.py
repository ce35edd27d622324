"""``cnninspect sweep``: totals over a grid of variants, widths, resolutions, depths, phi."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import (
    check_output_file,
    convention_options,
    emit,
    format_option,
    memory_options,
    memory_settings_from,
    note_shadowed,
    parse_set,
)

PROGRESS_MIN_POINTS = 50
JSON_KEYS = ("variant", "phi", "width", "depth", "resolution", "params", "trainable_params", "peak_activation_bytes")


@click.command("sweep")
@click.argument("spec")
@click.option("--variants", help="Comma-separated variants, or 'all'.")
@click.option("--width", help="Widths: 1,0.75,0.5 or a range start:stop:step (stop included).")
@click.option("--resolution", "-r", help="Resolutions: 224,192,160 or 128:224:32.")
@click.option("--depth", help="Depth multipliers: 1,1.5,2 or a range.")
@click.option("--phi", help="EfficientNet compound coefficients: 0,0.5,1 or a range.")
@click.option("--set", "set_values", multiple=True, metavar="KEY=VALUE", help="Set a spec parameter for every point.")
@click.option("--padding", type=click.Choice(["torch", "tf"]), help="'same' padding style.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Also draw mult-adds and params against the swept axis (FILE.png or FILE.svg; needs matplotlib).")
@click.option("--force", is_flag=True, help="Allow --plot to replace an existing file.")
@format_option()
@convention_options
@memory_options
def sweep(spec: str, variants: str | None, width: str | None, resolution: str | None, depth: str | None,
          phi: str | None, set_values: tuple[str, ...], padding: str | None, plot_path: str | None, force: bool,
          fmt: str, convention: str, unit: str, show_memory: bool, dtype: str | None, batch: int | None,
          optimizer: str | None) -> None:
    """Totals of SPEC over a grid: one row per point (MobileNet Tables 6-7, EfficientNet B0-B7).

    \b
    Examples:
      cnninspect sweep mobilenet_v1 --width 1,0.75,0.5,0.25
      cnninspect sweep mobilenet_v1 --resolution 224,192,160,128
      cnninspect sweep efficientnet --variants all
      cnninspect sweep mobilenet_v1 --width 0.25:2:0.05 -r 96:320:32 -f csv
      cnninspect sweep mobilenet_v1 --width 1,0.5 --dtype fp16 --batch 32
    """
    from ..catalog import parse_target
    from ..conventions import UNITS, get_convention
    from ..errors import UsageError
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..render.memory import MEMORY_COLUMNS, memory_cells, memory_summary, settings_text
    from ..resolve import Overrides
    from ..sweep import grid, parse_axis, parse_variants, run_sweep, validate_axes

    target = parse_target(spec)
    note_shadowed(spec)
    if target.variant and variants is not None:
        raise UsageError(f"{spec} names variant '{target.variant}' but --variants is given too; give one of them")
    axes: dict[str, list[Any]] = {
        "variant": parse_variants(variants, target.spec) or ([target.variant] if target.variant else []),
        "phi": parse_axis(phi, "phi"),
        "width": parse_axis(width, "width"),
        "resolution": parse_axis(resolution, "resolution", integer=True),
        "depth": parse_axis(depth, "depth"),
    }
    if plot_path:
        check_output_file(plot_path, force, "--plot", (".png", ".svg"))
    points = grid(axes)
    mem_settings = memory_settings_from(dtype, batch, optimizer)
    show_memory = show_memory or any(v is not None for v in (dtype, batch, optimizer))
    memory = mem_settings if show_memory else None
    base = Overrides(padding=padding, values=parse_set(set_values))
    validate_axes(target.spec, axes, base)
    scale = UNITS[unit]
    if sys.stderr.isatty() and len(points) >= PROGRESS_MIN_POINTS:
        from rich.progress import Progress

        with Progress(transient=True, console=_stderr_console()) as bar:
            task = bar.add_task(f"sweeping {len(points):,} points", total=len(points))
            results = run_sweep(target.spec, points, convention=convention, base=base,
                                progress=lambda: bar.advance(task), memory=memory)
    else:
        results = run_sweep(target.spec, points, convention=convention, base=base, memory=memory)
    swept = [k for k in ("variant", "phi", "width", "resolution", "depth") if axes[k]]
    rows = []
    for p in results:
        rows.append(
            {
                "variant": p.variant,
                "phi": p.phi,
                "width": p.width,
                "depth": p.depth,
                "resolution": p.resolution,
                "params": p.params,
                "trainable_params": p.trainable_params,
                "mult_adds": p.mult_adds * scale,
                "peak_activation_bytes": p.peak_activation_bytes,
                **(memory_cells(p.memory) if p.memory is not None else {}),
            }
        )
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    columns = []
    if axes["variant"] or target.spec.variants:
        columns.append(Column("variant", "Variant", priority=ESSENTIAL))
    if axes["phi"]:
        columns.append(Column("phi", "Phi", "float", priority=ESSENTIAL))
    columns += [
        Column("width", "Width", "float", priority=ESSENTIAL),
        Column("depth", "Depth", "float", priority=ESSENTIAL),
        Column("resolution", "Resolution", "int", priority=ESSENTIAL),
        Column("params", "Params", "int", priority=90),
        Column("mult_adds", cost, "int", priority=95),
        *(MEMORY_COLUMNS if show_memory else (Column("peak_activation_bytes", "Peak act. bytes", "int", priority=40),)),
    ]
    conv = get_convention(convention)
    meta = (
        ("spec", target.spec.name + (f" ({target.spec.citation.get('short')})" if target.spec.citation.get("short") else "")),
        ("swept", ", ".join(f"{k} ({len(axes[k])})" for k in swept) or "nothing (one point)"),
        ("convention", conv.describe(unit)),
    )
    if memory is not None:
        meta += (("memory", f"{settings_text(memory)}; peak activations at inference, training = weights + "
                            "gradients + optimizer state + saved activations; mult-adds stay per sample"),)
    notes = []
    if plot_path:
        from ..plot import plot_sweep

        plot_sweep(rows, swept, plot_path, title=f"{target.spec.title} sweep ({conv.name} convention)", cost=cost)
        notes.append(f"plot written to {plot_path}")
    data = {
        "schema": "cnninspect.sweep/1",
        "model": target.spec.name,
        "convention": conv.as_json(unit),
        "swept": swept,
        "points": [
            {**{k: v for k, v in r.items() if k in JSON_KEYS}, "mult_adds": p.mult_adds, "flops": 2 * p.mult_adds,
             **({"memory": memory_summary(p.memory)} if p.memory is not None else {})}
            for r, p in zip(rows, results)
        ],
    }
    emit(Document(f"Sweep of {target.spec.name}", meta, (Table(tuple(columns), tuple(rows)),), notes=tuple(notes),
                  data=data, csv_context={"model": target.spec.name, "convention": conv.name, "unit": unit}), fmt)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)
