"""Receptive field, effective stride and start offset of every row of a resolved model.

Per axis (height and width apart), unit ``i`` of a feature map depends on the input pixels
``start + i * stride`` to ``start + i * stride + size - 1`` (Araujo, Norris & Sim, "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019). Through a window op with
kernel ``k``, dilation ``d``, stride ``s`` and padding ``p`` before the input:

* ``size`` (the receptive field) grows by ``(d (k - 1) + 1 - 1) * stride``;
* ``stride`` (the effective stride, or jump: input pixels between neighbouring units) is
  multiplied by ``s``;
* ``start`` (the first input pixel unit 0 sees; negative inside the zero padding) moves by
  ``-p * stride``.

Paths that meet (the body and shortcut of a residual, the branches of a concatenation, a
gate and its input, the earlier outputs a concat's ``from`` takes) give the union of their fields: from the smallest start to the largest
end. Global pooling makes every later unit depend on the whole input at any resolution;
that is :data:`GLOBAL`, not a number. The *convolutional* field is the same computation with
the paths through global pooling left out (a squeeze-and-excitation gate then only rescales
channels): the field people compare between networks.

Fields describe inference (batch norm uses its running statistics; in training its batch
statistics make every output depend on the whole batch). Pure Python on the IR, no torch;
the geometry of each op kind is its record's ``field`` rule (:class:`cnninspect.ops.kind.OpKind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union
from collections.abc import Mapping, Sequence

from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side
from ..ops.kind import GLOBAL, POINTWISE, Global, Window
from ..ops.kinds import KINDS
from ..ops.primitives import Shape, fmt_shape

HW = tuple[int, int]


@dataclass(frozen=True)
class FieldAxis:
    """One axis of a field: unit ``i`` sees input pixels ``start + i*stride .. + size - 1``."""

    size: int
    stride: int
    start: int

    @property
    def end(self) -> int:
        return self.start + self.size - 1


@dataclass(frozen=True)
class ReceptiveField:
    h: FieldAxis
    w: FieldAxis

    @property
    def size(self) -> HW:
        return (self.h.size, self.w.size)

    @property
    def stride(self) -> HW:
        return (self.h.stride, self.w.stride)

    @property
    def start(self) -> HW:
        return (self.h.start, self.w.start)


@dataclass(frozen=True)
class NotConvolutional:
    """The path from the input is not a chain of sliding windows (a Python model's attention,
    a flatten then a matrix product, an operator without a geometry): no field is claimed.
    ``reason`` names the operator where the path stopped being convolutional."""

    reason: str

    def __repr__(self) -> str:
        return f"NotConvolutional({self.reason!r})"


Geometry = Union[ReceptiveField, Global, NotConvolutional]
INPUT = ReceptiveField(FieldAxis(1, 1, 0), FieldAxis(1, 1, 0))


def apply(g: Geometry, w: Window | Global) -> Geometry:
    """The field after one op (the recurrences of the module docstring)."""
    if isinstance(g, NotConvolutional):
        return g
    if isinstance(g, Global) or isinstance(w, Global):
        return GLOBAL

    def axis(a: FieldAxis, i: int) -> FieldAxis:
        return FieldAxis(a.size + (w.span(i) - 1) * a.stride, a.stride * w.stride[i], a.start - w.pad[i] * a.stride)

    return ReceptiveField(axis(g.h, 0), axis(g.w, 1))


def union(parts: Sequence[Geometry], conv: bool, out_shape: Shape) -> tuple[Geometry, bool]:
    """Where paths meet: the union of their fields; returns (field, aligned).

    With ``conv`` the paths through global pooling are left out (unless every path has
    one). Paths with different effective strides are not aligned: the field of a unit then
    depends on its position, and the largest (first or last unit) is returned.
    """
    unknown = [p for p in parts if isinstance(p, NotConvolutional)]
    if unknown:
        return unknown[0], True
    fields = [p for p in parts if isinstance(p, ReceptiveField)]
    if not fields or (not conv and len(fields) < len(parts)):
        return GLOBAL, True
    n = (out_shape[1], out_shape[2]) if len(out_shape) == 3 else (1, 1)
    axes = []
    aligned = True
    for i in (0, 1):
        ax = [f.h if i == 0 else f.w for f in fields]
        if len({a.stride for a in ax}) == 1:
            start = min(a.start for a in ax)
            axes.append(FieldAxis(max(a.end for a in ax) - start + 1, ax[0].stride, start))
            continue
        aligned = False
        last = n[i] - 1
        first_size = max(a.end for a in ax) - min(a.start for a in ax) + 1
        last_size = max(a.end + last * a.stride for a in ax) - min(a.start + last * a.stride for a in ax) + 1
        axes.append(FieldAxis(max(first_size, last_size), max(a.stride for a in ax), min(a.start for a in ax)))
    return ReceptiveField(axes[0], axes[1]), aligned


@dataclass(frozen=True)
class RowField:
    """The field of one row's output: through every path (``full``) and through the
    convolutional path alone (``conv``, paths through global pooling left out)."""

    full: Geometry
    conv: Geometry


@dataclass(frozen=True)
class Drop:
    """A window op whose last windows stop short of its input: rows/columns nothing reads."""

    layer: str
    rows: int
    cols: int
    in_shape: Shape


@dataclass(frozen=True)
class Note:
    """A finding about the field, for the notes of the text output and ``warnings`` in JSON."""

    code: str
    message: str


@dataclass(frozen=True)
class ReceptiveFields:
    rows: Mapping[str, RowField]
    input_shape: Shape
    last: str | None  # the last feature map on the main path with a convolutional field
    last_shape: Shape | None
    drops: tuple[Drop, ...]
    misaligned: tuple[str, ...]
    # a Python model: (first row, reason) where the path stopped being convolutional
    stops: tuple[tuple[str, str], ...] = ()

    @property
    def last_field(self) -> RowField | None:
        return self.rows[self.last] if self.last is not None else None

    def notes(self) -> tuple[Note, ...]:
        """Warnings about the last feature map's field and about dropped rows and columns."""
        out: list[Note] = []
        h, w = self.input_shape[1], self.input_shape[2]
        last = self.last_field
        if last is not None and isinstance(last.conv, ReceptiveField):
            f = last.conv
            where = f"the receptive field of the last feature map ({self.last}, {_hw(f.size)})"
            if f.h.size > h or f.w.size > w:
                out.append(Note("rf_larger_than_input",
                                f"{where} is larger than the {h}x{w} input: its units reach into the zero padding"))
            elif 2 * f.h.size < h or 2 * f.w.size < w:
                out.append(Note("rf_much_smaller_than_input",
                                f"{where} covers less than half of the {h}x{w} input: each unit sees a small "
                                "part of the image"))
        if self.drops:
            stride = last.conv.stride if last is not None and isinstance(last.conv, ReceptiveField) else None
            lead = "layers drop the last rows or columns of their input"
            if stride is not None and (h % stride[0] or w % stride[1]):
                lead = (f"the {h}x{w} input is not a multiple of the total stride {_hw(stride)}: " + lead)
            shown = [f"{d.layer} ({_count(d.rows, 'row')}{', ' if d.rows and d.cols else ''}"
                     f"{_count(d.cols, 'column')} of {fmt_shape(d.in_shape[1:])})" for d in self.drops[:3]]
            more = f" and {len(self.drops) - 3} more" if len(self.drops) > 3 else ""
            out.append(Note("dropped_rows", f"{lead}: {', '.join(shown)}{more}"))
        if last is not None and isinstance(last.conv, ReceptiveField):
            missed = self._uncovered()
            if missed:
                out.append(Note("input_not_covered",
                                f"input {missed} reach no unit of the last feature map ({self.last})"))
        for row, reason in self.stops[:3]:
            out.append(Note("rf_not_convolutional",
                            f"no receptive field from {row} on ({reason}): the path from the input is not a chain "
                            "of sliding windows; those rows show -"))
        if self.misaligned:
            out.append(Note("misaligned_paths",
                            f"paths with different effective strides meet at {', '.join(self.misaligned[:3])}: "
                            "the field differs from unit to unit; the largest is shown"))
        return tuple(out)

    def _uncovered(self) -> str:
        """Input rows/columns outside every field of the last feature map, as text."""
        assert self.last is not None
        f = self.rows[self.last].conv
        assert isinstance(f, ReceptiveField)
        parts = []
        assert self.last_shape is not None
        for name, a, n, size in (("row", f.h, self.last_shape[1], self.input_shape[1]),
                                 ("column", f.w, self.last_shape[2], self.input_shape[2])):
            lo, hi = a.start, a.start + (n - 1) * a.stride + a.size - 1
            missing = []
            if lo > 0:
                missing.append((0, min(lo, size) - 1))
            if hi < size - 1:
                missing.append((max(hi + 1, 0), size - 1))
            if missing:
                plural = "s" if len(missing) > 1 or missing[0][0] != missing[0][1] else ""
                parts.append(f"{name}{plural} {' and '.join(_span(*m) for m in missing)}")
        return " and ".join(parts)


