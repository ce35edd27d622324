"""Report -> Document for ``cnninspect summary`` (layer table, totals, JSON contract)."""

from __future__ import annotations

from typing import Any

from ..measure import receptive as rf
from ..measure.analysis import Report, Row, Subject
from ..ops.conventions import UNITS
from ..resolve.ir import Model
from ..measure.memory import MemoryReport, memory_report
from ..measure.traffic import LayerTraffic, TrafficReport, as_run, traffic_report
from .document import ESSENTIAL, Column, Document, Table, fmt_int, fmt_shape, fmt_si
from .memory import memory_table

SCHEMA = "cnninspect.summary/1"

ENGINE_TEXT = {
    "spec": "spec (shape arithmetic on the resolved spec, no torch; equal to --engine meta, tested)",
    "meta": "meta (the built nn.Module on PyTorch's meta device: shapes measured by hooks, no weights allocated)",
    "module-meta": "module on PyTorch's meta device (every aten operator of one forward pass captured; "
                   "no weights allocated, nothing computed)",
    "module-cpu": "module on the CPU (one real forward pass with real weights; operators captured)",
}


def model_meta(model: Model) -> list[tuple[str, str]]:
    """Metadata lines naming the model, its source and the settings used."""
    c = model.citation
    meta: list[tuple[str, str]] = []
    if c.get("paper"):
        ref = str(c["paper"])
        if c.get("table"):
            ref += f" - {c['table']}"
        meta.append(("paper", ref))
    s = model.settings
    meta.append(
        (
            "input",
            f"{fmt_shape(model.input_shape)} (width {s.width:g}, depth {s.depth:g}, "
            f"resolution {s.resolution}, padding {s.padding})",
        )
    )
    extra = {k: v for k, v in s.values.items() if k not in ("width", "depth", "resolution")}
    if extra:
        meta.append(("params", ", ".join(f"{k}={_fmt_value(v)}" for k, v in extra.items())))
    if s.overridden:
        meta.append(("overrides", overrides_text(model)))
    return meta


def overrides_text(model: Model) -> str:
    """``width 0.75 replaces variant b3's 1.2``: explicit settings over a variant's values."""
    parts = [f"{k} {_fmt_value(new)} replaces {_fmt_value(old)}" for k, (old, new) in model.settings.overridden.items()]
    return f"{', '.join(parts)} (variant {model.variant}'s values)"


def module_meta(subject: Subject) -> list[tuple[str, str]]:
    """Metadata lines of a Python module: the reference, its arguments, the input."""
    s = subject.settings
    where = subject.reference or "an nn.Module object passed from Python"
    meta = [("module", f"{where} (class {subject.settings.get('class', subject.title)})")]
    kwargs = s.get("kwargs") or {}
    if kwargs:
        meta.append(("arguments", ", ".join(f"{k}={v!r}" for k, v in kwargs.items())))
    res = s.get("resolution")
    notes = [f"batch {subject.batch}"] + ([f"resolution {res}"] if res else []) + (
        [str(s["input_from"])] if s.get("input_from") not in (None, "given") else [])
    inputs = s.get("inputs") or []
    if len(inputs) > 1 or any(i["dtype"] not in ("float32", "float16", "bfloat16", "float64") for i in inputs):
        shown = ", ".join(f"{i['name']} {fmt_shape(tuple(i['shape']))} {i['dtype']}" for i in inputs)
        meta.append(("inputs", f"{shown} (per sample; {', '.join(notes)})"))
    else:
        meta.append(("input", f"{fmt_shape(subject.input_shape)} ({', '.join(notes)})"))
    return meta


def subject_meta(subject: Subject, model: Model | None) -> list[tuple[str, str]]:
    return model_meta(model) if model is not None else module_meta(subject)


def engine_text(report: Report) -> str:
    text = ENGINE_TEXT.get(report.engine, report.engine)
    fallback = report.subject.fallback
    return f"{text}; {fallback}" if fallback else text


