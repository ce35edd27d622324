"""What a user writes is what is used: a property of every field of every layer type.

Generic over the field registry, so a new layer type or field is covered without editing
this file (a field whose values cannot be tried here makes the test fail and say why):

* for every field and every value its kind accepts (a sample per kind), the value written
  in YAML reaches the layer's expansion unchanged (after the kind's own coercion: ``3`` for
  a kernel is ``(3, 3)``); ``bias: false`` once arrived as "not set";
* writing a field's default explicitly builds the same model as leaving it out;
* for every field some written value builds a different model (resolved IR and built
  module) than the default does, so no field is silently ignored.

Nested layer lists (``body``, ``branches``, ``layers``) are structure, covered by the
resolver's own tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cnninspect.lang import fields as K
from cnninspect.build.builder import build_module
from cnninspect.base.errors import SpecError
from cnninspect.resolve.expand import EXPANDERS
from cnninspect.resolve.ir import Op, walk
from cnninspect.lang.layertypes import LAYER_TYPES
from cnninspect.resolve.resolver import resolve
from cnninspect.lang.spec import spec_from_text

MAP_INPUT = {"channels": 4, "resolution": 12}
# the layers that turn the 4x12x12 input into a flat vector, for types that need one
FLAT_PREFIX: list[Any] = [{"avgpool": {"global": True}}, "flatten"]
SMALL_BODY: list[Any] = [{"conv": {"out": 4, "kernel": 3}}]

# Fields set so that every other field has an effect (an SE gate only exists when the block
# has an SE branch; stochastic depth only with a skip). A type may list several contexts.
BASE: dict[str, list[dict[str, Any]]] = {
    "mbconv": [{"se": 0.25, "stochastic_depth": 0.1, "expand": 2}],
    "bottleneck": [{"stride": 2, "mid": 8}, {"stride": 1, "mid": 8}],
    "basic": [{"stride": 2}, {"stride": 1}],
    "residual": [{"shortcut": "projection", "body": [{"conv": {"out": 8, "kernel": 3, "stride": 2}}]}, {}],
    "avgpool": [{"kernel": 3, "padding": "same"}, {}],
    "maxpool": [{"kernel": 3}, {}],
    # one branch per value of 'each', its value named by 'as' ($item by default)
    # or 'from' alone: the values name the entries before it (the flat prefix's global pool)
    "concat": [{"each": [1, 3], "branch": [{"conv": {"out": 4, "kernel": "$item"}}]}, {}],
    # each activation parameter in a context where its activation takes it
    "act": [{"fn": fn} for fn in ("leaky_relu", "prelu", "gelu", "elu", "softplus", "hardtanh")],
    "se": [{"ratio": 0.5}, {}],
    "groupnorm": [{"groups": 1}],  # the default 32 groups do not divide the test map's channels
}
# Values for required fields where the kind's first sample would not do.
REQUIRED: dict[str, Any] = {
    "out": 4,
    "mid": 4,
    "kernel": 3,
    "fn": "relu",
    "body": SMALL_BODY,
    "branch": [{"conv": {"out": 4, "kernel": 1}}],
    "branches": [SMALL_BODY, SMALL_BODY],
    "layers": SMALL_BODY,
}
# Kinds whose values depend on the rest of the entry (a connection table needs one row per
# output map); keyed by field name.
SPECIAL_VALUES: dict[str, list[Any]] = {
    "connections": [None, [[0], [1, 2], [0, 3], [2]]],
}
STRUCTURAL = (K.Layers, K.Branches)


def sample(kind: K.Kind) -> list[Any]:
    """A few valid values of ``kind`` (as they would be written in YAML)."""
    if isinstance(kind, K.OptionalKind):
        return [None] + sample(kind.inner)
    if isinstance(kind, K.Bool):
        return [True, False]
    if isinstance(kind, K.Choice):
        return list(kind.choices)
    if isinstance(kind, K.Int):
        return sorted({v for v in (kind.minimum, kind.minimum + 1, 2, 3, 4, 8) if kind.minimum <= v <= kind.maximum})
    if isinstance(kind, K.Float):
        lo = kind.low if not kind.low_open else kind.low + min(0.25, (kind.high - kind.low) / 4)
        values = [lo, (kind.low + min(kind.high, 4 + kind.low)) / 2, min(kind.high, kind.low + 2)]
        return sorted({v for v in values if _accepts(kind, v)})
    if isinstance(kind, K.Pair):
        return [1, 2, 3, [1, 3]]
    if isinstance(kind, K.Padding):
        return ["same", "valid", 0, 1, [1, 0]]
    if isinstance(kind, K.Shortcut):
        return list(kind.choices)
    if isinstance(kind, K.ActivationKind):
        return ["relu", "leaky_relu(negative_slope=0.2)", "gelu(approximate=tanh)", "prelu"]
    if isinstance(kind, K.ValueList):
        return [[1, 3], [3]]
    if isinstance(kind, K.LoopName):
        return ["item", "k"]
    if isinstance(kind, K.PointNames):
        return [["avgpool0"], ["avgpool0", "avgpool0"]]
    raise AssertionError(f"no sample values for the kind {type(kind).__name__}; add them to sample()")


def _accepts(kind: K.Kind, value: Any) -> bool:
    try:
        kind.coerce(value)
    except ValueError:
        return False
    return True


def _entry(tname: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"name": "x", tname: fields}


def _spec_text(entries: list[Any]) -> str:
    doc = {"name": "t", "input": MAP_INPUT, "layers": entries}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


class Recorder:
    """Wraps a layer type's expansion to record the fields it receives."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tname: str) -> None:
        self.seen: list[dict[str, Any]] = []
        original = EXPANDERS[tname]

        def expand(e: Any) -> None:
            self.seen.append(dict(e.f))
            original(e)

        monkeypatch.setitem(EXPANDERS, tname, expand)


