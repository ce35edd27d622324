"""Is a spec that model? Two models compared in every convention and layer by layer.

``check``'s ``reference:`` rule and ``compare A B --equal`` ask whether model A (usually a
spec) is model B (usually the Python module it was written from: ``file.py:NAME``,
``package.module:NAME``, ``torchvision:NAME``, ``timm:NAME``). Two models are *equal* when:

* their input and output shapes are equal;
* parameters and trainable parameters are equal, and mult-adds are equal in every
  convention both are compared in (a Python model is compared in the operator conventions;
  ptflops and thop count by module class, so a functional call and a module doing the same
  work differ there; the result names the conventions compared);
* their leaf layers align one to one, each pair of the same kind (the class name without a
  ``1d``/``2d``/``3d`` suffix, so a spec's ``LayerNorm2d`` is a hand-written ``LayerNorm``),
  with the same input and output shapes and parameter counts.

Layers are aligned by structure, not by name (a spec's ``stage1.0.body.conv`` is a module's
``layer1.0.conv1``): the leaf rows of each model in execution order are matched as sequences
(:mod:`difflib`) on their signature ``(kind, input shape, output shape, parameters)``, the
stretches left over again on ``(shapes, parameters)`` (another class name), then on kind
alone (the same layer at another width: a difference to report), then on weights; layers
executed in another order (a projection shortcut before or after its body) are paired
afterwards by signature. Layers that are the identity at inference or only move data
(:data:`NOOP_TYPES`: dropout, stochastic depth, flatten, permute, channel split and shuffle,
a concat's ``from`` taking an earlier output)
are left out: a module usually does those as function calls, which its capture folds into the
container. A layer one model has and the other does not is a difference when it has
parameters or cost in some convention; without either (an activation or pooling written as a
function call in the module) it is listed, not held against the models.

A Python model without an input of its own (``@input=``) is run at the other model's input.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..measure.analysis import Report, Row

if TYPE_CHECKING:
    from ..capture.targets import PythonTarget

# Classes that are the identity at inference or only rearrange data (spec and torch names).
NOOP_TYPES = frozenset({
    "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "StochasticDepth", "DropPath", "DropBlock2d", "Flatten", "Unflatten", "Permute", "ChannelSplit",
    "ChannelShuffle", "TakePoint",
})
PARAMETER_TYPE = "Parameter"  # a module's own parameter (a layer scale's gamma): no shapes of its own
SHOWN = 8  # located differences shown in a text report (all are in the JSON)


@dataclass(frozen=True)
class Measured:
    """One model counted in every convention it can be counted in."""

    text: str
    reports: Mapping[str, Report]  # convention -> report, in the registry's order
    skipped: tuple[str, ...] = ()  # conventions this model cannot be counted in

    @property
    def first(self) -> Report:
        return next(iter(self.reports.values()))


@dataclass(frozen=True)
class Layer:
    """A leaf layer with its mult-adds in every convention."""

    row: Row
    mult_adds: Mapping[str, int]

    @property
    def where(self) -> str:
        """``stem.norm (specs/convnext.yaml:91)`` for a spec's layer, the module path for a module's;
        a layer made by a block call is at the call's line, then the block's
        (``conv (spec.yaml:125, block at 74)``, :attr:`cnninspect.ir.Origin.located`)."""
        origin = self.row.origin
        return f"{self.row.name} ({origin.located})" if origin is not None and origin.line is not None else self.row.name


@dataclass(frozen=True)
class Match:
    a: Layer | None
    b: Layer | None
    what: tuple[str, ...] = ()  # the differences, as text; empty when the layers agree

    @property
    def costless(self) -> bool:
        """A layer on one side only, without parameters or cost in any convention compared."""
        one = self.a or self.b
        return (self.a is None or self.b is None) and one is not None and one.row.params == 0 and not any(
            one.mult_adds.values())

    @property
    def differs(self) -> bool:
        return bool(self.what) and not self.costless

    def text(self) -> str:
        """``stem.norm (specs/convnext.yaml:91) vs downsample_layers.0.1: mult-adds ...``."""
        where = " vs ".join(x.where for x in (self.a, self.b) if x is not None)
        return f"{where}: {'; '.join(self.what)}"

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a.row.name if self.a else None, "b": self.b.row.name if self.b else None,
                "a_line": _line(self.a),
                "a_calls": _calls(self.a), "differs": list(self.what)}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _line(layer: Layer | None) -> str | None:
    return str(layer.row.origin) if layer is not None and layer.row.origin is not None else None


def _calls(layer: Layer | None) -> list[str]:
    """The block calls that made a spec's layer, outermost first (``spec.yaml:125``)."""
    if layer is None or layer.row.origin is None:
        return []
    return [f"{file}:{line}" if line is not None else file for file, line in layer.row.origin.calls]


