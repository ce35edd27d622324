"""Predicted and measured latency in documents: the roofline columns of ``summary
--device`` and the ``profile`` table."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from typing import TYPE_CHECKING

from ..measure.analysis import Report
from ..measure.roofline import LayerTime, Roofline, layer_time_json
from .document import ESSENTIAL, Column, Document, Table, fmt_seconds

if TYPE_CHECKING:
    from ..capture.timing import Timing

OPERATIONS_TEXT = "operations = 2 x mult-adds of the convention, per batch (one multiply-add is two operations)"


def device_text(roofline: Roofline, batch: int) -> str:
    d = roofline.device
    peak = d.peak(roofline.dtype)
    roles = d.attained.get(roofline.dtype, {})
    attained = f"; attained figures of {len(roles)} roles ({roofline.dtype}) in their place" if roles else ""
    return (f"{d.name}: {peak / 1e9:,.4g} G operations/s ({roofline.dtype}), "
            f"{d.bandwidth_bytes_per_second.value / 1e9:,.4g} GB/s, {fmt_seconds(d.overhead_seconds.value)} "
            f"per layer{attained}; batch {batch}")


def roofline_json(roofline: Roofline, batch: int) -> dict[str, Any]:
    """The ``roofline`` object of the JSON contract: the device, dtype, batch and the rule."""
    return {"device": roofline.device.as_json(), "dtype": roofline.dtype, "batch": batch,
            "operations": OPERATIONS_TEXT,
            "rule": "predicted_seconds = max(operations / peak, bytes_moved / bandwidth) + overhead; a layer's "
                    "role's attained figures (device.attained) in place of peak, bandwidth and overhead where the "
                    "device has them"}


def block_times(names: list[str], per: dict[str, LayerTime]) -> dict[str, tuple[float, str]]:
    """A block's time, the sum over the layers inside it (named ``block.``...), and its
    bound: the one of the layers that take most of that time."""
    out = {}
    for name in names:
        prefix = name + "."
        inside = [t for k, t in per.items() if k.startswith(prefix)]
        by = {b: sum(t.predicted_seconds for t in inside if t.bound == b) for b in ("compute", "memory")}
        out[name] = (sum(by.values()), max(by, key=lambda b: by[b]) if inside else "")
    return out


def with_roofline(doc: Document, roofline: Roofline, batch: int) -> Document:
    """A summary document with each row's predicted time and bound, and the totals."""
    per = roofline.by_name()
    table = doc.tables[0]
    data = dict(doc.data)
    blocks = block_times([b["name"] for b in data["blocks"]], per)
    rows = []
    for r in table.rows:
        t = per.get(r["name"])
        seconds, bound = (t.predicted_seconds, t.bound) if t else blocks.get(r["name"], (None, ""))
        rows.append({**r, "predicted_seconds": seconds, "bound": bound})
    cols = list(table.columns)
    at = next(i for i, c in enumerate(cols) if c.key in ("mult_adds",)) + 1
    cols[at:at] = [Column("predicted_seconds", "Time", "seconds", priority=93), Column("bound", "Bound", priority=65)]
    data["layers"] = [{**layer, **layer_time_json(per[layer["name"]])} for layer in data["layers"]]
    data["blocks"] = [{**b, "predicted_seconds": blocks[b["name"]][0], "bound": blocks[b["name"]][1]}
                      for b in data["blocks"]]
    data["totals"] = {**data["totals"], **roofline.totals_json()}
    data["roofline"] = roofline_json(roofline, batch)
    counts = roofline.bound_counts()
    footer = doc.footer + ((
        f"Predicted time ({roofline.device.name})",
        f"{fmt_seconds(roofline.predicted_seconds)} (compute {fmt_seconds(roofline.compute_seconds)}, memory "
        f"{fmt_seconds(roofline.memory_seconds)}, overhead {fmt_seconds(roofline.overhead_seconds)}; "
        f"{counts['compute']} compute-bound, {counts['memory']} memory-bound layers"
        + (f", {counts['none']} moving nothing" if counts["none"] else "") + ")"),)
    meta = doc.meta + (("device", device_text(roofline, batch)), ("roofline", OPERATIONS_TEXT))
    return replace(doc, meta=meta, footer=footer, data=data,
                   tables=(Table(tuple(cols), tuple(rows), table.title, table.styles, table.csv_skip,
                                 table.view_skip), *doc.tables[1:]))


