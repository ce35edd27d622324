"""Layer types of the spec language: a registry of field schemas.

Each :class:`LayerType` declares its fields, which drive validation, defaults, width
scaling, ``cnninspect layer-types`` and ``cnninspect schema``. What an entry *becomes* is
not decided here: the resolution side registers one expansion per type name
(:data:`cnninspect.resolve.expand.EXPANDERS`), so the language imports nothing of resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import limits
from ..ops.primitives import ACT_PARAMS, ACTIVATIONS, ActParam
from .fields import (
    ActivationKind,
    Bool,
    Branches,
    Choice,
    Field,
    Float,
    Int,
    IntTable,
    Kind,
    Layers,
    LoopName,
    OptionalKind,
    Padding,
    Pair,
    PointNames,
    Shortcut,
    ValueList,
)

COMMON_KEYS = ("name", "repeat", "when", "fixed", "min_width", "paper")


@dataclass(frozen=True)
class LayerType:
    """A spec layer type.

    ``primary`` names the field set by the scalar shorthand (``- act: relu``); ``category``
    is ``primitive``, ``block`` or ``structure`` (for the docs).
    """

    name: str
    help: str
    fields: tuple[Field, ...]
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


ACT = ActivationKind()
OPT_ACT = OptionalKind(ACT)
CH = Int(1, limits.MAX_CHANNELS)
KERNEL = Pair(1, limits.MAX_KERNEL, "kernel size")
STRIDE = Pair(1, limits.MAX_KERNEL, "stride")
DILATION = Pair(1, limits.MAX_KERNEL, "dilation")
AUTO_BIAS = OptionalKind(Bool(), absent="automatic (a bias only without batch norm)")


# --- primitives -------------------------------------------------------------------------


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
            Field("dilation", DILATION, (1, 1), "spacing of the kernel taps (atrous convolution)"),
        ),
    )
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
            Field("dilation", DILATION, (1, 1), "spacing of the kernel taps (atrous convolution)"),
        ),
        aliases=("depthwise",),
    )
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
        aliases=("pointwise",),
    )
)


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
        category="block",
    )
)


register(
    LayerType(
        "bn",
        "batch normalisation over channels (2 learned parameters per channel): BatchNorm2d on "
        "a feature map, BatchNorm1d on a flat vector",
        (Field("eps", Float(0, 1, low_open=True), 1e-5, "numerical epsilon"),),
        aliases=("batchnorm",),
    )
)


register(
    LayerType(
        "bn_act",
        "batch norm and its activation as one module, timm's BatchNormAct2d (a BatchNorm2d "
        "subclass holding the activation as a child): the same computation and parameters as "
        "bn then act, but torchinfo does not count the parent module's weight and bias, and "
        "ptflops does not see the subclass's batch norm; thop and fvcore count it as batch norm",
        (
            Field("act", OPT_ACT, "relu", "activation inside the module (null: none, apply_act=False)"),
            Field("eps", Float(0, 1, low_open=True), 1e-5, "numerical epsilon"),
        ),
        aliases=("batchnorm_act",),
        primary="act",
    )
)


register(
    LayerType(
        "layernorm",
        "layer normalisation over channels (2 learned parameters per channel): on a feature map "
        "it normalises the C values at each position (torchvision's LayerNorm2d, as ConvNeXt's "
        "stem and downsampling use it); on a flat vector or inside 'channels_last' it is "
        "nn.LayerNorm over the last dimension",
        (
            Field("eps", Float(0, 1, low_open=True), 1e-5, "numerical epsilon (ConvNeXt: 1e-6)"),
            Field("affine", Bool(), True, "learned weight and bias"),
        ),
        aliases=("ln",),
    )
)


register(
    LayerType(
        "groupnorm",
        "group normalisation (Wu & He 2018; 2 learned parameters per channel): the channels of a "
        "feature map in 'groups' groups, each normalised by its mean and variance over its "
        "channels and every position (nn.GroupNorm; groups: 1 is layer norm over the whole map, "
        "groups = channels instance norm)",
        (
            Field("groups", Int(1, limits.MAX_CHANNELS), 32, "groups of channels (dividing the channels)"),
            Field("eps", Float(0, 1, low_open=True), 1e-5, "numerical epsilon"),
            Field("affine", Bool(), True, "learned weight and bias"),
        ),
        aliases=("gn",),
        primary="groups",
    )
)


register(
    LayerType(
        "layer_scale",
        "a learned per-channel multiply, x * gamma (ConvNeXt, CaiT); gamma starts at 'init'",
        (Field("init", Float(0, 1e3, low_open=True), 1e-6,
               "initial value of gamma (no PyTorch default exists; 1e-6 is ConvNeXt's)"),),
        primary="init",
    )
)


register(
    LayerType(
        "drop_path",
        "stochastic depth: drops the whole sample's branch with probability p in training "
        "(put it last in a residual body); free at inference",
        (Field("p", Float(0, 1, high_open=True), 0.0, "drop probability"),),
        aliases=("stochastic_depth",),
        primary="p",
    )
)


register(
    LayerType(
        "identity",
        "passes its input on unchanged (a concat branch that keeps the input, as DenseNet's)",
        (),
    )
)


register(
    LayerType(
        "mean",
        "global average pooling written as x.mean((2, 3)) (ShuffleNetV2, timm): the same values "
        "as avgpool {global: true}, but fvcore does not count a mean while it counts "
        "AdaptiveAvgPool2d",
        (Field("keepdim", Bool(), False, "keep a C x 1 x 1 map (false: a flat vector of C)"),),
    )
)


register(
    LayerType(
        "split",
        "channel split: part 'take' (from 0) of 'parts' equal slices of the input's channels, "
        "x.chunk(parts, 1)[take] (ShuffleNetV2's split, first in a concat branch)",
        (
            Field("parts", Int(1, limits.MAX_CHANNELS), 2, "equal slices"),
            Field("take", Int(0, limits.MAX_CHANNELS), 0, "which slice (0 = the first channels)"),
        ),
    )
)


register(
    LayerType(
        "shuffle",
        "channel shuffle in 'groups' groups (ShuffleNet): channel i of group g moves to "
        "position i * groups + g",
        (Field("groups", Int(1, limits.MAX_CHANNELS), 2, "groups"),),
        primary="groups",
    )
)


register(
    LayerType(
        "se",
        "squeeze-and-excitation: x * gate(expand(act(reduce(pool(x))))), 1x1 convolutions with "
        "bias; the squeeze width is 'squeeze' channels or 'ratio' x this layer's input channels "
        "(floored), optionally rounded to a multiple of 'divisor' (never 10% below; "
        "torchvision's _make_divisible); for a ratio of the block's input write "
        "squeeze: $w_in * r with a block parameter w_in defaulting to $in",
        (
            Field("ratio", OptionalKind(Float(0, 1, low_open=True, what="a ratio in (0, 1]")), None,
                  "squeeze width as a ratio of the input channels"),
            Field("squeeze", OptionalKind(CH), None, "squeeze width in channels", channels=True),
            Field("divisor", OptionalKind(Int(1, 1024)), None, "round the squeeze width to a multiple of this"),
            Field("act", ACT, "relu", "activation after the reduce convolution"),
            Field("gate", ACT, "sigmoid", "gate activation (sigmoid, hardsigmoid)"),
            Field("pool", Choice(("adaptive", "mean")), "adaptive",
                  "adaptive: AdaptiveAvgPool2d (torchvision); mean: x.mean((2, 3), keepdim=True) (timm)"),
        ),
        category="block",
    )
)


def _act_param_field(p: ActParam) -> Field:
    """An ``act`` entry's field for one activation parameter (from the registry, so a new
    activation's parameters appear here, in ``layer-types`` and in the schema by themselves)."""
    users = ", ".join(a.name for a in ACTIVATIONS.values() if p in a.params)
    kind: Kind
    if p.kind == "choice":
        kind = Choice(p.choices)
    elif p.kind == "count":
        kind = Choice(("1", "channels"))
    else:
        kind = Float(-1e6, 1e6)
    return Field(p.name, OptionalKind(kind, absent="the default"), None,
                 f"{p.help} ({users}; default {p.default})")


