"""What ptflops's and thop's hooks would see of a forward pass, recorded as plain data.

:mod:`cnninspect.ops.module_tools` holds the tools' tables; this module reads, from a module
call or a torch function call, the facts those tables need (:class:`ModuleCall`,
:class:`FunctionCall`), so one capture serves those conventions too. Reading is cheap and
never changes the module.
"""

from __future__ import annotations

import dis
import sys
from typing import Any

import torch
from torch import nn

from ..ops.module_tools import MODULE_ATTRS, WATCHED_FUNCTIONS, FunctionCall, ModuleCall

_CLASSES: dict[type, tuple[str, ...]] = {}
_BINARY_OP = dis.opmap.get("BINARY_OP", -1)
_METHODS_WITH_OPERATORS = frozenset({"Tensor.add", "Tensor.mul", "Tensor.matmul"})


def class_names(cls: type) -> tuple[str, ...]:
    """Qualified names of ``cls`` and its bases, most derived first."""
    names = _CLASSES.get(cls)
    if names is None:
        names = _CLASSES[cls] = tuple(f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__)
    return names


def _value(v: Any) -> Any:
    """A plain value for the record: a tensor as its shape, numbers, strings and tuples of
    them as they are, anything else as ``None``."""
    if isinstance(v, torch.Tensor):
        return tuple(int(d) for d in v.shape)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (tuple, list)) and len(v) <= 16:
        return tuple(_value(x) for x in v)
    return None


def plain_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A module call's positional arguments as plain values (no tensor is kept alive)."""
    return tuple(_value(a) for a in args)


def tree_paths(root: nn.Module) -> dict[int, int]:
    """By module id: the paths from ``root`` to the module through ``children()`` (each
    parent's children counted once, as ``children()`` lists them)."""
    order: list[nn.Module] = []
    seen: set[int] = set()
    stack: list[tuple[nn.Module, bool]] = [(root, False)]
    while stack:  # parents before children: reverse post-order
        m, done = stack.pop()
        if done:
            order.append(m)
            continue
        if id(m) in seen:
            continue
        seen.add(id(m))
        stack.append((m, True))
        stack.extend((c, False) for c in m.children() if id(c) not in seen)
    paths = {id(root): 1}
    for m in reversed(order):
        n = paths.get(id(m), 0)
        for c in m.children():
            paths[id(c)] = paths.get(id(c), 0) + n
    return paths


def module_call(module: nn.Module, args: tuple[Any, ...], output: Any, in_tree: bool,
                paths: int = 1) -> ModuleCall:
    """The record of one module call; ``args`` already :func:`plain_args`."""
    attrs = {name: _value(getattr(module, name)) for name in MODULE_ATTRS if hasattr(module, name)}
    params = {name: tuple(int(d) for d in p.shape) for name, p in module._parameters.items()
              if p is not None and not isinstance(p, nn.parameter.UninitializedParameter)}
    if isinstance(output, (tuple, list)):
        outs = tuple(tuple(int(d) for d in o.shape) if isinstance(o, torch.Tensor) else None for o in output)
    elif isinstance(output, torch.Tensor):
        outs = (tuple(int(d) for d in output.shape),)
    else:
        outs = ()
    return ModuleCall(class_names(type(module)), attrs, params, args, outs, in_tree, bool(module.training), paths)


_WATCHED: dict[Any, str] | None = None


def watched() -> dict[Any, str]:
    """The torch functions the tools' tables name, by object."""
    global _WATCHED
    if _WATCHED is None:
        found: dict[Any, str] = {}
        owners = {"F": torch.nn.functional, "torch": torch, "Tensor": torch.Tensor}
        for name in sorted(WATCHED_FUNCTIONS):
            owner, _, attr = name.partition(".")
            # F.max_pool2d(..., return_indices=True) reaches a mode as max_pool2d_with_indices
            for alias in (attr, f"{attr}_with_indices"):
                obj = getattr(owners[owner], alias, None)
                if obj is not None:
                    found.setdefault(obj, name)
        _WATCHED = found
    return _WATCHED


def function_call(func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any,
                  stack: tuple[int, ...], caller: nn.Module | None) -> FunctionCall:
    """The record of a watched function call; ``caller`` is the innermost module running."""
    held = caller is not None and any(v is func for v in caller.__dict__.values())
    operator = False
    if name in _METHODS_WITH_OPERATORS:  # x + y reaches the mode as Tensor.add: read the caller's instruction
        frame = sys._getframe(2)
        operator = frame.f_code.co_code[frame.f_lasti] == _BINARY_OP
    outs = output if isinstance(output, (tuple, list)) else (output,)
    return FunctionCall(name, tuple(_value(a) for a in args), {k: _value(v) for k, v in kwargs.items()},
                        tuple(tuple(int(d) for d in o.shape) if isinstance(o, torch.Tensor) else None for o in outs),
                        stack, operator, held)
