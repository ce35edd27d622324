"""``cnninspect sweep``: totals over a grid of variants, widths, resolutions, depths, phi."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from .common import (
    check_output_file,
    convention_options,
    emit,
    emit_lines,
    format_option,
    input_option,
    memory_options,
    memory_settings_from,
    note_shadowed,
    parse_set,
    rules_from,
    rules_note,
    rules_option,
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
@input_option
@rules_option
def sweep(spec: str, variants: str | None, width: str | None, resolution: str | None, depth: str | None,
          phi: str | None, set_values: tuple[str, ...], padding: str | None, plot_path: str | None, force: bool,
          fmt: str, convention: str, unit: str, show_memory: bool, dtype: str | None, batch: int | None,
          optimizer: str | None, input_text: str | None, rules_file: str | None) -> None:
    """Totals of SPEC over a grid: one row per point (MobileNet Tables 6-7, EfficientNet B0-B7).
    A Python model (file.py:NAME ...) sweeps --resolution.

    \b
    Examples:
      cnninspect sweep mobilenet_v1 --width 1,0.75,0.5,0.25
      cnninspect sweep mobilenet_v1 --resolution 224,192,160,128
      cnninspect sweep efficientnet --variants all
      cnninspect sweep mobilenet_v1 --width 0.25:2:0.05 -r 96:320:32 -f csv
      cnninspect sweep mobilenet_v1 --width 1,0.5 --dtype fp16 --batch 32
      cnninspect sweep docs/examples/my_model.py:Net --input 3x32x32 -r 32,64,128
    """
    from ..capture.targets import target_of

    if target_of(spec).python:
        from .common import refuse_spec_options

        refuse_spec_options(spec, **{"--variants": variants, "--width": width, "--depth": depth, "--phi": phi,
                                     "--set": set_values, "--padding": padding})
        memory = None
        if show_memory or any(v is not None for v in (dtype, batch, optimizer)):
            from .common import python_cast

            memory = (python_cast(dtype, optimizer), batch or 1, optimizer or "sgd")
        _sweep_module(spec, resolution, input_text, plot_path, force, fmt, convention, unit, memory,
                      rules_file)
        return
    if input_text is not None:
        from ..base.errors import UsageError

        raise UsageError("--input applies to Python models; a spec's input is set by --resolution")
    rules_from(rules_file, any_python=False)
    from ..resolve.catalog import parse_target
    from ..ops.conventions import UNITS, get_convention
    from ..base.errors import UsageError
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..render.formats import csv_lines
    from ..render.memory import MEMORY_COLUMNS, memory_cells, memory_summary, settings_text
    from ..resolve.resolver import Overrides
    from ..explore.sweep import grid, iter_sweep, parse_axis, parse_variants, validate_axes

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
    if plot_path is not None:
        check_output_file(plot_path, force, "--plot", (".png", ".svg"))
    points = grid(axes)
    mem_settings = memory_settings_from(dtype, batch, optimizer)
    show_memory = show_memory or any(v is not None for v in (dtype, batch, optimizer))
    memory = mem_settings if show_memory else None
    base = Overrides(padding=padding, values=parse_set(set_values))
    validate_axes(target.spec, axes, base)
    scale = UNITS[unit]
    swept = [k for k in ("variant", "phi", "width", "resolution", "depth") if axes[k]]
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
    context = {"model": target.spec.name, "convention": conv.name, "unit": unit}

    def row(p: Any) -> dict[str, Any]:
        return {
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

    with _progress(len(points)) as advance:
        results = iter_sweep(target.spec, points, convention=convention, base=base, progress=advance, memory=memory)
        if fmt == "csv" and plot_path is None:
            # streamed: 100,000 rows are written as they come, never held
            emit_lines(csv_lines(columns, context, (row(p) for p in results)))
            return
        results = list(results)
    rows = [row(p) for p in results]
    meta = (
        ("spec", target.spec.name + (f" ({target.spec.citation.get('short')})" if target.spec.citation.get("short") else "")),
        ("swept", ", ".join(f"{k} ({len(axes[k])})" for k in swept) or "nothing (one point)"),
        ("convention", conv.describe(unit)),
    )
    if memory is not None:
        meta += (("memory", f"{settings_text(memory)}; peak activations at inference, training = weights + "
                            "gradients + optimizer state + saved activations; mult-adds stay per sample"),)
    notes = []
    if plot_path is not None:
        from ..render.plot import plot_sweep

        plot_sweep(rows, swept, plot_path, title=f"{target.spec.title} sweep ({conv.name} convention)", cost=cost,
                   replace=force)
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
                  data=data, csv_context=context), fmt)


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], None] | None]:
    """A progress bar on a terminal's stderr for long sweeps; nothing otherwise."""
    if not (sys.stderr.isatty() and total >= PROGRESS_MIN_POINTS):
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task(f"sweeping {total:,} points", total=total)
        yield lambda: bar.advance(task)