@dataclass(frozen=True)
class Verdict:
    a: Measured
    b: Measured
    conventions: tuple[str, ...]
    totals: tuple[str, ...]  # the totals that differ, as text
    matches: tuple[Match, ...]

    @property
    def differences(self) -> tuple[Match, ...]:
        return tuple(m for m in self.matches if m.differs)

    @property
    def equal(self) -> bool:
        return not self.totals and not self.differences

    @property
    def layers(self) -> int:
        return sum(m.a is not None and m.b is not None for m in self.matches)

    def headline(self) -> str:
        """``equal: 4 conventions, 203 layers`` or ``differs: 1 total, 4 layers``."""
        if self.equal:
            return f"equal: {len(self.conventions)} conventions, {self.layers} layers"
        parts = [_plural(len(self.totals), "total")] if self.totals else []
        parts += [_plural(len(self.differences), "layer")] if self.differences else []
        return f"differs: {', '.join(parts)}"

    def lines(self, limit: int | None = SHOWN) -> list[str]:
        """The located differences: totals first, then layers (``A | B: what``)."""
        out = list(self.totals)
        diffs = self.differences
        shown = diffs if limit is None else diffs[:limit]
        out += [m.text() for m in shown]
        if len(diffs) > len(shown):
            out.append(f"... and {len(diffs) - len(shown)} more layers (--format json lists them all)")
        return out

    def unmatched_costless(self) -> tuple[int, int]:
        """Layers on one side only without parameters or cost: (in A only, in B only)."""
        return (sum(m.costless and m.b is None for m in self.matches),
                sum(m.costless and m.a is None for m in self.matches))

    def as_json(self) -> dict[str, Any]:
        only_a, only_b = self.unmatched_costless()
        return {"equal": self.equal, "conventions": list(self.conventions),
                "skipped_conventions": sorted(set(self.a.skipped) | set(self.b.skipped)),
                "totals": list(self.totals), "layers_compared": self.layers,
                "costless_only_a": only_a, "costless_only_b": only_b,
                "differences": [m.as_json() for m in self.differences]}


# --- measuring ---------------------------------------------------------------------------


def measure(text: str, settings: Mapping[str, Any] | None = None, *, where: str = "",
            input_shape: tuple[int, ...] | None = None) -> Measured:
    """A model reference counted in every convention: a spec (``settings`` as for
    :func:`cnninspect.resolve.catalog.resolve_ref`) or a Python model, captured once and run at its own
    ``@input=``/``@resolution=``, else at ``input_shape``."""
    from ..capture.targets import PythonTarget, target_of

    target = target_of(text)
    if isinstance(target, PythonTarget):
        return _measure_python(target, dict(settings or {}), input_shape)
    from ..measure.analysis import analyze
    from ..resolve.catalog import resolve_ref
    from ..ops.conventions import CONVENTIONS

    model = resolve_ref(text, dict(settings or {}), where or "settings")
    return Measured(text, {name: analyze(model, name) for name in CONVENTIONS})


def _measure_python(target: PythonTarget, settings: dict[str, Any], input_shape: tuple[int, ...] | None) -> Measured:
    from ..ops.aten_rules import ATEN_TABLES
    from ..ops.module_tools import TOOL_TABLES
    from ..base.errors import UsageError, shorten
    from ..capture.module_analysis import analyze_trace
    from ..capture.pymodels import build, input_for, load, parse_input, parse_pyref, subject_for, trace_built

    text, base = target.text, target.base
    settings = {**target.settings, **settings}
    unknown = sorted(set(settings) - {"resolution", "input"})
    if unknown:
        raise UsageError(f"{shorten(text, 80)}: {unknown[0]}: a Python model takes the settings resolution and input")
    shape = parse_input(str(settings["input"]), f"{shorten(text, 80)}: input") if "input" in settings else input_shape
    resolution = settings.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)):
        raise UsageError(f"{shorten(text, 80)}: resolution must be a whole number, got {resolution!r}")
    pm = load(parse_pyref(base))
    built = build(pm)
    full, source = input_for(built.module, pm.ref.shown, shape, resolution)
    trace = trace_built(pm, built, full)
    subject = subject_for(pm, trace, resolution, source)
    # ptflops and thop count by module class: a functional call and the module doing the same
    # work count differently there, so they do not judge whether two models are the same
    reports = {name: analyze_trace(trace, name, subject) for name in ATEN_TABLES}
    return Measured(text, reports, tuple(TOOL_TABLES))


