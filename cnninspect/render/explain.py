"""Explanation -> Document for ``cnninspect explain`` (formulas, op classes, reconciliation).

Every table fits an 80-column terminal: formulas are prose cells that wrap at word
boundaries (between factors, never inside a number).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..measure.analysis import Row
from ..ops.conventions import get_convention
from ..explore.explain import ChoiceTotal, Explanation, LayerFormula, Reconciliation
from ..ops.formulas import Formula
from ..ops.kinds import Role
from ..build.peers import TOOLS
from ..explore.teach import Lesson, fmt_value
from .document import ESSENTIAL, Column, Document, Table, fmt_int, fmt_shape
from .report import model_meta

SCHEMA = "cnninspect.explain/1"
FORMULA_WIDTH = 49  # with the widest counts (VGG-16) the table stays within 80 columns


def numbers(f: Formula) -> str:
    """``3 x 3 x 32 x 64 x 112 x 112 + 64 x 112 x 112 (bias)``; ``0`` for an empty formula."""
    parts = []
    for t in f.terms:
        text = " x ".join(f"{x.value:,}" for x in t.factors) or "1"
        parts.append(f"{text} ({t.label})" if t.label else text)
    return " + ".join(parts) or "0"


def symbols(f: Formula) -> str:
    """``k_h x k_w x C_in x C_out x H_out x W_out + C_out x H_out x W_out (bias)``."""
    parts = []
    for t in f.terms:
        text = " x ".join(x.symbol for x in t.factors) or "1"
        parts.append(f"{text} ({t.label})" if t.label else text)
    return " + ".join(parts)


def equation(f: Formula, sep: str = " = ") -> str:
    """``symbols = numbers`` (numbers alone when they are the symbols), or why it is 0;
    ``sep`` joins the two (a line break and indent in terminal tables)."""
    if not f.terms:
        return f"0 ({f.uncounted})" if f.uncounted else "0"
    s, n = symbols(f), numbers(f)
    return n if s == n else f"{s}{sep}{n}"


def _op_line(row: Row, shapes: bool) -> str:
    text = f"{row.name}  {row.type}"
    if row.kernel is not None and row.stride is not None:
        (kh, kw), (sh, sw) = row.kernel, row.stride
        text += f" {kh}x{kw}/" + (f"{sh}" if sh == sw else f"{sh},{sw}")
    text += f" ({row.detail})" if row.detail else ""
    if shapes:
        text += f"\n  {fmt_shape(row.input_shape)} -> {fmt_shape(row.output_shape)}"
    return text


def _signed(value: int) -> str:
    return f"{value:+,}"


def _layers_table(exp: Explanation, full: bool) -> tuple[Table, int]:
    rows = []
    hidden = 0
    for lf in exp.layers:
        if not full and not lf.formula.terms and not lf.params_formula.terms:
            hidden += 1
            continue
        macs = equation(lf.formula, "\n    = ") if full else numbers(lf.formula)
        params = equation(lf.params_formula, "\n    = ") if full else numbers(lf.params_formula)
        rows.append({
            "item": f"{_op_line(lf.row, full)}\n  mult-adds {macs}\n  params {params}",
            "name": lf.row.name,
            "type": lf.row.type,
            "op_class": lf.op_class,
            "formula": numbers(lf.formula),
            "mult_adds": lf.row.mult_adds,
            "params_formula": numbers(lf.params_formula),
            "params": lf.row.params,
        })
    table = Table(
        columns=(
            Column("item", "Layer and formula", "prose", width=FORMULA_WIDTH, priority=ESSENTIAL),
            Column("name", "Name"),
            Column("type", "Type"),
            Column("op_class", "Op class"),
            Column("formula", "Formula"),
            Column("mult_adds", "Mult-adds", "int", priority=95),
            Column("params_formula", "Params formula"),
            Column("params", "Params", "int", priority=90),
        ),
        rows=tuple(rows),
        csv_skip=("item",),
        view_skip=("name", "type", "op_class", "formula", "params_formula"),
    )
    return table, hidden


def _share(part: int, total: int) -> str:
    return f"{100 * part / total:.1f}%" if total else "-"


def _by_op_table(exp: Explanation) -> Table:
    tm, tp = exp.mult_adds, exp.params
    rows = [{"class": c.op_class, "ops": c.ops, "params": c.params, "params_share": _share(c.params, tp),
             "mult_adds": c.mult_adds, "share": _share(c.mult_adds, tm)} for c in exp.by_op]
    rows.append({"class": "total", "ops": sum(c.ops for c in exp.by_op), "params": tp, "params_share": _share(tp, tp),
                 "mult_adds": tm, "share": _share(tm, tm)})
    return Table(
        columns=(Column("class", "Op class", priority=ESSENTIAL), Column("ops", "Ops", "int", priority=30),
                 Column("params", "Params", "int", priority=70), Column("params_share", "Share", "int", priority=60),
                 Column("mult_adds", "Mult-adds", "int", priority=95), Column("share", "Share", "int", priority=90)),
        rows=tuple(rows),
        title="Totals by op class",
        styles=("",) * (len(rows) - 1) + ("total",),
    )


def _reconcile_table(exp: Explanation) -> Table:
    rows: list[dict[str, Any]] = []
    styles: list[str] = []
    paper = exp.reconcile[0].paper_total if exp.reconcile else 0
    rows.append({"tool": "paper", "term": "paper total: conv/FC weight multiply-adds", "value": f"{paper:,}"})
    styles.append("total")
    for r in exp.reconcile:
        first = True
        for cause, value in r.terms:
            rows.append({"tool": r.tool if first else "", "term": f"+ {cause}", "value": _signed(value)})
            styles.append("")
            first = False
        unit = f", in {r.unit}" if r.unit != "mult-adds" else ""
        rows.append({"tool": r.tool if first else r.source, "term": f"= {r.tool} total{unit}",
                     "value": f"{r.total:,}"})
        styles.append("total")
        if first:  # no terms: the source goes on a line of its own
            rows.append({"tool": r.source, "term": "", "value": ""})
            styles.append("")
        if r.note:
            rows.append({"tool": "", "term": f"({r.note})", "value": ""})
            styles.append("dim")
    return Table(
        columns=(Column("tool", "Tool", priority=ESSENTIAL),
                 Column("term", "Paper total + named terms = tool total", "prose", width=44, priority=ESSENTIAL),
                 Column("value", "Count", "int", priority=ESSENTIAL)),
        rows=tuple(rows),
        title="Reconciliation with other tools",
        styles=tuple(styles),
    )


def _choices_table(choices: tuple[ChoiceTotal, ...]) -> tuple[Table, list[str]]:
    rows = []
    notes = []
    last = None
    for c in choices:
        rows.append({"choice": c.choice if c.choice != last else "",
                     "setting": f"{c.setting}{' *' if c.current else ''}\n  {c.meaning}",
                     "params": c.params if not c.error else "-", "mult_adds": c.mult_adds if not c.error else "-"})
        last = c.choice
        if c.error:
            notes.append(f"{c.setting} does not resolve: {c.error}")
    current = {c.choice: c for c in choices if c.current}
    for c in choices:
        base = current.get(c.choice)
        if c.current or base is None or c.error:
            continue
        if c.mult_adds != base.mult_adds:
            continue
        changed = [f"{tool} {value:,} (not {dict(base.tools)[tool]:,})" for tool, value in c.tools
                   if value != dict(base.tools)[tool]]
        if changed:  # the paper total stays, a tool's does not
            notes.append(f"{c.setting}: same paper total, but " + "; ".join(changed))
    table = Table(
        columns=(Column("choice", "Choice", priority=ESSENTIAL),
                 Column("setting", "Setting (* = this model)", "prose", width=38, priority=ESSENTIAL),
                 Column("params", "Params", "int", priority=70), Column("mult_adds", "Mult-adds", "int", priority=95)),
        rows=tuple(rows),
        title="Version choices (paper convention)",
    )
    return table, notes


PARTS = ("layers", "classes", "tools", "choices")


def explain_document(exp: Explanation, parts: tuple[str, ...] = PARTS) -> Document:
    """The document of ``explain``; ``parts`` selects the tables shown (JSON always has all)."""
    report = exp.report
    model = report.model
    full = exp.selection is not None
    layers, hidden = _layers_table(exp, full)
    meta = model_meta(model) + [("convention", report.convention.describe())]
    if exp.selection:
        meta.append(("layer", f"{exp.selection}: {len(exp.layers)} op(s) and their sum"))
        meta.append(("tools", "derived for these rows (the tools are measured on whole models)"))
    elif hidden and "layers" in parts:
        meta.append(("shown", f"{len(layers.rows)} of {len(exp.layers)} ops ({hidden} count nothing here and "
                              "have no parameters)"))
    tables = [t for part, t in (("layers", layers), ("classes", _by_op_table(exp)), ("tools", _reconcile_table(exp)))
              if part in parts]
    notes: list[str] = []
    if exp.choices and "choices" in parts:
        choices, notes = _choices_table(exp.choices)
        tables.append(choices)
    what = f"{exp.selection}: " if exp.selection else ""
    footer = (
        (f"{what}Mult-adds ({report.convention.name})", f"{fmt_int(exp.mult_adds)} = the sum of the rows"),
        (f"{what}Params", f"{fmt_int(exp.params)} = the sum of the rows"),
    )
    return Document(
        title=f"explain {model.label} - {model.title}" + (f": {exp.selection}" if exp.selection else ""),
        meta=tuple(meta),
        tables=tuple(tables),
        notes=tuple(notes),
        footer=footer,
        data=explain_json(exp),
        csv_context={"model": model.label, "convention": report.convention.name},
    )


def _formula_json(f: Formula) -> list[dict[str, Any]]:
    return [{"cause": t.cause, "label": t.label, "value": t.value,
             "factors": [{"symbol": x.symbol, "value": x.value} for x in t.factors]} for t in f.terms]


def _layer_json(lf: LayerFormula) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": lf.row.name,
        "type": lf.row.type,
        "kind": lf.row.kind,
        "op_class": lf.op_class,
        "formula": equation(lf.formula),
        "mult_adds": lf.row.mult_adds,
        "params_formula": equation(lf.params_formula),
        "params": lf.row.params,
        "terms": _formula_json(lf.formula),
        "params_terms": _formula_json(lf.params_formula),
    }
    if lf.formula.uncounted:
        d["uncounted"] = lf.formula.uncounted
    return d


def _reconcile_json(r: Reconciliation) -> dict[str, Any]:
    return {
        "tool": r.tool,
        "unit": r.unit,
        "total": r.total,
        "paper_total": r.paper_total,
        "terms": [{"cause": c, "mult_adds": v} for c, v in r.terms],
        "source": r.source,
        "derived_total": r.derived,
        "convention": TOOLS[r.tool].convention,
        "version": r.version,
        "note": r.note,
    }


def explain_json(exp: Explanation) -> dict[str, Any]:
    """The stable JSON contract of ``explain`` (docs/json-schema.md)."""
    report = exp.report
    model = report.model
    return {
        "schema": SCHEMA,
        "model": model.name,
        "variant": model.variant,
        "input": list(model.input_shape),
        "settings": {"width": model.settings.width, "depth": model.settings.depth,
                     "resolution": model.settings.resolution, "padding": model.settings.padding},
        "convention": report.convention.as_json(),
        "layer": exp.selection,
        "layers": [_layer_json(lf) for lf in exp.layers],
        "totals": {"mult_adds": exp.mult_adds, "params": exp.params},
        "by_op": {c.op_class: {"ops": c.ops, "params": c.params, "mult_adds": c.mult_adds} for c in exp.by_op},
        "reconcile": [_reconcile_json(r) for r in exp.reconcile],
        "choices": [{"choice": c.choice, "setting": c.setting, "meaning": c.meaning, "current": c.current,
                     "params": c.params, "mult_adds": c.mult_adds, "tools": dict(c.tools), "error": c.error or None}
                    for c in exp.choices],
    }


# --- teaching mode ---------------------------------------------------------------------------

LESSON_SCHEMA = "cnninspect.explain-op/1"


def _matrix(rows: tuple[tuple[Any, ...], ...], title: str) -> Table:
    cols = tuple(Column(f"c{j}", str(j), "int", priority=ESSENTIAL) for j in range(len(rows[0])))
    return Table(columns=(Column("row", "", priority=ESSENTIAL),) + cols, title=title,
                 rows=tuple({"row": str(i), **{f"c{j}": fmt_value(v) for j, v in enumerate(r)}} for i, r in enumerate(rows)))


def _plain(rows: tuple[tuple[Any, ...], ...]) -> list[list[Any]]:
    return [[int(v) if getattr(v, "denominator", 1) == 1 else float(v) for v in r] for r in rows]


def lesson_document(lesson: Lesson) -> Document:
    op = lesson.op
    c, h, w = lesson.in_shape
    (kh, kw), (sh, sw) = lesson.kernel, lesson.stride
    t, b, left, r = lesson.pad
    pad_text = lesson.padding if not any(lesson.pad) else f"{lesson.padding} (top {t}, bottom {b}, left {left}, right {r})"
    meta = [
        ("op", f"{op.kind}: {op.title}; each output is the {op.reduce} of its window"),
        ("input", f"{fmt_shape(lesson.in_shape)} (channels x height x width)"),
        ("window", f"kernel {kh}x{kw}, stride {sh}x{sw}, padding {pad_text}" + (", ceil mode" if lesson.ceil_mode else "")),
        ("convention", get_convention("paper").describe()),
    ]
    rows = [{"what": f"output {s.axis}", "formula": f"{s.symbols}\n  = {s.numbers}", "value": s.value}
            for s in lesson.sizes]
    rows.append({"what": "output", "formula": "C_out x H_out x W_out", "value": fmt_shape(lesson.out_shape)})
    rows.append({"what": "mult-adds", "formula": equation(lesson.mult_adds, "\n  = "), "value": lesson.mult_adds.value})
    rows.append({"what": "params", "formula": equation(lesson.params, "\n  = "), "value": lesson.params.value})
    if op.role is not Role.CONV:
        rows.append({"what": "per output", "formula": f"the {op.reduce} of k_h x k_w = {kh} x {kw} = {kh * kw} inputs",
                     "value": kh * kw})
    tables = [Table(columns=(Column("what", "Quantity", priority=ESSENTIAL),
                             Column("formula", "Formula", "prose", width=52, priority=ESSENTIAL),
                             Column("value", "Value", "int", priority=ESSENTIAL)), rows=tuple(rows))]
    data: dict[str, Any] = {
        "schema": LESSON_SCHEMA,
        "op": op.kind,
        "input": list(lesson.in_shape),
        "kernel": list(lesson.kernel),
        "stride": list(lesson.stride),
        "padding": lesson.padding,
        "pad": list(lesson.pad),
        "ceil_mode": lesson.ceil_mode,
        "output": list(lesson.out_shape),
        "sizes": [{"axis": s.axis, "formula": s.symbols, "numbers": s.numbers, "value": s.value} for s in lesson.sizes],
        "mult_adds": lesson.mult_adds.value,
        "formula": equation(lesson.mult_adds),
        "params": lesson.params.value,
        "params_formula": equation(lesson.params),
        "example": None,
    }
    footer: tuple[tuple[str, str], ...] = ()
    ex = lesson.example
    if ex is not None:
        tables.append(_matrix(ex.image, "The deck's image"))
        if ex.padded is not None:
            tables.append(_matrix(ex.padded, "The image with its zero padding"))
        if ex.filter is not None:
            tables.append(_matrix(ex.filter, "The deck's filter"))
        tables.append(Table(
            columns=(Column("cell", "Output", priority=ESSENTIAL),
                     Column("computation", f"The {op.reduce} of the window", "prose", width=56, priority=ESSENTIAL),
                     Column("value", "Value", "int", priority=ESSENTIAL)),
            rows=tuple({"cell": f"[{s.row}][{s.col}]", "computation": s.computation, "value": fmt_value(s.value)}
                       for s in ex.cells),
            title="Every output cell, by hand",
        ))
        tables.append(_matrix(ex.output, "Feature map" if op.role is Role.CONV else "Pooled map"))
        shown = "[" + ", ".join("[" + ", ".join(fmt_value(v) for v in row) + "]" for row in ex.output) + "]"
        footer = (("result", shown),)
        data["example"] = {"image": [list(r) for r in ex.image], "filter": [list(r) for r in ex.filter] if ex.filter else None,
                           "padded": [list(r) for r in ex.padded] if ex.padded else None,
                           "cells": [{"row": s.row, "col": s.col, "computation": s.computation, "value": float(s.value)}
                                     for s in ex.cells],
                           "output": _plain(ex.output)}
    return Document(title=f"explain {op.kind}", meta=tuple(meta), tables=tuple(tables), footer=footer, data=data)


def module_explain_document(exp: Explanation, parts: tuple[str, ...] = PARTS) -> Document:
    """``explain`` of a Python model: each leaf row with the operators it ran (a call on an op
    record with the record's formula), totals by op class (other operators by name), and the
    tools' reconciliation (the version choices are a spec's)."""
    from .report import convention_line, engine_text

    report = exp.report
    subject = report.subject
    full = exp.selection is not None
    layers, hidden = _layers_table(exp, full)
    by_op = replace(_by_op_table(exp), title="Totals by op class (other operators by name)")
    by_op = replace(by_op, columns=tuple(replace(c, header="Op class or operator") if c.key == "class" else c
                                         for c in by_op.columns))
    meta: list[tuple[str, str]] = [("module", subject.reference or subject.label),
                                   ("input", "x".join(map(str, subject.input_shape))
                                    + (f" (batch {subject.batch})" if subject.batch > 1 else "")),
                                   convention_line(report, "macs"), ("engine", engine_text(report))]
    if exp.selection:
        meta.append(("layer", f"{exp.selection}: {len(exp.layers)} layer(s) and their sum"))
        meta.append(("tools", "derived for these rows (the tools are measured on whole models)"))
    elif hidden and "layers" in parts:
        meta.append(("shown", f"{len(layers.rows)} of {len(exp.layers)} layers ({hidden} count nothing here and "
                              "have no parameters)"))
    tables = [t for part, t in (("layers", layers), ("classes", by_op), ("tools", _reconcile_table(exp)))
              if part in parts]
    what = f"{exp.selection}: " if exp.selection else ""
    footer = (
        (f"{what}Mult-adds ({report.convention.name})", f"{fmt_int(exp.mult_adds)} = the sum of the rows"),
        (f"{what}Params", f"{fmt_int(exp.params)} = the sum of the rows"),
    )
    data = {
        "schema": SCHEMA,
        "model": subject.name,
        "variant": None,
        "input": list(subject.input_shape),
        "settings": dict(subject.settings),
        "convention": report.convention.as_json(),
        "layer": exp.selection,
        "layers": [_layer_json(lf) for lf in exp.layers],
        "totals": {"mult_adds": exp.mult_adds, "params": exp.params},
        "by_op": {c.op_class: {"ops": c.ops, "params": c.params, "mult_adds": c.mult_adds} for c in exp.by_op},
        "reconcile": [_reconcile_json(r) for r in exp.reconcile],
        "choices": [],
        "source": "python",
    }
    return Document(
        title=f"explain {subject.label} - {subject.title}" + (f": {exp.selection}" if exp.selection else ""),
        meta=tuple(meta),
        tables=tuple(tables),
        notes=tuple(f"note: {n}" for n in subject.notes),
        footer=footer,
        data=data,
        csv_context={"model": subject.label, "convention": report.convention.name},
    )