def uncounted_text(report: Report) -> str:
    """``aten.bmm x2, aten.fft_r2c`` and what it means, or empty."""
    if not report.uncounted:
        return ""
    ops = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in report.uncounted)
    return f"{ops} (no rule in the {report.convention.name} convention; not in the mult-adds)"


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def convention_line(report: Report, unit: str) -> tuple[str, str]:
    return ("convention", report.convention.describe(unit))


def tree_labels(rows: list[Row]) -> list[str]:
    """Names with tree guides (top level flush left) so branches and residual paths show."""
    last = [False] * len(rows)
    seen: dict[int, bool] = {}
    for i in range(len(rows) - 1, -1, -1):
        d = rows[i].depth
        last[i] = not seen.get(d, False)
        seen[d] = True
        for k in list(seen):
            if k > d:
                seen[k] = False
    labels = []
    open_levels: list[bool] = []  # for depth k >= 1: does the ancestor at k have later siblings
    for i, row in enumerate(rows):
        d = row.depth
        local = row.name.rsplit(".", 1)[-1]
        if d == 0:
            labels.append(local)
            open_levels = []
            continue
        del open_levels[d - 1 :]
        prefix = "".join("│  " if more else "   " for more in open_levels)
        labels.append(prefix + ("└─ " if last[i] else "├─ ") + local)
        open_levels.append(not last[i])
    return labels


def kernel_text(row: Row) -> str:
    if row.kernel is None:
        return ""
    kh, kw = row.kernel
    k = f"{kh}x{kw}" if kh != kw else f"{kh}"
    if row.stride is None:
        return k
    sh, sw = row.stride
    return f"{k}/{sh}" if sh == sw else f"{k}/{sh},{sw}"


# Notes shown in the text output only with --rf (JSON always has every warning)
RF_ONLY_NOTES = ("rf_larger_than_input", "rf_much_smaller_than_input")