register(
    LayerType(
        "act",
        "activation function: " + ", ".join(ACTIVATIONS) + "; parameters as fields "
        "({fn: leaky_relu, negative_slope: 0.1}) or in the name (leaky_relu(negative_slope=0.1), "
        "which an 'act' field of conv, linear ... takes too)",
        (Field("fn", ACT, help="activation name"), *(_act_param_field(p) for p in ACT_PARAMS.values())),
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
        Field("output_size", OptionalKind(Pair(1, limits.MAX_KERNEL, "output size")), None,
              "adaptive pooling to this fixed output size, whatever the input size "
              f"(nn.Adaptive{'Avg' if avg else 'Max'}Pool2d(output_size); not with kernel or global)"),
    )
    if avg:
        fields += (Field("count_include_pad", Bool(), True, "average includes zero padding"),)
    return fields


register(
    LayerType("maxpool", "max pooling (or global or adaptive max pooling)", _pool_fields(False))
)
register(
    LayerType("avgpool", "average pooling (or global or adaptive average pooling)", _pool_fields(True))
)


register(
    LayerType(
        "dropout",
        "dropout (training only; free at inference)",
        (Field("p", Float(0, 1, high_open=True), 0.5, "drop probability"),),
        primary="p",
    )
)


register(LayerType("flatten", "flatten a feature map to a vector", ()))
register(LayerType("softmax", "softmax over classes", ()))


register(
    LayerType(
        "linear",
        "fully connected layer on a flat vector, or inside 'channels_last' on the last dimension "
        "at every position (mark the classifier 'fixed: true' so width does not scale it)",
        (
            Field("out", CH, help="output features", channels=True),
            Field("bias", Bool(), True, "learned bias"),
            Field("act", OPT_ACT, None, "activation"),
        ),
        aliases=("fc", "dense"),
    )
)


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
    )
)


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
    )
)