def _hw(pair: HW) -> str:
    return f"{pair[0]}" if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _count(n: int, what: str) -> str:
    return "" if n == 0 else f"{n} {what}{'s' if n > 1 else ''}"


def _span(a: int, b: int) -> str:
    return f"{a}" if a == b else f"{a}-{b}"


def _tail_drop(w: Window, in_shape: Shape, out_shape: Shape) -> HW:
    """Input rows/columns after the last window (windows narrower than their stride skip
    pixels by design and are not counted)."""
    out = []
    for i in (0, 1):
        span, s = w.span(i), w.stride[i]
        if span < s:
            out.append(0)
            continue
        reach = (out_shape[1 + i] - 1) * s + span  # padded positions the windows read
        out.append(max(0, w.pad[i] + in_shape[1 + i] - reach))
    return out[0], out[1]


def receptive_fields(model: Model) -> ReceptiveFields:
    """The field of every row's output (op or container), keyed by the row's module path."""
    rows: dict[str, RowField] = {}
    drops: list[Drop] = []
    misaligned: list[str] = []

    def meet(qual: str, parts: Sequence[RowField], out_shape: Shape) -> RowField:
        full, ok1 = union([p.full for p in parts], False, out_shape)
        conv, ok2 = union([p.conv for p in parts], True, out_shape)
        if not (ok1 and ok2):
            misaligned.append(qual)
        return RowField(full, conv)

    def run(node: Node, qual: str, x: RowField, side: bool) -> RowField:
        if isinstance(node, Op) and node.kind == "take":
            out = rows[node.attrs["point"]]  # a concat's 'from': the field where that output was made
        elif isinstance(node, Op):
            w = KINDS[node.kind].field(node.attrs, node.in_shape)
            out = RowField(apply(x.full, w), apply(x.conv, w))
            if isinstance(w, Window) and w != POINTWISE and len(node.out_shape) == 3 and not side:
                rows_, cols = _tail_drop(w, node.in_shape, node.out_shape)
                if rows_ or cols:
                    drops.append(Drop(qual, rows_, cols, node.in_shape))
        else:

            def sub(child: Node, y: RowField, inner: bool = side) -> RowField:
                return run(child, f"{qual}.{child.name}", y, inner)

            if isinstance(node, Seq):
                out = x
                for child in node.children:
                    out = sub(child, out)
            elif isinstance(node, Residual):
                out = meet(qual, [sub(node.body, x), sub(node.shortcut, x)], node.out_shape)
                if node.post is not None:
                    out = sub(node.post, out)
            elif isinstance(node, Concat):
                out = meet(qual, [sub(b, x) for b in node.branches], node.out_shape)
            elif isinstance(node, Gate):
                out = meet(qual, [x, sub(node.branch, x)], node.out_shape)
            else:
                assert isinstance(node, Side)
                sub(node.branch, x, True)
                out = x
        rows[qual] = out
        return out

    x = RowField(INPUT, INPUT)
    for child in model.root.children:
        x = run(child, child.name, x, False)
    del run  # a recursive closure is a reference cycle: break it, so its cells die with this call
    last = _last_map(model.root, "", rows)
    return ReceptiveFields(rows, model.input_shape, last[0] if last else None, last[1] if last else None,
                           tuple(drops), tuple(misaligned))


