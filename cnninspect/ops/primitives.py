"""Primitive operations: the leaves of a resolved model.

Each primitive (``conv2d``, ``bn2d``, ``act`` ...) is registered once as an :class:`OpType`
holding pure-Python shape inference and parameter counting, plus the name of the
``torch.nn.Module`` class the builder makes for it. Nothing here imports torch: the same
rules serve the torch-free ``spec`` engine (``list``, ``sweep``) and are cross-checked against
real modules in the tests.

Shapes are per sample, batch dimension excluded: ``(C, H, W)`` for feature maps and
``(F,)`` for flat vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]
ParamCounts = Mapping[str, tuple[int, bool]]  # parameter name -> (numel, trainable)


class ShapeError(ValueError):
    """The op cannot run on this input shape; the message says why in user terms."""


@dataclass(frozen=True)
class ActParam:
    """A parameter of an activation function, named as the ``torch.nn`` class's argument.

    ``kind`` is ``number`` (a finite float), ``choice`` (one of ``choices``) or ``count`` (a
    positive integer or ``channels``: PReLU's ``num_parameters``, one slope per channel).
    """

    name: str
    default: Any
    help: str
    kind: str = "number"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Activation:
    """A registered activation function: ``torch_class`` names the module the builder makes
    (with ``params`` as its keyword arguments); ``learned`` marks one with a parameter
    tensor (PReLU's ``weight``, ``num_parameters`` slopes)."""

    name: str
    torch_class: str
    formula: str
    aliases: tuple[str, ...] = ()
    params: tuple[ActParam, ...] = ()
    learned: bool = False


ACTIVATIONS: dict[str, Activation] = {}
ACTIVATION_ALIASES: dict[str, str] = {}


def register_activation(act: Activation) -> None:
    ACTIVATIONS[act.name] = act
    for alias in act.aliases:
        ACTIVATION_ALIASES[alias] = act.name


_ALPHA = ActParam("alpha", 1.0, "alpha")
for _act in (
    Activation("step", "Step", "0 if z < 0 else 1"),
    Activation("signum", "Signum", "-1, 0 or 1 by the sign of z", ("sign",)),
    Activation("linear", "Identity", "z (no non-linearity)", ("identity",)),
    Activation("relu", "ReLU", "max(0, z)"),
    Activation("relu6", "ReLU6", "min(max(0, z), 6)"),
    Activation("sigmoid", "Sigmoid", "1 / (1 + exp(-z))", ("logistic",)),
    Activation("tanh", "Tanh", "tanh(z)"),
    Activation("scaled_tanh", "ScaledTanh", "1.7159 * tanh(2z/3) (LeCun et al. 1998)", ("lecun_tanh",)),
    Activation("silu", "SiLU", "z * sigmoid(z)", ("swish",)),
    Activation("hardswish", "Hardswish", "z * relu6(z + 3) / 6", ("hard_swish",)),
    Activation("hardsigmoid", "Hardsigmoid", "relu6(z + 3) / 6", ("hard_sigmoid",)),
    Activation("gelu", "GELU", "z * Phi(z), Phi the standard normal CDF (exact, or its tanh approximation)",
               params=(ActParam("approximate", "none", "none (exact) or tanh", "choice", ("none", "tanh")),)),
    Activation("mish", "Mish", "z * tanh(softplus(z))"),
    Activation("leaky_relu", "LeakyReLU", "z if z >= 0 else negative_slope * z", ("leakyrelu",),
               (ActParam("negative_slope", 0.01, "slope for z < 0"),)),
    Activation("prelu", "PReLU", "z if z >= 0 else a * z, a learned (one, or one per channel)", (),
               (ActParam("num_parameters", 1, "learned slopes: 1 or channels (one per channel)", "count"),
                ActParam("init", 0.25, "initial slope")), learned=True),
    Activation("elu", "ELU", "z if z > 0 else alpha * (exp(z) - 1)", (), (_ALPHA,)),
    Activation("selu", "SELU", "1.0507 * (z if z > 0 else 1.67326 * (exp(z) - 1))"),
    Activation("celu", "CELU", "max(0, z) + min(0, alpha * (exp(z / alpha) - 1))", (), (_ALPHA,)),
    Activation("softplus", "Softplus", "log(1 + exp(beta * z)) / beta (z above threshold / beta)", (),
               (ActParam("beta", 1.0, "beta"), ActParam("threshold", 20.0, "linear above threshold / beta"))),
    Activation("hardtanh", "Hardtanh", "min(max(min_val, z), max_val)", (),
               (ActParam("min_val", -1.0, "lower bound"), ActParam("max_val", 1.0, "upper bound"))),
    Activation("logsigmoid", "LogSigmoid", "log(sigmoid(z))", ("log_sigmoid",)),
    Activation("softsign", "Softsign", "z / (1 + |z|)"),
    Activation("tanhshrink", "Tanhshrink", "z - tanh(z)"),
):
    register_activation(_act)

ACT_PARAMS: dict[str, ActParam] = {p.name: p for a in ACTIVATIONS.values() for p in a.params}


def parse_activation(text: str) -> tuple[str, dict[str, Any]]:
    """An activation as the spec writes it: ``name`` or ``name(param=value, ...)`` (also
    positional, in the registry's order: ``leaky_relu(0.1)``); returns the canonical name
    and the parameters given. Raises ``ValueError`` with a message for a person."""
    head, paren, rest = text.strip().partition("(")
    key = head.strip().lower()
    name = ACTIVATION_ALIASES.get(key, key)
    if name not in ACTIVATIONS:
        raise KeyError(key)
    act = ACTIVATIONS[name]
    given: dict[str, Any] = {}
    if paren:
        if not rest.rstrip().endswith(")"):
            raise ValueError(f"{text.strip()!r} misses its closing ')'")
        body = rest.rstrip()[:-1].strip()
        for i, part in enumerate(p.strip() for p in body.split(",") if p.strip()) if body else ():
            pname, eq, value = part.partition("=")
            if not eq:
                if i >= len(act.params):
                    raise ValueError(f"{name} takes {len(act.params)} parameter(s), got more")
                pname, value = act.params[i].name, part
            given[pname.strip()] = value.strip()
    return name, check_activation_params(name, given)


def check_activation_params(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``given`` parameters of activation ``name`` (text or values); returns them
    typed. Unknown names, wrong types and PReLU's ``num_parameters`` other than 1 or
    ``channels`` are refused with a message naming what the activation takes."""
    act = ACTIVATIONS[name]
    known = {p.name: p for p in act.params}
    out: dict[str, Any] = {}
    for pname, value in given.items():
        if pname not in known:
            takes = ", ".join(known) if known else "no parameters"
            raise ValueError(f"{name} has no parameter {pname!r}; it takes {takes}")
        p = known[pname]
        if p.kind == "choice":
            v = str(value).strip().strip("'\"").lower()
            if v not in p.choices:
                raise ValueError(f"{name}'s {pname} must be one of {', '.join(p.choices)}, got {value!r}")
            out[pname] = v
        elif p.kind == "count":
            v = str(value).strip().strip("'\"").lower()
            if v != "channels" and v != "1":
                raise ValueError(f"{name}'s {pname} must be 1 or channels (one per channel), got {value!r}")
            out[pname] = 1 if v == "1" else "channels"
        else:
            try:
                number = float(value) if not isinstance(value, bool) else math.nan
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise ValueError(f"{name}'s {pname} must be a number, got {value!r}")
            out[pname] = number
    if name == "hardtanh":
        lo, hi = out.get("min_val", -1.0), out.get("max_val", 1.0)
        if lo >= hi:
            raise ValueError(f"hardtanh's min_val {lo:g} must be below its max_val {hi:g}")
    return out


def activation_text(name: str, params: Mapping[str, Any]) -> str:
    """The canonical spelling: ``name``, or ``name(param=value, ...)`` for parameters that
    differ from their defaults (in the registry's order)."""
    shown = [(p.name, params[p.name]) for p in ACTIVATIONS[name].params
             if p.name in params and params[p.name] != p.default]
    if not shown:
        return name
    return name + "(" + ", ".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in shown) + ")"


def activation_attrs(value: str, channels: int | None = None) -> dict[str, Any]:
    """The attributes of an ``act`` op from an activation value (``relu``,
    ``leaky_relu(negative_slope=0.1)``): ``fn`` plus the parameters that differ from their
    defaults; PReLU's ``num_parameters: channels`` becomes the channel count."""
    name, params = parse_activation(value)
    attrs: dict[str, Any] = {"fn": name}
    for p in ACTIVATIONS[name].params:
        if p.name in params and params[p.name] != p.default:
            attrs[p.name] = params[p.name]
    if attrs.get("num_parameters") == "channels":
        if channels is None:
            raise ShapeError("prelu with num_parameters: channels needs a tensor with channels")
        attrs["num_parameters"] = channels
    return attrs


def activation_kwargs(attrs: Attrs) -> dict[str, Any]:
    """Keyword arguments of the activation's ``torch.nn`` class: every parameter, defaults
    filled in."""
    act = ACTIVATIONS[attrs["fn"]]
    return {p.name: attrs.get(p.name, p.default) for p in act.params}


@dataclass(frozen=True)
class OpType:
    """A primitive operation.

    ``infer`` maps (attrs, input shape) to the output shape or raises :class:`ShapeError`;
    ``params`` lists parameter tensors by name as (numel, trainable), matching the names of
    the torch module's ``named_parameters``; ``torch_class`` names that module's class.
    ``channels_last`` marks ops that may run on a channels-last tensor (``H x W x C``, inside
    a ``channels_last`` block): elementwise ops and ops over the last dimension.
    """

    kind: str
    title: str
    infer: Callable[[Attrs, Shape], Shape]
    params: Callable[[Attrs, Shape], ParamCounts]
    torch_class: Callable[[Attrs], str]
    channels_last: bool = False


OPS: dict[str, OpType] = {}


def register_op(op: OpType) -> OpType:
    if op.kind in OPS:
        raise ValueError(f"op kind {op.kind!r} registered twice")
    OPS[op.kind] = op
    return op


def _no_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    return {}


def _const(name: str) -> Callable[[Attrs], str]:
    return lambda attrs: name


def _need_map(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a feature map (channels x height x width) but its input is the flat "
            f"vector {fmt_shape(shape)}"
        )
    return shape[0], shape[1], shape[2]


def fmt_shape(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def window_out(size: int, k: int, s: int, pad: tuple[int, int], ceil_mode: bool = False, dilation: int = 1) -> int:
    """Output length of a sliding window, with PyTorch's rounding (incl. ``ceil_mode``)."""
    span = dilation * (k - 1) + 1
    total = size + pad[0] + pad[1] - span
    if total < 0:
        return 0
    if ceil_mode:
        out = -(-total // s) + 1
        # PyTorch: the last window must start inside the input or the left padding
        if (out - 1) * s >= size + pad[0]:
            out -= 1
        return out
    return total // s + 1


def tf_same_pad(size: int, k: int, s: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after): output ceil(size/s), extra pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(
    mode: Any,
    style: str,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> tuple[tuple[int, int, int, int], str]:
    """Turn a spec padding (``same``/``valid``/int pair) into explicit (top, bottom, left, right).

    ``same`` with the ``torch`` style pads half the dilated kernel span, d(k-1)/2, on both
    sides (PyTorch's symmetric padding); with the ``tf`` style it pads like TensorFlow,
    asymmetrically when the stride is 2. The returned tag names what was used, for the report.
    """
    if mode == "valid":
        return (0, 0, 0, 0), "valid"
    if mode == "same":
        if style == "tf":
            t, b = tf_same_pad(in_hw[0], kernel[0], stride[0], dilation[0])
            left, r = tf_same_pad(in_hw[1], kernel[1], stride[1], dilation[1])
            return (t, b, left, r), "same-tf"
        span = (dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1))
        if span[0] % 2 or span[1] % 2:
            raise ShapeError(
                f"'same' padding with the even kernel {kernel[0]}x{kernel[1]} needs asymmetric "
                "padding; use padding_style: tf or an explicit padding"
            )
        return (span[0] // 2, span[0] // 2, span[1] // 2, span[1] // 2), "same"
    ph, pw = mode
    return (ph, ph, pw, pw), f"{ph}" if ph == pw else f"{ph},{pw}"


def _window_shape(attrs: Attrs, shape: Shape, what: str, out_ch: int) -> Shape:
    c, h, w = _need_map(shape, what)
    kh, kw = attrs["kernel"]
    sh, sw = attrs["stride"]
    t, b, left, r = attrs["pad"]
    ceil_mode = bool(attrs.get("ceil_mode", False))
    dh, dw = attrs.get("dilation", (1, 1))
    oh = window_out(h, kh, sh, (t, b), ceil_mode, dh)
    ow = window_out(w, kw, sw, (left, r), ceil_mode, dw)
    if oh <= 0 or ow <= 0:
        dilated = f" dilated {dh}x{dw}" if (dh, dw) != (1, 1) else ""
        raise ShapeError(
            f"{what} {kh}x{kw}/{sh}{dilated} with padding {t},{b},{left},{r} does not fit its "
            f"{h}x{w} input; the input resolution is too small for this network"
        )
    return (out_ch, oh, ow)


# --- convolution -----------------------------------------------------------------------


def _conv_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "convolution")[0]
    if c != attrs["in_ch"]:
        raise ShapeError(f"convolution expects {attrs['in_ch']} input channels, got {c}")
    g = attrs["groups"]
    if attrs["in_ch"] % g or attrs["out_ch"] % g:
        raise ShapeError(
            f"groups={g} must divide both input channels ({attrs['in_ch']}) and output "
            f"channels ({attrs['out_ch']})"
        )
    return _window_shape(attrs, shape, "convolution", attrs["out_ch"])


def _conv_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    kh, kw = attrs["kernel"]
    p = {"weight": (attrs["out_ch"] * (attrs["in_ch"] // attrs["groups"]) * kh * kw, True)}
    if attrs["bias"]:
        p["bias"] = (attrs["out_ch"], True)
    return p


register_op(
    OpType(
        "conv2d",
        "2-D convolution",
        _conv_infer,
        _conv_params,
        lambda a: "Conv2dSame" if a.get("pad_tag") == "same-tf" else "Conv2d",
    )
)


def _table_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "connection-table convolution")[0]
    if c != attrs["in_ch"]:
        raise ShapeError(f"convolution expects {attrs['in_ch']} input channels, got {c}")
    for i, row in enumerate(attrs["connections"]):
        bad = [x for x in row if x >= c]
        if bad:
            raise ShapeError(
                f"connections row {i} names input map {bad[0]} but the input has {c} maps "
                f"(0..{c - 1})"
            )
    return _window_shape(attrs, shape, "convolution", attrs["out_ch"])


def _table_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    kh, kw = attrs["kernel"]
    n = sum(len(r) for r in attrs["connections"])
    p = {"weight": (n * kh * kw, True)}
    if attrs["bias"]:
        p["bias"] = (attrs["out_ch"], True)
    return p


register_op(
    OpType(
        "conv_table",
        "convolution with a connection table",
        _table_infer,
        _table_params,
        _const("ConnectionTableConv2d"),
    )
)


# --- dense -------------------------------------------------------------------------------


def _need_flat(shape: Shape, what: str) -> int:
    if len(shape) != 1:
        raise ShapeError(
            f"{what} needs a flat input but gets the feature map {fmt_shape(shape)}; add "
            "'- flatten' (after a global pool) before it"
        )
    return shape[0]


def _linear_infer(attrs: Attrs, shape: Shape) -> Shape:
    """A flat vector, or (``channels_last``) the last dimension of an ``H x W x C`` tensor: the
    same weights at every position, as ``nn.Linear`` on a channels-last tensor computes."""
    if attrs.get("channels_last"):
        if len(shape) != 3:
            raise ShapeError(f"a channels-last fully connected layer needs an HxWxC tensor, got {fmt_shape(shape)}")
        f = shape[-1]
    else:
        f = _need_flat(shape, "a fully connected layer")
    if f != attrs["in_f"]:
        raise ShapeError(f"fully connected layer expects {attrs['in_f']} inputs, got {f}")
    return tuple(shape[:-1]) + (attrs["out_f"],)


def _linear_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    p = {"weight": (attrs["in_f"] * attrs["out_f"], True)}
    if attrs["bias"]:
        p["bias"] = (attrs["out_f"], True)
    return p


register_op(OpType("linear", "fully connected", _linear_infer, _linear_params, _const("Linear"), channels_last=True))


def _rbf_infer(attrs: Attrs, shape: Shape) -> Shape:
    f = _need_flat(shape, "an RBF output layer")
    if f != attrs["in_f"]:
        raise ShapeError(f"RBF layer expects {attrs['in_f']} inputs, got {f}")
    return (attrs["out_f"],)


register_op(
    OpType(
        "rbf",
        "Euclidean RBF units with fixed prototypes",
        _rbf_infer,
        lambda a, s: {"weight": (a["in_f"] * a["out_f"], False)},
        _const("RBFOutput"),
    )
)


# --- normalisation and elementwise ------------------------------------------------------


def _same_channels(what: str) -> Callable[[Attrs, Shape], Shape]:
    def infer(attrs: Attrs, shape: Shape) -> Shape:
        c = _need_map(shape, what)[0]
        if c != attrs["ch"]:
            raise ShapeError(f"{what} expects {attrs['ch']} channels, got {c}")
        return shape

    return infer


register_op(
    OpType(
        "bn2d",
        "batch normalisation",
        _same_channels("batch normalisation"),
        lambda a, s: {"weight": (a["ch"], True), "bias": (a["ch"], True)},
        _const("BatchNorm2d"),
    )
)


def _passthrough(attrs: Attrs, shape: Shape) -> Shape:
    return shape


register_op(OpType("identity", "identity", _passthrough, _no_params, _const("Identity"), channels_last=True))


def _take_infer(attrs: Attrs, shape: Shape) -> Shape:
    return tuple(attrs["shape"])


# a concat's ``from``: the output of the earlier entry at module path ``point`` (its shape
# ``shape``), whatever the running tensor is; the builder keeps that output until it is taken
register_op(OpType("take", "the output of an earlier entry (a concat's 'from')", _take_infer, _no_params,
                   _const("TakePoint")))
def _act_infer(attrs: Attrs, shape: Shape) -> Shape:
    n = attrs.get("num_parameters", 1)
    if n != 1:
        c = shape[0] if shape else 1  # PReLU's slopes run along dim 1 of the batch: channels
        if n != c:
            raise ShapeError(f"prelu has {n} slopes but its input has {c} channels")
    return shape


def _act_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    if not ACTIVATIONS[attrs["fn"]].learned:
        return {}
    return {"weight": (attrs.get("num_parameters", 1), True)}


register_op(
    OpType(
        "act",
        "activation",
        _act_infer,
        _act_params,
        lambda a: ACTIVATIONS[a["fn"]].torch_class,
        channels_last=True,
    )
)
register_op(
    OpType("dropout", "dropout (training only)", _passthrough, _no_params, _const("Dropout"), channels_last=True)
)
register_op(
    OpType(
        "drop_path",
        "stochastic depth (training only)",
        _passthrough,
        _no_params,
        _const("StochasticDepth"),
        channels_last=True,
    )
)


register_op(
    OpType(
        "bn_act2d",
        "batch norm with its activation in one module (timm's BatchNormAct2d)",
        _same_channels("batch normalisation"),
        lambda a, s: {"weight": (a["ch"], True), "bias": (a["ch"], True)},
        _const("BatchNormAct2d"),
    )
)


def _flat_features(attrs: Attrs, shape: Shape, what: str) -> Shape:
    f = _need_flat(shape, what)
    if f != attrs["ch"]:
        raise ShapeError(f"{what} expects {attrs['ch']} features, got {f}")
    return shape


register_op(
    OpType(
        "bn1d",
        "batch normalisation of a flat vector",
        lambda a, s: _flat_features(a, s, "batch normalisation"),
        lambda a, s: {"weight": (a["ch"], True), "bias": (a["ch"], True)},
        _const("BatchNorm1d"),
    )
)


def _over_channels(what: str) -> Callable[[Attrs, Shape], Shape]:
    """Shape rule of an op over channels: ``dim: channels`` on a ``C x H x W`` map (or its
    ``C x 1 x 1`` pooled form), ``dim: last`` on the last dimension of any tensor."""

    def infer(attrs: Attrs, shape: Shape) -> Shape:
        if attrs["dim"] == "channels":
            c = _need_map(shape, what)[0]
        else:
            if not shape:
                raise ShapeError(f"{what} needs a tensor with a channel dimension")
            c = shape[-1]
        if c != attrs["ch"]:
            raise ShapeError(f"{what} expects {attrs['ch']} channels, got {c}")
        return shape

    return infer


def _layernorm_params(attrs: Attrs, shape: Shape) -> ParamCounts:
    if not attrs["affine"]:
        return {}
    return {"weight": (attrs["ch"], True), "bias": (attrs["ch"], True)}


register_op(
    OpType(
        "layernorm",
        "layer normalisation over channels",
        _over_channels("layer normalisation"),
        _layernorm_params,
        lambda a: "LayerNorm2d" if a["dim"] == "channels" else "LayerNorm",
        channels_last=True,
    )
)
register_op(
    OpType(
        "layer_scale",
        "layer scale: a learned per-channel multiply",
        _over_channels("layer scale"),
        lambda a, s: {"gamma": (a["ch"], True)},
        _const("LayerScale"),
        channels_last=True,
    )
)


def _permute_infer(attrs: Attrs, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"a permute to {attrs['to']} needs a 3-dimensional tensor, got {fmt_shape(shape)}")
    if attrs["to"] == "channels_last":
        return (shape[1], shape[2], shape[0])
    return (shape[2], shape[0], shape[1])


register_op(
    OpType(
        "permute",
        "permute between channels-first (C x H x W) and channels-last (H x W x C)",
        _permute_infer,
        _no_params,
        _const("Permute"),
        channels_last=True,
    )
)


def _split_infer(attrs: Attrs, shape: Shape) -> Shape:
    c, h, w = _need_map(shape, "a channel split")
    start, stop = attrs["start"], attrs["stop"]
    if not 0 <= start < stop <= c:
        raise ShapeError(f"a channel split takes channels {start}..{stop - 1} but the input has {c} (0..{c - 1})")
    return (stop - start, h, w)


register_op(
    OpType(
        "channel_split",
        "channel split: a contiguous slice of the input's channels",
        _split_infer,
        _no_params,
        _const("ChannelSplit"),
    )
)


def _shuffle_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "a channel shuffle")[0]
    if c % attrs["groups"]:
        raise ShapeError(f"a channel shuffle in {attrs['groups']} groups needs channels divisible by it, got {c}")
    return shape


register_op(
    OpType(
        "channel_shuffle",
        "channel shuffle: interleave the channels of groups (ShuffleNet)",
        _shuffle_infer,
        _no_params,
        _const("ChannelShuffle"),
    )
)


def _lrn_infer(attrs: Attrs, shape: Shape) -> Shape:
    _need_map(shape, "local response normalisation")
    return shape


register_op(
    OpType("lrn", "local response normalisation", _lrn_infer, _no_params, _const("LocalResponseNorm"))
)


def _softmax_infer(attrs: Attrs, shape: Shape) -> Shape:
    _need_flat(shape, "softmax")
    return shape


register_op(OpType("softmax", "softmax", _softmax_infer, _no_params, _const("Softmax")))


def _flatten_infer(attrs: Attrs, shape: Shape) -> Shape:
    return (math.prod(shape),)


register_op(OpType("flatten", "flatten", _flatten_infer, _no_params, _const("Flatten")))


# --- pooling ----------------------------------------------------------------------------


def _pool_infer(what: str) -> Callable[[Attrs, Shape], Shape]:
    def infer(attrs: Attrs, shape: Shape) -> Shape:
        c = _need_map(shape, what)[0]
        kh, kw = attrs["kernel"]
        t, b, left, r = attrs["pad"]
        if max(t, b) > kh // 2 or max(left, r) > kw // 2:
            raise ShapeError(f"{what} padding must be at most half the kernel size")
        return _window_shape(attrs, shape, what, c)

    return infer


register_op(OpType("maxpool2d", "max pooling", _pool_infer("max pooling"), _no_params, _const("MaxPool2d")))
register_op(
    OpType("avgpool2d", "average pooling", _pool_infer("average pooling"), _no_params, _const("AvgPool2d"))
)


def adaptive_size(attrs: Attrs) -> tuple[int, int]:
    """The output size of an adaptive pool: ``size`` when given (``AdaptiveAvgPool2d((7, 7))``),
    else 1 x 1 (global pooling)."""
    size = attrs.get("size", (1, 1))
    return (int(size[0]), int(size[1]))


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows along one axis: output ``j`` pools input positions
    ``floor(j * size / out)`` to ``ceil((j + 1) * size / out) - 1`` (unequal, and overlapping,
    when ``out`` does not divide ``size``)."""
    return [(j * size // out, -(-(j + 1) * size // out)) for j in range(out)]


def _global_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "global pooling" if "size" not in attrs else "adaptive pooling")[0]
    return (c,) + adaptive_size(attrs)


register_op(
    OpType("gavgpool", "global average pooling", _global_infer, _no_params, _const("AdaptiveAvgPool2d"))
)


def _mean_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "a global mean")[0]
    return (c, 1, 1) if attrs["keepdim"] else (c,)


register_op(
    OpType(
        "mean",
        "global average pooling computed as x.mean((2, 3))",
        _mean_infer,
        _no_params,
        _const("GlobalMean"),
    )
)
register_op(
    OpType("gmaxpool", "global max pooling", _global_infer, _no_params, _const("AdaptiveMaxPool2d"))
)


def _subsample_infer(attrs: Attrs, shape: Shape) -> Shape:
    c = _need_map(shape, "subsampling")[0]
    if c != attrs["ch"]:
        raise ShapeError(f"subsampling expects {attrs['ch']} maps, got {c}")
    return _window_shape(attrs, shape, "subsampling", c)


register_op(
    OpType(
        "subsample",
        "trainable subsampling: window average x learned coefficient + learned bias",
        _subsample_infer,
        lambda a, s: {"weight": (a["ch"], True), "bias": (a["ch"], True)},
        _const("Subsample2d"),
    )
)


def kernel_stride(kind: str, attrs: Attrs, in_shape: Shape) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Kernel and stride of an op for display; global pools report their whole input window."""
    if kind in ("gavgpool", "gmaxpool") and "size" in attrs and len(in_shape) == 3:
        # an adaptive pool to a fixed size is a plain window only when the size divides the input
        (oh, ow), (h, w) = adaptive_size(attrs), in_shape[1:]
        if h % oh or w % ow:
            return None, None
        return (h // oh, w // ow), (h // oh, w // ow)
    if kind in ("gavgpool", "gmaxpool", "mean") and len(in_shape) == 3:
        return (in_shape[1], in_shape[2]), (1, 1)
    return attrs.get("kernel"), attrs.get("stride")
