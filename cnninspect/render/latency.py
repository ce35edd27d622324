"""Predicted and measured latency in documents: the roofline columns of ``summary
--device`` and the ``profile`` table."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..measure.roofline import Roofline, layer_time_json
from .document import Column, Document, Table, fmt_seconds

OPERATIONS_TEXT = "operations = 2 x mult-adds of the convention, per batch (one multiply-add is two operations)"


def device_text(roofline: Roofline, batch: int) -> str:
    d = roofline.device
    peak = d.peak(roofline.dtype)
    return (f"{d.name}: {peak / 1e9:,.4g} G operations/s ({roofline.dtype}), "
            f"{d.bandwidth_bytes_per_second.value / 1e9:,.4g} GB/s, {fmt_seconds(d.overhead_seconds.value)} "
            f"per layer; batch {batch}")


def roofline_json(roofline: Roofline, batch: int) -> dict[str, Any]:
    """The ``roofline`` object of the JSON contract: the device, dtype, batch and the rule."""
    return {"device": roofline.device.as_json(), "dtype": roofline.dtype, "batch": batch,
            "operations": OPERATIONS_TEXT,
            "rule": "predicted_seconds = max(operations / peak, bytes_moved / bandwidth) + overhead"}


def block_seconds(names: list[str], times: dict[str, float]) -> dict[str, float]:
    """A block's time: the sum over the layers inside it (named ``block.``...)."""
    out = {}
    for name in names:
        prefix = name + "."
        out[name] = sum(v for k, v in times.items() if k.startswith(prefix))
    return out


def with_roofline(doc: Document, roofline: Roofline, batch: int) -> Document:
    """A summary document with each row's predicted time and bound, and the totals."""
    per = roofline.by_name()
    table = doc.tables[0]
    predicted = {n: t.predicted_seconds for n, t in per.items()}
    data = dict(doc.data)
    blocks = block_seconds([b["name"] for b in data["blocks"]], predicted)
    rows = []
    for r in table.rows:
        t = per.get(r["name"])
        rows.append({**r, "predicted_seconds": t.predicted_seconds if t else blocks.get(r["name"]),
                     "bound": t.bound if t else ""})
    cols = list(table.columns)
    at = next(i for i, c in enumerate(cols) if c.key in ("mult_adds",)) + 1
    cols[at:at] = [Column("predicted_seconds", "Time", "seconds", priority=93), Column("bound", "Bound", priority=65)]
    data["layers"] = [{**layer, **layer_time_json(per[layer["name"]])} for layer in data["layers"]]
    data["blocks"] = [{**b, "predicted_seconds": blocks[b["name"]]} for b in data["blocks"]]
    data["totals"] = {**data["totals"], **roofline.totals_json()}
    data["roofline"] = roofline_json(roofline, batch)
    counts = roofline.bound_counts()
    footer = doc.footer + ((
        f"Predicted time ({roofline.device.name})",
        f"{fmt_seconds(roofline.predicted_seconds)} (compute {fmt_seconds(roofline.compute_seconds)}, memory "
        f"{fmt_seconds(roofline.memory_seconds)}, overhead {fmt_seconds(roofline.overhead_seconds)}; "
        f"{counts['compute']} compute-bound, {counts['memory']} memory-bound layers)"),)
    meta = doc.meta + (("device", device_text(roofline, batch)), ("roofline", OPERATIONS_TEXT))
    return replace(doc, meta=meta, footer=footer, data=data,
                   tables=(Table(tuple(cols), tuple(rows), table.title, table.styles, table.csv_skip,
                                 table.view_skip), *doc.tables[1:]))
