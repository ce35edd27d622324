"""Property-based tests (hypothesis): random valid specs agree with PyTorch, and random
damage to a spec either still works or gives a one-line :class:`CnnInspectError`.

Example counts (bounded so this file runs in about 10 s on 2 CPU cores, 30 s on a busy
machine; set CNNINSPECT_PROPERTY_SCALE=10 for ten times as many):

* ``test_random_valid_spec_matches_torch``: 40 random valid specs (conv, pooling, dwsep,
  residual, concat, mbconv, layer norm, layer scale, SE, shuffle, channels-last MLPs,
  repeats, an optional classifier head; torch or tf padding).
  Each is built as a real module; parameters, every op's input/output shape in a real CPU
  forward pass, fvcore's total and the meta engine's rows must all equal the resolved
  model's.
* ``test_mutated_spec_loads_or_fails_cleanly``: 150 mutations of specs/mobilenet_v1.yaml and
  of generated specs (delete/rename a key, replace a value, duplicate/drop a list item,
  share a value through an anchor and alias, possibly recursively, insert characters into
  the YAML text).
* ``test_mutated_spec_through_the_cli``: 15 mutations run through ``cnninspect summary``.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.base.errors import CnnInspectError, SpecError
from cnninspect.resolve.ir import ops
from cnninspect.ops.primitives import window_out
from cnninspect.resolve.resolver import resolve
from cnninspect.lang.spec import spec_from_text
from cnninspect.build.torch_engine import analyze_meta, observe_module

from conftest import SPECS, invoke

# CNNINSPECT_PROPERTY_SCALE=10 multiplies the example counts for a longer hunt.
SCALE = max(1, int(os.environ.get("CNNINSPECT_PROPERTY_SCALE", "1")))
VALID_EXAMPLES = 40 * SCALE
MUTATION_EXAMPLES = 150 * SCALE
CLI_EXAMPLES = 15 * SCALE

ACTS = [None, "relu", "relu6", "silu", "sigmoid", "tanh", "hardswish", "gelu", "hardsigmoid", "mish"]


# --- random valid specs ------------------------------------------------------------------
#
# The generators track the running shape (channels, height, width), so they know whether
# the spec they write is valid. Now and then they keep a layer that does not fit its input;
# such an impossible spec must be refused with a SpecError and is then skipped (``assume``).
# The YAML text goes through the real loader, so the shapes the test compares are the
# resolver's.


class Shape:
    """The running shape while a spec is generated; ``ok`` turns False once a layer was
    (deliberately) kept although it does not fit."""

    def __init__(self, c: int, h: int, w: int, style: str, ok: bool = True) -> None:
        self.c, self.h, self.w, self.style, self.ok = c, h, w, style, ok

    def copy(self) -> Shape:
        return Shape(self.c, self.h, self.w, self.style, self.ok)


def _misfit(draw: Any, x: Shape) -> bool:
    """A layer does not fit: usually drop it, sometimes keep it (the spec becomes impossible)."""
    if draw(st.integers(0, 3)) == 0:
        x.ok = False
        return True
    return False


def _pair(draw: Any, lo: int, hi: int, odd: bool = False) -> tuple[int, int]:
    values = [v for v in range(lo, hi + 1) if not odd or v % 2]
    if draw(st.booleans()):
        v = draw(st.sampled_from(values))
        return v, v
    return draw(st.sampled_from(values)), draw(st.sampled_from(values))


def _yaml_pair(p: tuple[int, int]) -> Any:
    return p[0] if p[0] == p[1] else [p[0], p[1]]


def _same_out(size: int, k: int, s: int, style: str) -> int:
    if style == "tf":
        return -(-size // s)
    return window_out(size, k, s, (k // 2, k // 2))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def conv_entry(draw: Any, x: Shape, keep_shape: bool = False) -> dict[str, Any] | None:
    """A conv entry; ``keep_shape``: same channels and size (for identity residual bodies)."""
    out = x.c if keep_shape else draw(st.integers(1, 24))
    kernel = _pair(draw, 1, 5, odd=x.style == "torch" or keep_shape)
    stride = (1, 1) if keep_shape else _pair(draw, 1, 2)
    mode = "same" if keep_shape else draw(st.sampled_from(["same", "same", "valid", "int"]))
    if mode == "same" and x.style == "torch" and (kernel[0] % 2 == 0 or kernel[1] % 2 == 0):
        mode = "valid"
    f: dict[str, Any] = {"out": out, "kernel": _yaml_pair(kernel)}
    if stride != (1, 1) or draw(st.booleans()):
        f["stride"] = _yaml_pair(stride)
    if mode == "same":
        h, w = (_same_out(x.h, kernel[0], stride[0], x.style), _same_out(x.w, kernel[1], stride[1], x.style))
        if draw(st.booleans()):
            f["padding"] = "same"
    else:
        pad = (0, 0) if mode == "valid" else _pair(draw, 0, 2)
        f["padding"] = "valid" if mode == "valid" else _yaml_pair(pad)
        h = window_out(x.h, kernel[0], stride[0], (pad[0], pad[0]))
        w = window_out(x.w, kernel[1], stride[1], (pad[1], pad[1]))
    if h < 1 or w < 1:
        if not _misfit(draw, x):
            return None
        h, w = max(h, 1), max(w, 1)
    groups = draw(st.sampled_from(_divisors(math.gcd(x.c, out))))
    if groups > 1:
        f["groups"] = groups
    if draw(st.booleans()):
        f["bn"] = True
    act = draw(st.sampled_from(ACTS))
    if act:
        f["act"] = act
    if draw(st.integers(0, 4)) == 0:
        f["bias"] = draw(st.booleans())
    x.c, x.h, x.w = out, h, w
    return {"conv": f}


@st.composite
def pool_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    if draw(st.integers(0, 5)) == 0:
        x.h = x.w = 1
        return {kind: {"global": True}}
    kernel = _pair(draw, 1, 3)
    stride = draw(st.one_of(st.none(), st.just(_pair(draw, 1, 2))))
    padding = draw(st.sampled_from(["valid", "same"]))
    ceil_mode = draw(st.booleans())
    f: dict[str, Any] = {"kernel": _yaml_pair(kernel)}
    s = stride or kernel
    if stride is not None:
        f["stride"] = _yaml_pair(stride)
    pad = (kernel[0] // 2, kernel[1] // 2) if padding == "same" else (0, 0)
    if padding == "same" or draw(st.booleans()):
        f["padding"] = padding
    if ceil_mode:
        f["ceil_mode"] = True
    if kind == "avgpool" and draw(st.booleans()):
        f["count_include_pad"] = False
    h = window_out(x.h, kernel[0], s[0], (pad[0], pad[0]), ceil_mode)
    w = window_out(x.w, kernel[1], s[1], (pad[1], pad[1]), ceil_mode)
    if h < 1 or w < 1:
        if not _misfit(draw, x):
            return None
        h, w = max(h, 1), max(w, 1)
    x.h, x.w = h, w
    return {kind: f}


@st.composite
def dwsep_entry(draw: Any, x: Shape, stride_ok: bool = True) -> dict[str, Any] | None:
    out = draw(st.integers(1, 24))
    k = draw(st.sampled_from([1, 3, 5] if x.style == "torch" else [1, 2, 3, 4, 5]))
    s = draw(st.integers(1, 2)) if stride_ok else 1
    f: dict[str, Any] = {"out": out, "kernel": k, "stride": s}
    if draw(st.booleans()):
        f["separable"] = draw(st.booleans())
    if draw(st.booleans()):
        f["act"] = draw(st.sampled_from(ACTS))
    x.c, x.h, x.w = out, _same_out(x.h, k, s, x.style), _same_out(x.w, k, s, x.style)
    return {"dwsep": f}


@st.composite
def mbconv_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    out = draw(st.integers(1, 24))
    k = draw(st.sampled_from([3, 5] if x.style == "torch" else [2, 3, 4, 5]))
    s = draw(st.integers(1, 2))
    f: dict[str, Any] = {"out": out, "expand": draw(st.sampled_from([1, 1.5, 2, 4, 6])), "kernel": k, "stride": s}
    se = draw(st.sampled_from([None, 0.25, 0.5, 1]))
    if se is not None:
        f["se"] = se
    if draw(st.booleans()):
        f["skip"] = draw(st.sampled_from(["auto", "none"]))
    if draw(st.booleans()):
        f["stochastic_depth"] = 0.2
    if draw(st.booleans()):
        f["act"] = draw(st.sampled_from(["relu", "silu", "hardswish"]))
    x.c, x.h, x.w = out, _same_out(x.h, k, s, x.style), _same_out(x.w, k, s, x.style)
    return {"mbconv": f}


@st.composite
def residual_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    shortcut = draw(st.sampled_from(["identity", "projection", "auto"]))
    y = x.copy()
    body = []
    for i in range(draw(st.integers(1, 2))):
        if shortcut == "identity":
            e = draw(conv_entry(y, keep_shape=True))
        else:
            # a same-padding body, so that a 1x1 strided projection can match it
            s = draw(st.integers(1, 2)) if i == 0 else 1
            k = draw(st.sampled_from([1, 3] if y.style == "torch" else [1, 2, 3]))
            out = draw(st.integers(1, 24))
            e = {"conv": {"out": out, "kernel": k, "stride": s, "bn": draw(st.booleans()),
                          "act": draw(st.sampled_from(ACTS))}}
            y.c, y.h, y.w = out, _same_out(y.h, k, s, y.style), _same_out(y.w, k, s, y.style)
        body.append(e)
    f: dict[str, Any] = {"body": body}
    if shortcut != "identity" or draw(st.booleans()):
        f["shortcut"] = shortcut
    if draw(st.booleans()):
        f["post"] = draw(st.sampled_from(["relu", "silu"]))
    if shortcut == "projection" and draw(st.booleans()):
        f["projection_bn"] = False
    x.c, x.h, x.w = y.c, y.h, y.w
    return {"residual": f}


@st.composite
def concat_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    s = draw(st.integers(1, 2))
    branches = []
    total = 0
    h = w = 0
    for _ in range(draw(st.integers(2, 3))):
        y = x.copy()
        k = draw(st.sampled_from([1, 3, 5] if y.style == "torch" else [1, 2, 3, 4, 5]))
        out = draw(st.integers(1, 12))
        branch: list[Any] = [{"conv": {"out": out, "kernel": k, "stride": s, "act": draw(st.sampled_from(ACTS))}}]
        y.c, y.h, y.w = out, _same_out(y.h, k, s, y.style), _same_out(y.w, k, s, y.style)
        if draw(st.booleans()):
            branch.append({"maxpool": {"kernel": 3, "stride": 1, "padding": "same"}})
        if draw(st.booleans()):
            branch.append(draw(dwsep_entry(y, stride_ok=False)))
        branches.append(branch)
        total += y.c
        h, w = y.h, y.w
    x.c, x.h, x.w = total, h, w
    return {"concat": branches}


@st.composite
def modern_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    """Issue 10's vocabulary: layer norm, layer scale, SE, shuffle, a channels-last MLP."""
    kind = draw(st.sampled_from(["layernorm", "layer_scale", "se", "shuffle", "channels_last"]))
    if kind == "layernorm":
        return {"layernorm": {"eps": 1e-6, "affine": draw(st.booleans())}}
    if kind == "layer_scale":
        return {"layer_scale": 0.5}
    if kind == "se":
        return {"se": {"ratio": draw(st.sampled_from([0.25, 0.5, 1.0])), "gate": draw(st.sampled_from(["sigmoid", "hardsigmoid"])),
                       "pool": draw(st.sampled_from(["adaptive", "mean"]))}}
    if kind == "shuffle":
        return {"shuffle": draw(st.sampled_from(_divisors(x.c)))}
    out = draw(st.integers(1, 24))
    x.c = out
    return {"channels_last": [{"layernorm": {}}, {"linear": {"out": out}}, {"act": "gelu"}]}


