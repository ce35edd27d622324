"""``cnninspect compare``: models side by side, ratios against the first (MobileNet Tables 4-9)."""

from __future__ import annotations

from typing import Any

import click

from .common import (
    analyze_any,
    check_output_file,
    convention_options,
    device_option,
    emit,
    format_option,
    input_option,
    memory_options,
    memory_settings_from,
    note_shadowed,
    rules_from,
    rules_note,
    rules_option,
    with_exit_code,
)

JSON_KEYS = ("model", "input", "output", "params", "trainable_params", "depth", "params_ratio", "mult_adds_ratio",
             "peak_activation_bytes")


@click.command("compare")
@click.argument("models", nargs=-1, required=True)
@click.option("--stages", is_flag=True, help="Add a per-stage table (top-level entries) of mult-adds and params.")
@click.option("--layers", is_flag=True,
              help="Add the two models' layers aligned side by side, marking where they differ.")
@format_option()
@convention_options
@click.option("--engine", type=click.Choice(["spec", "meta"]),
              help="For specs: spec (default; no torch) or meta (the built module on the meta device).")
@click.option("--rf", "show_rf", is_flag=True,
              help="Add the receptive field and effective stride of each spec's last feature map.")
@click.option("--equal", is_flag=True,
              help="Check that the two models are the same model: shapes, params and mult-adds in every convention, "
                   "and layer by layer aligned by structure; list where they differ and exit 1 if they do.")
@memory_options
@device_option
@input_option
@rules_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Also draw the trade-off: mult-adds against params and against peak activation memory, one "
                   "labelled point per model (FILE.png or FILE.svg; needs matplotlib).")
