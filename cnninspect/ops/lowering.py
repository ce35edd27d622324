"""Lowering a captured operator call onto the op records: one graph for specs and modules.

A Python model's forward pass is a sequence of aten operator calls
(:class:`~cnninspect.ops.aten_rules.OpCall`). Each call *lowers* to the op kind whose record
(:class:`~cnninspect.ops.kind.OpKind`) does that work, read from the records' ``aten`` lists
by :data:`ATEN_KINDS`, so the analyses that read a record (today memory traffic and with it
the roofline) run on the same rules for a spec's op and a module's operator.

Which operator lowers to which kind (derived from the registry, never a second table): a
record's *work operators* are the first name of its ``aten`` list and the other names of the
same operator category (:data:`~cnninspect.ops.aten_rules.ATEN_OPS`): ``convolution`` for
``conv2d`` (not its ``constant_pad_nd``), ``addmm``, ``mm`` and ``bmm`` for ``linear``, every
activation function for ``act``. An operator lowers to the first registered record whose
work operators name it. Elementwise arithmetic (``mul``, ``add``...) never lowers: it is the
work of several composed kinds (LRN, LeNet's subsampling, a layer scale) and of any
``x * y`` in a forward, which no call tells apart.

Every other operator stays an explicit *other operator* (``kind`` ``None``) with the
generic rule: it reads each tensor argument once and writes each result once; a view
(category ``view``) moves nothing. Its counts are the convention's, as before.

Elements are for the whole batch the model ran on (operator shapes are full). Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterator, Mapping, Sequence

from .aten_rules import ATEN_OPS, OpCall, TensorMeta
from .kind import streams
from .kinds import KINDS

NOT_LOWERED = frozenset({"elementwise"})  # operator categories shared by too many kinds to lower


def _aten_kinds() -> dict[str, str]:
    out: dict[str, str] = {}
    for record in KINDS.values():
        if not record.aten:
            continue
        category = ATEN_OPS[record.aten[0]].category
        if category in NOT_LOWERED:
            continue
        for name in record.aten:
            if ATEN_OPS[name].category == category:
                out.setdefault(name, record.kind)
    return out


ATEN_KINDS: Mapping[str, str] = _aten_kinds()  # operator name -> the op kind it lowers to
MOVES_NOTHING = frozenset({"view", "creation", "scalar"})  # categories left out when a leaf call lowers whole
FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"})


@dataclass(frozen=True)
class LoweredOp:
    """One operator call on the records: its kind (``None``: an other operator, listed by
    ``operator``), the activation elements it reads and writes and the constant (parameter
    and buffer) float elements it reads, for the whole batch."""

    operator: str  # the aten operator, ``aten.convolution``
    kind: str | None
    read: int
    written: int
    weights: int

    @property
    def other(self) -> bool:
        return self.kind is None


def _tensors(args: object) -> Iterator[TensorMeta]:
    if isinstance(args, TensorMeta):
        yield args
    elif isinstance(args, (tuple, list)):
        for a in args:
            yield from _tensors(a)


def lower(op: OpCall) -> LoweredOp:
    """The record ``op`` lowers to and what it moves (see the module docstring)."""
    inputs = [t for t in _tensors((*op.args, *op.kwargs.values())) if not t.const]
    weights = sum(t.numel for t in _tensors((*op.args, *op.kwargs.values())) if t.const and t.dtype in FLOAT_DTYPES)
    outputs = [t for t in op.outputs if t is not None]
    kind = ATEN_KINDS.get(op.op) if op.namespace == "aten" else None
    info = ATEN_OPS.get(op.op) if op.namespace == "aten" else None
    if info is not None and info.category == "view":
        return LoweredOp(op.qualname, kind, 0, 0, 0)
    if kind is not None and inputs and outputs:
        # the record's rule on the call's shapes (no lowered kind's traffic rule reads an
        # attribute); further activation operands (``q @ k``) are what a spec's op holds as
        # weights: read once each
        read, written = KINDS[kind].traffic({}, inputs[0].shape, outputs[0].shape)
        return LoweredOp(op.qualname, kind, read + sum(t.numel for t in inputs[1:]), written, weights)
    return LoweredOp(op.qualname, None, sum(t.numel for t in inputs), sum(math.prod(t.shape) for t in outputs),
                     weights)


def _category(name: str) -> str | None:
    info = ATEN_OPS.get(name)
    return info.category if info is not None else None


def _moving(op: OpCall) -> bool:
    return op.namespace != "aten" or _category(op.op) not in MOVES_NOTHING


def lower_leaf(ops: Sequence[OpCall], param_elements: int) -> LoweredOp | None:
    """A leaf module call that runs one kind as several operators lowers whole, as the spec's
    one op: to the first registered record whose ``aten`` list starts with one of the call's
    operators and names every operator that moves data (``nn.LocalResponseNorm``: ``mul``,
    ``constant_pad_nd``, ``avg_pool3d``, ``add``, ``pow``, ``div``), else to the one kind its
    work operators lower to when every other operator is elementwise arithmetic or in that
    record's list (LeNet's scaled ``tanh``, a subsampling's average times a coefficient). It
    reads its first operator's input and ``param_elements`` (the module's own parameters)
    and writes its last operator's output, by the record's rule. ``None`` (lower each
    operator) for a call of fewer than two such operators, or when the record's traffic rule
    reads attributes a call does not carry (a connection table)."""
    moving = [op for op in ops if _moving(op)]
    if len(moving) < 2 or any(op.namespace != "aten" for op in moving):
        return None
    names = {op.op for op in moving}
    kind = next((r.kind for r in KINDS.values() if r.aten and r.aten[0] in names and names <= set(r.aten)), None)
    if kind is None:
        work = {ATEN_KINDS[n] for n in names if n in ATEN_KINDS}
        if len(work) == 1:
            (kind,) = work
            if any(n not in ATEN_KINDS and n not in KINDS[kind].aten and _category(n) not in NOT_LOWERED
                   for n in names):
                kind = None
    if kind is None or KINDS[kind].traffic is not streams:
        return None
    first = [t for t in _tensors(moving[0].args) if not t.const]
    last = [t for t in moving[-1].outputs if t is not None]
    if not first or not last:
        return None
    read, written = KINDS[kind].traffic({}, first[0].shape, last[0].shape)
    return LoweredOp(f"{kind} ({len(moving)} operators)", kind, read, written, param_elements)


@dataclass(frozen=True)
class LoweredGraph:
    """A captured forward pass on the records: every operator call lowered (in execution
    order) and, per report row, the operators it holds (a container: its whole subtree)."""

    ops: tuple[LoweredOp, ...]
    rows: Mapping[str, tuple[int, ...]]

    @property
    def others(self) -> tuple[tuple[str, int], ...]:
        """The other operators that move data (views excluded), by name: (operator, calls)."""
        seen: dict[str, int] = {}
        for op in self.ops:
            if op.other and (op.read or op.written or op.weights):
                seen[op.operator] = seen.get(op.operator, 0) + 1
        return tuple(sorted(seen.items()))