def _last_map(node: Node, prefix: str, rows: Mapping[str, RowField]) -> tuple[str, Shape] | None:
    """The last node on the main path whose output is a feature map with a convolutional field."""
    if not isinstance(node, Seq):
        return None
    for child in reversed(node.children):
        qual = f"{prefix}.{child.name}" if prefix else child.name
        if len(child.out_shape) == 3 and isinstance(rows[qual].conv, ReceptiveField):
            return qual, child.out_shape
        found = _last_map(child, qual, rows)
        if found is not None:
            return found
    return None


def as_json(g: Geometry) -> Any:
    """``[h, w]``, ``"global"``, or ``null`` where the path is not convolutional (the JSON contract)."""
    if isinstance(g, NotConvolutional):
        return None
    return "global" if isinstance(g, Global) else list(g.size)


def text(g: Geometry) -> str:
    if isinstance(g, NotConvolutional):
        return "-"
    return "global" if isinstance(g, Global) else _hw(g.size)


def stride_text(g: Geometry) -> str:
    if isinstance(g, NotConvolutional):
        return "-"
    return "" if isinstance(g, Global) else _hw(g.stride)


def start_text(g: Geometry) -> str:
    if not isinstance(g, ReceptiveField):
        return ""
    a, b = g.start
    return f"{a}" if a == b else f"{a},{b}"


__all__ = [
    "FieldAxis", "ReceptiveField", "GLOBAL", "Global", "NotConvolutional", "Window", "RowField", "ReceptiveFields",
    "Note",
    "receptive_fields", "apply", "union", "as_json", "text", "stride_text", "start_text",
]