def measure_pair(a: str, b: str, a_settings: Mapping[str, Any] | None = None, *, where: str = "",
                 input_shape: tuple[int, ...] | None = None) -> tuple[Measured, Measured]:
    """Both models; a Python model without an input of its own runs at ``input_shape`` if
    given, else at the other model's input."""
    from ..capture.targets import target_of

    ta, tb = target_of(a), target_of(b)
    if ta.python and not tb.python:
        mb = measure(b)
        return measure(a, a_settings, where=where, input_shape=input_shape or mb.first.subject.input_shape), mb
    ma = measure(a, a_settings, where=where, input_shape=input_shape)
    return ma, measure(b, input_shape=input_shape or ma.first.subject.input_shape)


# --- comparing ---------------------------------------------------------------------------


def compare(a: Measured, b: Measured, names: tuple[str, str] = ("A", "B")) -> Verdict:
    """The verdict on two measured models (see the module docstring); ``names`` name the two
    sides in the differences (``only in B``)."""
    conventions = tuple(c for c in a.reports if c in b.reports)
    totals: list[str] = []
    ra, rb = a.first, b.first
    for label, x, y in (("input", ra.subject.input_shape, rb.subject.input_shape),
                        ("output", ra.output_shape, rb.output_shape)):
        if x != y:
            totals.append(f"{label} {_shape(x)} vs {_shape(y)}")
    pa, pb, ta, tb = ra.totals.params, rb.totals.params, ra.totals.trainable_params, rb.totals.trainable_params
    if pa != pb:
        totals.append(f"params {pa:,} vs {pb:,} ({pb - pa:+,})")
    if tb - ta != pb - pa:  # not only the difference in parameters again
        totals.append(f"trainable params {ta:,} vs {tb:,} ({tb - ta:+,})")
    for c in conventions:
        x, y = a.reports[c].totals.mult_adds, b.reports[c].totals.mult_adds
        if x != y:
            totals.append(f"{c} mult-adds {x:,} vs {y:,} ({y - x:+,})")
    la, lb = _layers(a, conventions), _layers(b, conventions)
    matches = [_judge(m, conventions, names) for m in align_layers(la, lb)]
    return Verdict(a, b, conventions, tuple(totals), tuple(matches))


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "-"


def _layers(m: Measured, conventions: tuple[str, ...]) -> list[Layer]:
    """The leaf layers of every convention's report, in execution order, with each
    convention's mult-adds: a module's rows of operators called in a container depend on the
    convention (only those it counts have a row), so the reports' rows are merged by name."""
    names: list[str] = []
    first: dict[str, Row] = {}
    by_conv: dict[str, dict[str, int]] = {}
    for c in conventions:
        by_conv[c] = {}
        cursor = 0
        for r in m.reports[c].rows:
            if not r.is_leaf:
                continue
            by_conv[c][r.name] = r.mult_adds
            if r.name in first:
                cursor = names.index(r.name) + 1
                continue
            first[r.name] = r
            names.insert(cursor, r.name)
            cursor += 1
    return [Layer(first[n], {c: by_conv[c].get(n, 0) for c in conventions}) for n in names
            if not (first[n].type in NOOP_TYPES and first[n].params == 0)]


def kind(type_name: str) -> str:
    """A layer's kind: its class name without a ``1d``/``2d``/``3d`` suffix, case-folded."""
    return re.sub(r"[123]d$", "", type_name, flags=re.IGNORECASE).lower()


def _signature(x: Layer) -> object:
    return (kind(x.row.type), x.row.input_shape, x.row.output_shape, x.row.params)


def _shapes(x: Layer) -> object:
    return (x.row.input_shape, x.row.output_shape, x.row.params) if x.row.type != PARAMETER_TYPE else id(x)


