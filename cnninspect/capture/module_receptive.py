"""Receptive fields of a Python model, read from its captured aten operators.

The same recurrences as a spec's (:mod:`cnninspect.measure.receptive`), applied to the data
flow of one forward pass: the first input is an image ``(N, C, H, W)`` whose unit ``(i, j)``
sees pixel ``(i, j)``; each operator maps the fields of its inputs to its outputs:

* a window: an operator that lowers to an op kind with a geometry takes it from the kind's
  record (:mod:`cnninspect.ops.lowering`; ``field`` with the attributes ``from_call`` reads):
  ``convolution`` (2-d, not transposed), max and average pooling, adaptive pooling to a
  size (global when it pools to one position); zero, reflection and replication padding;
* pointwise: activations, elementwise arithmetic (where paths meet, the union of their
  fields, as a residual ``x + y``), batch norm in inference, dropout, copies, concatenation
  along channels, reshapes and permutations that keep the spatial axes;
* statistics over the whole map (``mean`` over both spatial axes, group or instance norm):
  global, and left out of the *convolutional* field, as a squeeze-and-excitation gate is;
* anything else on the path from the input (a reshape that merges the spatial axes, a matrix
  product over positions, attention, interpolation, an operator without a geometry): not
  convolutional. The rows from there on show ``-`` and a note names the operator, instead of
  a wrong number.

Tensors that do not depend on the input (parameters, constants) have no field. Fields are
for inference, as for a spec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..measure.analysis import Report
from ..measure.receptive import (
    GLOBAL,
    INPUT,
    NotConvolutional,
    ReceptiveField,
    ReceptiveFields,
    RowField,
    Window,
    apply,
    union,
)
from ..ops.aten_rules import ATEN_OPS, OpCall, TensorMeta
from ..ops.kind import Role, no_call_attrs
from ..ops.kinds import KINDS
from ..ops.lowering import ATEN_KINDS
from .trace import Trace, per_sample


@dataclass(frozen=True)
class _Field:
    """The field of one tensor and where its spatial axes are (``None`` when it has none:
    a global field, or not convolutional)."""

    row: RowField
    axes: tuple[int, int] | None


def _not(reason: str) -> _Field:
    g = NotConvolutional(reason)
    return _Field(RowField(g, g), None)


def _meet(parts: Sequence[_Field], out_shape: tuple[int, ...]) -> RowField:
    shape = out_shape[1:] if len(out_shape) == 4 else ()
    full, _ok = union([p.row.full for p in parts], False, shape)
    conv, _ok = union([p.row.conv for p in parts], True, shape)
    return RowField(full, conv)


def _window(f: _Field, w: Window) -> _Field:
    return _Field(RowField(apply(f.row.full, w), apply(f.row.conv, w)), f.axes)


def _pair(v: Any, default: tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return (int(v[0]), int(v[1]))
    if isinstance(v, (tuple, list)) and len(v) == 1:
        return (int(v[0]), int(v[0]))
    return default


def _dims(v: Any, ndim: int) -> tuple[int, ...] | None:
    """Dimension arguments made non-negative; ``None`` for all of them."""
    if v is None or v == () or v == []:
        return None
    items = v if isinstance(v, (tuple, list)) else (v,)
    return tuple(int(d) % ndim for d in items)


Rule = Callable[[OpCall, _Field, Sequence[_Field]], _Field]
# the roles whose records hold a window's geometry (the rest are pointwise or whole-map
# statistics, which the rules below place: a channels-last layer norm keeps its positions)
WINDOW_ROLES = frozenset({Role.CONV, Role.POOL, Role.GLOBAL})


def _spatial(c: OpCall, f: _Field) -> bool:
    """The operator's first tensor is an ``(N, C, H, W)`` map with its spatial axes last."""
    x = c.args[0] if c.args else None
    return isinstance(x, TensorMeta) and len(x.shape) == 4 and f.axes == (2, 3)