@click.option("--force", is_flag=True, help="Allow --plot to replace an existing file.")
@with_exit_code
def compare(models: tuple[str, ...], stages: bool, layers: bool, fmt: str, convention: str, unit: str,
            engine: str | None, show_rf: bool, equal: bool, show_memory: bool, dtype: str | None,
            batch: int | None, optimizer: str | None, device: str | None, input_text: str | None,
            rules_file: str | None, plot_path: str | None, force: bool) -> int:
    """Compare MODELS side by side: params, trainable params, mult-adds, depth, output,
    and ratios against the first; --rf adds receptive fields, --memory (or --dtype,
    --batch, --optimizer) memory (a Python model's measured on meta copies of it), --device each
    model's predicted latency on a device (roofline, docs/latency.md). --equal checks that a spec is its
    reference module (exit 1 with the located differences if not).

    Each model is a spec, NAME[:VARIANT][@key=value,...] (mobilenet_v1, mobilenet_v1:conv,
    mobilenet_v1@width=0.75, efficientnet:b0@resolution=300), or a Python model
    (file.py:NAME, torchvision:NAME ...) with optional @resolution= or @input=3x64x64.
    """
    from ..measure import receptive as rf
    from ..ops.conventions import UNITS, get_convention
    from ..base.errors import UsageError
    from ..measure.memory import memory_report
    from ..capture.targets import target_of
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..render.memory import MEMORY_COLUMNS, memory_cells, memory_summary, settings_text
    from ..render.report import field_json

    if len(models) < 2:
        raise UsageError("compare needs at least two models")
    targets = [target_of(m) for m in models]
    if sum(t.ref.kind == "stdin" for t in targets) > 1:
        raise UsageError("standard input ('-') can be read only once; give the other specs as files")
    if plot_path is not None:
        check_output_file(plot_path, force, "--plot", (".png", ".svg"))
    if layers and len(models) != 2:
        raise UsageError(f"--layers aligns the layers of two models; {len(models)} were given")
    if equal and len(models) != 2:
        raise UsageError(f"--equal compares two models; {len(models)} were given")
    if input_text is not None and not any(t.python for t in targets):
        raise UsageError("--input applies to Python models; none of these models is one")
    if rules_file is not None and equal:
        raise UsageError("--equal compares the models in every convention, ptflops and thop included, which count "
                         "module classes and take no operator rules; leave out --rules")
    rules = rules_from(rules_file, any(t.python for t in targets))
    mem_settings = memory_settings_from(dtype, batch, optimizer)
    show_memory = show_memory or any(v is not None for v in (dtype, batch, optimizer))
    scale = UNITS[unit]
    note_shadowed(*(t.text for t in targets if not t.python))
    verdict = None
    measured: dict[str, Any] = {}
    if equal:
        from ..capture.pymodels import parse_input
        from ..explore.sameness import compare as same_model, measure_pair

        if engine == "meta":
            raise UsageError("--equal counts specs with the spec engine; leave out --engine meta")
        pair = measure_pair(models[0], models[1], input_shape=parse_input(input_text) if input_text else None)
        verdict = same_model(*pair)
        measured = {i: m.reports[convention] for i, m in enumerate(pair) if convention in m.reports}
    reports = []
    for i, t in enumerate(targets):
        reports.append((t.text, measured[i] if i in measured else
                        analyze_any(t.text, convention, engine, input_text if t.python else None, rules)))
    first = reports[0][1].totals
    named = None
    rooflines: list[Any] = []
    if device is not None:
        from ..measure.roofline import get_device
        from .common import roofline_for

        named = get_device(device)
        rooflines = [roofline_for(rep, named, mem_settings)[0] for _, rep in reports]
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for text, rep in reports:
        t = rep.totals
        last = mem = None
        if rep.model is not None:  # receptive fields and the memory simulation are analyses of a spec's IR
            fields = rf.receptive_fields(rep.model)
            mem = memory_report(rep.model, mem_settings)
            last = fields.last_field
        elif show_memory:  # a Python model's memory: measured on meta copies of it
            from .common import python_memory

            mem = python_memory(text, input_text, mem_settings, dtype)
        extra.append({
            "receptive_field": None if last is None else {"layer": fields.last, **field_json(last)},
            "memory": memory_summary(mem) if mem is not None else None,
        })
        rows.append(
            {
                "model": text,
                "input": list(rep.subject.input_shape),
                "output": list(rep.output_shape),
                "params": t.params,
                "trainable_params": t.trainable_params,
                "mult_adds": t.mult_adds * scale,
                "depth": rep.subject.depth,
                "params_ratio": t.params / first.params if first.params else None,
                "mult_adds_ratio": t.mult_adds / first.mult_adds if first.mult_adds else None,
                "peak_activation_bytes": t.peak_activation_bytes,
                "rf": rf.text(last.conv) if last else "",
                "eff_stride": rf.stride_text(last.conv) if last else "",
                **(memory_cells(mem) if mem is not None else {}),
            }
        )
        if rooflines:
            seconds = rooflines[len(rows) - 1].predicted_seconds
            rows[-1]["predicted_seconds"] = seconds
            rows[-1]["predicted_ratio"] = seconds / rooflines[0].predicted_seconds
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
            *((Column("predicted_seconds", "Predicted", "seconds", priority=85),
               Column("predicted_ratio", "Predicted vs 1st", "ratio", priority=62)) if rooflines else ()),
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
            cols += [Column(f"m{i}", f"{cost} {text}", "int", priority=90),
                     Column(f"p{i}", f"Params {text}", "int", priority=80)]
        tables.append(Table(columns=tuple(cols), rows=tuple(stage_rows), title="Per stage (top-level entries)"))
    pairs = []
    if layers:
        from ..explore.align import align

        pairs = align(reports[0][1].rows, reports[1][1].rows)
        tables.append(_layers_table(pairs, models, cost, scale))
    if verdict is not None and not verdict.equal:
        tables.append(_equal_table(verdict))
    conv = get_convention(convention)
    meta = [
        ("convention", conv.describe(unit)),
        ("depth", "longest input-to-output path in weight layers (conv, FC)"),
    ]
    if show_rf:
        meta.append(("receptive field", "of the last feature map, through the convolutional path (SE gates left out)"))
    if named is not None:
        from ..render.latency import OPERATIONS_TEXT

        meta.append(("device", f"{named.name}: roofline, {OPERATIONS_TEXT}; a spec at "
                               f"{mem_settings.precision.activations}, batch {mem_settings.batch}"))
    if show_memory:
        meta.append(("memory", f"{settings_text(mem_settings)}; peak activations at inference, training = weights + "
                               "gradients + optimizer state + saved activations; mult-adds stay per sample"))
    for text, rep in reports:
        if rep.uncounted:
            from ..render.report import uncounted_text

            meta.append(("uncounted", f"{text}: {uncounted_text(rep)}"))
    if layers:
        counts = {m: sum(p.mark == m for p in pairs) for m in ("same", "differs", "only A", "only B")}
        meta.append(("layers", f"A = {models[0]}, B = {models[1]}; aligned by structure (kind, shapes, "
                               f"params; dropout, flatten and identities left out): {', '.join(f'{v} {k}' for k, v in counts.items())}"))
    if verdict is not None:
        only_a, only_b = verdict.unmatched_costless()
        meta.append(("same model", f"{verdict.headline()}; A = {models[0]}, B = {models[1]}; compared: input and output "
                              f"shapes, params, mult-adds in {', '.join(verdict.conventions)}, and layers aligned by "
                              f"structure (kind, shapes, params); {only_a} costless layers only in A, {only_b} only "
                              "in B (a function call on the other side) not held against them"))
    data = {
        "schema": "cnninspect.compare/1",
        "convention": conv.as_json(unit),
        "engine": engine or "spec",
        "models": [
            {**{k: v for k, v in r.items() if k in JSON_KEYS}, "mult_adds": rep.totals.mult_adds,
             "flops": 2 * rep.totals.mult_adds, **x}
            for r, x, (_, rep) in zip(rows, extra, reports)
        ],
    }
    if named is not None:
        from ..render.latency import roofline_json

        data["roofline"] = roofline_json(rooflines[0], mem_settings.batch)
        for entry, roof in zip(data["models"], rooflines):
            entry.update(roof.totals_json())
    for entry, (_, rep) in zip(data["models"], reports):
        entry["source"] = rep.subject.source
        entry["uncounted"] = [{"op": name, "calls": n} for name, n in rep.uncounted]
    if stages:
        data["stages"] = stage_rows
    if layers:
        data["layers"] = [
            {"a": p.a.name if p.a else None, "b": p.b.name if p.b else None,
             "type": [p.a.type if p.a else None, p.b.type if p.b else None],
             "output": [list(p.a.output_shape) if p.a else None, list(p.b.output_shape) if p.b else None],
             "params": [p.a.params if p.a else None, p.b.params if p.b else None],
             "mult_adds": [p.a.mult_adds if p.a else None, p.b.mult_adds if p.b else None],
             "match": p.mark, "differs": list(p.what)}
            for p in pairs
        ]
    notes: tuple[str, ...] = rules_note(rules_file, rules)
    if plot_path is not None:
        from ..render.plot import PlotPoint, plot_compare

        points = [PlotPoint(r["model"], r["mult_adds"], r["params"], r["peak_activation_bytes"]) for r in rows]
        plot_compare(points, plot_path, title=f"Comparison ({conv.name} convention)",
                     cost="FLOPs" if unit == "flops" else "Mult-adds", replace=force)
        notes += (f"plot written to {plot_path}",)
    if verdict is not None:
        data["equal"] = verdict.as_json()
    emit(Document("Comparison", tuple(meta), tuple(tables), notes=notes, data=data,
                  csv_context={"convention": conv.name, "unit": unit}), fmt)
    return 1 if verdict is not None and not verdict.equal else 0


