"""Builder: resolved :class:`~cnninspect.resolve.ir.Model` -> real ``torch.nn.Module``.

Module names mirror the IR (and so the spec): the op at ``sep7.3.dw.conv`` in a report is
``model.get_submodule("sep7.3.dw.conv")``. One factory per op kind, in a registry; a test
checks every factory produces the class the op registry announces (``OpType.torch_class``),
which is what the torch-free ``spec`` engine and the ``torchinfo`` convention rely on.

``build_module(model, device="meta")`` allocates no weights: PyTorch's meta device keeps
shapes only. That is how ``summary`` stays fast and small for EfficientNet-B7 at 600x600.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from collections.abc import Callable, Mapping

import torch
from torch import nn

from . import modules as M
from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side, ops
from ..ops.primitives import ACTIVATIONS, activation_kwargs

Factory = Callable[[Mapping[str, Any]], nn.Module]


def _conv(a: Mapping[str, Any]) -> nn.Module:
    t, b, left, r = a["pad"]
    d = a.get("dilation", (1, 1))
    if a["pad_tag"] == "same-tf":
        return M.Conv2dSame(a["in_ch"], a["out_ch"], a["kernel"], a["stride"], 0, d, groups=a["groups"], bias=a["bias"])
    assert t == b and left == r, "symmetric padding expected outside TF 'same'"
    return nn.Conv2d(a["in_ch"], a["out_ch"], a["kernel"], a["stride"], (t, left), d, groups=a["groups"], bias=a["bias"])


def _table(a: Mapping[str, Any]) -> nn.Module:
    t, _b, left, _r = a["pad"]
    return M.ConnectionTableConv2d(a["connections"], a["kernel"], a["stride"], (t, left), a["bias"])


# activation classes of our own; every other activation is the torch.nn class of its name
_CUSTOM_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "Step": M.Step,
    "Signum": M.Signum,
    "ScaledTanh": M.ScaledTanh,
}
assert all(a.torch_class in _CUSTOM_ACTIVATIONS or hasattr(nn, a.torch_class) for a in ACTIVATIONS.values()), (
    "every activation needs a module class"
)


def _activation(a: Mapping[str, Any]) -> nn.Module:
    """The activation's module, with its parameters (defaults filled in) as arguments;
    PReLU's slopes start at its ``init``."""
    cls = ACTIVATIONS[a["fn"]].torch_class
    if cls in _CUSTOM_ACTIVATIONS:
        return _CUSTOM_ACTIVATIONS[cls]()
    module: nn.Module = getattr(nn, cls)(**activation_kwargs(a))
    return module


def _pool(cls: type[nn.Module]) -> Factory:
    def make(a: Mapping[str, Any]) -> nn.Module:
        t, _b, left, _r = a["pad"]
        kwargs: dict[str, Any] = dict(ceil_mode=a["ceil_mode"])
        if cls is nn.AvgPool2d:
            kwargs["count_include_pad"] = a["count_include_pad"]
        return cls(a["kernel"], a["stride"], (t, left), **kwargs)

    return make


def _layernorm(a: Mapping[str, Any]) -> nn.Module:
    cls = M.LayerNorm2d if a["dim"] == "channels" else nn.LayerNorm
    return cls(a["ch"], eps=a["eps"], elementwise_affine=a["affine"])


# batch dimension included: per-sample C x H x W <-> H x W x C
_PERMUTATIONS = {"channels_last": (0, 2, 3, 1), "channels_first": (0, 3, 1, 2)}

