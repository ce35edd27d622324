"""Totals without the layer table, with work reused across points: the fast path of
``sweep`` and ``fit``.

:func:`~cnninspect.measure.analysis.analyze` resolves a spec and builds one row per layer; a grid
of 100,000 points needs only the totals. :class:`TotalsEngine` resolves a spec once per
combination of every setting except the resolution (a :class:`Template`) and, for each
resolution, re-derives every op's shapes and counts from the template:

* every op kind's record has a :class:`~cnninspect.ops.kind.ReshapeRule` that gives the attributes
  the resolver would have given the op on another input shape (TensorFlow 'same' padding
  is recomputed, a fully connected layer takes the new flattened size); its shape,
  parameters and mult-adds then come from the op kind's own record (:mod:`cnninspect.ops.kinds`)
  and the counting convention, exactly as ``analyze`` computes them;
* every subtree is memoised on (structure, input shape), so repeated blocks, and the late
  stages that many resolutions share (7x7 for 193-224), are computed once;
* peak activation memory is composed bottom-up with the same rules as
  :func:`~cnninspect.measure.analysis.activation_memory` (each subtree reports its peak with and
  without its input counted, since a container may already hold that input).

Exactness. The resolver decides a few things from shapes: an ``auto`` shortcut is an
identity when the residual body keeps its input shape and a 1x1 projection otherwise (with
a stride from the shape ratio), and an MBConv block is a residual only when its body keeps
its shape (a plain sequence otherwise). The template records each such decision as a
*guard* (the kept-shape flag of every residual body and of every feature-map sequence, the
shape ratio of every residual with a projection); a point whose shapes would change a
guard, an op kind without a rule, an op that does not fit its new input (too small, too
large), a shape mismatch at a concatenation, gate or residual, or a spec that reads its
``resolution`` parameter anywhere (``$resolution``, ``when: {resolution: ...}``) all fall
back to a full ``resolve`` + ``analyze`` of that point. A fallback is slower, never
different: the tests compare this engine with ``analyze`` on every bundled spec and
variant at many resolutions and on random specs.

A new op kind's record states its reshape rule (``None`` means "deliberately none": such
models always take the full path). A
new shape-dependent decision in the resolver needs a guard in :meth:`Template._compile`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..base import limits
from .analysis import Totals, analyze, weight_depth
from ..ops.conventions import Convention, get_convention
from ..ops.kind import OpFacts, ReshapeRule, Unsupported
from ..ops.kinds import KINDS
from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Settings, Side, children, ops
from ..ops.primitives import Attrs, Shape, ShapeError
from ..resolve.resolver import Overrides, Resolver, resolve, resolved_settings
from ..lang.spec import Spec

BUILTIN_POINT_KEYS = ("width", "depth", "resolution", "phi")
MEMO_LIMIT = 20_000  # memoised subtrees kept at most (memory stays flat on long grids)
TEMPLATE_LIMIT = 64  # settings whose templates are kept at most
TEMPLATES_PER_KEY = 3
SIGNATURE_LIMIT = 100_000  # distinct subtrees remembered at most (then everything starts afresh)


# --- compiled templates -----------------------------------------------------------------

# node types of a compiled template
OP, SEQ, RES, CAT, GATE, SIDE = range(6)
_TYPES = {Seq: SEQ, Residual: RES, Concat: CAT, Gate: GATE, Side: SIDE}


class CNode:
    """A template node, ready to be evaluated on any input shape.

    ``guard``: the kept-shape flag the resolver's decision assumed (None: no decision);
    ``ratio``: the residual's input/output size ratio a projection shortcut's stride came from.
    """

    __slots__ = ("type", "sig", "name", "children", "kind", "attrs", "rule", "view", "guard", "ratio", "has_post",
                 "size_map", "params", "torch_class")

    def __init__(self, type_: int, name: str, children: tuple[CNode, ...]) -> None:
        self.type = type_
        self.name = name
        self.children = children
        self.sig = -1
        self.kind = ""
        self.attrs: Attrs = {}
        self.rule: ReshapeRule | None = None
        self.view = False
        self.guard: bool | None = None
        self.ratio: tuple[int, int] | None = None
        self.has_post = False
        self.size_map: Any = UNSET  # fit's proof: the size map along its main path, once computed
        # an op's parameter tensors and module class with its template attributes (they depend
        # on the attributes alone), computed once
        self.params: Mapping[str, tuple[int, bool]] = {}
        self.torch_class = ""


UNSET: Any = object()


def _is_map(shape: Shape) -> bool:
    return len(shape) == 3


def _ratio(in_shape: Shape, out_shape: Shape) -> tuple[int, int] | None:
    if not (_is_map(in_shape) and _is_map(out_shape)) or out_shape[1] < 1 or out_shape[2] < 1:
        return None
    return -(-in_shape[1] // out_shape[1]), -(-in_shape[2] // out_shape[2])


class _ReadLog(Mapping[str, Any]):
    """Parameter values that remember which names were read (item access)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:  # names only: reading happens on item access
        return iter(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class Template:
    """A model resolved once for every setting but the resolution.

    ``root`` is None when the model cannot be re-shaped (``reason`` says why); ``depth`` is
    its weight depth (the same at every resolution the template fits).
    """

    model: Model
    root: CNode | None
    reason: str
    depth: int


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class Compiler:
    """Turns resolved models into :class:`CNode` trees whose identical subtrees (same
    structure, attributes and guards) share one signature, across templates."""

    def __init__(self) -> None:
        self._sigs: dict[Any, int] = {}

    @property
    def size(self) -> int:
        """Distinct subtrees seen (their signatures are kept while templates use them)."""
        return len(self._sigs)

    def template(self, model: Model, reads: frozenset[str]) -> Template:
        """The template of a resolved model; ``reads``: the parameter names its resolution read."""
        depth = weight_depth(model)
        if "resolution" in reads:
            return Template(model, None, "the spec reads its resolution parameter", depth)
        missing = sorted({k for k in _op_kinds(model.root) if KINDS[k].reshape is None})
        if missing:
            return Template(model, None, f"no reshape rule for op kind {', '.join(missing)}", depth)
        return Template(model, self._compile(model.root), "", depth)

    def _compile(self, node: Node) -> CNode:
        if isinstance(node, Op):
            c = CNode(OP, node.name, ())
            c.kind = node.kind
            c.attrs = node.attrs
            record = KINDS[node.kind]
            c.rule = record.reshape
            c.view = record.alias(node.attrs, False)  # a view or no-op at inference
            c.params = record.param_counts(node.attrs)
            c.torch_class = record.torch_class(node.attrs)
            key: Any = ("op", node.kind, tuple(node.attrs.items()))
            try:
                hash(key)
            except TypeError:
                try:
                    key = ("op", node.kind, _freeze(node.attrs))
                    hash(key)
                except TypeError:  # an unhashable attribute: no sharing for this op
                    key = ("op-unique", object())
            c.sig = self._sigs.setdefault(key, len(self._sigs))
            return c
        t = _TYPES[type(node)]
        c = CNode(t, node.name, tuple(self._compile(p) for p in children(node)))
        if isinstance(node, Residual):
            c.guard = node.body.out_shape == node.in_shape
            c.has_post = node.post is not None
            identity = isinstance(node.shortcut, Op) and node.shortcut.kind == "identity"
            c.ratio = None if identity else _ratio(node.in_shape, node.out_shape)
        elif isinstance(node, Seq) and _is_map(node.in_shape) and _is_map(node.out_shape):
            c.guard = node.out_shape == node.in_shape
        partial = isinstance(node, Residual) and node.partial
        key = (t, c.guard, c.ratio, c.has_post, partial, tuple(ch.sig for ch in c.children))
        c.sig = self._sigs.setdefault(key, len(self._sigs))
        return c


def _op_kinds(node: Node) -> Iterator[str]:
    for _qual, op in ops(node):
        yield op.kind


# --- evaluation -------------------------------------------------------------------------

# A subtree's summary: (out_shape, params, trainable, mult_adds, peak_in, peak_ex, largest,
# out_is_input). peak_in is the largest activation total over the subtree's events with its
# input counted when an event holds it, peak_ex the same without the input (for a container
# that already holds it); -1 when the subtree creates no tensor. largest is its largest new
# tensor; out_is_input tells that its output is its input tensor (views only).
Summary = tuple[Shape, int, int, int, int, int, int, bool]


_MISSING: Any = object()


class Evaluator:
    """Evaluates templates under one convention, memoising subtrees on their input shape."""

    def __init__(self, convention: Convention) -> None:
        self.convention = convention
        self.memo: dict[tuple[int, Shape, bool], Summary | None] = {}
        self._dispatch = (self._op, self._seq, self._residual, self._concat, self._gate, self._side)

    def totals(self, template: Template, resolution: int) -> Totals:
        """Totals of ``template`` at ``resolution``; raises :class:`Unsupported`."""
        root = template.root
        if root is None:
            raise Unsupported
        if len(self.memo) > MEMO_LIMIT:
            self.memo.clear()
        shape = (template.model.input_shape[0], resolution, resolution)
        s = self.eval(root, shape, False)
        size = math.prod(shape)
        return Totals(s[1], s[2], s[3], max(size, s[4]), max(size, s[6]))

    def eval(self, c: CNode, shape: Shape, side: bool) -> Summary:
        key = (c.sig, shape, side)
        r = self.memo.get(key, _MISSING)
        if r is _MISSING:
            try:
                r = self._dispatch[c.type](c, shape, side)
            except Unsupported:
                self.memo[key] = None
                raise
            self.memo[key] = r
        elif r is None:
            raise Unsupported
        return r  # type: ignore[return-value]

    def counts(self, c: CNode, shape: Shape, side: bool) -> tuple[Attrs, Shape, int, int, int]:
        """One op on ``shape`` with the resolver's checks (it fits; sizes within limits):
        the attributes it would have, its output shape, parameters, trainable parameters
        and mult-adds, as ``analyze`` would report them."""
        assert c.rule is not None
        attrs = c.rule.attrs(c.attrs, shape)
        optype = KINDS[c.kind]
        try:
            out = optype.infer(attrs, shape)
        except ShapeError:
            raise Unsupported from None
        limit = limits.MAX_TENSOR_ELEMENTS
        if math.prod(out) > limit:
            raise Unsupported
        same = attrs is c.attrs
        params = c.params if same else optype.param_counts(attrs)
        p = t = 0
        for numel, trainable in params.values():
            if numel > limit:
                raise Unsupported
            p += numel
            if trainable:
                t += numel
        cls = c.torch_class if same else optype.torch_class(attrs)
        macs = self.convention.count(OpFacts(c.kind, attrs, shape, out, params, cls, side))
        return attrs, out, p, t, macs

    def _op(self, c: CNode, shape: Shape, side: bool) -> Summary:
        _attrs, out, p, t, macs = self.counts(c, shape, side)
        if c.view:
            return (out, p, t, macs, -1, -1, 0, True)
        y = math.prod(out)
        return (out, p, t, macs, math.prod(shape) + y, y, y, False)

    def _seq(self, c: CNode, shape: Shape, side: bool) -> Summary:
        cur = shape
        p = t = m = 0
        pin = pex = -1
        largest = 0
        is_x = True
        ev = self.eval
        for child in c.children:
            s = ev(child, cur, side)
            p += s[1]
            t += s[2]
            m += s[3]
            if s[4] >= 0:
                if s[4] > pin:
                    pin = s[4]
                # a tensor made inside this sequence is never held by a container above it
                inner = s[5] if is_x else s[4]
                if inner > pex:
                    pex = inner
            if s[6] > largest:
                largest = s[6]
            if not s[7]:
                is_x = False
            cur = s[0]
        if c.guard is not None and (cur == shape) != c.guard:
            raise Unsupported
        return (cur, p, t, m, pin, pex, largest, is_x)

    def _residual(self, c: CNode, shape: Shape, side: bool) -> Summary:
        body = self.eval(c.children[0], shape, side)
        out = body[0]
        if c.guard is not None and (out == shape) != c.guard:
            raise Unsupported
        sc = self.eval(c.children[1], shape, side)
        if sc[0] != out:
            raise Unsupported
        if c.ratio is not None and _ratio(shape, out) != c.ratio:
            raise Unsupported
        sx = math.prod(shape)
        sy = math.prod(out)
        sb = 0 if body[7] else sy
        ss = 0 if sc[7] else sy
        pin = pex = -1
        if body[5] >= 0:  # the body runs while the residual holds its input
            pin, pex = sx + body[5], body[5]
        if sc[5] >= 0:  # the shortcut runs while the residual holds its input and the body's output
            v = sb + sc[5]
            pin, pex = max(pin, sx + v), max(pex, v)
        v = sb + ss + sy  # the addition: body output, shortcut output, sum
        pin = max(pin, v + (sx if body[7] or sc[7] else 0))
        pex = max(pex, v)
        largest = max(body[6], sc[6], sy)
        p, t, m = body[1] + sc[1], body[2] + sc[2], body[3] + sc[3]
        if c.has_post:
            post = self.eval(c.children[2], out, side)
            p, t, m = p + post[1], t + post[2], m + post[3]
            if post[4] >= 0:
                pin, pex = max(pin, post[4]), max(pex, post[4])
            largest = max(largest, post[6])
            out = post[0]
        return (out, p, t, m, pin, pex, largest, False)

    def _concat(self, c: CNode, shape: Shape, side: bool) -> Summary:
        sx = math.prod(shape)
        held = 0  # finished branch outputs made inside this concat
        holds_x = False
        p = t = m = 0
        pin = pex = largest = -1
        shapes = []
        last = len(c.children) - 1
        for i, br in enumerate(c.children):
            s = self.eval(br, shape, side)
            p, t, m = p + s[1], t + s[2], m + s[3]
            if s[5] >= 0:
                v = held + s[5]
                if i < last or holds_x:  # the concat holds its input for the branches to come
                    pin, pex = max(pin, sx + v), max(pex, v)
                else:  # the last branch: the input is live only while the branch still reads it
                    pin, pex = max(pin, held + s[4]), max(pex, v)
            largest = max(largest, s[6])
            if s[7]:
                holds_x = True
            else:
                held += math.prod(s[0])
            shapes.append(s[0])
        first = shapes[0]
        if any(len(o) != len(first) or o[1:] != first[1:] for o in shapes):
            raise Unsupported
        out = (sum(o[0] for o in shapes),) + tuple(first[1:])
        sy = math.prod(out)
        v = held + sy
        pin = max(pin, v + (sx if holds_x else 0))
        pex = max(pex, v)
        return (out, p, t, m, pin, pex, max(largest, sy), False)

    def _gate(self, c: CNode, shape: Shape, side: bool) -> Summary:
        g = self.eval(c.children[0], shape, side)
        go = g[0]
        if not (len(go) == len(shape) and go[0] == shape[0] and all(a in (1, b) for a, b in zip(go[1:], shape[1:]))):
            raise Unsupported
        sx = math.prod(shape)
        pin = pex = -1
        if g[5] >= 0:
            pin, pex = sx + g[5], g[5]
        v = (0 if g[7] else math.prod(go)) + sx  # the gate output, the product
        pin, pex = max(pin, v + sx), max(pex, v)
        return (shape, g[1], g[2], g[3], pin, pex, max(g[6], sx), False)

    def _side(self, c: CNode, shape: Shape, side: bool) -> Summary:
        s = self.eval(c.children[0], shape, True)
        pin = pex = -1
        if s[5] >= 0:
            pin, pex = math.prod(shape) + s[5], s[5]
        return (shape, s[1], s[2], s[3], pin, pex, s[6], True)


# --- the engine -------------------------------------------------------------------------


@dataclass(frozen=True)
class PointTotals:
    """One point: the settings used, its totals and weight depth, and how it was computed
    (``fast``: re-shaped from a template; otherwise resolved and analysed in full)."""

    variant: str | None
    width: float
    depth: float
    resolution: int
    values: Mapping[str, Any]
    totals: Totals
    weight_depth: int
    fast: bool


class TotalsEngine:
    """Exact totals of many points of one spec (see the module docstring).

    ``measure(point)`` takes the settings of one point: ``variant`` and any of width,
    depth, resolution, phi and spec parameters, on top of ``base``.
    """

    def __init__(self, spec: Spec, convention: str | Convention = "paper", base: Overrides | None = None) -> None:
        self.spec = spec
        self.convention = get_convention(convention) if isinstance(convention, str) else convention
        self.base = base or Overrides()
        self.evaluator = Evaluator(self.convention)
        self.compiler = Compiler()
        self.templates: dict[Any, list[Template]] = {}
        self.fallbacks = 0

    def overrides(self, point: Mapping[str, Any]) -> Overrides:
        b = self.base
        values = dict(b.values)
        values.update((k, v) for k, v in point.items() if k not in BUILTIN_POINT_KEYS and k != "variant")
        return Overrides(
            width=point.get("width", b.width),
            depth=point.get("depth", b.depth),
            resolution=point.get("resolution", b.resolution),
            phi=point.get("phi", b.phi),
            padding=b.padding,
            values=values,
            origin=b.origin,
        )

    def measure(self, point: Mapping[str, Any]) -> PointTotals:
        """The totals of one point: re-shaped from a template of its settings when one fits,
        else resolved in full (and kept as a new template for the points after it)."""
        over = self.overrides(point)
        variant = point.get("variant")
        used, settings = resolved_settings(self.spec, variant, over)
        known = self.templates.get(self._key(settings), [])
        for template in known:
            try:
                totals = self.evaluator.totals(template, settings.resolution)
            except Unsupported:
                continue
            return PointTotals(used, settings.width, settings.depth, settings.resolution, settings.values, totals,
                            template.depth, True)
        self.fallbacks += 1
        if known and known[0].root is None:  # never re-shaped (reads its resolution, or an op has no rule)
            model = resolve(self.spec, variant, over)
            return self._measured(used, settings, analyze(model, self.convention).totals, weight_depth(model))
        template = self.template(used, settings)
        try:  # a template always fits its own resolution; analyze is the reference otherwise
            totals = self.evaluator.totals(template, settings.resolution)
        except Unsupported:
            totals = analyze(template.model, self.convention).totals
        return self._measured(used, settings, totals, template.depth)

    @staticmethod
    def _key(settings: Settings) -> Any:
        return settings.padding, tuple((k, v) for k, v in settings.values.items() if k != "resolution")

    def template_at(self, point: Mapping[str, Any]) -> Template:
        """The template resolved at exactly this point (kept for the points after it)."""
        used, settings = resolved_settings(self.spec, point.get("variant"), self.overrides(point))
        for template in self.templates.get(self._key(settings), []):
            if template.model.settings.resolution == settings.resolution:
                return template
        return self.template(used, settings)

    def template(self, variant: str | None, settings: Settings) -> Template:
        """Resolve in full, recording which parameter values the resolver reads, and keep
        the template for later points (a few per setting: e.g. one from a tiny input where a
        stride-2 block keeps its 1x1 size and so gets an identity shortcut, one for every
        larger input)."""
        log = _ReadLog(settings.values)
        model = Resolver(self.spec, replace(settings, values=log)).model(variant)
        if self.compiler.size > SIGNATURE_LIMIT:  # start afresh: no old signature may meet a new one
            self.compiler, self.templates = Compiler(), {}
            self.evaluator.memo.clear()
        template = self.compiler.template(replace(model, settings=settings), frozenset(log.read))
        key = self._key(settings)
        known = self.templates.pop(key, [])
        if len(self.templates) >= TEMPLATE_LIMIT:
            self.templates.clear()
        self.templates[key] = [template, *known][:TEMPLATES_PER_KEY]
        return template

    @staticmethod
    def _measured(used: str | None, s: Settings, totals: Totals, depth: int) -> PointTotals:
        return PointTotals(used, s.width, s.depth, s.resolution, s.values, totals, depth, False)


__all__ = ["TotalsEngine", "PointTotals", "Template", "Evaluator", "Unsupported"]
