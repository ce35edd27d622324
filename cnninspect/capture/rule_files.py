"""``--rules FILE``: custom counting rules from a Python file of the user's.

The file is run as a Python model's file is (:func:`cnninspect.capture.pymodels.load`: its
output goes to standard error, any error it raises is one line naming the file, exit code 2)
and must define ``RULES``, a dict of operator name -> function, as
:func:`cnninspect.ops.custom_rules.custom_rules` takes it. Each rule also runs guarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base.errors import UsageError, shorten
from ..ops.aten_rules import AtenRule, OpCall
from ..ops.custom_rules import custom_rules


def load_rules(path: str) -> dict[str, AtenRule]:
    """The rules ``RULES`` of the Python file ``path``."""
    from ..base.extras import require
    from .pymodels import PyRef, _run_file
    from .usercode import guarded

    require(f"the rules file {shorten(path, 100)}", "torch")
    with guarded():
        module = _run_file(PyRef(path, "python-file", path, "RULES"))
    rules = getattr(module, "RULES", None)
    if rules is None:
        raise UsageError(f"{shorten(path, 100)}: defines no RULES; a rules file defines RULES = "
                         "{'namespace::op': function, ...} (docs/counting.md, 'Custom rules')")
    if not isinstance(rules, dict):
        raise UsageError(f"{shorten(path, 100)}: RULES is {type(rules).__name__}, not a dict of operator name -> "
                         "function")
    return custom_rules({k: _guarded(fn) if callable(fn) else fn for k, fn in rules.items()},
                        f"{shorten(path, 100)}: RULES")


def _guarded(fn: Callable[[OpCall], Any]) -> Callable[[OpCall], Any]:
    from .usercode import guarded

    def rule(call: OpCall) -> Any:
        with guarded():
            return fn(call)

    rule.__name__ = getattr(fn, "__name__", "rule")
    return rule
