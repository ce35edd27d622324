"""``cnninspect compare``: models side by side, ratios against the first (MobileNet Tables 4-9)."""

from __future__ import annotations

from typing import Any

import click

from .common import (
    analyse,
    convention_options,
    emit,
    engine_option,
    format_option,
    memory_options,
    memory_settings_from,
    note_shadowed,
)


JSON_KEYS = ("model", "input", "output", "params", "trainable_params", "depth", "params_ratio", "mult_adds_ratio",
             "peak_activation_bytes")


@click.command("compare")
@click.argument("models", nargs=-1, required=True)
@click.option("--stages", is_flag=True, help="Add a per-stage table (top-level entries) of mult-adds and params.")
@format_option()
@convention_options
@engine_option
@click.option("--rf", "show_rf", is_flag=True,
              help="Add the receptive field and effective stride of each model's last feature map.")
@memory_options
def compare(models: tuple[str, ...], stages: bool, fmt: str, convention: str, unit: str, engine: str,
            show_rf: bool, show_memory: bool, dtype: str | None, batch: int | None, optimizer: str | None) -> None:
    """Compare MODELS side by side: params, trainable params, mult-adds, depth, output,
    and ratios against the first; --rf adds receptive fields, --memory (or --dtype,
    --batch, --optimizer) memory.

    Each model is NAME[:VARIANT][@key=value,...], e.g. mobilenet_v1, mobilenet_v1:conv,
    mobilenet_v1@width=0.75 or efficientnet:b0@resolution=300.
    """
    from .. import receptive as rf
    from ..analysis import weight_depth
    from ..catalog import resolve_ref
    from ..conventions import UNITS, get_convention
    from ..errors import UsageError
    from ..memory import memory_report
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..render.memory import MEMORY_COLUMNS, memory_cells, memory_summary, settings_text
    from ..render.summary import field_json

    if len(models) < 2:
        raise UsageError("compare needs at least two models")
    mem_settings = memory_settings_from(dtype, batch, optimizer)
    show_memory = show_memory or any(v is not None for v in (dtype, batch, optimizer))
    scale = UNITS[unit]
    note_shadowed(*models)
    reports = []
    for text in models:
        reports.append((text, analyse(resolve_ref(text), convention, engine)))
    first = reports[0][1].totals
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for text, rep in reports:
        t = rep.totals
        fields = rf.receptive_fields(rep.model)
        mem = memory_report(rep.model, mem_settings)
        last = fields.last_field
        extra.append({
            "receptive_field": None if last is None else {"layer": fields.last, **field_json(last)},
            "memory": memory_summary(mem),
        })
        rows.append(
            {
                "model": text,
                "input": list(rep.model.input_shape),
                "output": list(rep.output_shape),
                "params": t.params,
                "trainable_params": t.trainable_params,
                "mult_adds": t.mult_adds * scale,
                "depth": weight_depth(rep.model),
                "params_ratio": t.params / first.params if first.params else None,
                "mult_adds_ratio": t.mult_adds / first.mult_adds if first.mult_adds else None,
                "peak_activation_bytes": t.peak_activation_bytes,
                "rf": rf.text(last.conv) if last else "",
                "eff_stride": rf.stride_text(last.conv) if last else "",
                **memory_cells(mem),
            }
        )
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    table = Table(
        columns=(
            Column("model", "Model", priority=ESSENTIAL),
            Column("input", "Input", "shape", priority=40),
            Column("params", "Params", "int", priority=90),
            Column("trainable_params", "Trainable", "int", priority=20),
            Column("mult_adds", cost, "int", priority=95),
            Column("depth", "Depth", "int", priority=30),
            Column("output", "Output", "shape", priority=25),
            Column("params_ratio", "Params vs 1st", "ratio", priority=60),
            Column("mult_adds_ratio", f"{cost} vs 1st", "ratio", priority=65),
            *((Column("rf", "RF", priority=55), Column("eff_stride", "Eff. stride", priority=50)) if show_rf else ()),
            *(MEMORY_COLUMNS if show_memory else ()),
        ),
        rows=tuple(rows),
    )
    tables = [table]
    stage_rows: list[dict[str, Any]] = []
    if stages:
        names: list[str] = []
        per_model: list[dict[str, Any]] = []
        for _, rep in reports:
            top = {r.name: r for r in rep.rows if r.depth == 0}
            per_model.append(top)
            names += [n for n in top if n not in names]
        for name in names:
            row: dict[str, Any] = {"stage": name}
            for i, top in enumerate(per_model):
                r = top.get(name)
                row[f"m{i}"] = r.mult_adds * scale if r else None
                row[f"p{i}"] = r.params if r else None
            stage_rows.append(row)
        cols = [Column("stage", "Stage", priority=ESSENTIAL)]
        for i, (text, _) in enumerate(reports):
            cols += [Column(f"m{i}", f"{cost} {text}", "int", priority=90), Column(f"p{i}", f"Params {text}", "int", priority=80)]
        tables.append(Table(columns=tuple(cols), rows=tuple(stage_rows), title="Per stage (top-level entries)"))
    conv = get_convention(convention)
    meta: tuple[tuple[str, str], ...] = (
        ("convention", conv.describe(unit)),
        ("depth", "longest input-to-output path in weight layers (conv, FC)"),
    )
    if show_rf:
        meta += (("receptive field", "of the last feature map, through the convolutional path (SE gates left out)"),)
    if show_memory:
        meta += (("memory", f"{settings_text(mem_settings)}; peak activations at inference, training = weights + "
                            "gradients + optimizer state + saved activations; mult-adds stay per sample"),)
    data = {
        "schema": "cnninspect.compare/1",
        "convention": conv.as_json(unit),
        "engine": engine,
        "models": [
            {**{k: v for k, v in r.items() if k in JSON_KEYS}, "mult_adds": rep.totals.mult_adds,
             "flops": 2 * rep.totals.mult_adds, **x}
            for r, x, (_, rep) in zip(rows, extra, reports)
        ],
    }
    if stages:
        data["stages"] = stage_rows
    emit(Document("Comparison", meta, tuple(tables), data=data,
                  csv_context={"convention": conv.name, "unit": unit}), fmt)
