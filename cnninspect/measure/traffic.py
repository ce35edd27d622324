"""Memory traffic per layer: bytes read and written, and mult-adds per byte moved.

Mult-adds do not say how fast a network runs; ShuffleNet V2 (Ma et al. 2018, Sec. 2) shows
networks of equal FLOPs at different speeds and measures their *memory access cost* (MAC):
for a 1x1 convolution with ``c1`` input and ``c2`` output channels on an ``h x w`` map,
``MAC = h*w*(c1 + c2) + c1*c2`` elements (guideline G1). This module counts the same for
every layer of a resolved model, at a dtype and batch (``docs/traffic.md`` derives each rule):

* an op reads the activation elements its kind's record says
  (:attr:`cnninspect.ops.kind.OpKind.traffic`: by default its input, once) and writes its
  output, once per sample, in the activation dtype; it reads each parameter and float buffer
  once per batch, in the weight dtype (int64 step counters are not read by a forward pass);
* an op whose output is its input at inference (a view, identity, dropout) moves nothing;
* containers move what their own arithmetic needs: a residual's add reads the body's and the
  shortcut's outputs and writes the sum, a concatenation reads its branches' outputs and
  writes the joined tensor, a gate's multiply reads its input and the gate and writes the
  product; a sequence and a side output move nothing of their own. A container's row adds
  its children's traffic to its own;
* ``arithmetic_intensity`` is the row's mult-adds (in the report's convention, times the
  batch) per byte moved; ``None`` when it moves nothing.

This is the ideal traffic of a kernel that never reads an element twice: caches, tiling,
fused kernels and padding copies change what a device really moves. Pure Python on the IR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from ..ops.kinds import KINDS
from ..ops.lowering import LoweredGraph, LoweredOp
from ..ops.primitives import Shape
from ..resolve.ir import Concat, Gate, Node, Op, Residual, Seq, Side, children
from .analysis import Report
from .memory import MemorySettings, run_precision


@dataclass(frozen=True)
class LayerTraffic:
    """What one row (or the whole model) moves at the report's settings, for the batch."""

    bytes_read: int
    bytes_written: int
    mult_adds: int  # in the report's convention, for the whole batch

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def arithmetic_intensity(self) -> float | None:
        """Mult-adds per byte moved (``None`` for a row that moves nothing)."""
        moved = self.bytes_moved
        return self.mult_adds / moved if moved else None

    def __add__(self, other: LayerTraffic) -> LayerTraffic:
        return LayerTraffic(self.bytes_read + other.bytes_read, self.bytes_written + other.bytes_written,
                            self.mult_adds + other.mult_adds)

    def as_json(self) -> dict[str, Any]:
        ai = self.arithmetic_intensity
        return {"bytes_read": self.bytes_read, "bytes_written": self.bytes_written, "bytes_moved": self.bytes_moved,
                "arithmetic_intensity": round(ai, 4) if ai is not None else None}


NONE = LayerTraffic(0, 0, 0)


@dataclass(frozen=True)
class TrafficReport:
    """Traffic of every row by module path (``layers``) and of the model (``totals``)."""

    settings: MemorySettings
    layers: Mapping[str, LayerTraffic]
    totals: LayerTraffic


def op_traffic(kind: str, attrs: Mapping[str, Any], in_shape: Shape, out_shape: Shape, mult_adds: int,
               settings: MemorySettings) -> LayerTraffic:
    """What one op moves for a batch at ``settings`` (``mult_adds`` per sample)."""
    record = KINDS[kind]
    ab, wb, batch = settings.precision.activation_bytes, settings.precision.weight_bytes, settings.batch
    if record.alias(attrs, False):
        return LayerTraffic(0, 0, batch * mult_adds)
    read, written = record.traffic(attrs, in_shape, out_shape)
    weights = sum(n for n, _t in record.param_counts(attrs).values()) + record.buffers(attrs)[0]
    return LayerTraffic(batch * read * ab + weights * wb, batch * written * ab, batch * mult_adds)


