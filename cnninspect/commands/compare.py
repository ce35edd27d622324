"""``cnninspect compare``: models side by side, ratios against the first (MobileNet Tables 4-9)."""

from __future__ import annotations

from typing import Any

import click

from .common import analyse, convention_options, emit, engine_option, format_option, note_shadowed


@click.command("compare")
@click.argument("models", nargs=-1, required=True)
@click.option("--stages", is_flag=True, help="Add a per-stage table (top-level entries) of mult-adds and params.")
@format_option()
@convention_options
@engine_option
def compare(models: tuple[str, ...], stages: bool, fmt: str, convention: str, unit: str, engine: str) -> None:
    """Compare MODELS side by side: params, trainable params, mult-adds, depth, output,
    and ratios against the first.

    Each model is NAME[:VARIANT][@key=value,...], e.g. mobilenet_v1, mobilenet_v1:conv,
    mobilenet_v1@width=0.75 or efficientnet:b0@resolution=300.
    """
    from ..analysis import weight_depth
    from ..catalog import resolve_ref
    from ..conventions import UNITS, get_convention
    from ..errors import UsageError
    from ..render.document import ESSENTIAL, Column, Document, Table

    if len(models) < 2:
        raise UsageError("compare needs at least two models")
    scale = UNITS[unit]
    note_shadowed(*models)
    reports = []
    for text in models:
        reports.append((text, analyse(resolve_ref(text), convention, engine)))
    first = reports[0][1].totals
    rows: list[dict[str, Any]] = []
    for text, rep in reports:
        t = rep.totals
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
    meta = (
        ("convention", conv.describe(unit)),
        ("depth", "longest input-to-output path in weight layers (conv, FC)"),
    )
    data = {
        "schema": "cnninspect.compare/1",
        "convention": conv.as_json(unit),
        "engine": engine,
        "models": [
            {**{k: v for k, v in r.items() if k != "mult_adds"}, "mult_adds": rep.totals.mult_adds,
             "flops": 2 * rep.totals.mult_adds}
            for r, (_, rep) in zip(rows, reports)
        ],
    }
    if stages:
        data["stages"] = stage_rows
    emit(Document("Comparison", meta, tuple(tables), data=data,
                  csv_context={"convention": conv.name, "unit": unit}), fmt)