def _equal_table(verdict: Any) -> Any:
    """Where two models differ: totals, then layers (A's spec line, B's module path)."""
    from ..render.document import ESSENTIAL, Column, Table

    rows = [{"a": "(totals)", "b": "", "what": t} for t in verdict.totals]
    rows += [{"a": m.a.where if m.a else "", "b": m.b.where if m.b else "", "what": "; ".join(m.what)}
             for m in verdict.differences]
    return Table(columns=(Column("a", "A", priority=ESSENTIAL), Column("b", "B", priority=70),
                          Column("what", "Differs", priority=ESSENTIAL)),
                 rows=tuple(rows), styles=tuple("warn" for _ in rows),
                 title=f"Where A and B differ ({verdict.headline()})")


def _layers_table(pairs: list[Any], models: tuple[str, ...], cost: str, scale: int) -> Any:
    from ..render.document import ESSENTIAL, Column, Table

    rows = []
    styles = []
    for p in pairs:
        a, b = p.a, p.b
        rows.append({
            "a": a.name if a else "", "b": b.name if b else "",
            "type": a.type if a and (not b or a.type == b.type) else (b.type if not a else f"{a.type} | {b.type}"),
            "output": (a or b).output_shape if not (a and b) or a.output_shape == b.output_shape
            else f"{'x'.join(map(str, a.output_shape))} | {'x'.join(map(str, b.output_shape))}",
            "params_a": a.params if a else None, "params_b": b.params if b else None,
            "macs_a": a.mult_adds * scale if a else None, "macs_b": b.mult_adds * scale if b else None,
            "match": p.mark + (f" ({', '.join(p.what)})" if p.what else ""),
        })
        styles.append("" if p.mark == "same" else "warn")
    return Table(
        columns=(Column("a", "Layer A", priority=ESSENTIAL), Column("b", "Layer B", priority=ESSENTIAL),
                 Column("type", "Type", priority=40), Column("output", "Output", "shape", priority=50),
                 Column("params_a", "Params A", "int", priority=70), Column("params_b", "Params B", "int", priority=70),
                 Column("macs_a", f"{cost} A", "int", priority=80), Column("macs_b", f"{cost} B", "int", priority=80),
                 Column("match", "Match", priority=ESSENTIAL)),
        rows=tuple(rows), styles=tuple(styles),
        title=f"Layers: A = {models[0]}, B = {models[1]}",
    )