def fingerprint(model: Any) -> tuple[Any, Any]:
    """What a model is made of: every IR node (kind, attributes, shapes) and every built
    module (class, plain attributes, parameter shapes). Display labels are left out."""
    ir = []
    for qual, _depth, node in walk(model.root):
        if isinstance(node, Op):
            ir.append((qual, node.kind, tuple(sorted((k, repr(v)) for k, v in node.attrs.items())),
                       node.in_shape, node.out_shape))
        else:
            ir.append((qual, type(node).__name__, node.in_shape, node.out_shape))
    module = build_module(model, device="meta")
    mods = []
    for name, m in module.named_modules():
        attrs = tuple(sorted((k, repr(v)) for k, v in vars(m).items() if not k.startswith("_") and k != "training"))
        params = tuple((n, tuple(p.shape), p.requires_grad) for n, p in m.named_parameters(recurse=False))
        mods.append((name, type(m).__name__, attrs, params))
    return tuple(ir), tuple(mods)


def _resolve(tname: str, fields: dict[str, Any]) -> Any:
    """Resolve one entry of ``tname`` on a feature map, or on a flat vector if it needs one."""
    last: SpecError | None = None
    for prefix in ([], FLAT_PREFIX):
        try:
            return resolve(spec_from_text(_spec_text([*prefix, _entry(tname, fields)]), "t.yaml"))
        except SpecError as exc:
            last = exc
    assert last is not None
    raise last


def _coerced(f: K.Field, value: Any) -> Any:
    return f.kind.coerce(value)


def required_value(f: K.Field) -> Any:
    if f.name in REQUIRED:
        return REQUIRED[f.name]
    values = sample(f.kind)
    return 4 if 4 in values else values[-1]


CASES = [(lt.name, f.name) for lt in LAYER_TYPES.values() for f in lt.fields if not isinstance(f.kind, STRUCTURAL)]


@pytest.mark.parametrize("tname,fname", CASES, ids=[f"{t}.{f}" for t, f in CASES])
def test_a_written_value_is_the_value_used(monkeypatch, tname, fname):
    lt = LAYER_TYPES[tname]
    field = {f.name: f for f in lt.fields}[fname]
    required = {f.name: required_value(f) for f in lt.fields if f.required and f.name != fname}
    contexts = [{**required, **{k: v for k, v in ctx.items() if k != fname}} for ctx in BASE.get(tname, [{}])]
    recorder = Recorder(monkeypatch, tname)
    values = SPECIAL_VALUES.get(fname) or sample(field.kind)
    if field.required:
        values = [required_value(field), *values]
    used: set[str] = set()
    differs = False
    for ctx in contexts:
        # the outcome of each value in this context: the model's fingerprint, or refused
        outcomes = set()
        if not field.required:
            default = _outcome(tname, ctx)
            explicit = _outcome(tname, {**ctx, fname: _written(field.default)})
            assert explicit == default, f"{tname}.{fname}: writing the default {field.default!r} changed the model"
            outcomes.add(default)
        for value in values:
            recorder.seen.clear()
            outcome = _outcome(tname, {**ctx, fname: value})
            outcomes.add(outcome)
            if outcome == "refused":
                continue  # a value this context cannot take (a kernel larger than the map, ...)
            assert recorder.seen, "the expansion was not called"
            assert recorder.seen[0][fname] == _coerced(field, value), (
                f"{tname}.{fname}: wrote {value!r}, the expansion received {recorder.seen[0][fname]!r}"
            )
            used.add(repr(value))
        differs = differs or len(outcomes) >= 2
    assert used, f"{tname}.{fname}: no value of {values} resolves in the contexts {contexts}"
    assert differs, f"{tname}.{fname}: none of {sorted(used)} changes the model; is the field ignored?"


def _outcome(tname: str, fields: dict[str, Any]) -> Any:
    try:
        return fingerprint(_resolve(tname, fields))
    except SpecError:
        return "refused"


def _written(value: Any) -> Any:
    """A field default as it would be written in YAML (tuples are lists)."""
    if isinstance(value, tuple):
        return [_written(v) for v in value]
    return value


def test_bias_false_repro_from_issue_10():
    text = (
        "name: bias_false\ninput: {channels: 3, resolution: 8}\nlayers:\n"
        "  - {name: a, conv: {out: 4, kernel: 1, bias: false}}\n"
        "  - {name: c, dwconv: {kernel: 3, bias: false}}\n"
        "  - {name: d, pwconv: {out: 4, bias: false}}\n"
    )
    model = resolve(spec_from_text(text, "bias_false.yaml"))
    module = build_module(model)
    assert [sum(p.numel() for p in module.get_submodule(n).parameters()) for n in "acd"] == [12, 36, 16]
    assert all(module.get_submodule(n).bias is None for n in "acd")