FACTORIES: dict[str, Factory] = {
    "identity": lambda a: nn.Identity(),
    "conv2d": _conv,
    "conv_table": _table,
    "linear": lambda a: nn.Linear(a["in_f"], a["out_f"], bias=a["bias"]),
    "rbf": lambda a: M.RBFOutput(a["in_f"], a["out_f"]),
    "bn2d": lambda a: nn.BatchNorm2d(a["ch"], eps=a.get("eps", 1e-5)),
    "bn_act2d": lambda a: M.BatchNormAct2d(a["ch"], _activation(a), eps=a["eps"]),
    "act": _activation,
    "dropout": lambda a: nn.Dropout(a["p"]),
    "drop_path": lambda a: M.StochasticDepth(a["p"]),
    "lrn": lambda a: nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
    "softmax": lambda a: nn.Softmax(dim=1),
    "flatten": lambda a: nn.Flatten(),
    "maxpool2d": _pool(nn.MaxPool2d),
    "avgpool2d": _pool(nn.AvgPool2d),
    "gavgpool": lambda a: nn.AdaptiveAvgPool2d(a.get("size", 1)),
    "gmaxpool": lambda a: nn.AdaptiveMaxPool2d(a.get("size", 1)),
    "subsample": lambda a: M.Subsample2d(a["ch"], a["kernel"], a["stride"]),
    "bn1d": lambda a: nn.BatchNorm1d(a["ch"], eps=a["eps"]),
    "layernorm": _layernorm,
    "layer_scale": lambda a: M.LayerScale(a["ch"], a["init"], channels_first=a["dim"] == "channels"),
    "mean": lambda a: M.GlobalMean(a["keepdim"]),
    "channel_split": lambda a: M.ChannelSplit(a["start"], a["stop"]),
    "channel_shuffle": lambda a: M.ChannelShuffle(a["groups"]),
    "permute": lambda a: M.Permute(_PERMUTATIONS[a["to"]]),
    # a concat's 'from' alone, with points of its own; build_node gives it the model's shared points
    "take": lambda a: M.TakePoint(a["point"], {}),
}


def build_node(node: Node, prefix: str = "", taken: frozenset[str] = frozenset(),
               points: M.Points | None = None) -> nn.Module:
    """Build one IR node (recursively) at module path ``prefix``. ``taken``: the module paths
    a concat's ``from`` reads (their sequences keep those outputs in ``points``)."""
    if isinstance(node, Op):
        if node.kind == "take":
            assert points is not None
            return M.TakePoint(node.attrs["point"], points)
        return FACTORIES[node.kind](node.attrs)

    def sub(child: Node) -> nn.Module:
        return build_node(child, f"{prefix}.{child.name}" if prefix else child.name, taken, points)

    if isinstance(node, Seq):
        kids = [(c.name, sub(c)) for c in node.children]
        quals = {c.name: f"{prefix}.{c.name}" if prefix else c.name for c in node.children}
        keep = {name: q for name, q in quals.items() if q in taken}
        if keep or (not prefix and taken):
            assert points is not None
            return M.KeepingSequential(kids, keep, points, clear=not prefix)
        return nn.Sequential(OrderedDict(kids))
    if isinstance(node, Residual):
        post = sub(node.post) if node.post is not None else None
        return M.Residual(sub(node.body), sub(node.shortcut), post, partial=node.partial)
    if isinstance(node, Concat):
        return M.Concat([(b.name, sub(b)) for b in node.branches])
    if isinstance(node, Gate):
        return M.Gate(sub(node.branch))
    assert isinstance(node, Side)
    return M.Side(sub(node.branch))


def taken_points(model: Model) -> frozenset[str]:
    """The module paths whose outputs a concat's ``from`` takes."""
    return frozenset(op.attrs["point"] for _q, op in ops(model.root) if op.kind == "take")


def build_module(model: Model, device: str | torch.device | None = None) -> nn.Module:
    """Build ``model`` as an ``nn.Sequential`` in eval mode; ``device="meta"`` allocates nothing."""
    taken = taken_points(model)
    points: M.Points | None = {} if taken else None
    if device is None:
        module = build_node(model.root, "", taken, points)
    else:
        with torch.device(device):
            module = build_node(model.root, "", taken, points)
    return module.eval()
