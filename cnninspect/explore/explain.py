"""``explain``: every count itemised with its formula, and reconciled with the peer tools.

A resolved model (``--layer`` optionally selecting one layer or block) becomes an
:class:`Explanation`:

* per primitive op, the formula of its multiply-adds in the chosen convention and of its
  parameters (:mod:`~cnninspect.ops.formulas`, the very rules that produce the counts);
* totals by op class (conv, depthwise conv, pointwise conv, linear, norm, pooling,
  elementwise, activation, reshape) with their shares;
* a :class:`Reconciliation` per peer tool: the paper total plus named terms (batch norm,
  bias adds, pooling, double counts, modules a tool does not see, dropped side branches,
  the x2 of FLOPs) whose sum is the tool's total exactly. Each term is a sum of the
  per-op differences between the tool's formula and the paper's, grouped by cause. Where
  the tool is installed its real total is measured on the built module; a measured total
  that the rules do not explain would appear as its own term, never hidden;
* the version choices that change totals between papers and libraries (ResNet v1 vs v1.5
  stride placement, TensorFlow vs PyTorch 'same' padding, ceil vs floor pooling), where
  the model has them, with the totals each gives.

Pure data out; torch is imported only to measure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from ..measure.analysis import Report, Row, analyze
from ..ops.conventions import Convention, get_convention
from ..ops.kind import OP_CLASS_NAMES, OpFacts, Role
from ..ops.kinds import KINDS
from ..base.errors import CnnInspectError, UsageError, did_you_mean
from ..ops.formulas import Formula
from ..resolve.ir import Model, Op, ops
from ..build.peers import TOOLS, Tool

X2_CAUSE = "x2: 2 FLOPs per multiply-add"
UNEXPLAINED = "not explained by the rules (measured - derived): a different tool version?"


@dataclass(frozen=True)
class LayerFormula:
    row: Row
    op_class: str
    formula: Formula  # multiply-adds in the chosen convention
    params_formula: Formula


@dataclass(frozen=True)
class ClassTotal:
    op_class: str
    ops: int
    params: int
    mult_adds: int


@dataclass(frozen=True)
class Reconciliation:
    """``paper_total + sum(terms) == total`` (terms in the tool's unit)."""

    tool: str
    unit: str
    paper_total: int
    terms: tuple[tuple[str, int], ...]
    derived: int
    measured: int | None
    version: str | None
    note: str = ""

    @property
    def source(self) -> str:
        return "derived" if self.measured is None else "measured"

    @property
    def total(self) -> int:
        return self.derived if self.measured is None else self.measured


@dataclass(frozen=True)
class ChoiceTotal:
    """One setting of a version choice and the totals it gives (``error`` if it cannot resolve)."""

    choice: str
    setting: str
    meaning: str
    current: bool
    params: int | None
    mult_adds: int | None
    tools: tuple[tuple[str, int], ...] = ()  # each peer tool's derived total, in its unit
    error: str = ""


@dataclass(frozen=True)
class Explanation:
    report: Report
    selection: str | None
    layers: tuple[LayerFormula, ...]
    by_op: tuple[ClassTotal, ...]
    reconcile: tuple[Reconciliation, ...]
    choices: tuple[ChoiceTotal, ...]

    @property
    def mult_adds(self) -> int:
        return sum(lf.row.mult_adds for lf in self.layers)

    @property
    def params(self) -> int:
        return sum(lf.row.params for lf in self.layers)


# --- facts per op -----------------------------------------------------------------------------


def op_facts(report: Report, rows: Iterable[Row]) -> list[tuple[Row, OpFacts]]:
    """The facts every counting rule sees, for the given leaf rows of ``report``."""
    by_name = dict(ops(report.model.root))
    out = []
    for row in rows:
        op: Op = by_name[row.name]
        t = KINDS[op.kind]
        facts = OpFacts(op.kind, op.attrs, row.input_shape, row.output_shape, t.param_counts(op.attrs),
                        t.torch_class(op.attrs), row.side_branch)
        out.append((row, facts))
    return out


def select_rows(report: Report, layer: str | None) -> tuple[Row, ...]:
    """The leaf rows of ``layer`` (a leaf or block name), or every leaf row."""
    if layer is None:
        return report.layers
    names = [r.name for r in report.rows]
    if layer not in names:
        raise UsageError(f"{report.model.label} has no layer or block '{layer}'{did_you_mean(layer, names)}")
    return tuple(r for r in report.layers if r.name == layer or r.name.startswith(layer + "."))


def class_totals(layers: Iterable[LayerFormula]) -> tuple[ClassTotal, ...]:
    acc = {c: [0, 0, 0] for c in OP_CLASS_NAMES}
    for lf in layers:
        a = acc.setdefault(lf.op_class, [0, 0, 0])
        a[0] += 1
        a[1] += lf.row.params
        a[2] += lf.row.mult_adds
    return tuple(ClassTotal(c, *v) for c, v in acc.items() if v[0])


# --- reconciliation ---------------------------------------------------------------------------


def difference_by_cause(facts: Iterable[OpFacts], tool: Convention, base: Convention) -> dict[str, int]:
    """``tool``'s count minus ``base``'s, per cause, summed over ops (zero causes dropped).

    Per op: the tool's terms are added and the base's subtracted, cause by cause; an op the
    tool leaves uncounted for a stated reason moves the base's whole count to that reason.
    """
    diff: dict[str, int] = {}

    def add(cause: str, value: int) -> None:
        diff[cause] = diff.get(cause, 0) + value

    for f in facts:
        t, b = tool.formula(f), base.formula(f)
        if not t.terms and t.uncounted:
            if b.value:
                add(t.uncounted, -b.value)
            continue
        for cause, value in t.by_cause().items():
            add(cause, value)
        for cause, value in b.by_cause().items():
            add(cause, -value)
    return {c: v for c, v in diff.items() if v}


def reconcile_tool(tool: Tool, facts: list[OpFacts], measured: int | None = None, note: str = "",
                   version: str | None = None) -> Reconciliation:
    paper, conv = get_convention("paper"), get_convention(tool.convention)
    paper_total = sum(paper.count(f) for f in facts)
    terms = list(difference_by_cause(facts, conv, paper).items())
    macs = paper_total + sum(v for _, v in terms)
    if tool.factor != 1:
        terms.append((X2_CAUSE if tool.factor == 2 else f"x{tool.factor}", (tool.factor - 1) * macs))
    derived = tool.factor * macs
    if measured is not None and measured != derived:
        terms.append((UNEXPLAINED, measured - derived))
    return Reconciliation(tool.name, tool.unit, paper_total, tuple(terms), derived, measured, version, note)


def measure_tools(model: Model, max_mb: float) -> dict[str, tuple[int | None, str, str | None]]:
    """Per tool: (measured total or None, note, version). CPU tools are refused above ``max_mb``."""
    from ..base.extras import install_hint, installed
    from ..build.peers import run_tool, version
    from ..build.verify import estimate

    est = None
    out: dict[str, tuple[int | None, str, str | None]] = {}
    for tool in TOOLS.values():
        # every tool runs on a module cnninspect builds with torch
        if not installed("torch") or not installed(tool.module):
            dist = tool.package if installed("torch") else "torch"
            out[tool.name] = (None, f"not installed ({install_hint(dist)})", None)
            continue
        if tool.device == "cpu":
            est = est or estimate(model)
            if est.bytes > max_mb * 1e6:
                out[tool.name] = (None, f"not measured: real tensors would need {est.text()} "
                                        f"(over --measure-max-mb {max_mb:g})", version(tool))
                continue
        try:
            out[tool.name] = (run_tool(tool, model), "", version(tool))
        except Exception as exc:  # a peer failing is reported, never fatal
            out[tool.name] = (None, f"not measured: {tool.name} failed ({type(exc).__name__}: {exc})"[:200],
                              version(tool))
    return out


# --- version choices --------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionChoice:
    """A setting that papers and libraries choose differently. ``alternatives(model)`` lists
    (setting text, meaning, function resolving the model that way), or nothing when the
    model does not have the choice."""

    name: str
    alternatives: Callable[[Model, Any], list[tuple[str, str, Callable[[], Model]]]]


def _resolve_with(spec: Any, model: Model, padding: str | None = None, **values: Any) -> Model:
    from ..resolve.resolver import Overrides, resolve

    s = model.settings
    params = {k: v for k, v in s.values.items() if k not in ("width", "depth", "resolution")}
    params.update(values)
    return resolve(spec, model.variant, Overrides(width=s.width, depth=s.depth, resolution=s.resolution,
                                                  padding=padding or s.padding, values=params))


STRIDE_MEANING = {"1x1": "the 1x1 (the paper, ResNet v1)", "3x3": "the 3x3 (ResNet v1.5, torchvision)"}


def _stride_alternatives(model: Model, spec: Any) -> list[tuple[str, str, Callable[[], Model]]]:
    decl = spec.params.get("stride_on")
    if decl is None or not hasattr(decl.kind, "choices"):
        return []
    return [(f"--set stride_on={v}", STRIDE_MEANING.get(v, ""), lambda v=v: _resolve_with(spec, model, stride_on=v))
            for v in decl.kind.choices]


def _padding_alternatives(model: Model, spec: Any) -> list[tuple[str, str, Callable[[], Model]]]:
    meaning = {"torch": "'same' as PyTorch: k//2 on each side", "tf": "'same' as TensorFlow: asymmetric"}
    return [(f"--padding {p}", meaning[p], lambda p=p: _resolve_with(spec, model, padding=p)) for p in ("torch", "tf")]


def _with_ceil_mode(entries: tuple[Any, ...], value: bool) -> tuple[Any, ...]:
    """Layer entries with every explicit ``ceil_mode`` set to ``value`` (nested lists included)."""
    from ..lang.spec import LayerEntry

    def walk(v: Any) -> Any:
        if isinstance(v, LayerEntry):
            fields = {k: walk(x) for k, x in v.fields.items()}
            if "ceil_mode" in fields:
                fields["ceil_mode"] = value
            return replace(v, fields=MappingProxyType(fields))
        if isinstance(v, tuple) and v and all(isinstance(x, LayerEntry) for x in v):
            return tuple(walk(x) for x in v)
        return v

    return walk(entries)


def _pool_alternatives(model: Model, spec: Any) -> list[tuple[str, str, Callable[[], Model]]]:
    if not any(op.attrs.get("ceil_mode") for _, op in ops(model.root)):
        return []
    floor_spec = replace(spec, layers=_with_ceil_mode(spec.layers, False))
    return [
        ("ceil_mode: true", "sizes rounded up (Caffe)", lambda: _resolve_with(spec, model)),
        ("ceil_mode: false", "rounded down (PyTorch's default)", lambda: _resolve_with(floor_spec, model)),
    ]


VERSION_CHOICES: tuple[VersionChoice, ...] = (
    VersionChoice("stride", _stride_alternatives),
    VersionChoice("padding", _padding_alternatives),
    VersionChoice("pooling", _pool_alternatives),
)


def _structure(model: Model) -> list[tuple[Any, ...]]:
    return [(q, op.kind, tuple(sorted(op.attrs.items(), key=lambda kv: kv[0])), op.out_shape) for q, op in ops(model.root)]


def version_choices(model: Model, spec: Any) -> tuple[ChoiceTotal, ...]:
    """Each choice the model has (its alternatives resolve to different networks), with the
    paper-convention totals of every alternative."""
    out: list[ChoiceTotal] = []
    current = _structure(model)
    for choice in VERSION_CHOICES:
        alts = choice.alternatives(model, spec)
        results = []
        differs = False
        for setting, meaning, make in alts:
            try:
                m = make()
            except CnnInspectError as exc:
                results.append(ChoiceTotal(choice.name, setting, meaning, False, None, None, error=exc.one_line()))
                differs = True
                continue
            same = _structure(m) == current
            differs = differs or not same
            t = analyze(m, "paper").totals
            tools = tuple((tool.name, tool.factor * analyze(m, tool.convention).totals.mult_adds)
                          for tool in TOOLS.values())
            results.append(ChoiceTotal(choice.name, setting, meaning, same, t.params, t.mult_adds, tools))
        if differs:
            out += results
    return tuple(out)


# --- the whole explanation --------------------------------------------------------------------


def explain_model(model: Model, spec: Any, convention: str = "paper", layer: str | None = None, *,
                  measure: bool = True, max_mb: float = 4000, choices: bool = True) -> Explanation:
    """Itemise ``model`` (or one ``layer``) in ``convention``, reconcile with the peers.

    Tools are measured only for the whole model (``layer`` None) and when ``measure``;
    version choices are listed for the whole model when ``choices``.
    """
    conv = get_convention(convention)
    report = analyze(model, conv)
    rows = select_rows(report, layer)
    facts = op_facts(report, rows)
    layers = tuple(
        LayerFormula(row, KINDS[f.kind].op_class(f.attrs), conv.formula(f), KINDS[f.kind].param_formula(f.attrs))
        for row, f in facts
    )
    measured = measure_tools(model, max_mb) if measure and layer is None else {}
    all_facts = [f for _, f in facts]
    reconcile = []
    for tool in TOOLS.values():
        value, note, ver = measured.get(tool.name, (None, "", None))
        if layer is None and not measure:
            note = note or "not measured: --no-measure"
        reconcile.append(reconcile_tool(tool, all_facts, value, note, ver))
    alternatives = version_choices(model, spec) if layer is None and choices else ()
    return Explanation(report, layer, layers, class_totals(layers), tuple(reconcile), alternatives)


# --- a Python model ---------------------------------------------------------------------------

MODULE_RULE_CAUSE = "per module instead: parameters x output positions, per call"
BY_MODULE_CLASS = "by module class instead: {tool}'s hooks and watched functions (ops/module_tools.py)"


def explain_trace(trace: Any, subject: Any, convention: str = "paper", layer: str | None = None, *,
                  measured: dict[str, tuple[int | None, str, str | None]] | None = None,
                  rules: Mapping[str, Any] | None = None) -> Explanation:
    """Itemise a captured Python model (or one ``layer``): each leaf row with the operators it
    ran and their counts, totals by op class, and each tool's total as the paper total plus
    the difference per operator (for torchinfo also its per-module rule; ptflops and thop
    count by module class, one term). A call that lowers onto an op record
    (:mod:`cnninspect.ops.lowering`) is itemised as a spec's op of its kind is: the record's
    formula (times ``N``, the batch or a product's rows) under the record's op class (conv,
    depthwise conv, pointwise conv, linear, norm, pooling, activation, reshape); every other
    operator by its name. ``measured``: per tool, what
    :func:`cnninspect.build.peers.measure_module` got. ``rules``: the caller's own operator
    rules (:mod:`cnninspect.ops.custom_rules`), in the layers and totals of ``convention``;
    the tools' rows are the tools' own counts, which know no such rules."""
    from ..capture.module_analysis import analyze_trace, operator_counts
    from ..ops.aten_rules import ATEN_TABLES
    from ..ops.formulas import Factor, Term
    from ..ops.lowering import call_formula, lower

    conv = get_convention(convention)
    report = analyze_trace(trace, conv, subject, rules=rules)
    rows = report.layers
    if layer is not None:
        names = [r.name for r in report.rows]
        if layer not in names:
            raise UsageError(f"{subject.label} has no layer or block '{layer}'{did_you_mean(layer, names)}")
        rows = tuple(r for r in report.layers if r.name == layer or r.name.startswith(layer + "."))
    # None: a convention by module class (the rows' counts are the hooks')
    lowered = [lower(op) for op in trace.ops]
    counts = operator_counts(trace, conv.name, rules, lowered=lowered) if conv.name in ATEN_TABLES else None
    calls = {c.path: c for c in trace.calls}

    def itemised(i: int, n: int) -> tuple[str, tuple[Term, ...]]:
        """The op class (or the operator's name) of operator call ``i`` counted ``n``, and its
        record's formula when the call lowers onto one and that formula is the count (no
        policy changed it); no terms: one term of its count, named after the operator."""
        low, op = lowered[i], trace.ops[i]
        custom = rules is not None and op.qualname in rules
        record = KINDS[low.kind] if low.kind is not None and not custom else None
        if record is None or (low.facts is None and record.role is Role.CONV):  # no attributes to class it
            return op.qualname + (" (custom rule)" if custom else ""), ()
        label = record.op_class(low.facts.attrs if low.facts is not None else {})
        f = call_formula(conv, low) if counts is not None else None
        return label, f.terms if f is not None and f.value == n and n else ()

    root = trace.calls[0]

    def ops_of(row: Row) -> list[int]:
        c = calls.get(row.name)
        if c is None and root.is_leaf and row.name == root.torch_class:  # the model is one leaf module
            c = root
        if c is None:
            return []
        out: list[int] = []
        todo = [c]
        while todo:
            cur = todo.pop()
            for kind, i in cur.items:
                if kind == "call":
                    todo.append(trace.calls[i])
                else:
                    out.append(i)
        return sorted(out)

    layers = []
    by_op: dict[str, list[int]] = {}
    for row in rows:
        per: dict[str, int] = {}
        weighted: set[str] = set()  # operators taking a parameter: where a row's parameters go
        terms: list[Term] = []
        plain: dict[str, int] = {}  # counts without a record's formula, by operator
        for i in ops_of(row):
            op = trace.ops[i]
            n = (counts[i] or 0) if counts is not None else 0
            label, its_terms = itemised(i, n)
            per[label] = per.get(label, 0) + n
            terms += its_terms
            if n and not its_terms:
                name = label if label.startswith(op.qualname) else op.qualname
                plain[name] = plain.get(name, 0) + n
            if any(getattr(a, "const", False) for a in op.args):
                weighted.add(label)
            by_op.setdefault(label, [0, 0, 0])
            by_op[label][0] += 1
            by_op[label][2] += n
        rest = row.mult_adds - sum(per.values())
        terms += [Term((Factor(v, k),), k, k) for k, v in plain.items()]
        if rest:  # a functional row, or a module rule's share
            terms.append(Term((Factor(rest, row.type),), row.type, row.type))
        dominant = max(per, key=lambda k: (per[k], k in weighted)) if per else row.type
        if not per:
            by_op.setdefault(dominant, [0, 0, 0])
            by_op[dominant][0] += 1
            by_op[dominant][2] += row.mult_adds
        elif rest:
            by_op[dominant][2] += rest
        by_op[dominant][1] += row.params
        params = Formula((Term((Factor(row.params, "params"),), "params"),)) if row.params else Formula()
        layers.append(LayerFormula(row, dominant, Formula(tuple(terms)), params))
    classes = tuple(ClassTotal(k, *v) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1][2]))
    reconcile = tuple(_module_reconciliations(trace, subject, measured or {}, layer, lowered))
    return Explanation(report, layer, tuple(layers), classes, reconcile, ())