def summary_document(
    report: Report,
    unit: str = "macs",
    levels: int | None = None,
    *,
    fields: rf.ReceptiveFields | None = None,
    show_rf: bool = False,
    memory: MemoryReport | None = None,
    show_memory: bool = False,
    show_traffic: bool = False,
) -> Document:
    """The layer table, totals and notes; with ``show_rf`` the receptive-field columns, with
    ``show_memory`` the memory table, with ``show_traffic`` the memory-traffic columns (at the
    memory settings' dtypes and batch). JSON always carries all three (computed here when not
    given); CSV and HTML carry the traffic columns too."""
    model = report.model  # None for a Python module: no receptive fields or memory simulation
    subject = report.subject
    scale = UNITS[unit]
    if model is not None:
        fields = fields or rf.receptive_fields(model)
        memory = memory or memory_report(model)
    traffic = traffic_of(report, memory)
    show_rf = show_rf and fields is not None
    show_memory = show_memory and memory is not None
    show_traffic = show_traffic and traffic is not None
    rows = [r for r in report.rows if levels is None or r.depth < levels]
    labels = tree_labels(rows)
    table_rows = []
    styles = []
    for label, r in zip(labels, rows):
        type_text = r.type + (f" ({r.detail})" if r.detail else "")
        g = fields.rows[r.name] if show_rf else None
        table_rows.append(
            {
                "layer": label,
                "name": r.name,
                "type": type_text,
                "input_shape": r.input_shape,
                "output_shape": r.output_shape,
                "kernel_stride": kernel_text(r),
                **({"rf": rf.text(g.full), "conv_rf": rf.text(g.conv), "eff_stride": rf.stride_text(g.conv),
                    "rf_start": rf.start_text(g.conv)} if g is not None else {}),
                "params": r.params,
                "trainable_params": r.trainable_params,
                "mult_adds": r.mult_adds * scale,
                **(traffic_cells(traffic.layers[r.name]) if traffic is not None else {}),
                "line": r.origin.line if r.origin is not None else None,
                "kind": r.kind,
                "level": r.depth,
                "leaf": r.is_leaf,
            }
        )
        styles.append("" if r.is_leaf else "block")
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    rf_columns: tuple[Column, ...] = ()
    rf_hidden: tuple[str, ...] = ()
    if show_rf:
        # asked for with --rf: kept ahead of the input shape and kernel columns
        rf_columns = (Column("rf", "RF", priority=80), Column("conv_rf", "Conv RF", priority=76),
                      Column("eff_stride", "Eff. stride", priority=78), Column("rf_start", "RF start", priority=15))
        same = all(row["rf"] == row["conv_rf"] for row in table_rows)
        rf_hidden = ("rf_start",) + (("conv_rf",) if same else ())
    table = Table(
        columns=(
            Column("layer", "Layer", priority=ESSENTIAL, wrap=False),
            Column("name", "Name"),
            Column("type", "Type", priority=75),
            Column("input_shape", "Input", "shape", priority=30),
            Column("output_shape", "Output", "shape", priority=70),
            Column("kernel_stride", "Kernel/s", priority=20),
            *rf_columns,
            Column("params", "Params", "int", priority=90),
            Column("trainable_params", "Trainable", "int"),
            Column("mult_adds", cost, "int", priority=95),
            *(TRAFFIC_COLUMNS if traffic is not None else ()),
            Column("line", "Line", priority=10),
            Column("kind", "Kind"),
            Column("level", "Level"),
            Column("leaf", "Leaf"),
        ),
        rows=tuple(table_rows),
        styles=tuple(styles),
        csv_skip=("layer",),
        # a Python module's rows have no spec line
        view_skip=("name", "trainable_params", "kind", "level", "leaf", *rf_hidden) + (("line",) if model is None else ())
        + (("bytes_read", "bytes_written") if show_traffic else tuple(c.key for c in TRAFFIC_COLUMNS)),
    )
    t = report.totals
    footer = [
        ("Total params", f"{fmt_int(t.params)} ({fmt_si(t.params)})"),
        ("Trainable params", fmt_int(t.trainable_params)),
        ("Non-trainable params", fmt_int(t.non_trainable_params)),
        (f"{cost} ({report.convention.name})", f"{fmt_int(t.mult_adds * scale)} ({fmt_si(t.mult_adds * scale)})"
         + (f" per batch of {subject.batch}" if subject.batch > 1 else "")),
    ]
    if subject.batch > 1:
        footer.append((f"{cost} per sample", fmt_per_sample(t.mult_adds * scale, subject.batch)))
    if report.uncounted:
        footer.append(("Uncounted operators", uncounted_text(report)))
    footer += [
        ("Peak activations", f"{t.peak_activation_bytes / 1e6:.2f} MB "
                             f"({'fp32' if t.activation_bytes is None else 'at the dtypes run'}, batch {subject.batch})"),
        *([("Weights", f"{t.param_bytes / 1e6:.2f} MB (parameters at their dtypes)")]
          if t.param_bytes is not None else []),
        ("Depth", f"{subject.depth} weight layers on the longest path"),
        ("Output", fmt_shape(report.output_shape)),
    ]
    meta = subject_meta(subject, model) + [convention_line(report, unit), ("engine", engine_text(report))]
    if levels is not None:
        meta.append(("levels", f"folded to {levels} level(s); folded blocks show their totals"))
    if show_rf:
        meta.append(("receptive field", RF_TEXT))
    if show_traffic and traffic is not None:
        meta.append(("memory traffic", f"{TRAFFIC_TEXT} ({traffic.settings.text()})"))
        footer.insert(-2, ("Memory traffic", traffic_total_text(traffic.totals)))
        if others(report):
            footer.insert(-2, ("Other operators", others_text(report)))
    tables = (table,)
    if show_memory:
        tables += (memory_table(memory),)
    notes = tuple(f"note: {n.message}" for n in (fields.notes() if fields is not None else ())
                  if show_rf or n.code not in RF_ONLY_NOTES) + tuple(f"note: {n}" for n in subject.notes)
    if show_memory:
        notes += tuple(f"note: {n}" for n in memory.notes)
    csv_context = {"model": subject.label, "convention": report.convention.name, "unit": unit}
    if report.uncounted:
        csv_context["uncounted"] = "; ".join(f"{name} x{n}" for name, n in report.uncounted)
    return Document(
        title=f"{subject.label} - {subject.title}",
        meta=tuple(meta),
        tables=tables,
        footer=tuple(footer),
        notes=notes,
        data=summary_json(report, unit, fields, memory, traffic),
        csv_context=csv_context,
    )


