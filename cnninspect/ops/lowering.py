"""Lowering a captured operator call onto the op records: one graph for specs and modules.

A Python model's forward pass is a sequence of aten operator calls
(:class:`~cnninspect.ops.aten_rules.OpCall`). Each call *lowers* to the op kind whose record
(:class:`~cnninspect.ops.kind.OpKind`) does that work, read from the records' ``aten`` lists
by :data:`ATEN_KINDS`, so the analyses that read a record run on the same rules for a spec's
op and a module's operator: counts in the operator conventions (:func:`call_rule`), memory
traffic and with it the roofline, receptive-field windows.

Which operator lowers to which kind (derived from the registry, never a second table): a
record's *work operators* are the names of its ``aten`` list in the category
(:data:`~cnninspect.ops.aten_rules.ATEN_OPS`) of its first: ``convolution`` for ``conv2d``
(not its ``constant_pad_nd``), ``addmm``, ``mm`` and ``bmm`` for ``linear``, every
activation function for ``act``, every batch norm overload for ``bn2d``. An operator lowers
to the first registered record whose work operators name it; a call made by a public
function whose name is a record's first operator (``adaptive_avg_pool2d`` computing a 1x1
pool with ``mean``) lowers to that record when its list names the operator (:data:`VIA_KINDS`).
Elementwise arithmetic (``mul``, ``add``...) never lowers: it is the work of several composed
kinds (LRN, LeNet's subsampling, a layer scale) and of any ``x * y`` in a forward, which no
call tells apart.

A lowered call whose record reads its attributes (``from_call``) carries the record's
:class:`~cnninspect.ops.kind.OpFacts`, for one row of the call (a sample; a row of a matrix
product) and the number of rows: the record's count in a convention is then the call's
count, the same rule a spec's op of that kind is counted by. A call the record cannot read
(a transposed convolution, a product of two activations) keeps its kind for memory traffic
and is counted by the convention's operator rules; every other operator stays an explicit
*other operator* (``kind`` ``None``) with the generic traffic rule (it reads each tensor
argument once and writes each result once; a view moves nothing) and the operator rules.

Elements are for the whole batch the model ran on (operator shapes are full). Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Mapping, Sequence

from .aten_rules import ATEN_OPS, ATEN_TABLES, MODULE_RULES, AtenTable, OpCall, TensorMeta, describe
from .conventions import Convention, get_convention
from .formulas import Factor, Formula, Term
from .kind import OpFacts, Role, no_call_attrs, streams
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
# categories never lowered by the public function that called them: arithmetic, data movement
NOT_VIA = NOT_LOWERED | MOVES_NOTHING | {"copy"}
# a public function named after a record's first operator -> that kind, and the operators of
# its record that lower to it when that function calls them (``adaptive_avg_pool2d``: ``mean``)
VIA_KINDS: Mapping[str, str] = {r.aten[0].lstrip("_"): r.kind for r in reversed(KINDS.values())
                                 if r.aten and ATEN_OPS[r.aten[0]].category not in NOT_VIA}
VIA_OPERATORS: Mapping[str, frozenset[str]] = {
    kind: frozenset(op for op in KINDS[kind].aten if op in ATEN_OPS and ATEN_OPS[op].category not in NOT_VIA)
    for kind in VIA_KINDS.values()
}


def kind_of(op: OpCall) -> str | None:
    """The op kind ``op`` lowers to (see the module docstring), or ``None``."""
    if op.namespace != "aten":
        return None
    via = VIA_KINDS.get(op.via) if op.via else None
    if via is not None and op.op in VIA_OPERATORS[via]:
        return via
    return ATEN_KINDS.get(op.op)

FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"})
# bytes per element of torch's dtypes (a dtype not named here: 4)
ITEMSIZE: Mapping[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
    "complex128": 16, "complex64": 8, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}


def _bytes(tensors: Iterable[TensorMeta]) -> int:
    return sum(t.numel * ITEMSIZE.get(t.dtype, 4) for t in tensors)


@dataclass(frozen=True)
class LoweredOp:
    """One operator call on the records: its kind (``None``: an other operator, listed by
    ``operator``), the activation elements it reads and writes and the constant (parameter
    and buffer) float elements it reads, for the whole batch; and, when the record reads the
    call's attributes, its facts for one of the call's ``rows`` (the counting rules' input)."""

    operator: str  # the aten operator, ``aten.convolution``
    kind: str | None
    read: int
    written: int
    weights: int
    facts: OpFacts | None = None
    rows: int = 1
    # the same three in bytes, each tensor at its own dtype (a Python model as it ran)
    read_bytes: int = 0
    written_bytes: int = 0
    weight_bytes: int = 0
    float_dtypes: frozenset[str] = frozenset()  # the floating dtypes of its tensors

    @property
    def other(self) -> bool:
        return self.kind is None


def _tensors(args: object) -> Iterator[TensorMeta]:
    if isinstance(args, TensorMeta):
        yield args
    elif isinstance(args, (tuple, list)):
        for a in args:
            yield from _tensors(a)


def _facts(kind: str, op: OpCall, x: TensorMeta, out: TensorMeta) -> tuple[OpFacts, int] | None:
    """The record's facts for one row of the call and the number of rows: a dense layer's
    rows are the result's rows (its inputs and outputs are the last sizes); any other kind's
    are the first dimension (the batch), its shapes the rest, as a spec's per-sample shapes."""
    record = KINDS[kind]
    if record.from_call is no_call_attrs:
        return None
    attrs = record.from_call(op)
    if attrs is None:
        return None
    if record.role is Role.DENSE:
        rows = out.numel // out.shape[-1] if out.shape[-1] else 0
        shapes = (x.shape[-1],), (out.shape[-1],)
    else:
        rows = x.shape[0] if x.shape else 1
        shapes = x.shape[1:], out.shape[1:]
    return OpFacts(kind, attrs, *shapes, {}, ""), rows


def lower(op: OpCall) -> LoweredOp:
    """The record ``op`` lowers to, what it moves and its facts (see the module docstring)."""
    tensors = list(_tensors((*op.args, *op.kwargs.values())))
    inputs = [t for t in tensors if not t.const]
    constants = [t for t in tensors if t.const and t.dtype in FLOAT_DTYPES]
    weights = sum(t.numel for t in constants)
    outputs = [t for t in op.outputs if t is not None]
    kind = kind_of(op)
    info = ATEN_OPS.get(op.op) if op.namespace == "aten" else None
    floats = frozenset(t.dtype for t in (*tensors, *outputs) if t.dtype in FLOAT_DTYPES)
    if info is not None and info.category == "view":
        return LoweredOp(op.qualname, kind, 0, 0, 0, float_dtypes=floats)
    if kind is not None and inputs and outputs:
        # the record's rule on the call's shapes (no lowered kind's traffic rule reads an
        # attribute); further activation operands (``q @ k``) are what a spec's op holds as
        # weights: read once each
        read, written = KINDS[kind].traffic({}, inputs[0].shape, outputs[0].shape)
        facts, rows = _facts(kind, op, inputs[0], outputs[0]) or (None, 1)
        read_bytes = read * ITEMSIZE.get(inputs[0].dtype, 4) + _bytes(inputs[1:])
        return LoweredOp(op.qualname, kind, read + sum(t.numel for t in inputs[1:]), written, weights, facts, rows,
                         read_bytes, written * ITEMSIZE.get(outputs[0].dtype, 4), _bytes(constants), floats)
    return LoweredOp(op.qualname, None, sum(t.numel for t in inputs), sum(math.prod(t.shape) for t in outputs),
                     weights, None, 1, _bytes(inputs), _bytes(outputs), _bytes(constants), floats)


def call_formula(convention: Convention, lowered: LoweredOp) -> Formula | None:
    """The count of a call its record read, itemised: the record's formula for
    ``convention`` on the call's facts, each term times the call's rows (a factor ``N``, the
    batch or a product's rows, when there are several). ``None`` when the record does not
    count the kind (deliberately), or did not read the call."""
    if lowered.facts is None:
        return None
    rule = convention.rule_for(lowered.facts.kind)
    if rule is None:
        return None
    f = rule(lowered.facts)
    if lowered.rows == 1:
        return f
    rows = Factor(lowered.rows, "N")
    return Formula(tuple(Term((rows, *t.factors), t.cause, t.label) for t in f.terms), f.uncounted)


def count_call(table: AtenTable, convention: Convention, op: OpCall, lowered: LoweredOp) -> int | None:
    """The mult-adds of ``op`` (lowered as ``lowered``) under ``convention``, whose operator
    rules are ``table`` (``None``: the convention cannot count the call). When the record read
    the call, its rule counts it (:func:`call_formula`): the rule a spec's op of that kind is
    counted by (none: deliberately not counted); a formula that counts nothing and says why
    (LeNet's RBF units under fvcore) is uncounted, as the operator rules list it. Otherwise
    the table's rule for the operator counts it. Either way the table's policies come first:
    work a tracer drops, the caller's own rules, work hidden in fused operators."""
    if lowered.facts is None or not table.by_records:
        return table.count(op)
    if convention.rule_for(lowered.facts.kind) is None:
        return table.count(op, None)

    def counted(_call: OpCall) -> int | None:
        f = call_formula(convention, lowered)
        return None if f is None or (f.uncounted and not f.terms) else f.value

    return table.count(op, counted)


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
    size_in, size_out = ITEMSIZE.get(first[0].dtype, 4), ITEMSIZE.get(last[0].dtype, 4)
    floats = frozenset(t.dtype for op in moving for t in (*_tensors(op.args), *(o for o in op.outputs if o))
                       if t.dtype in FLOAT_DTYPES)
    # its parameters at the dtype of its input (a leaf module's parameters share it as it runs)
    return LoweredOp(f"{kind} ({len(moving)} operators)", kind, read, written, param_elements, None, 1,
                     read * size_in, written * size_out, param_elements * size_in,
                     floats)


@dataclass(frozen=True)
class LoweredGraph:
    """A captured forward pass on the records: every operator call lowered (in execution
    order) and, per report row, the operators it holds (a container: its whole subtree)."""

    ops: tuple[LoweredOp, ...]
    rows: Mapping[str, tuple[int, ...]]

    @property
    def float_dtypes(self) -> frozenset[str]:
        """The floating dtypes of every tensor the forward pass moved (torch's names)."""
        return frozenset().union(*(op.float_dtypes for op in self.ops))

    @property
    def others(self) -> tuple[tuple[str, int], ...]:
        """The other operators that move data (views excluded), by name: (operator, calls)."""
        seen: dict[str, int] = {}
        for op in self.ops:
            if op.other and (op.read or op.written or op.weights):
                seen[op.operator] = seen.get(op.operator, 0) + 1
        return tuple(sorted(seen.items()))


def rules_overview() -> list[tuple[str, str, str]]:
    """(convention, what it applies to, rule) for every entry that counts something or cannot
    count: what ``cnninspect conventions --operators`` prints; everything else is not counted.
    First, per convention, the operators that lower onto an op record and the record's rule
    (the one a spec's op of that kind is counted by); then the operator rules for the rest."""
    out: list[tuple[str, str, str]] = []
    for name, table in ATEN_TABLES.items():
        if table.by_records:
            conv = get_convention(name)
            for record in KINDS.values():
                ops = [f"aten.{op}" for op, kind in ATEN_KINDS.items() if kind == record.kind]
                via = record.aten[0].lstrip("_") if record.aten else ""
                if ops and VIA_KINDS.get(via) == record.kind:
                    ops += [f"aten.{op} called by {via}" for op in record.aten
                            if op in VIA_OPERATORS[record.kind] and ATEN_KINDS.get(op) != record.kind]
                rule = conv.rule_for(record.kind)
                if ops and rule is not None and record.from_call is not no_call_attrs:
                    applies = ", ".join(ops) + f" (the {record.kind} record)"
                    out.append((name, applies, describe(rule)))
        for category, rule in table.by_category.items():
            if rule is not None:
                out.append((name, f"other {category} operators", describe(rule)))
        for op, rule in table.by_op.items():
            taken = f" when the {ATEN_KINDS[op]} record does not take the call" if op in ATEN_KINDS else ""
            out.append((name, f"aten.{op}{taken}", describe(rule)))
        out.append((name, "operators not registered", describe(table.default)))
        module_rule = MODULE_RULES.get(name)
        if module_rule is not None:
            out.append((name, "leaf modules", describe(module_rule)))
        if table.opaque:
            out.append((name, "work inside fused CPU operators", "Uncounted inside "
                        + ", ".join(f"aten.{k}" for k in sorted(table.opaque))
                        + " (the tool sees only the fused operator and has no formula for it)."))
        if not table.counts_dead_code:
            out.append((name, "operators whose results never reach the output", "not counted (fvcore traces the "
                        "model, and tracing drops them: auxiliary heads kept as module state)"))
    return out
