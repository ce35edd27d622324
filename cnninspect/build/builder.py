"""Builder: resolved :class:`~cnninspect.resolve.ir.Model` -> real ``torch.nn.Module``.

Module names mirror the IR (and so the spec): the op at ``sep7.3.dw.conv`` in a report is
``model.get_submodule("sep7.3.dw.conv")``. Each op is built from its kind's record
(:attr:`cnninspect.ops.kind.OpKind.module`: a class name and its arguments, torch-free); a
test checks every bundled op builds the class its record announces, which is what the
torch-free ``spec`` engine and the ``torchinfo`` convention rely on.

``build_module(model, device="meta")`` allocates no weights: PyTorch's meta device keeps
shapes only. That is how ``summary`` stays fast and small for EfficientNet-B7 at 600x600.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from . import modules as M
from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side, ops
from ..ops.kind import ModuleRecipe
from ..ops.kinds import KINDS


def instantiate(call: ModuleRecipe) -> nn.Module:
    """The module a record's :class:`~cnninspect.ops.kind.ModuleRecipe` describes: a class of
    :mod:`cnninspect.build.modules` when it defines one by that name, else of ``torch.nn``;
    arguments that are calls themselves are built first."""
    custom = getattr(M, call.cls, None)
    cls = custom if isinstance(custom, type) and custom.__module__ == M.__name__ else getattr(nn, call.cls)

    def arg(v: Any) -> Any:
        return instantiate(v) if isinstance(v, ModuleRecipe) else v

    module: nn.Module = cls(*(arg(v) for v in call.args), **{k: arg(v) for k, v in call.kwargs.items()})
    return module


def build_op(op: Op) -> nn.Module:
    """The module of one op, as its kind's record describes it."""
    return instantiate(KINDS[op.kind].module(op.attrs))


def build_node(node: Node, prefix: str = "", taken: frozenset[str] = frozenset(),
               points: M.Points | None = None) -> nn.Module:
    """Build one IR node (recursively) at module path ``prefix``. ``taken``: the module paths
    a concat's ``from`` reads (their sequences keep those outputs in ``points``)."""
    if isinstance(node, Op):
        if node.kind == "take":  # a concat's 'from' reads the model's shared points
            assert points is not None
            return M.TakePoint(node.attrs["point"], points)
        return build_op(node)

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
