"""What the op-kind records (:mod:`cnninspect.ops.kinds`) share: shapes, shape errors and
window arithmetic with PyTorch's rounding, padding modes, adaptive-pooling windows, and the
registry of activation functions (the ``act`` kind's ``fn``). Nothing here imports torch.

Shapes are per sample, batch dimension excluded: ``(C, H, W)`` for feature maps and
``(F,)`` for flat vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

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


def need_map(shape: Shape, what: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of a feature map, or a :class:`ShapeError` saying ``what`` needs one."""
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


def window_shape(attrs: Attrs, shape: Shape, what: str, out_ch: int) -> Shape:
    """``(out_ch, H_out, W_out)`` of a sliding window with the op's ``kernel``, ``stride``,
    ``pad`` and optional ``ceil_mode`` and ``dilation``."""
    c, h, w = need_map(shape, what)
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


def need_flat(shape: Shape, what: str) -> int:
    """The size of a flat vector, or a :class:`ShapeError` saying ``what`` needs one."""
    if len(shape) != 1:
        raise ShapeError(
            f"{what} needs a flat input but gets the feature map {fmt_shape(shape)}; add "
            "'- flatten' (after a global pool) before it"
        )
    return shape[0]


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
