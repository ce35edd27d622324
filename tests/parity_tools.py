"""Run fvcore, torchinfo and FlopCounterMode on a parity case as their users run them, and
cnninspect's conventions of the same names on the same model and inputs.

* fvcore: ``FlopCountAnalysis(model, inputs).total()`` under ``torch.no_grad()`` on real CPU
  tensors (fvcore takes positional inputs only);
* torchinfo: ``torchinfo.summary(model, input_data=[...], verbose=0, **kwargs).total_mult_adds``;
* FlopCounterMode: ``get_total_flops() // 2`` around ``model(*args, **kwargs)`` on real CPU
  tensors under ``torch.no_grad()``, in eval mode (so PyTorch's fused CPU kernels run: the
  ``nn.MultiheadAttention``/``TransformerEncoderLayer`` fast path, oneDNN's LSTM).

Each tool runs on a fresh instance of the model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings


import torch

import cnninspect
from parity_models import Case

TOOLS = ("fvcore", "torchinfo", "flopcounter")


def _fvcore(case: Case) -> int:
    from fvcore.nn import FlopCountAnalysis

    args, kwargs = case.data()
    if kwargs:
        raise TypeError("fvcore takes positional inputs only; this model needs keyword inputs")
    model = case.model()
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():
        fca = FlopCountAnalysis(model, args)
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return int(fca.total())


def _torchinfo(case: Case) -> int:
    import torchinfo

    args, kwargs = case.data()
    return int(torchinfo.summary(case.model(), input_data=list(args), verbose=0, **kwargs).total_mult_adds)


def _flopcounter(case: Case) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    args, kwargs = case.data()
    model = case.model()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*args, **kwargs)
    return int(counter.get_total_flops()) // 2


MEASURE = {"fvcore": _fvcore, "torchinfo": _torchinfo, "flopcounter": _flopcounter}


def tool_total(case: Case, tool: str) -> int:
    """The tool's total in multiply-adds; raises what the tool raises when it cannot run."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return MEASURE[tool](case)


def cnninspect_total(case: Case, convention: str) -> int:
    args, kwargs = case.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = cnninspect.summary(case.model(), input_data=list(args), convention=convention, **kwargs)
    return int(report.total_mult_adds)


def outcome(case: Case, tool: str) -> tuple[str, int | None, int | None, str]:
    """(status, tool's total, cnninspect's, detail): status ``equal``, ``differs``,
    ``tool fails`` (the tool itself cannot run the model) or ``cnninspect fails``."""
    try:
        theirs = tool_total(case, tool)
    except Exception as exc:  # the tool cannot run this model
        return "tool fails", None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    try:
        mine = cnninspect_total(case, tool)
    except Exception as exc:
        return "cnninspect fails", theirs, None, f"{type(exc).__name__}: {exc}"
    return ("equal" if mine == theirs else "differs"), theirs, mine, ""


def run_all(cases: dict[str, Case]) -> dict[tuple[str, str], tuple[str, int | None, int | None, str]]:
    return {(name, tool): outcome(c, tool) for name, c in cases.items() for tool in TOOLS}