@st.composite
def layer_entry(draw: Any, x: Shape) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["conv", "conv", "pool", "dwsep", "residual", "concat", "mbconv", "bn", "act", "modern"]))
    trial = x.copy()
    if kind == "bn":
        return "bn" if draw(st.booleans()) else {"bn": {"eps": 0.001}}
    if kind == "act":
        return {"act": draw(st.sampled_from(ACTS[1:]))}
    if kind == "modern":
        entry = draw(modern_entry(trial))
        x.c = trial.c
        return entry
    maker = {"conv": conv_entry, "pool": pool_entry, "dwsep": dwsep_entry, "residual": residual_entry,
             "concat": concat_entry, "mbconv": mbconv_entry}[kind]
    entry = draw(maker(trial))
    if entry is None:
        return None
    if kind in ("conv", "dwsep", "mbconv") and draw(st.integers(0, 4)) == 0:
        # a repeated entry: the stride applies to the first repetition only
        n = draw(st.integers(2, 3))
        body = entry[kind]
        again = {**body, "stride": 1}
        if kind == "conv":
            again.pop("groups", None)
            body.pop("groups", None)
        y = trial.copy()
        for _ in range(n - 1):
            if _apply_again(kind, again, y) is None:
                return None
        entry = {kind: body, "repeat": n}
        trial = y
    x.c, x.h, x.w, x.ok = trial.c, trial.h, trial.w, trial.ok
    return entry


