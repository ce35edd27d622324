"""The ``meta`` engine: analyse the real built module without allocating it.

The builder's ``nn.Module`` is created on PyTorch's meta device (tensors with shapes but no
storage) and run once on a meta input with forward hooks on every submodule. Shapes are
measured, parameters are read from the module itself, and mult-adds are counted from those
measurements by the chosen convention. No weight is allocated and no arithmetic happens, and
the hot operators skip PyTorch's Python meta kernels (:func:`cnninspect.capture.forward.meta_shortcuts`),
so EfficientNet-B7 at 600x600 costs little more than importing torch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..measure.analysis import Observed, Report, analyze
from .builder import build_module
from ..capture.forward import meta_shortcuts
from ..ops.conventions import Convention
from ..resolve.ir import Model, Op, walk


class EngineMismatch(RuntimeError):
    """The built module does not have the structure the resolved model describes (a bug)."""


def observe_module(model: Model, module: nn.Module, device: str | torch.device = "meta") -> dict[str, Observed]:
    """Run ``module`` once on a batch-1 input and record every submodule's shapes and params."""
    seen: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    handles = []
    named = dict(module.named_modules())
    for name, mod in named.items():
        if not name:
            continue

        def hook(m: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
            if name not in seen:
                seen[name] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))

        handles.append(mod.register_forward_hook(hook))
    try:
        x = torch.empty((1,) + tuple(model.input_shape), device=device)
        with torch.no_grad(), meta_shortcuts() if x.device.type == "meta" else contextlib.nullcontext():
            module(x)
    finally:
        for h in handles:
            h.remove()
    expected = {qual for qual, _, _ in walk(model.root)}
    op_quals = {qual for qual, _, node in walk(model.root) if isinstance(node, Op)}
    # an op's own children (BatchNormAct2d's act and drop) are part of the op
    actual = {n for n in named if n and not any(n.startswith(q + ".") for q in _prefixes(n) & op_quals)}
    if expected != actual:
        extra = sorted(actual - expected)[:3]
        missing = sorted(expected - actual)[:3]
        raise EngineMismatch(f"module structure differs from the model: extra {extra}, missing {missing}")
    obs: dict[str, Observed] = {}
    for qual, _depth, node in walk(model.root):
        if qual not in seen:
            raise EngineMismatch(f"submodule {qual} was never called")
        in_shape, out_shape = seen[qual]
        if isinstance(node, Op):
            mod = named[qual]
            params = {n: (p.numel(), p.requires_grad) for n, p in mod.named_parameters(recurse=False)}
            obs[qual] = Observed(in_shape, out_shape, params, type(mod).__name__)
        else:
            obs[qual] = Observed(in_shape, out_shape)
    return obs


def _prefixes(name: str) -> set[str]:
    """``a``, ``a.b`` for ``a.b.c``: the names of the modules that contain ``name``."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def analyze_meta(model: Model, convention: str | Convention = "paper") -> Report:
    """Build ``model`` on the meta device and analyse the module (the ``meta`` engine)."""
    with meta_shortcuts():
        module = build_module(model, device="meta")
    return analyze(model, convention, observations=observe_module(model, module), engine="meta")