def _record(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field | None:
    """The geometry of the op kind the call lowers to, from its record (``field``, with the
    attributes ``from_call`` reads): ``None`` when it has none, or the call is not of the
    kind's shape."""
    kind = ATEN_KINDS.get(c.op) if c.namespace == "aten" else None
    if kind is None or KINDS[kind].role not in WINDOW_ROLES or KINDS[kind].from_call is no_call_attrs:
        return None
    record = KINDS[kind]
    attrs = record.from_call(c)
    if attrs is None:  # a transposed or not 2-d convolution: the operator's rule says why
        return None
    if not _spatial(c, f):
        return _not(f"aten.{c.op} on a tensor that is not a 2-d map")
    geometry = record.field(attrs, per_sample(c.tensor(0).shape))
    if isinstance(geometry, Window):
        return _window(f, geometry)
    return _Field(RowField(GLOBAL, GLOBAL), None)


def _conv(c: OpCall, f: _Field, _all: Sequence[_Field]) -> _Field:
    w = c.args[1]
    if bool(c.arg(6, "transposed", False)):
        return _not("aten.convolution, transposed")
    if not isinstance(w, TensorMeta) or len(w.shape) != 4 or not _spatial(c, f):
        return _not("aten.convolution, not 2-d")
    win = Window((w.shape[2], w.shape[3]), _pair(c.arg(3, "stride"), (1, 1)), _pair(c.arg(4, "padding"), (0, 0)),
                 _pair(c.arg(5, "dilation"), (1, 1)))
    return _window(f, win)


def _pad(c: OpCall, f: _Field, _all: Sequence[_Field]) -> _Field:
    pad = c.arg(1, "pad") or c.arg(1, "padding")
    if not isinstance(pad, (tuple, list)) or not _spatial(c, f):
        return _not(f"aten.{c.op} on a tensor that is not a 2-d map")
    left = int(pad[0]) if len(pad) > 0 else 0
    top = int(pad[2]) if len(pad) > 2 else 0
    return _window(f, Window((1, 1), (1, 1), (top, left)))


def _pointwise(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    """Elementwise: where several inputs meet, the union of their fields. A broadcast input
    without the spatial axes (a gate of shape N x C x 1 x 1) only rescales."""
    out = c.out().shape if c.outputs and c.outputs[0] is not None else ()
    row = _meet(parts, out) if len(parts) > 1 else parts[0].row
    axes = next((p.axes for p in parts if p.axes is not None), None)
    if axes is not None and (len(out) <= max(axes) or any(p.axes not in (None, axes) for p in parts)):
        return _not(f"aten.{c.op} across differently laid out tensors")
    return _Field(row, axes if not isinstance(row.conv, NotConvolutional) else None)


def _statistics(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    """Normalisation by statistics over the whole map (group, instance norm): global, and
    left out of the convolutional field."""
    return _Field(RowField(GLOBAL, f.row.conv), f.axes)


def _layer_norm(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    shape = c.arg(1, "normalized_shape") or ()
    x = c.tensor(0).shape
    normalised = set(range(len(x) - len(shape), len(x)))
    if f.axes is not None and normalised & set(f.axes):
        return _statistics(c, f, parts)
    return f


def _reduce(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    x = c.tensor(0).shape
    dims = _dims(c.arg(1, "dim"), len(x))
    if f.axes is None:
        return f
    reduced = set(range(len(x))) if dims is None else set(dims)
    if set(f.axes) <= reduced:
        return _Field(RowField(GLOBAL, GLOBAL), None)
    if set(f.axes) & reduced:
        return _not(f"aten.{c.op} over one spatial axis")
    return _reshaped(c, f, parts)


def _softmax(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    x = c.tensor(0).shape
    dim = int(c.arg(1, "dim", -1)) % max(len(x), 1)
    if f.axes is not None and dim in f.axes:
        return _not(f"aten.{c.op} over positions")
    return f


def _reshaped(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    """A view or reshape: the spatial axes are kept when they stay the last two dimensions
    with their sizes; a permutation moves them."""
    if f.axes is None:
        return f
    x = c.tensor(0).shape
    out = c.out().shape if c.outputs and c.outputs[0] is not None else ()
    if c.op == "permute":
        order = [int(d) % len(x) for d in c.arg(1, "dims")]
        return _Field(f.row, (order.index(f.axes[0]), order.index(f.axes[1])))
    if c.op == "transpose":
        a, b = int(c.arg(1, "dim0")) % len(x), int(c.arg(2, "dim1")) % len(x)
        swap = {a: b, b: a}
        return _Field(f.row, (swap.get(f.axes[0], f.axes[0]), swap.get(f.axes[1], f.axes[1])))
    h, w = x[f.axes[0]], x[f.axes[1]]
    if f.axes == (len(x) - 2, len(x) - 1) and len(out) >= 3 and out[-2:] == (h, w):
        return _Field(f.row, (len(out) - 2, len(out) - 1))
    return _not(f"aten.{c.op} to {'x'.join(map(str, out[1:]))}, which does not keep the spatial axes")


def _sliced(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    x = c.tensor(0).shape
    dim = int(c.arg(1, "dim", 0)) % max(len(x), 1)
    if f.axes is not None and dim in f.axes:
        return _not(f"aten.{c.op} along a spatial axis")
    return _reshaped(c, f, parts)


def _cat(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    tensors = c.args[0]
    first = tensors[0] if isinstance(tensors, tuple) and tensors else None
    ndim = len(first.shape) if isinstance(first, TensorMeta) else 0
    dim = int(c.arg(1, "dim", 0)) % max(ndim, 1)
    if c.op == "cat" and f.axes is not None and dim not in f.axes and dim != 0:
        return _pointwise(c, f, parts)
    if all(p.axes is None and not isinstance(p.row.conv, NotConvolutional) for p in parts):
        return _Field(_meet(parts, ()), None)  # global fields
    return _not(f"aten.{c.op} along dimension {dim}")


def _identity(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    return f


def _global_only(what: str) -> Rule:
    def rule(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
        if all(p.axes is None and p.row.full is GLOBAL and p.row.conv is GLOBAL for p in parts):
            return parts[0]  # every unit already sees the whole input
        return _not(f"aten.{c.op}: {what}")

    return rule


# rules by operator, then by category (ops/aten_rules.py's registry)
BY_OP: dict[str, Rule] = {
    "_convolution": _conv, "convolution_overrideable": _conv,
    "constant_pad_nd": _pad, "reflection_pad2d": _pad, "replication_pad2d": _pad,
    "native_group_norm": _statistics, "native_layer_norm": _layer_norm, "rms_norm": _layer_norm,
    "_fused_rms_norm": _layer_norm,
    "cat": _cat, "stack": _cat,
    "view": _reshaped, "_unsafe_view": _reshaped, "reshape": _reshaped, "_reshape_alias": _reshaped,
    "flatten": _reshaped, "unflatten": _reshaped, "permute": _reshaped, "transpose": _reshaped,
    "unsqueeze": _reshaped, "squeeze": _reshaped, "expand": _reshaped,
    "slice": _sliced, "narrow": _sliced, "select": _sliced, "split": _sliced, "split_with_sizes": _sliced,
    "chunk": _sliced, "unbind": _sliced,
    "_softmax": _softmax, "_log_softmax": _softmax, "_safe_softmax": _softmax,
    "clone": _identity, "contiguous": _identity, "_to_copy": _identity, "copy": _identity, "alias": _identity,
    "detach": _identity, "lift_fresh": _identity, "lift_fresh_copy": _identity, "to": _identity,
    "type_as": _identity, "channel_shuffle": _identity, "native_channel_shuffle": _identity,
}
BY_CATEGORY: dict[str, Rule] = {
    "activation": _pointwise, "elementwise": _pointwise, "dropout": _identity, "reduction": _reduce,
    "norm": _pointwise,  # batch norm in inference: running statistics, one position at a time
    "conv": _conv, "pool": _global_only("pooling of this kind has no geometry here"),
    "matmul": _global_only("a matrix product across positions"),
    "attention": _global_only("attention"), "distance": _global_only("distances"),
    "resample": _global_only("interpolation"), "softmax": _softmax, "view": _reshaped,
    "copy": _global_only("data movement without a geometry"),
}


def _geometry(c: OpCall, f: _Field, parts: Sequence[_Field]) -> _Field:
    """The record's geometry when the call lowers to a kind with one, else the rule below."""
    out = _record(c, f, parts)
    return out if out is not None else _rule(c.op)(c, f, parts)


def _rule(op: str) -> Rule:
    if op in BY_OP:
        return BY_OP[op]
    known = ATEN_OPS.get(op)
    if known is None:
        return _global_only("an operator without a geometry")
    return BY_CATEGORY.get(known.category, _global_only("no geometry"))


def module_fields(trace: Trace, report: Report) -> ReceptiveFields:
    """The field of every row of a Python model's ``report`` (captured as ``trace``)."""
    fields: dict[int, _Field] = {}
    if trace.input_nodes:
        shape = trace.input_shape
        fields[trace.input_nodes[0]] = (_Field(RowField(INPUT, INPUT), (2, 3)) if len(shape) == 3
                                        else _not("the input is not an image (C x H x W)"))
    stops: dict[int, str] = {}
    for i, (op, (ins, outs)) in enumerate(zip(trace.ops, trace.op_nodes)):
        parts = [fields[n] for n in ins if n in fields]
        if not parts or not outs or op.kernels and not op.live:
            continue
        first = parts[0]
        if isinstance(first.row.conv, NotConvolutional) and all(isinstance(p.row.conv, NotConvolutional)
                                                                 for p in parts):
            out = first
        else:
            try:
                out = _geometry(op, first, parts)
            except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
                out = _not(f"aten.{op.op} with arguments cnninspect cannot read")
            if isinstance(out.row.conv, NotConvolutional) and not any(
                    isinstance(p.row.conv, NotConvolutional) for p in parts):
                stops[i] = out.row.conv.reason
        for n in outs:
            fields[n] = out
    rows: dict[str, RowField] = {}
    none = RowField(NotConvolutional("not on the path from the input"), NotConvolutional("not on the path"))
    row_of: dict[tuple[str, int], str] = {}
    last: tuple[int, str] | None = None  # the last feature map with a convolutional field: (node, row)
    for row, source in zip(report.rows, report.sources):
        nodes: tuple[int, ...] = ()
        if source is not None:
            row_of.setdefault(source, row.name)
            kind, k = source
            nodes = trace.call_outputs[k] if kind == "call" else trace.op_nodes[k][1]
        n = next((n for n in nodes if n in fields), None)
        rows[row.name] = fields[n].row if n is not None else none
        if n is not None and isinstance(rows[row.name].conv, ReceptiveField) and len(row.output_shape) == 3:
            if last is None or n > last[0]:
                last = (n, row.name)  # made last; a container before the row it ends with
    named: list[tuple[str, str]] = []
    for i, reason in stops.items():
        where = row_of.get(("op", i))
        owner: int | None = trace.op_owner[i]
        while where is None and owner is not None:
            where = row_of.get(("call", owner))
            owner = trace.calls[owner].parent
        if where is None:  # run by the model's own forward, folded into no row
            where = f"{trace.ops[i].via or trace.ops[i].op} in the model's forward"
        if where is not None and reason not in {r for _n, r in named}:
            named.append((where, reason))
    name = last[1] if last is not None else None
    last_shape = next((r.output_shape for r in report.rows if r.name == name), None)
    return ReceptiveFields(rows, trace.input_shape, name, last_shape, (), (), tuple(named))


__all__ = ["module_fields"]
