"""Custom counting rules: the caller's own rule for an operator cnninspect does not count.

Like fvcore's ``set_op_handle``, a rule is a function of one operator call:

    def my_op(call: OpCall) -> int | None: ...

* ``call`` is the :class:`~cnninspect.ops.aten_rules.OpCall` the forward pass recorded: its
  tensor arguments and results as :class:`~cnninspect.ops.aten_rules.TensorMeta` (``shape``
  with the batch dimension, ``dtype``, ``numel``; ``call.tensor(i)``, ``call.out(i)``),
  other arguments as plain values (``call.arg(i, "name", default)``), ``call.op`` and
  ``call.namespace`` (``mylib`` for ``mylib::foo``).
* It returns the multiply-adds of that one call, for the whole batch the model ran on (a
  whole number, 0 allowed), or ``None`` to leave the call uncounted (listed as such).

Rules are given by operator, as ``"namespace::name"`` or ``"namespace.name"``
(``"mylib::fused_gate"``, ``"aten::cumsum"``; the overload, ``.default``, is not part of the
name). A rule applies in every convention that counts operators (``paper``, ``fvcore``,
``torchinfo``, ``flopcounter``) and replaces that convention's rule for that operator alone:
every other operator keeps its count, and operators without a rule stay listed as
uncounted. ``ptflops`` and ``thop`` count by module class, not by operator, so they take no
operator rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..base.errors import UsageError, shorten
from .aten_rules import AtenRule, OpCall

_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:::|\.)([A-Za-z_][A-Za-z0-9_]*)$")


def operator_name(key: Any, where: str) -> str:
    """``namespace::name`` or ``namespace.name`` as the qualified name outputs list (``mylib.foo``)."""
    m = _NAME.match(key) if isinstance(key, str) else None
    if m is None:
        raise UsageError(f"{where}: {shorten(repr(key), 60)} is not an operator name; write namespace::name, "
                         "as in 'aten::cumsum' or 'mylib::my_op' (the names cnninspect lists as uncounted)")
    return f"{m.group(1)}.{m.group(2)}"


def custom_rules(rules: Mapping[str, Callable[[OpCall], Any]] | None, where: str = "custom_rules") -> dict[str, AtenRule]:
    """Check the caller's rules and wrap each so that what it returns, or raises, is reported
    as the caller's error (exit code 2), naming the operator."""
    if rules is None:
        return {}
    if not isinstance(rules, Mapping):
        raise UsageError(f"{where}: expected a dict of operator name -> function, got {type(rules).__name__}")
    out: dict[str, AtenRule] = {}
    for key, fn in rules.items():
        name = operator_name(key, where)
        if not callable(fn):
            raise UsageError(f"{where}: the rule for {name} is {type(fn).__name__}, not a function")
        if name in out:
            raise UsageError(f"{where}: two rules for {name}")
        out[name] = _checked(name, fn, where)
    return out


def _checked(name: str, fn: Callable[[OpCall], Any], where: str) -> AtenRule:
    def rule(call: OpCall) -> int | None:
        try:
            value = fn(call)
        except Exception as exc:
            text = " ".join(str(exc).split())
            raise UsageError(f"{where}: the rule for {name} raised {type(exc).__name__}"
                             + (f": {shorten(text, 200)}" if text else "")) from exc
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{where}: the rule for {name} returned {shorten(repr(value), 60)}; a rule returns the "
                             "call's multiply-adds as a whole number >= 0, or None to leave it uncounted")
        return int(value)

    rule.__doc__ = f"The caller's rule ({getattr(fn, '__name__', 'rule')})."
    return rule