def _apply_again(kind: str, f: dict[str, Any], y: Shape) -> Shape | None:
    """Shape after one more stride-1 repetition of an entry (None if it does not fit)."""
    k = f["kernel"]
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = f.get("padding", "same")
    if kind == "conv" and pad not in ("same",):
        ph, pw = (0, 0) if pad == "valid" else ((pad, pad) if isinstance(pad, int) else pad)
        y.h, y.w = window_out(y.h, kh, 1, (ph, ph)), window_out(y.w, kw, 1, (pw, pw))
    else:
        y.h, y.w = _same_out(y.h, kh, 1, y.style), _same_out(y.w, kw, 1, y.style)
    y.c = f["out"]
    return y if y.h >= 1 and y.w >= 1 else None


@st.composite
def random_spec(draw: Any) -> tuple[str, bool]:
    """YAML text of a random spec and whether every layer fits (then it must resolve)."""
    channels = draw(st.integers(1, 4))
    resolution = draw(st.integers(8, 48))
    style = draw(st.sampled_from(["torch", "torch", "tf"]))
    x = Shape(channels, resolution, resolution, style)
    layers: list[Any] = []
    for _ in range(draw(st.integers(1, 5))):
        entry = draw(layer_entry(x))
        if entry is not None:
            layers.append(entry)
    assume(layers)
    head = draw(st.sampled_from(["none", "gap", "mean", "flatten"]))
    if head != "none":
        if head == "gap":
            layers.append({"avgpool": {"global": True}})
        if head == "mean":
            layers.append("mean")
        else:
            layers.append("flatten")
        fc: dict[str, Any] = {"out": draw(st.integers(1, 10))}
        if draw(st.booleans()):
            fc["act"] = "relu"
        layers.append({"linear": fc, "fixed": True})
        if draw(st.booleans()):
            layers.append("softmax")
    doc: dict[str, Any] = {"name": "random", "input": {"channels": channels, "resolution": resolution}}
    if style == "tf":
        doc["padding_style"] = "tf"
    doc["layers"] = layers
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100), x.ok