TRAFFIC_COLUMNS = (
    Column("bytes_read", "Read B", "int"),
    Column("bytes_written", "Written B", "int"),
    Column("bytes_moved", "Moved B", "int", priority=60),
    Column("arithmetic_intensity", "MACs/B", priority=55),
)
TRAFFIC_TEXT = ("bytes each layer reads (inputs once, weights once per batch) and writes (Moved B), "
                "and mult-adds per byte moved (MACs/B)")
NO_TRAFFIC = dict.fromkeys(LayerTraffic(0, 0, 0).as_json())  # no traffic: the keys, null


def traffic_of(report: Report, memory: MemoryReport | None) -> TrafficReport | None:
    """The report's memory traffic at the memory settings' dtypes and batch (a Python model
    without them: its own dtypes, tensor by tensor, at the batch it ran on); ``None`` when
    there is nothing to price."""
    if report.model is None and report.lowered is None:
        return None
    if memory is not None:
        return traffic_report(report, memory.settings)
    return traffic_report(report, as_run(report)) if report.model is None else None


def traffic_cells(t: LayerTraffic) -> dict[str, Any]:
    ai = t.arithmetic_intensity
    return {"bytes_read": t.bytes_read, "bytes_written": t.bytes_written, "bytes_moved": t.bytes_moved,
            "arithmetic_intensity": f"{ai:.2f}" if ai is not None else "-"}


def traffic_total_text(t: LayerTraffic) -> str:
    ai = t.arithmetic_intensity
    return (f"{t.bytes_moved / 1e6:.2f} MB moved ({t.bytes_read / 1e6:.2f} MB read, {t.bytes_written / 1e6:.2f} MB "
            f"written); {ai:.2f} mult-adds per byte" if ai is not None else f"{t.bytes_moved} bytes moved")


RF_TEXT = (
    "input pixels each unit depends on (RF), input pixels between neighbouring units (Eff. stride); "
    "'global' after global pooling; Conv RF leaves out the paths through global pooling (SE gates)"
)


def summary_json(report: Report, unit: str = "macs", fields: rf.ReceptiveFields | None = None,
                 memory: MemoryReport | None = None, traffic: TrafficReport | None = None) -> dict[str, Any]:
    """The stable JSON contract of ``summary`` (docs/json-schema.md). Integers are exact."""
    model = report.model
    subject = report.subject
    t = report.totals
    if model is not None:
        fields = fields or rf.receptive_fields(model)
        memory = memory or memory_report(model)
    traffic = traffic or traffic_of(report, memory)

    def row_json(r: Row) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": r.name,
            "type": r.type,
            "kind": r.kind,
            "level": r.depth,
            "input_shape": list(r.input_shape),
            "output_shape": list(r.output_shape),
            "kernel": list(r.kernel) if r.kernel else None,
            "stride": list(r.stride) if r.stride else None,
            "params": r.params,
            "trainable_params": r.trainable_params,
            "mult_adds": r.mult_adds,
            "spec": str(r.origin) if r.origin is not None else None,
            "spec_path": r.origin.path if r.origin is not None else None,
            "spec_calls": [f"{f}:{n}" if n is not None else f for f, n in r.origin.calls] if r.origin is not None else [],
        }
        if r.detail:
            d["detail"] = r.detail
        if unit == "flops":
            d["flops"] = 2 * r.mult_adds
        if fields is not None:
            d.update(field_json(fields.rows[r.name]))
        d.update(traffic.layers[r.name].as_json() if traffic is not None else NO_TRAFFIC)
        return d

    data: dict[str, Any] = {
        "schema": SCHEMA,
        "model": subject.name,
        "variant": subject.variant,
        "title": subject.title,
        "citation": dict(subject.citation),
        "input": list(subject.input_shape),
        "output": list(subject.output_shape),
        "settings": dict(subject.settings),
        "convention": report.convention.as_json(unit),
        "engine": report.engine,
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "mult_adds": t.mult_adds,
            "flops": 2 * t.mult_adds,
            "peak_activation_bytes": t.peak_activation_bytes,
            "depth": subject.depth,
            "batch": subject.batch,
            "mult_adds_per_sample": per_sample_value(t.mult_adds, subject.batch),
            "param_bytes": t.param_bytes,
            **(traffic.totals.as_json() if traffic is not None else NO_TRAFFIC),
        },
        "layers": [row_json(r) for r in report.rows if r.is_leaf],
        "blocks": [row_json(r) for r in report.rows if not r.is_leaf],
        "receptive_field": None if fields is None or fields.last is None
        else {"layer": fields.last, **field_json(fields.rows[fields.last])},
        "memory": memory.as_json() if memory is not None else None,
        "warnings": ([{"code": n.code, "message": n.message} for n in fields.notes()] if fields is not None else [])
        + [{"code": "module", "message": n} for n in subject.notes],
    }
    data["source"] = subject.source
    data["uncounted"] = [{"op": name, "calls": n} for name, n in report.uncounted]
    if subject.source != "spec":
        data["reference"] = subject.reference
        data["device"] = subject.device
        data["fallback"] = subject.fallback or None
        data["other_operators"] = [{"op": name, "calls": n} for name, n in others(report)]
    return data