def _module_reconciliations(trace: Any, subject: Any, measured: dict[str, tuple[int | None, str, str | None]],
                            layer: str | None, lowered: list[Any]) -> list[Reconciliation]:
    from ..capture.module_analysis import analyze_trace, operator_counts
    from ..ops.aten_rules import ATEN_TABLES

    paper_counts = operator_counts(trace, "paper", lowered=lowered)
    paper_total = analyze_trace(trace, "paper", subject).totals.mult_adds
    out = []
    for tool in TOOLS.values():
        value, note, ver = measured.get(tool.name, (None, "", None))
        if layer is None and not measured:
            note = note or "not measured: --no-measure"
        macs = analyze_trace(trace, tool.convention, subject).totals.mult_adds
        if tool.convention not in ATEN_TABLES:  # ptflops, thop: by module class
            terms = [(BY_MODULE_CLASS.format(tool=tool.name), macs - paper_total)]
        else:
            diff: dict[str, int] = {}
            for op, n, paper in zip(trace.ops, operator_counts(trace, tool.convention, lowered=lowered), paper_counts):
                d = (n or 0) - (paper or 0)
                if d:
                    diff[op.qualname] = diff.get(op.qualname, 0) + d
            terms = [(f"{k}", v) for k, v in diff.items()]
            rule = macs - paper_total - sum(diff.values())
            if rule:
                terms.append((MODULE_RULE_CAUSE, rule))
        if tool.factor != 1:
            terms.append((X2_CAUSE if tool.factor == 2 else f"x{tool.factor}", (tool.factor - 1) * macs))
        derived = tool.factor * macs
        if value is not None and value != derived:
            terms.append((UNEXPLAINED, value - derived))
        out.append(Reconciliation(tool.name, tool.unit, paper_total, tuple(terms), derived, value, ver, note))
    return out