register(
    LayerType(
        "rbf",
        "Euclidean radial basis function units with fixed (non-trainable) prototypes "
        "(LeNet-5's output layer): y_j = sum_i (x_i - w_ij)^2",
        (Field("out", CH, help="number of RBF units (classes)"),),
    )
)


# --- blocks -----------------------------------------------------------------------------


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
        category="block",
    )
)


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
        category="block",
    )
)


register(
    LayerType(
        "bottleneck",
        "ResNet bottleneck block: 1x1 reduce, 3x3 (grouped for ResNeXt and RegNet), 1x1 expand "
        "(BN after each, ReLU after the first two), add the shortcut, ReLU. stride_on: 1x1 is "
        "the paper's placement, 3x3 the one most libraries use (ResNet v1.5)",
        (
            Field("mid", CH, help="channels of the 1x1 and 3x3 convolutions", channels=True),
            Field("out", CH, help="output channels", channels=True),
            Field("stride", STRIDE, (1, 1), "stride"),
            Field("stride_on", Choice(("1x1", "3x3")), "1x1", "which convolution carries the stride"),
            Field("groups", Int(1, limits.MAX_CHANNELS), 1, "groups of the 3x3 convolution (ResNeXt 32x4d: 32)"),
            Field("group_width", OptionalKind(CH), None,
                  "channels per group of the 3x3 convolution instead of 'groups' (RegNet): groups = mid / group_width"),
            Field("shortcut", Choice(("auto", "identity", "projection")), "auto",
                  "auto: identity when shapes match, else 1x1 projection + BN"),
            Field("act", ACT, "relu", "activation"),
        ),
        category="block",
    )
)


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
        category="block",
    )
)


# --- generic structure ------------------------------------------------------------------


register(
    LayerType(
        "channels_last",
        "layers run on the channels-last tensor (H x W x C), as torchvision's and timm's ConvNeXt "
        "blocks do: permute, the layers (linear, layernorm, layer_scale, activations, dropout), "
        "permute back",
        (Field("layers", Layers(), help="the layers"),),
        primary="layers",
        category="structure",
    )
)


register(
    LayerType(
        "sequential",
        "a named group of layers run one after another (e.g. a classifier head)",
        (Field("layers", Layers(), help="the layers"),),
        aliases=("seq", "block"),
        primary="layers",
        category="structure",
    )
)


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
            Field("partial", Bool(), False,
                  "add the shortcut to the body output's first channels only, when it has fewer "
                  "(ReXNet: x[:, :C_in] += shortcut); auto then means identity when the size is kept"),
        ),
        primary="body",
        category="structure",
    )
)


register(
    LayerType(
        "concat",
        "parallel branches on the same input, concatenated along channels: 'branches' lists "
        "them, or 'each' makes one 'branch' per value of a list ($k in it, with 'as: k', is the "
        "value, $k_index its position); or 'from' concatenates the outputs of earlier entries, "
        "by name, in that order (DLA's aggregation nodes)",
        (
            Field("branches", Branches(), None, "list of branches, each a list of layers"),
            Field("each", OptionalKind(ValueList(limits.MAX_BRANCHES)), None,
                  "a list (kernels: [3, 5, 7] as $kernels): one branch per value"),
            Field("as", LoopName(), "item", "the value's name in the branch: $NAME, and $NAME_index its position"),
            Field("branch", Layers(), None, "with 'each': the layers of every branch"),
            Field("from", OptionalKind(PointNames(limits.MAX_BRANCHES)), None,
                  "names of earlier entries whose outputs are concatenated, in this order: an entry "
                  "of this list or of an enclosing one; a dotted name goes inside one "
                  "(tree1.shortcut.pool)"),
        ),
        primary="branches",
        category="structure",
    )
)


register(
    LayerType(
        "gate",
        "multiply the input by a branch computed from it (squeeze-and-excitation)",
        (Field("branch", Layers(), help="layers computing the gate"),),
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
        primary="branch",
        category="structure",
    )
)