def lowered_traffic(op: LoweredOp, settings: MemorySettings) -> LayerTraffic:
    """What one lowered operator call moves (its elements are already for the whole batch the
    model ran on): at the model's own dtypes, each tensor's bytes (``settings.precision.run``);
    else activations in the activation dtype, constants in the weight dtype (``--dtype``)."""
    if settings.precision.run:
        return LayerTraffic(op.read_bytes + op.weight_bytes, op.written_bytes, 0)
    ab, wb = settings.precision.activation_bytes, settings.precision.weight_bytes
    return LayerTraffic(op.read * ab + op.weights * wb, op.written * ab, 0)


def as_run(report: Report) -> MemorySettings:
    """A Python model's settings when no ``--dtype`` is given: its own dtypes, tensor by
    tensor (:func:`~cnninspect.measure.memory.run_precision` of the dtypes its captured
    operators moved), at the batch it ran on."""
    dtypes = report.lowered.float_dtypes if report.lowered is not None else frozenset()
    return MemorySettings(run_precision(dtypes), report.subject.batch)


def traffic_report(report: Report, settings: MemorySettings | None = None) -> TrafficReport:
    """The traffic of every row of ``report`` at ``settings``'s dtypes and batch (default
    fp32, batch 1). A Python model's report carries its operators lowered onto the records
    (:mod:`cnninspect.ops.lowering`): each row moves what its operators move, at the batch
    it ran on (``settings.batch`` is not applied again)."""
    settings = settings or MemorySettings()
    model = report.model
    if model is None:
        if report.lowered is None:
            raise ValueError("memory traffic needs a resolved spec or a captured model's lowered operators")
        return _module_traffic(report, report.lowered, settings)
    ab, batch = settings.precision.activation_bytes, settings.batch
    rows = {r.name: r for r in report.rows}
    out: dict[str, LayerTraffic] = {}

    def elements(shape: Any) -> int:
        return math.prod(shape)

    def own(node: Node, qual: str) -> LayerTraffic:
        """What ``node`` itself moves (an op, or a container's own add, join or multiply)."""
        r = rows[qual]
        if isinstance(node, Op):
            return op_traffic(node.kind, node.attrs, tuple(r.input_shape), tuple(r.output_shape), r.mult_adds, settings)
        o = elements(r.output_shape)
        if isinstance(node, Residual):
            return LayerTraffic(batch * 2 * o * ab, batch * o * ab, 0)
        if isinstance(node, Concat):
            return LayerTraffic(batch * o * ab, batch * o * ab, 0)
        if isinstance(node, Gate):
            g = elements(rows[f"{qual}.{node.branch.name}"].output_shape)
            return LayerTraffic(batch * (elements(r.input_shape) + g) * ab, batch * o * ab, 0)
        assert isinstance(node, (Seq, Side))
        return NONE

    def visit(node: Node, qual: str) -> LayerTraffic:
        t = own(node, qual)
        if not isinstance(node, Op):
            for child in children(node):
                t = t + visit(child, f"{qual}.{child.name}")
        out[qual] = t
        return t

    total = NONE
    for child in model.root.children:
        total = total + visit(child, child.name)
    del visit  # a recursive closure is a reference cycle: break it
    return TrafficReport(settings, out, total)


def _module_traffic(report: Report, graph: LoweredGraph, settings: MemorySettings) -> TrafficReport:
    per_op = [lowered_traffic(op, settings) for op in graph.ops]
    out: dict[str, LayerTraffic] = {}
    for row in report.rows:
        t = NONE
        for i in graph.rows.get(row.name, ()):
            t = t + per_op[i]
        out[row.name] = LayerTraffic(t.bytes_read, t.bytes_written, row.mult_adds)
    total = NONE
    for t in per_op:
        total = total + t
    return TrafficReport(settings, out, LayerTraffic(total.bytes_read, total.bytes_written, report.totals.mult_adds))