def _fvcore_total(module: torch.nn.Module, shape: tuple[int, ...]) -> int:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(module, torch.randn((1,) + shape))
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    return fca.total()


@settings(max_examples=VALID_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_spec())
def test_random_valid_spec_matches_torch(case):
    text, fits = case
    try:
        model = resolve(spec_from_text(text, "random.yaml"))
    except SpecError as exc:
        # the generator tracks shapes: a spec it believes valid must resolve ...
        assert not fits, f"{exc}\n{text}"
        assert "\n" not in str(exc)
        assume(False)
        return
    # ... and one with a layer that does not fit its input must not
    assert fits, f"resolved although a layer does not fit:\n{text}"
    torch.manual_seed(0)
    module = build_module(model)
    report = analyze(model)
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    observed = observe_module(model, module, device="cpu")
    for qual, op in ops(model.root):
        assert observed[qual].in_shape == op.in_shape, (qual, text)
        assert observed[qual].out_shape == op.out_shape, (qual, text)
    assert analyze(model, "fvcore").totals.mult_adds == _fvcore_total(module, model.input_shape), text
    for convention in ("paper", "fvcore", "torchinfo"):
        assert analyze_meta(model, convention).rows == analyze(model, convention).rows


# --- random damage -----------------------------------------------------------------------