def _kind(x: Layer) -> object:
    return kind(x.row.type)


def _weights(x: Layer) -> object:
    return x.row.params if x.row.params else id(x)  # layers without parameters never match on this key


def align_layers(a: list[Layer], b: list[Layer]) -> list[Match]:
    """Two leaf-layer sequences aligned by structure; then layers run in another order paired
    by signature, and a module's own parameters with a layer of as many parameters."""
    matches = _sequence(a, b, [_signature, _shapes, _kind, _weights])
    matches = _pair_moved(matches, _signature, lambda x, y: True)
    return _pair_moved(matches, _weights, lambda x, y: PARAMETER_TYPE in (x.row.type, y.row.type))


def _sequence(a: list[Layer], b: list[Layer], keys: list[Callable[[Layer], object]]) -> list[Match]:
    key, then = keys[0], keys[1:]
    matcher = difflib.SequenceMatcher(a=[key(x) for x in a], b=[key(x) for x in b], autojunk=False)
    out: list[Match] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [Match(a[i1 + k], b[j1 + k]) for k in range(i2 - i1)]
        elif then and i2 > i1 and j2 > j1:
            out += _sequence(a[i1:i2], b[j1:j2], then)
        else:
            out += [Match(x, None) for x in a[i1:i2]] + [Match(None, y) for y in b[j1:j2]]
    return out


def _pair_moved(matches: list[Match], key: Callable[[Layer], object],
                accept: Callable[[Layer, Layer], bool]) -> list[Match]:
    """Pair each layer left in A with the first layer left in B of the same ``key`` that
    ``accept`` takes; the pair stands at A's place."""
    waiting: dict[object, list[int]] = {}
    for i, m in enumerate(matches):
        if m.a is None and m.b is not None:
            waiting.setdefault(key(m.b), []).append(i)
    taken: set[int] = set()
    out = list(matches)
    for i, m in enumerate(matches):
        if m.b is None and m.a is not None:
            queue = waiting.get(key(m.a), [])
            j = next((j for j in queue if j not in taken and accept(m.a, matches[j].b)), None)  # type: ignore[arg-type]
            if j is not None:
                out[i] = Match(m.a, matches[j].b)
                taken.add(j)
    return [m for j, m in enumerate(out) if j not in taken]


def _judge(m: Match, conventions: tuple[str, ...], names: tuple[str, str]) -> Match:
    a, b = m.a, m.b
    if a is None or b is None:
        one = a or b
        assert one is not None
        side = names[0] if b is None else names[1]
        return Match(a, b, (f"only in {side}: {one.row.type} {_shape(one.row.output_shape)}, "
                            f"{one.row.params:,} params",))
    what = []
    ra, rb = a.row, b.row
    own = PARAMETER_TYPE in (ra.type, rb.type)
    functional = ra.kind == "functional" or rb.kind == "functional"  # an aten operator has no class
    if not own and not functional and kind(ra.type) != kind(rb.type):
        what.append(f"type {ra.type} vs {rb.type}")
    if not own and ra.input_shape != rb.input_shape:
        what.append(f"input {_shape(ra.input_shape)} vs {_shape(rb.input_shape)}")
    if not own and ra.output_shape != rb.output_shape:
        what.append(f"output {_shape(ra.output_shape)} vs {_shape(rb.output_shape)}")
    if ra.params != rb.params:
        what.append(f"params {ra.params:,} vs {rb.params:,}")
    elif ra.trainable_params != rb.trainable_params:
        what.append(f"trainable params {ra.trainable_params:,} vs {rb.trainable_params:,}")
    if not own:
        what += _mult_adds(a, b, conventions)
    return Match(a, b, tuple(what))


def _mult_adds(a: Layer, b: Layer, conventions: tuple[str, ...]) -> list[str]:
    """``fvcore mult-adds 1,505,280 vs 0``; conventions with the same two counts share a line,
    and a difference in all of them says so."""
    groups: dict[tuple[int, int], list[str]] = {}
    for c in conventions:
        x, y = a.mult_adds[c], b.mult_adds[c]
        if x != y:
            groups.setdefault((x, y), []).append(c)
    out = []
    for (x, y), convs in groups.items():
        who = "in every convention" if len(convs) == len(conventions) > 1 else f"({', '.join(convs)})"
        out.append(f"mult-adds {x:,} vs {y:,} {who}")
    return out
