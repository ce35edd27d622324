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

from ..ops.module_tools import MODULE_ATTRS, TOOL_TABLES, WATCHED_FUNCTIONS, FunctionCall, ModuleCall

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


def plain_args(module: nn.Module, args: tuple[Any, ...], root: bool = False) -> tuple[Any, ...]:
    """A module call's positional arguments as plain values (no tensor is kept alive); only
    for the model itself (ptflops reads its batch there) and a class some tool counts (the
    others' are never read)."""
    return tuple(_value(a) for a in args) if root or _counted(class_names(type(module))) else ()


def module_call(module: nn.Module, args: tuple[Any, ...], output: Any, in_tree: bool,
                paths: int = 1) -> ModuleCall:
    """The record of one module call; ``args`` already :func:`plain_args`."""
    classes = class_names(type(module))
    attrs: dict[str, Any] = {}
    params: dict[str, tuple[int, ...]] = {}
    if _counted(classes):  # only a class some tool has a rule for is read
        own, registered = module.__dict__, module._parameters
        for name in MODULE_ATTRS:
            if name in own:
                attrs[name] = _value(own[name])
            elif name in registered:
                attrs[name] = _value(registered[name])
        params = {name: tuple(int(d) for d in p.shape) for name, p in registered.items()
                  if p is not None and not isinstance(p, nn.parameter.UninitializedParameter)}
    outs: tuple[tuple[int, ...] | None, ...] = ()
    if not attrs and not params and not _counted(classes):
        pass
    elif isinstance(output, (tuple, list)):
        outs = tuple(tuple(int(d) for d in o.shape) if isinstance(o, torch.Tensor) else None for o in output)
    elif isinstance(output, torch.Tensor):
        outs = (tuple(int(d) for d in output.shape),)
    return ModuleCall(classes, attrs, params, args, outs, in_tree, bool(module.training), paths)


_COUNTED: dict[tuple[str, ...], bool] = {}


def _counted(classes: tuple[str, ...]) -> bool:
    """Some tool has a rule that counts something for the class or one of its bases."""
    known = _COUNTED.get(classes)
    if known is None:
        known = _COUNTED[classes] = any(t.modules.get(c) is not None for t in TOOL_TABLES.values() for c in classes)
    return known


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
                  stack: tuple[int, ...], caller: nn.Module | None, position: int = 0) -> FunctionCall:
    """The record of a watched function call; ``caller`` is the innermost module running."""
    held = caller is not None and any(v is func for v in caller.__dict__.values())
    operator = False
    if name in _METHODS_WITH_OPERATORS:  # x + y reaches the mode as Tensor.add: read the caller's instruction
        frame = sys._getframe(2)
        operator = frame.f_code.co_code[frame.f_lasti] == _BINARY_OP
    outs = output if isinstance(output, (tuple, list)) else (output,)
    return FunctionCall(name, tuple(_value(a) for a in args), {k: _value(v) for k, v in kwargs.items()},
                        tuple(tuple(int(d) for d in o.shape) if isinstance(o, torch.Tensor) else None for o in outs),
                        stack, operator, held, position)