MOBILENET = (SPECS / "mobilenet_v1.yaml").read_text(encoding="utf-8")

RANDOM_SCALARS = st.one_of(
    st.integers(-5, 70_000),
    st.sampled_from([0, -1, -3, 10**9, 10**18, 10**400, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["$width", "$num_classes", "$nope", "$", "same", "valid", "relu", "conv", "", "~", "yes"]),
    st.none(),
    st.booleans(),
)
RANDOM_VALUES = st.recursive(
    RANDOM_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
YAML_CHARS = st.text(
    alphabet=st.one_of(st.sampled_from(list("{}[],:-#&*!|>'\"%@`\t\n ?<=~$0123456789")), st.characters()),
    min_size=1,
    max_size=4,
)


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a plain YAML tree, in document order."""
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


@st.composite
def mutated_spec(draw: Any) -> str:
    text = draw(st.one_of(st.just(MOBILENET), random_spec().map(lambda case: case[0])))
    how = draw(st.sampled_from(["delete", "replace", "replace", "duplicate", "drop", "rename", "alias", "insert_text"]))
    if how == "insert_text":
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, len(text)))
            text = text[:pos] + draw(YAML_CHARS) + text[pos:]
        return text
    doc = yaml.safe_load(text)
    slots = _slots(doc, [])
    if how in ("duplicate", "drop"):
        slots = [(c, k) for c, k in slots if isinstance(c, list)] or slots
    if how in ("delete", "rename"):
        slots = [(c, k) for c, k in slots if isinstance(c, dict)] or slots
    container, key = slots[draw(st.integers(0, len(slots) - 1))]
    if how == "replace":
        container[key] = draw(RANDOM_VALUES)
    elif how == "alias":
        # share a value (or the whole document) here: the dump writes an anchor and an alias,
        # recursive when the value contains this very slot
        targets = [doc] + [c[k] for c, k in _slots(doc, []) if isinstance(c[k], (dict, list))]
        container[key] = targets[draw(st.integers(0, len(targets) - 1))]
    elif how == "delete" or (how == "drop" and isinstance(container, dict)):
        del container[key]
    elif how == "drop":
        container.pop(key)
    elif how == "duplicate":
        if isinstance(container, list):
            container.insert(key, container[key])
        else:
            container[f"{key}_copy"] = container[key]
    else:
        new = draw(st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(
            [f"{key}s", str(key)[:-1] or "x", str(key).upper(), "name", "repeat", "when", "conv", "layers"])))
        value = container.pop(key) if isinstance(container, dict) else container[key]
        if isinstance(container, dict):
            container[new] = value
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)


def _loads_or_fails_cleanly(text: str, source: str) -> None:
    try:
        model = resolve(spec_from_text(text, source))
        analyze(model)
        analyze_meta(model)
    except CnnInspectError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, repr(message)
        assert len(message) < 2000, message[:200]
        if isinstance(exc, SpecError):
            assert exc.loc is not None and exc.loc.file == source, message
            assert exc.loc.line is not None, message


@settings(max_examples=MUTATION_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated_spec())
def test_mutated_spec_loads_or_fails_cleanly(text):
    _loads_or_fails_cleanly(text, "mutated.yaml")


@settings(max_examples=CLI_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated_spec())
def test_mutated_spec_through_the_cli(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.yaml"
        path.write_text(text, encoding="utf-8")
        r = invoke("summary", str(path))
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
        if r.exit_code == 2:
            assert r.stdout == ""
            assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {path}"), r.stderr


@pytest.mark.parametrize(
    "text",
    [
        # found by the properties above; kept as plain regressions
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n  - name: training\n    conv: {out: 8, kernel: 3}\n",
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n  - dropout: {p: " + "9" * 400 + "}\n",
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n  - act: re\x00lu\n",
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n  - residual: {body: []}\n",
    ],
)
def test_regressions_fail_cleanly(text):
    with pytest.raises(CnnInspectError):
        resolve(spec_from_text(text, "regression.yaml"))
