"""Expansion: what each layer type of the spec language becomes in the IR.

One expansion function per layer type name in :data:`EXPANDERS` (a test checks every type
of :data:`cnninspect.lang.layertypes.LAYER_TYPES` has one) turns one resolved entry into IR
nodes through the :class:`~cnninspect.scope.Scope` API, labelling what it attaches for the
layer table and ``--format paper`` (e.g. ``MBConv6, k3x3``). Blocks such as
``dwsep``, ``mbconv``, ``basic``, ``bottleneck`` and ``inception`` expand into the same
generic structures (``residual``, ``concat``, ``gate``) that specs may also write by hand.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Mapping

from .ops import fmt_shape
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
    )


def _expand_dwconv(e: Expansion) -> None:
    f = e.f
    e.scope.conv_unit(
        e.name, f"DWConv{_k(f)}", out=0, kernel=f["kernel"], stride=f["stride"], padding=f["padding"],
        bias=f["bias"], bn=f["bn"], act=f["act"], depthwise=True,
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
    if len(shape) != 3:
        raise e.scope.error(f"batch norm needs a feature map but its input is the flat vector {fmt_shape(shape)}")
    e.scope.op(e.name, "bn2d", ch=shape[0], eps=e.f["eps"])


def _expand_act(e: Expansion) -> None:
    e.scope.op(e.name, "act", fn=e.f["fn"])


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


def _expand_dropout(e: Expansion) -> None:
    e.scope.op(e.name, "dropout", p=e.f["p"])


def _expand_simple(kind: str) -> Callable[[Expansion], None]:
    def expand(e: Expansion) -> None:
        e.scope.op(e.name, kind)

    return expand


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
    attrs = dict(ch=shape[0], kernel=kernel, stride=stride, pad=(0, 0, 0, 0))
    if f["act"] is None:
        e.scope.op(e.name, "subsample", **attrs)
        return
    s = e.scope.child(e.name, "Subsample")
    s.op("pool", "subsample", **attrs)
    s.op("act", "act", fn=f["act"])
    s.close(attach=True)


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
    body = scope.branch("body", "Bottleneck body")
    body.conv_unit("conv1", "Conv1x1", out=f["mid"], kernel=(1, 1), stride=s1, padding="valid", bn=True, act=f["act"])
    body.conv_unit("conv2", "Conv3x3", out=f["mid"], kernel=(3, 3), stride=s3, bn=True, act=f["act"])
    body.conv_unit("conv3", "Conv1x1", out=f["out"], kernel=(1, 1), padding="valid", bn=True, act=None)
    scope.residual(e.name, "Bottleneck", body.close(), f["shortcut"], post=f["act"])


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


def _expand_concat(e: Expansion) -> None:
    scope = e.scope
    nodes = []
    for i, entries in enumerate(e.f["branches"]):
        b = scope.branch(f"branch{i}", f"Branch {i}")
        e.entries(b, entries)
        nodes.append(b.close())
    scope.concat(e.name, "Concat", nodes)


def _expand_one_branch(attach: str, label: str) -> Callable[[Expansion], None]:
    """Resolve the entry's ``branch`` layers and attach them with ``Scope.gate``/``Scope.side``."""

    def expand(e: Expansion) -> None:
        b = e.scope.branch("branch", f"{label} branch")
        e.entries(b, e.f["branch"])
        getattr(e.scope, attach)(e.name, label, b.close())

    return expand


EXPANDERS: dict[str, Expand] = {
    "conv": _expand_conv,
    "dwconv": _expand_dwconv,
    "pwconv": _expand_pwconv,
    "dwsep": _expand_dwsep,
    "bn": _expand_bn,
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
    "residual": _expand_residual,
    "concat": _expand_concat,
    "gate": _expand_one_branch("gate", "Gate"),
    "side": _expand_one_branch("side", "Side output"),
}
