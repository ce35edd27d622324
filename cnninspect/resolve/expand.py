"""Expansion: what each layer type of the spec language becomes in the IR.

One expansion function per layer type name in :data:`EXPANDERS` (a test checks every type
of :data:`cnninspect.lang.layertypes.LAYER_TYPES` has one) turns one resolved entry into IR
nodes through the :class:`~cnninspect.resolve.scope.Scope` API, labelling what it attaches for the
layer table and ``--format paper`` (e.g. ``MBConv6, k3x3``). Blocks such as
``dwsep``, ``mbconv``, ``basic``, ``bottleneck`` and ``inception`` expand into the same
generic structures (``residual``, ``concat``, ``gate``) that specs may also write by hand.
"""

from __future__ import annotations

from collections import ChainMap
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from ..base.errors import SpecError
from ..lang.expr import Computed, make_divisible
from ..ops.primitives import ACT_PARAMS, ACTIVATIONS, activation_text, check_activation_params, fmt_shape, parse_activation
from .scope import Expansion

Expand = Callable[[Expansion], None]


def _k(f: Mapping[str, Any]) -> str:
    kh, kw = f["kernel"]
    return f"{kh}x{kw}"


def _fmt_num(x: float) -> str:
    return f"{x:g}"


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
        dilation=f["dilation"],
    )


def _expand_dwconv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name, f"DWConv{_k(f)}", out=0, kernel=f["kernel"], stride=f["stride"], padding=f["padding"],
        bias=f["bias"], bn=f["bn"], act=f["act"], depthwise=True, dilation=f["dilation"],
    )


def _expand_pwconv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name, "Conv1x1", out=f["out"], kernel=(1, 1), bias=f["bias"], bn=f["bn"], act=f["act"],
        padding="valid",
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


def _expand_bn(e: Expansion) -> None:
    shape = e.scope.shape
    if len(shape) == 1:
        e.scope.op(e.name, "bn1d", ch=shape[0], eps=e.f["eps"])
        return
    e.scope.op(e.name, "bn2d", ch=shape[0], eps=e.f["eps"])


def _expand_bn_act(e: Expansion) -> None:
    shape = e.scope.shape
    if len(shape) != 3:
        raise e.scope.error(f"bn_act (BatchNormAct2d) needs a feature map but its input is {fmt_shape(shape)}")
    act = e.scope.activation_attrs(e.f["act"] or "linear", "act")
    if ACTIVATIONS[act["fn"]].learned:
        raise e.scope.error("bn_act takes an activation without parameters (write bn, then act: prelu)", "act")
    e.scope.op(e.name, "bn_act2d", ch=shape[0], eps=e.f["eps"], **act)


def _channel_dim(e: Expansion) -> tuple[str, int]:
    """Where the channels of the running tensor are: ``channels`` (dim 0 of a C x H x W map)
    or ``last`` (a flat vector, or H x W x C inside ``channels_last``)."""
    shape = e.scope.shape
    if len(shape) == 3 and not e.scope.channels_last:
        return "channels", shape[0]
    return "last", shape[-1]


def _expand_layernorm(e: Expansion) -> None:
    dim, ch = _channel_dim(e)
    e.scope.op(e.name, "layernorm", ch=ch, eps=e.f["eps"], affine=e.f["affine"], dim=dim)


def _expand_groupnorm(e: Expansion) -> None:
    ch = e.scope.shape[0] if e.scope.shape else 0  # the kind's shape rule refuses a flat vector
    e.scope.op(e.name, "groupnorm", ch=ch, groups=e.f["groups"], eps=e.f["eps"], affine=e.f["affine"])


def _expand_layer_scale(e: Expansion) -> None:
    dim, ch = _channel_dim(e)
    e.scope.op(e.name, "layer_scale", ch=ch, init=e.f["init"], dim=dim)


def _expand_drop_path(e: Expansion) -> None:
    e.scope.op(e.name, "drop_path", p=e.f["p"])


def _expand_mean(e: Expansion) -> None:
    e.scope.op(e.name, "mean", keepdim=e.f["keepdim"])