def profile_document(report: Report, timing: Timing, roofline: Roofline | None, device_note: str) -> Document:
    """``cnninspect profile``: each layer's measured time beside its predicted one (a spec's;
    ``roofline`` is None for a Python model, measured times only), and the totals."""
    subject = report.subject
    per = roofline.by_name() if roofline is not None else {}
    rows = []
    for r in report.layers:
        t = per.get(r.name)
        measured = timing.layer_seconds.get(r.name)
        predicted = t.predicted_seconds if t is not None else None
        rows.append({"layer": r.name, "type": r.type, "mult_adds": r.mult_adds, "predicted_seconds": predicted,
                     "bound": t.bound if t is not None else "", "measured_seconds": measured,
                     "ratio": measured / predicted if measured is not None and predicted else None})
    predicted_columns = (
        Column("predicted_seconds", "Predicted", "seconds", priority=95),
        Column("bound", "Bound", priority=50),
    ) if roofline is not None else ()
    table = Table((
        Column("layer", "Layer", priority=ESSENTIAL, wrap=False),
        Column("type", "Type", priority=40),
        Column("mult_adds", "Mult-adds", "int", priority=60),
        *predicted_columns,
        Column("measured_seconds", "Measured", "seconds", priority=96),
        *((Column("ratio", "Meas./pred.", "ratio", priority=70),) if roofline is not None else ()),
    ), tuple(rows))
    lo, hi = timing.spread
    layer_sum = sum(timing.layer_seconds.values())
    n = len(timing.forward_seconds)
    stopped = " (stopped by --max-seconds)" if timing.stopped_by_limit else ""
    footer = (
        ("Measured", f"{fmt_seconds(timing.measured_seconds)} per forward pass: median of {n} run{'s' * (n != 1)}"
                     f"{stopped}, {fmt_seconds(lo)} to {fmt_seconds(hi)}"),
        *((("Predicted", f"{fmt_seconds(roofline.predicted_seconds)} ({roofline.device.name})"),)
          if roofline is not None else ()),
        ("Layers measured", f"{fmt_seconds(layer_sum)} in the timed layers; "
                            f"{fmt_seconds(timing.measured_seconds - layer_sum)} outside them or between them"),
        ("Throughput", f"{timing.throughput:,.1f} samples/s at batch {timing.batch}"),
        ("Timing overhead", f"{timing.timing_overhead * 100:+.1f}% (timed passes against plain ones)"),
    )
    clock = "CUDA events" if timing.on == "cuda" else "perf_counter"
    meta = (
        ("model", subject.reference or subject.label),
        ("run", f"{timing.threads} thread{'s' * (timing.threads != 1)}, {timing.dtype}, batch {timing.batch}, "
                f"{timing.warmup} warm-up pass{'es' * (timing.warmup != 1)}, {timing.on.upper()}, torch.no_grad, "
                "eval mode"),
        ("predicted", device_note),
        *((("roofline", OPERATIONS_TEXT),) if roofline is not None else ()),
        ("method", f"per layer: forward pre-hook to forward hook ({clock}), median over the timed passes; "
                   "total: median of plain passes without hooks, alternated with the timed ones"),
    )
    none = {"operations": None, "predicted_seconds": None, "compute_seconds": None, "memory_seconds": None,
            "bound": None}
    data = {
        "schema": "cnninspect.profile/1",
        "model": subject.name,
        "variant": subject.variant,
        "source": subject.source,
        "convention": report.convention.as_json("macs"),
        "run": {"threads": timing.threads, "dtype": timing.dtype, "batch": timing.batch, "warmup": timing.warmup,
                "runs": n, "stopped_by_limit": timing.stopped_by_limit, "on": timing.on},
        "roofline": roofline_json(roofline, timing.batch) if roofline is not None else None,
        "layers": [{"name": r["layer"], "type": r["type"], "mult_adds": r["mult_adds"],
                    **(layer_time_json(per[r["layer"]]) if r["layer"] in per else none),
                    "measured_seconds": r["measured_seconds"]} for r in rows],
        "totals": {
            "mult_adds": report.totals.mult_adds,
            **(roofline.totals_json() if roofline is not None else {"predicted_seconds": None}),
            "measured_seconds": timing.measured_seconds,
            "measured_min_seconds": lo,
            "measured_max_seconds": hi,
            "forward_seconds": list(timing.forward_seconds),
            "layers_measured_seconds": layer_sum,
            "throughput_samples_per_second": timing.throughput,
            "timing_overhead": timing.timing_overhead,
        },
    }
    return Document(f"{subject.label} - measured on this machine" + (" beside the roofline" if roofline else ""),
                    meta, (table,), footer=footer, data=data,
                    csv_context={"model": subject.label, **({"device": roofline.device.name} if roofline else {})})
