"""Layer types of the spec language: a registry of field schemas and expansion functions.

Each :class:`LayerType` declares its fields (which drive validation, defaults, width scaling
and ``cnninspect layer-types``) and an ``expand`` function that turns one resolved entry into
IR nodes through the :class:`~cnninspect.resolve.Scope` API. Blocks such as ``dwsep``,
``mbconv``, ``basic``, ``bottleneck`` and ``inception`` expand into the same generic
structures (``residual``, ``concat``, ``gate``) that specs may also write out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Mapping

from . import limits
from .fields import (
    Bool,
    Branches,
    Choice,
    Field,
    Float,
    Int,
    IntTable,
    Layers,
    OptionalKind,
    Padding,
    Pair,
    Shortcut,
)
from .ops import ACTIVATION_ALIASES, ACTIVATIONS, fmt_shape

if TYPE_CHECKING:
    from .resolve import Expansion

COMMON_KEYS = ("name", "repeat", "when", "fixed", "min_width", "paper")


@dataclass(frozen=True)
class LayerType:
    """A spec layer type.

    ``primary`` names the field set by the scalar shorthand (``- act: relu``); ``category``
    is ``primitive``, ``block`` or ``structure`` (for the docs); ``label`` gives the display
    name of the resulting block (e.g. ``MBConv6, k3x3``).
    """

    name: str
    help: str
    fields: tuple[Field, ...]
    expand: Callable[[Expansion], None]
    label: Callable[[Mapping[str, Any]], str]
    aliases: tuple[str, ...] = ()
    primary: str | None = None
    category: str = "primitive"


LAYER_TYPES: dict[str, LayerType] = {}
TYPE_ALIASES: dict[str, str] = {}


def register(lt: LayerType) -> LayerType:
    if lt.name in LAYER_TYPES:
        raise ValueError(f"layer type {lt.name!r} registered twice")
    LAYER_TYPES[lt.name] = lt
    for alias in lt.aliases:
        TYPE_ALIASES[alias] = lt.name
    return lt


ACT = Choice(tuple(ACTIVATIONS), ACTIVATION_ALIASES)
OPT_ACT = OptionalKind(ACT)
CH = Int(1, limits.MAX_CHANNELS)
KERNEL = Pair(1, limits.MAX_KERNEL, "kernel size")
STRIDE = Pair(1, limits.MAX_KERNEL, "stride")
AUTO_BIAS = OptionalKind(Bool(), absent="automatic (a bias only without batch norm)")


def _k(f: Mapping[str, Any]) -> str:
    kh, kw = f["kernel"]
    return f"{kh}x{kw}"


def _fmt_num(x: float) -> str:
    return f"{x:g}"


# --- primitives -------------------------------------------------------------------------


def _expand_conv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name,
        f"Conv{_k(f)}",
        out=f["out"],
        kernel=f["kernel"],
        stride=f["stride"],
        padding=f["padding"],
        groups=f["groups"],
        bias=f["bias"],
        bn=f["bn"],
        act=f["act"],
        connections=f["connections"],
    )


register(
    LayerType(
        "conv",
        "2-D convolution, optionally followed by batch norm and an activation; with "
        "'connections' each output map sees only the listed input maps (LeNet-5's C3).",
        (
            Field("out", CH, help="output channels", channels=True),
            Field("kernel", KERNEL, help="kernel size"),
            Field("stride", STRIDE, (1, 1), "stride"),
            Field("padding", Padding(), "same", "same (see padding_style), valid, or explicit"),
            Field("groups", Int(1, limits.MAX_CHANNELS), 1, "channel groups"),
            Field("bias", AUTO_BIAS, None, "learned bias (default: only without batch norm)"),
            Field("bn", Bool(), False, "batch norm after the convolution"),
            Field("act", OPT_ACT, None, "activation after batch norm"),
            Field("connections", OptionalKind(IntTable()), None, "connection table: per output map, its input maps"),
        ),
        _expand_conv,
        lambda f: f"Conv{_k(f)}",
    )
)


def _expand_dwconv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name, f"DWConv{_k(f)}", out=0, kernel=f["kernel"], stride=f["stride"], padding=f["padding"],
        bias=f["bias"], bn=f["bn"], act=f["act"], depthwise=True,
    )


register(
    LayerType(
        "dwconv",
        "depthwise convolution (one filter per input channel)",
        (
            Field("kernel", KERNEL, (3, 3), "kernel size"),
            Field("stride", STRIDE, (1, 1), "stride"),
            Field("padding", Padding(), "same", "padding"),
            Field("bias", AUTO_BIAS, None, "learned bias (default: only without batch norm)"),
            Field("bn", Bool(), False, "batch norm"),
            Field("act", OPT_ACT, None, "activation"),
        ),
        _expand_dwconv,
        lambda f: f"DWConv{_k(f)}",
        aliases=("depthwise",),
    )
)


def _expand_pwconv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name, "Conv1x1", out=f["out"], kernel=(1, 1), bias=f["bias"], bn=f["bn"], act=f["act"],
        padding="valid",
    )


register(
    LayerType(
        "pwconv",
        "pointwise (1x1) convolution",
        (
            Field("out", CH, help="output channels", channels=True),
            Field("bias", AUTO_BIAS, None, "learned bias (default: only without batch norm)"),
            Field("bn", Bool(), False, "batch norm"),
            Field("act", OPT_ACT, None, "activation"),
        ),
        _expand_pwconv,
        lambda f: "Conv1x1",
        aliases=("pointwise",),
    )
)


def _expand_dwsep(e: Expansion) -> None:
    f = e.f
    if not f["separable"]:
        e.scope.conv_unit(
            e.name, f"Conv{_k(f)}", out=f["out"], kernel=f["kernel"], stride=f["stride"],
            padding=f["padding"], bn=f["bn"], act=f["act"],
        )
        return
    s = e.scope.child(e.name, "DWSep")
    s.conv_unit("dw", f"DWConv{_k(f)}", out=0, kernel=f["kernel"], stride=f["stride"], padding=f["padding"],
                bn=f["bn"], act=f["act"], depthwise=True)
    s.conv_unit("pw", "Conv1x1", out=f["out"], kernel=(1, 1), padding="valid", bn=f["bn"], act=f["act"])
    s.close(attach=True)


register(
    LayerType(
        "dwsep",
        "depthwise-separable convolution (MobileNet): depthwise kxk + BN + act, then "
        "pointwise 1x1 + BN + act; with separable: false, one full kxk convolution instead "
        "(the paper's 'Conv MobileNet')",
        (
            Field("out", CH, help="output channels", channels=True),
            Field("kernel", KERNEL, (3, 3), "depthwise kernel size"),
            Field("stride", STRIDE, (1, 1), "stride of the depthwise convolution"),
            Field("padding", Padding(), "same", "padding of the depthwise convolution"),
            Field("bn", Bool(), True, "batch norm after each convolution"),
            Field("act", OPT_ACT, "relu", "activation after each batch norm"),
            Field("separable", Bool(), True, "false: a full convolution instead"),
        ),
        _expand_dwsep,
        lambda f: "DWSep" if f["separable"] else f"Conv{_k(f)}",
        category="block",
    )
)


def _expand_bn(e: Expansion) -> None:
    shape = e.scope.shape
    if len(shape) != 3:
        raise e.scope.error(f"batch norm needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    e.scope.op(e.name, "bn2d", ch=shape[0], eps=e.f["eps"])


register(
    LayerType(
        "bn",
        "batch normalisation over channels (2 learned parameters per channel)",
        (Field("eps", Float(0, 1, low_open=True), 1e-5, "numerical epsilon"),),
        _expand_bn,
        lambda f: "BatchNorm",
        aliases=("batchnorm",),
    )
)


def _expand_act(e: Expansion) -> None:
    e.scope.op(e.name, "act", fn=e.f["fn"])


register(
    LayerType(
        "act",
        "activation function: " + ", ".join(ACTIVATIONS),
        (Field("fn", ACT, help="activation name"),),
        _expand_act,
        lambda f: str(f["fn"]),
        aliases=("activation",),
        primary="fn",
    )
)


def _pool_fields(avg: bool) -> tuple[Field, ...]:
    fields = (
        Field("kernel", OptionalKind(KERNEL), None, "window size (not with global)"),
        Field("stride", OptionalKind(STRIDE), None, "stride (default: the kernel size)"),
        Field("padding", Padding(), "valid", "padding (same pads k//2 on both sides)"),
        Field("ceil_mode", Bool(), False, "round output sizes up (Caffe-style pooling)"),
        Field("global", Bool(), False, "pool the whole feature map to 1x1"),
    )
    if avg:
        fields += (Field("count_include_pad", Bool(), True, "average includes zero padding"),)
    return fields


def _expand_pool(kind: str, gkind: str) -> Callable[[Expansion], None]:
    def expand(e: Expansion) -> None:
        f = e.f
        if f["global"]:
            if f["kernel"] is not None:
                raise e.scope.error("global pooling takes no kernel", "kernel")
            e.scope.op(e.name, gkind)
            return
        if f["kernel"] is None:
            raise e.scope.error("missing field 'kernel' (or set global: true)", "kernel")
        kernel = f["kernel"]
        stride = f["stride"] or kernel
        pad = f["padding"]
        if pad == "same":
            pad = (kernel[0] // 2, kernel[1] // 2)
        elif pad == "valid":
            pad = (0, 0)
        attrs: dict[str, Any] = dict(
            kernel=kernel, stride=stride, pad=(pad[0], pad[0], pad[1], pad[1]), ceil_mode=f["ceil_mode"]
        )
        if kind == "avgpool2d":
            attrs["count_include_pad"] = f["count_include_pad"]
        e.scope.op(e.name, kind, **attrs)

    return expand


def _pool_label(name: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda f: f"Global{name}" if f["global"] else f"{name}{_k(f)}"


register(
    LayerType("maxpool", "max pooling (or global max pooling)", _pool_fields(False),
              _expand_pool("maxpool2d", "gmaxpool"), _pool_label("MaxPool"))
)
register(
    LayerType("avgpool", "average pooling (or global average pooling)", _pool_fields(True),
              _expand_pool("avgpool2d", "gavgpool"), _pool_label("AvgPool"))
)


def _expand_dropout(e: Expansion) -> None:
    e.scope.op(e.name, "dropout", p=e.f["p"])


register(
    LayerType(
        "dropout",
        "dropout (training only; free at inference)",
        (Field("p", Float(0, 1, high_open=True), 0.5, "drop probability"),),
        _expand_dropout,
        lambda f: "Dropout",
        primary="p",
    )
)


def _expand_simple(kind: str) -> Callable[[Expansion], None]:
    def expand(e: Expansion) -> None:
        e.scope.op(e.name, kind)

    return expand


register(LayerType("flatten", "flatten a feature map to a vector", (), _expand_simple("flatten"), lambda f: "Flatten"))
register(LayerType("softmax", "softmax over classes", (), _expand_simple("softmax"), lambda f: "Softmax"))


def _expand_linear(e: Expansion) -> None:
    f = e.f
    shape = e.scope.shape
    if len(shape) != 1:
        raise e.scope.error(
            f"a fully connected layer needs a flat input but gets the feature map "
            f"{fmt_shape(shape)}; add '- flatten' before it"
        )
    if f["act"] is None:
        e.scope.op(e.name, "linear", in_f=shape[0], out_f=f["out"], bias=f["bias"])
        return
    s = e.scope.child(e.name, "FC")
    s.op("fc", "linear", in_f=shape[0], out_f=f["out"], bias=f["bias"])
    s.op("act", "act", fn=f["act"])
    s.close(attach=True)


register(
    LayerType(
        "linear",
        "fully connected layer (mark the classifier 'fixed: true' so width does not scale it)",
        (
            Field("out", CH, help="output features", channels=True),
            Field("bias", Bool(), True, "learned bias"),
            Field("act", OPT_ACT, None, "activation"),
        ),
        _expand_linear,
        lambda f: "FC",
        aliases=("fc", "dense"),
    )
)


def _expand_lrn(e: Expansion) -> None:
    f = e.f
    e.scope.op(e.name, "lrn", size=f["size"], alpha=f["alpha"], beta=f["beta"], k=f["k"])


register(
    LayerType(
        "lrn",
        "local response normalisation across channels (AlexNet, GoogLeNet)",
        (
            Field("size", Int(1, 1024), 5, "channels in the window"),
            Field("alpha", Float(0, 1e3), 1e-4,
                  "alpha, divided by size as PyTorch and Caffe do (AlexNet's paper alpha is this / size)"),
            Field("beta", Float(0, 1e3), 0.75, "beta"),
            Field("k", Float(0, 1e3), 2.0, "k (additive constant)"),
        ),
        _expand_lrn,
        lambda f: "LRN",
    )
)


def _expand_subsample(e: Expansion) -> None:
    f = e.f
    shape = e.scope.shape
    if len(shape) != 3:
        raise e.scope.error(f"subsampling needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    kernel = f["kernel"]
    stride = f["stride"] or kernel
    attrs = dict(ch=shape[0], kernel=kernel, stride=stride, pad=(0, 0, 0, 0))
    if f["act"] is None:
        e.scope.op(e.name, "subsample", **attrs)
        return
    s = e.scope.child(e.name, "Subsample")
    s.op("pool", "subsample", **attrs)
    s.op("act", "act", fn=f["act"])
    s.close(attach=True)


register(
    LayerType(
        "subsample",
        "LeNet-5 trainable subsampling: window average times a learned coefficient plus a "
        "learned bias, per map",
        (
            Field("kernel", KERNEL, (2, 2), "window size"),
            Field("stride", OptionalKind(STRIDE), None, "stride (default: the window size)"),
            Field("act", OPT_ACT, None, "activation"),
        ),
        _expand_subsample,
        lambda f: "Subsample",
    )
)


def _expand_rbf(e: Expansion) -> None:
    shape = e.scope.shape
    if len(shape) != 1:
        raise e.scope.error(
            f"an RBF layer needs a flat input but gets the feature map {fmt_shape(shape)}; add '- flatten' before it"
        )
    e.scope.op(e.name, "rbf", in_f=shape[0], out_f=e.f["out"])


register(
    LayerType(
        "rbf",
        "Euclidean radial basis function units with fixed (non-trainable) prototypes "
        "(LeNet-5's output layer): y_j = sum_i (x_i - w_ij)^2",
        (Field("out", CH, help="number of RBF units (classes)"),),
        _expand_rbf,
        lambda f: "RBF",
    )
)


# --- blocks -----------------------------------------------------------------------------


def _expand_mbconv(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    in_shape = scope.shape
    if len(in_shape) != 3:
        raise scope.error(f"MBConv needs a feature map but its input is the flat vector {fmt_shape(in_shape)}")
    in_ch = in_shape[0]
    mid = int(round(in_ch * f["expand"]))
    act = f["act"]
    body = scope.branch("body", "MBConv body")
    if f["expand"] != 1:
        body.conv_unit("expand", "Conv1x1", out=mid, kernel=(1, 1), padding="valid", bn=True, act=act)
    body.conv_unit("dw", f"DWConv{_k(f)}", out=0, kernel=f["kernel"], stride=f["stride"], padding="same",
                   bn=True, act=act, depthwise=True)
    if f["se"] is not None:
        squeeze = max(1, int(in_ch * f["se"]))
        g = body.branch("branch", "SE")
        g.op("pool", "gavgpool")
        g.conv("reduce", out=squeeze, kernel=(1, 1), padding="valid", bias=True)
        g.op("act", "act", fn=act)
        g.conv("expand", out=mid, kernel=(1, 1), padding="valid", bias=True)
        g.op("gate", "act", fn=f["se_gate"])
        body.gate("se", f"SE {_fmt_num(f['se'])}", g.close())
    body.conv_unit("project", "Conv1x1", out=f["out"], kernel=(1, 1), padding="valid", bn=True, act=None)
    skip = f["skip"]
    keeps_shape = body.shape == in_shape
    if skip == "identity" and not keeps_shape:
        raise scope.error(
            f"skip: identity needs the block to keep its input shape {'x'.join(map(str, in_shape))}, "
            f"but it outputs {'x'.join(map(str, body.shape))} (stride or channels change); "
            "use skip: auto",
            "skip",
        )
    label = mbconv_label(f)
    if skip != "none" and keeps_shape and f["stochastic_depth"] > 0:
        body.op("drop_path", "drop_path", p=f["stochastic_depth"])
    mode = "none" if skip == "none" else "skip-auto"
    scope.residual(e.name, label, body.close(), mode)


def mbconv_label(f: Mapping[str, Any]) -> str:
    return f"MBConv{_fmt_num(f['expand'])}, k{_k(f)}"


register(
    LayerType(
        "mbconv",
        "mobile inverted bottleneck (MobileNet v2 / EfficientNet): optional 1x1 expansion by "
        "'expand', depthwise kxk with stride, optional squeeze-and-excitation (reduction "
        "relative to the block's input channels), linear 1x1 projection; identity skip when "
        "the block keeps its input shape; stochastic depth in training only",
        (
            Field("out", CH, help="output channels", channels=True),
            Field("expand", Float(1, 64, what="an expansion ratio >= 1"), 1.0, "expansion ratio (1: no expansion conv)"),
            Field("kernel", KERNEL, (3, 3), "depthwise kernel size"),
            Field("stride", STRIDE, (1, 1), "depthwise stride"),
            Field("se", OptionalKind(Float(0, 1, low_open=True, what="a ratio in (0, 1]")), None,
                  "squeeze-and-excitation ratio of the input channels (null: none)"),
            Field("se_gate", ACT, "sigmoid", "gate activation of the SE branch"),
            Field("act", ACT, "silu", "activation"),
            Field("skip", Choice(("auto", "identity", "none")), "auto", "identity skip: auto (when shapes match), identity (required) or none"),
            Field("stochastic_depth", Float(0, 1, high_open=True), 0.0, "drop-path rate (training only)"),
        ),
        _expand_mbconv,
        mbconv_label,
        category="block",
    )
)


def _expand_basic(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    body = scope.branch("body", "Basic body")
    body.conv_unit("conv1", "Conv3x3", out=f["out"], kernel=(3, 3), stride=f["stride"], bn=True, act=f["act"])
    body.conv_unit("conv2", "Conv3x3", out=f["out"], kernel=(3, 3), bn=True, act=None)
    scope.residual(e.name, "Basic", body.close(), f["shortcut"], post=f["act"])


register(
    LayerType(
        "basic",
        "ResNet basic block: 3x3 conv (stride) + BN + ReLU, 3x3 conv + BN, add the shortcut, ReLU",
        (
            Field("out", CH, help="output channels", channels=True),
            Field("stride", STRIDE, (1, 1), "stride of the first convolution"),
            Field("shortcut", Choice(("auto", "identity", "projection")), "auto",
                  "auto: identity when shapes match, else 1x1 projection + BN"),
            Field("act", ACT, "relu", "activation"),
        ),
        _expand_basic,
        lambda f: "Basic",
        category="block",
    )
)


def _expand_bottleneck(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    s1 = f["stride"] if f["stride_on"] == "1x1" else (1, 1)
    s3 = f["stride"] if f["stride_on"] == "3x3" else (1, 1)
    body = scope.branch("body", "Bottleneck body")
    body.conv_unit("conv1", "Conv1x1", out=f["mid"], kernel=(1, 1), stride=s1, padding="valid", bn=True, act=f["act"])
    body.conv_unit("conv2", "Conv3x3", out=f["mid"], kernel=(3, 3), stride=s3, bn=True, act=f["act"])
    body.conv_unit("conv3", "Conv1x1", out=f["out"], kernel=(1, 1), padding="valid", bn=True, act=None)
    scope.residual(e.name, "Bottleneck", body.close(), f["shortcut"], post=f["act"])


register(
    LayerType(
        "bottleneck",
        "ResNet bottleneck block: 1x1 reduce, 3x3, 1x1 expand (BN after each, ReLU after the "
        "first two), add the shortcut, ReLU. stride_on: 1x1 is the paper's placement, 3x3 "
        "the one most libraries use (ResNet v1.5)",
        (
            Field("mid", CH, help="channels of the 1x1 and 3x3 convolutions", channels=True),
            Field("out", CH, help="output channels", channels=True),
            Field("stride", STRIDE, (1, 1), "stride"),
            Field("stride_on", Choice(("1x1", "3x3")), "1x1", "which convolution carries the stride"),
            Field("shortcut", Choice(("auto", "identity", "projection")), "auto",
                  "auto: identity when shapes match, else 1x1 projection + BN"),
            Field("act", ACT, "relu", "activation"),
        ),
        _expand_bottleneck,
        lambda f: "Bottleneck",
        category="block",
    )
)


def _expand_inception(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    act, bn = f["act"], f["bn"]
    b1 = scope.branch("b1x1", "1x1")
    b1.conv_unit("conv", "Conv1x1", out=f["c1x1"], kernel=(1, 1), padding="valid", bn=bn, act=act)
    b2 = scope.branch("b3x3", "1x1 -> 3x3")
    b2.conv_unit("reduce", "Conv1x1", out=f["c3x3_reduce"], kernel=(1, 1), padding="valid", bn=bn, act=act)
    b2.conv_unit("conv", "Conv3x3", out=f["c3x3"], kernel=(3, 3), bn=bn, act=act)
    b3 = scope.branch("b5x5", "1x1 -> 5x5")
    b3.conv_unit("reduce", "Conv1x1", out=f["c5x5_reduce"], kernel=(1, 1), padding="valid", bn=bn, act=act)
    b3.conv_unit("conv", f"Conv{_k({'kernel': f['big_kernel']})}", out=f["c5x5"], kernel=f["big_kernel"], bn=bn, act=act)
    b4 = scope.branch("pool", "pool -> 1x1")
    b4.op("pool", "maxpool2d", kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1), ceil_mode=False)
    b4.conv_unit("proj", "Conv1x1", out=f["pool_proj"], kernel=(1, 1), padding="valid", bn=bn, act=act)
    scope.concat(e.name, "Inception", [b.close() for b in (b1, b2, b3, b4)])


register(
    LayerType(
        "inception",
        "GoogLeNet inception module: four branches concatenated (1x1; 1x1 -> 3x3; 1x1 -> 5x5; "
        "3x3/1 max pool -> 1x1), fields named after the paper's Table 1 columns",
        (
            Field("c1x1", CH, help="#1x1", channels=True),
            Field("c3x3_reduce", CH, help="#3x3 reduce", channels=True),
            Field("c3x3", CH, help="#3x3", channels=True),
            Field("c5x5_reduce", CH, help="#5x5 reduce", channels=True),
            Field("c5x5", CH, help="#5x5", channels=True),
            Field("pool_proj", CH, help="pool proj", channels=True),
            Field("big_kernel", KERNEL, (5, 5), "kernel of the third branch (5x5 in the paper)"),
            Field("bn", Bool(), False, "batch norm after each convolution"),
            Field("act", ACT, "relu", "activation"),
        ),
        _expand_inception,
        lambda f: "Inception",
        category="block",
    )
)


# --- generic structure ------------------------------------------------------------------


def _expand_sequential(e: Expansion) -> None:
    s = e.scope.child(e.name, e.scope.origin.paper.get("label", "Sequential") if e.scope.origin.paper else "Sequential")
    e.entries(s, e.f["layers"])
    s.close(attach=True)


register(
    LayerType(
        "sequential",
        "a named group of layers run one after another (e.g. a classifier head)",
        (Field("layers", Layers(), help="the layers"),),
        _expand_sequential,
        lambda f: "Sequential",
        aliases=("seq", "block"),
        primary="layers",
        category="structure",
    )
)


def _expand_residual(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    body = scope.branch("body", "Residual body")
    e.entries(body, f["body"])
    shortcut = f["shortcut"]
    if isinstance(shortcut, tuple):
        sc = scope.branch("shortcut", "Shortcut")
        e.entries(sc, shortcut)
        shortcut = sc.close()
    scope.residual(e.name, "Residual", body.close(), shortcut, post=f["post"], projection_bn=f["projection_bn"])


register(
    LayerType(
        "residual",
        "residual connection: post(body(x) + shortcut(x)); shortcut is identity, projection "
        "(1x1 strided conv + BN), auto (identity when shapes match) or a list of layers",
        (
            Field("body", Layers(), help="the residual branch"),
            Field("shortcut", Shortcut(), "identity", "identity, projection, auto, or layers"),
            Field("post", OPT_ACT, None, "activation after the addition"),
            Field("projection_bn", Bool(), True, "batch norm after a projection shortcut"),
        ),
        _expand_residual,
        lambda f: "Residual",
        primary="body",
        category="structure",
    )
)


def _expand_concat(e: Expansion) -> None:
    scope = e.scope
    nodes = []
    for i, entries in enumerate(e.f["branches"]):
        b = scope.branch(f"branch{i}", f"Branch {i}")
        e.entries(b, entries)
        nodes.append(b.close())
    scope.concat(e.name, "Concat", nodes)


register(
    LayerType(
        "concat",
        "parallel branches on the same input, concatenated along channels",
        (Field("branches", Branches(), help="list of branches, each a list of layers"),),
        _expand_concat,
        lambda f: "Concat",
        primary="branches",
        category="structure",
    )
)


def _expand_one_branch(attach: str, label: str) -> Callable[[Expansion], None]:
    """Resolve the entry's ``branch`` layers and attach them with ``Scope.gate``/``Scope.side``."""

    def expand(e: Expansion) -> None:
        b = e.scope.branch("branch", f"{label} branch")
        e.entries(b, e.f["branch"])
        getattr(e.scope, attach)(e.name, label, b.close())

    return expand


register(
    LayerType(
        "gate",
        "multiply the input by a branch computed from it (squeeze-and-excitation)",
        (Field("branch", Layers(), help="layers computing the gate"),),
        _expand_one_branch("gate", "Gate"),
        lambda f: "Gate",
        primary="branch",
        category="structure",
    )
)




register(
    LayerType(
        "side",
        "a side branch computed from the current tensor whose output leaves the model "
        "separately (auxiliary classifier); the main path continues unchanged",
        (Field("branch", Layers(), help="the side branch"),),
        _expand_one_branch("side", "Side output"),
        lambda f: "Side",
        primary="branch",
        category="structure",
    )
)