def _expand_split(e: Expansion) -> None:
    f = e.f
    shape = e.scope.shape
    if len(shape) != 3:
        raise e.scope.error(f"a channel split needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    parts, take = f["parts"], f["take"]
    if take >= parts:
        raise e.scope.error(f"take {take} is not one of the {parts} parts (0..{parts - 1})", "take")
    if shape[0] % parts:
        raise e.scope.error(f"{shape[0]} input channels do not split into {parts} equal parts", "parts")
    size = shape[0] // parts
    e.scope.op(e.name, "channel_split", start=take * size, stop=(take + 1) * size)


def _expand_shuffle(e: Expansion) -> None:
    e.scope.op(e.name, "channel_shuffle", groups=e.f["groups"])


def _expand_channels_last(e: Expansion) -> None:
    scope = e.scope
    if len(scope.shape) != 3 or scope.channels_last:
        what = "already channels-last" if scope.channels_last else f"the flat vector {fmt_shape(scope.shape)}"
        raise scope.error(f"'channels_last' needs a C x H x W feature map but its input is {what}")
    s = scope.child(e.name, "Channels-last")
    s.op("nhwc", "permute", to="channels_last")
    s.channels_last = True
    e.entries(s, e.f["layers"])
    s.channels_last = False
    s.op("nchw", "permute", to="channels_first")
    s.close(attach=True)


def _expand_se(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    shape = scope.shape
    if len(shape) != 3:
        raise scope.error(f"squeeze-and-excitation needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    if (f["ratio"] is None) == (f["squeeze"] is None):
        raise scope.error("give the squeeze width as either 'ratio' or 'squeeze' (exactly one)",
                          "ratio" if f["ratio"] is not None else None)
    squeeze = f["squeeze"] if f["squeeze"] is not None else max(1, int(shape[0] * f["ratio"]))
    if f["divisor"] is not None:
        squeeze = make_divisible(squeeze, f["divisor"])
    g = scope.branch("branch", "SE")
    if f["pool"] == "mean":
        g.op("pool", "mean", keepdim=True)
    else:
        g.op("pool", "gavgpool")
    g.conv("reduce", out=squeeze, kernel=(1, 1), padding="valid", bias=True)
    g.activation("act", f["act"])
    g.conv("expand", out=shape[0], kernel=(1, 1), padding="valid", bias=True)
    g.activation("gate", f["gate"])
    scope.gate(e.name, f"SE {squeeze}", g.close())


def _expand_act(e: Expansion) -> None:
    """The activation named by ``fn``, with parameters given in the name or as fields (not
    both for one parameter)."""
    name, in_name = parse_activation(e.f["fn"])
    fields = {k: e.f[k] for k in ACT_PARAMS if e.f[k] is not None}
    for k in fields:
        if k in in_name:
            raise e.scope.error(f"{k} is given twice, in fn and as a field; keep one", k)
    try:
        params = check_activation_params(name, fields)
    except ValueError as exc:
        raise e.scope.error(str(exc), next(iter(fields), None)) from None
    e.scope.activation(e.name, activation_text(name, {**in_name, **params}))


def _expand_pool(kind: str, gkind: str) -> Callable[[Expansion], None]:
    def expand(e: Expansion) -> None:
        f = e.f
        size = f["output_size"]
        if size is not None:
            if f["global"]:
                raise e.scope.error("give either global: true or output_size, not both", "output_size")
            if f["kernel"] is not None:
                raise e.scope.error("adaptive pooling (output_size) takes no kernel", "kernel")
            if size != (1, 1):  # output_size 1 is global pooling
                e.scope.op(e.name, gkind, size=size)
                return
        if f["global"] or size is not None:
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


def _expand_dropout(e: Expansion) -> None:
    e.scope.op(e.name, "dropout", p=e.f["p"])


def _expand_simple(kind: str) -> Callable[[Expansion], None]:
    def expand(e: Expansion) -> None:
        e.scope.op(e.name, kind)

    return expand


def _expand_linear(e: Expansion) -> None:
    f = e.f
    shape = e.scope.shape
    if len(shape) != 1 and not e.scope.channels_last:
        raise e.scope.error(
            f"a fully connected layer needs a flat input but gets the feature map "
            f"{fmt_shape(shape)}; add '- flatten' before it (or put it in 'channels_last' to "
            "apply it at every position)"
        )
    attrs: dict[str, Any] = dict(in_f=shape[-1], out_f=f["out"], bias=f["bias"])
    if len(shape) != 1:
        attrs["channels_last"] = True
    _op_with_act(e, "linear", attrs, "FC", "fc")


def _op_with_act(e: Expansion, kind: str, attrs: dict[str, Any], label: str, inner: str) -> None:
    """One op under the entry's name, or (with an ``act`` field) a group of the op, named
    ``inner``, and the activation."""
    if e.f["act"] is None:
        e.scope.op(e.name, kind, **attrs)
        return
    s = e.scope.child(e.name, label)
    s.op(inner, kind, **attrs)
    s.activation("act", e.f["act"])
    s.close(attach=True)


def _expand_lrn(e: Expansion) -> None:
    f = e.f
    e.scope.op(e.name, "lrn", size=f["size"], alpha=f["alpha"], beta=f["beta"], k=f["k"])


def _expand_subsample(e: Expansion) -> None:
    f = e.f
    shape = e.scope.shape
    if len(shape) != 3:
        raise e.scope.error(f"subsampling needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    kernel = f["kernel"]
    stride = f["stride"] or kernel
    _op_with_act(e, "subsample", dict(ch=shape[0], kernel=kernel, stride=stride, pad=(0, 0, 0, 0)), "Subsample", "pool")


def _expand_rbf(e: Expansion) -> None:
    shape = e.scope.shape
    if len(shape) != 1:
        raise e.scope.error(
            f"an RBF layer needs a flat input but gets the feature map {fmt_shape(shape)}; add '- flatten' before it"
        )
    e.scope.op(e.name, "rbf", in_f=shape[0], out_f=e.f["out"])


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
        g.activation("act", act)
        g.conv("expand", out=mid, kernel=(1, 1), padding="valid", bias=True)
        g.activation("gate", f["se_gate"])
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


def _expand_basic(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    body = scope.branch("body", "Basic body")
    body.conv_unit("conv1", "Conv3x3", out=f["out"], kernel=(3, 3), stride=f["stride"], bn=True, act=f["act"])
    body.conv_unit("conv2", "Conv3x3", out=f["out"], kernel=(3, 3), bn=True, act=None)
    scope.residual(e.name, "Basic", body.close(), f["shortcut"], post=f["act"])


def _expand_bottleneck(e: Expansion) -> None:
    f = e.f
    scope = e.scope
    s1 = f["stride"] if f["stride_on"] == "1x1" else (1, 1)
    s3 = f["stride"] if f["stride_on"] == "3x3" else (1, 1)
    groups = f["groups"]
    if f["group_width"] is not None:
        if groups != 1:
            raise scope.error("give either 'groups' or 'group_width', not both", "group_width")
        if f["mid"] % f["group_width"]:
            raise scope.error(
                f"group_width {f['group_width']} does not divide the {f['mid']} channels of the 3x3 convolution",
                "group_width",
            )
        groups = f["mid"] // f["group_width"]
    body = scope.branch("body", "Bottleneck body")
    body.conv_unit("conv1", "Conv1x1", out=f["mid"], kernel=(1, 1), stride=s1, padding="valid", bn=True, act=f["act"])
    body.conv_unit("conv2", "Conv3x3", out=f["mid"], kernel=(3, 3), stride=s3, groups=groups, bn=True, act=f["act"])
    body.conv_unit("conv3", "Conv1x1", out=f["out"], kernel=(1, 1), padding="valid", bn=True, act=None)
    label = "Bottleneck" if groups == 1 else f"Bottleneck g{groups}"
    scope.residual(e.name, label, body.close(), f["shortcut"], post=f["act"])


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


def _expand_sequential(e: Expansion) -> None:
    s = e.scope.child(e.name, e.scope.origin.paper.get("label", "Sequential") if e.scope.origin.paper else "Sequential")
    e.entries(s, e.f["layers"])
    s.close(attach=True)


IN_HINT = (
    "; note: inside a residual body, concat branch or gate, $in is the channels entering each "
    "entry, not the block's input: for the block's input declare the block parameter "
    "w_in: {default: $in} and write $w_in"
)


def _uses_in(value: Any) -> bool:
    """Does a nested list of entries (or a value in one) use ``$in`` anywhere?"""
    if isinstance(value, Computed):
        return "in" in value.names
    if isinstance(value, (tuple, list)):
        return any(_uses_in(v) for v in value)
    fields = getattr(value, "fields", None)  # a layer entry
    if isinstance(fields, Mapping):
        return _uses_in(getattr(value, "when", None)) or any(_uses_in(v) for v in fields.values())
    return False


@contextmanager
def _in_hint(*nested: Any) -> Iterator[None]:
    """Add :data:`IN_HINT` to an error of a structure whose nested entries use ``$in``."""
    try:
        yield
    except SpecError as exc:
        if "w_in" in exc.message or not _uses_in(nested):
            raise
        raise SpecError(exc.message + IN_HINT, exc.loc, exc.path) from None


def _expand_residual(e: Expansion) -> None:
    """A shortcut list whose entries are all switched off by ``when`` is the identity."""
    f = e.f
    scope = e.scope
    with _in_hint(f["body"], f["shortcut"]):
        body = scope.branch("body", "Residual body")
        e.entries(body, f["body"])
        shortcut = f["shortcut"]
        if isinstance(shortcut, tuple):
            sc = scope.branch("shortcut", "Shortcut")
            e.entries(sc, shortcut)
            shortcut = sc.close() if sc.nodes else "identity"
        scope.residual(e.name, "Residual", body.close(), shortcut, post=f["post"], projection_bn=f["projection_bn"],
                       partial=f["partial"])


def _expand_concat(e: Expansion) -> None:
    """Branches whose entries are all switched off by ``when`` are left out (MixNet's mixed
    kernels: one branch per kernel, a branch per kernel size used); the others keep their
    names (``branch0``, ``branch2`` ...)."""
    scope = e.scope
    f = e.f
    if f["from"] is not None:
        _expand_concat_from(e)
        return
    if (f["branches"] is None) == (f["each"] is None) or (f["each"] is None) != (f["branch"] is None):
        raise scope.error("give either 'branches' (a list of branches), 'each' (a list) with 'branch' "
                          "(the layers of one branch), or 'from' (earlier entries' names)",
                          "each" if f["each"] is not None else "branches")
    nodes = []
    with _in_hint(f["branches"], f["branch"]):
        for i, (entries, env) in enumerate(_concat_branches(e)):
            b = scope.branch(f"branch{i}", f"Branch {i}")
            e.resolver.entries(b, entries, width=e.width, stride_one=e.stride_one, env=env)
            if b.nodes:
                nodes.append(b.close())
        if not nodes:
            raise scope.error("no branches left: every entry of every branch is disabled by its 'when' for "
                              "these parameter values")
        scope.concat(e.name, "Concat", nodes)


def _expand_concat_from(e: Expansion) -> None:
    """``from: [a, b]``: the outputs of the earlier entries ``a`` and ``b``, concatenated in
    that order; each branch ``branchN`` is a ``take`` op of the named entry's output."""
    scope, f = e.scope, e.f
    if f["branches"] is not None or f["each"] is not None or f["branch"] is not None:
        raise scope.error("'from' takes earlier entries' outputs: give it without 'branches', 'each' and 'branch'",
                          "from")
    nodes = []
    for i, ref in enumerate(f["from"]):
        qual, node = scope.point(ref, "from")
        b = scope.branch(f"branch{i}", f"From {ref}")
        b.op("take", "take", point=qual, shape=node.out_shape)
        nodes.append(b.close(collapse=True))
    scope.concat(e.name, "Concat", nodes)


def _concat_branches(e: Expansion) -> Iterator[tuple[Any, Any]]:
    """(entries, env) of every branch: the listed ``branches``, or one ``branch`` per value of
    ``each`` with ``$NAME`` (``as``) and ``$NAME_index`` bound to the value and its position."""
    f = e.f
    if f["each"] is None:
        for entries in f["branches"]:
            yield entries, e.env
        return
    name = f["as"]
    for i, value in enumerate(f["each"]):
        bound = {name: list(value) if isinstance(value, tuple) else value, f"{name}_index": i}
        yield f["branch"], replace(e.env, values=ChainMap(bound, e.env.values))


def _expand_one_branch(attach: str, label: str) -> Callable[[Expansion], None]:
    """Resolve the entry's ``branch`` layers and attach them with ``Scope.gate``/``Scope.side``;
    a branch whose entries are all switched off by ``when`` leaves the entry out."""

    def expand(e: Expansion) -> None:
        with _in_hint(e.f["branch"]):
            b = e.scope.branch("branch", f"{label} branch")
            e.entries(b, e.f["branch"])
            if b.nodes:
                getattr(e.scope, attach)(e.name, label, b.close())

    return expand


EXPANDERS: dict[str, Expand] = {
    "conv": _expand_conv,
    "dwconv": _expand_dwconv,
    "pwconv": _expand_pwconv,
    "dwsep": _expand_dwsep,
    "bn": _expand_bn,
    "bn_act": _expand_bn_act,
    "layernorm": _expand_layernorm,
    "groupnorm": _expand_groupnorm,
    "layer_scale": _expand_layer_scale,
    "drop_path": _expand_drop_path,
    "identity": _expand_simple("identity"),
    "mean": _expand_mean,
    "split": _expand_split,
    "shuffle": _expand_shuffle,
    "se": _expand_se,
    "act": _expand_act,
    "maxpool": _expand_pool("maxpool2d", "gmaxpool"),
    "avgpool": _expand_pool("avgpool2d", "gavgpool"),
    "dropout": _expand_dropout,
    "flatten": _expand_simple("flatten"),
    "softmax": _expand_simple("softmax"),
    "linear": _expand_linear,
    "lrn": _expand_lrn,
    "subsample": _expand_subsample,
    "rbf": _expand_rbf,
    "mbconv": _expand_mbconv,
    "basic": _expand_basic,
    "bottleneck": _expand_bottleneck,
    "inception": _expand_inception,
    "sequential": _expand_sequential,
    "channels_last": _expand_channels_last,
    "residual": _expand_residual,
    "concat": _expand_concat,
    "gate": _expand_one_branch("gate", "Gate"),
    "side": _expand_one_branch("side", "Side output"),
}