def _sweep_module(text: str, resolution: str | None, input_text: str | None, plot_path: str | None, force: bool,
                  fmt: str, convention: str, unit: str, memory: tuple[str | None, int, str] | None = None,
                  rules_file: str | None = None) -> None:
    """A Python model over resolutions: built once, one forward pass captured per point
    (counted with the operator rules of ``rules_file``); ``memory`` (cast, batch, optimizer)
    adds each point's memory, measured on meta copies at that batch (the counts stay per
    sample)."""
    from ..ops.conventions import UNITS, get_convention
    from ..base.errors import UsageError
    from ..capture.module_analysis import analyze_trace
    from ..capture.pymodels import build, input_for, load, parse_input, parse_pyref, subject_for, trace_built
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..base.limits import MAX_FORWARD_PASSES
    from ..explore.sweep import parse_axis

    resolutions = parse_axis(resolution, "resolution", integer=True)
    if not resolutions:
        raise UsageError(f"{text} is a Python model: sweep it over --resolution (e.g. --resolution 128,160,224)")
    if len(resolutions) > MAX_FORWARD_PASSES:
        raise UsageError(f"--resolution: a Python model is swept over at most {MAX_FORWARD_PASSES:,} resolutions "
                         f"(one forward pass each), got {len(resolutions):,}")
    if plot_path is not None:
        check_output_file(plot_path, force, "--plot", (".png", ".svg"))
    rules = rules_from(rules_file, any_python=True)
    pm = load(parse_pyref(text))
    built = build(pm)
    given = parse_input(input_text, f"{pm.ref.shown}: --input") if input_text is not None else None
    scale = UNITS[unit]
    conv = get_convention(convention)
    rows = []
    notes = list(rules_note(rules_file, rules))
    for res in resolutions:
        inputs, source = input_for(built.module, pm.ref.shown, given, res)
        trace = trace_built(pm, built, inputs)
        rep = analyze_trace(trace, conv, subject_for(pm, trace, res, source), rules=rules)
        t = rep.totals
        cells: dict[str, Any] = {}
        if memory is not None:
            from ..capture.training import module_memory
            from ..render.memory import memory_cells, memory_summary

            cast, batch, optimizer = memory
            at_batch = inputs if batch == 1 else input_for(built.module, pm.ref.shown,
                                                           _at_batch(given, inputs, batch), res)[0]
            mem_trace = trace if batch == 1 else trace_built(pm, built, at_batch)
            mem = module_memory(built.module, at_batch, mem_trace, cast=cast, batch=batch, optimizer=optimizer)
            cells = {**memory_cells(mem), "memory": memory_summary(mem)}
        rows.append({"resolution": res, "input": list(trace.input_shape), "params": t.params, "trainable_params": t.trainable_params,
                     "mult_adds": t.mult_adds * scale, "peak_activation_bytes": t.peak_activation_bytes,
                     "uncounted": "; ".join(f"{n} x{c}" for n, c in rep.uncounted), **cells})
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    columns = [Column("resolution", "Resolution", "int", priority=ESSENTIAL), Column("input", "Input", "shape", priority=30),
               Column("params", "Params", "int", priority=90), Column("mult_adds", cost, "int", priority=95),
               Column("peak_activation_bytes", "Peak act. bytes", "int", priority=40)]
    if any(r["uncounted"] for r in rows):
        columns.append(Column("uncounted", "Uncounted", priority=60))
    meta = (("model", f"{text} (Python)"), ("swept", f"resolution ({len(rows)})"), ("convention", conv.describe(unit)))
    if memory is not None:
        from ..render.memory import MEMORY_COLUMNS

        columns += MEMORY_COLUMNS
        dtypes = memory[0] or "the model's own dtypes"
        meta += (("memory", f"measured on meta copies at batch {memory[1]}, optimizer {memory[2]}, "
                            f"{dtypes}; mult-adds stay per sample"),)
    if plot_path is not None:
        from ..render.plot import plot_sweep

        plot_sweep(rows, ["resolution"], plot_path, title=f"{pm.ref.shown} sweep ({conv.name} convention)", cost=cost,
                   replace=force)
        notes.append(f"plot written to {plot_path}")
    data = {
        "schema": "cnninspect.sweep/1",
        "model": text,
        "convention": conv.as_json(unit),
        "swept": ["resolution"],
        "points": [{**{k: v for k, v in r.items() if k not in ("mult_adds", "uncounted", *MEMORY_CELL_KEYS)},
                    "mult_adds": r["mult_adds"] // scale, "flops": 2 * (r["mult_adds"] // scale),
                    "uncounted": r["uncounted"]} for r in rows],
    }
    emit(Document(f"Sweep of {text}", meta, (Table(tuple(columns), tuple(rows)),), notes=tuple(notes), data=data,
                  csv_context={"model": text, "convention": conv.name, "unit": unit}), fmt)


MEMORY_CELL_KEYS = ("weight_bytes", "mem_peak_activation_bytes", "training_bytes")


def _at_batch(given: tuple[int, ...] | None, inputs: Any, batch: int) -> Any:
    """The inputs of a point at ``batch``: the given per-sample shape, else the point's own."""
    from ..capture.inputs import ModelInputs

    shape = given if given is not None else inputs.first_shape()
    return ModelInputs.single(shape, batch) if shape is not None else inputs


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)