def others(report: Report) -> tuple[tuple[str, int], ...]:
    """A captured model's operators that lower to no op kind and move data: (name, calls)."""
    return report.lowered.others if report.lowered is not None else ()


def others_text(report: Report) -> str:
    ops = ", ".join(f"{name.removeprefix('aten.')} x{n}" if n > 1 else name.removeprefix("aten.")
                    for name, n in others(report))
    return f"{ops} (no op kind: inputs read once, outputs written once)"


def per_sample_value(total: int, batch: int) -> int | float:
    """A per-batch count per sample: exact when the batch divides it (every count linear in
    the batch), else to two decimals."""
    return total // batch if total % batch == 0 else round(total / batch, 2)


def fmt_per_sample(total: int, batch: int) -> str:
    v = per_sample_value(total, batch)
    return f"{fmt_int(v)} ({fmt_si(v)})" if isinstance(v, int) else f"{v:,.2f}"


def field_json(g: rf.RowField) -> dict[str, Any]:
    """``receptive_field`` (every path), ``conv_receptive_field`` (paths through global pooling
    left out), and the effective stride and start of the convolutional field (null when global)."""
    conv = g.conv
    return {
        "receptive_field": rf.as_json(g.full),
        "conv_receptive_field": rf.as_json(conv),
        "effective_stride": list(conv.stride) if isinstance(conv, rf.ReceptiveField) else None,
        "rf_start": list(conv.start) if isinstance(conv, rf.ReceptiveField) else None,
    }


def with_verification(doc: Document, v: Any) -> Document:
    """Add the outcome of ``--verify`` to a summary or paper document."""
    from dataclasses import replace

    if v.ok:
        text = (
            f"OK - {v.layers} layers, {v.checks:,} checks against a real CPU forward pass and fvcore "
            f"(shapes, parameters, conv/linear and fvcore multiply-adds) in {v.seconds:.1f} s "
            f"(estimated {v.estimate.text()})"
        )
    else:
        text = f"MISMATCH - first disagreeing layer: {v.mismatch.text()}"
    data = dict(doc.data)
    data["verify"] = {
        "ok": v.ok,
        "layers": v.layers,
        "checks": v.checks,
        "seconds": round(v.seconds, 3),
        "fvcore_total": v.fvcore_total,
        "mismatch": None if v.ok else {
            "layer": v.mismatch.layer, "what": v.mismatch.what,
            "analysis": v.mismatch.expected, "module": v.mismatch.actual,
        },
    }
    return replace(doc, meta=doc.meta + (("verify", text),), data=data)
