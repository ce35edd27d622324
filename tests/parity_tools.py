"""Run fvcore, torchinfo, FlopCounterMode, ptflops and thop on a parity case as their users run them, and
cnninspect's conventions of the same names on the same model and inputs.

* fvcore: ``FlopCountAnalysis(model, inputs).total()`` under ``torch.no_grad()`` on real CPU
  tensors (fvcore takes positional inputs only);
* torchinfo: ``torchinfo.summary(model, input_data=[...], verbose=0, **kwargs).total_mult_adds``;
* FlopCounterMode: ``get_total_flops() // 2`` around ``model(*args, **kwargs)`` on real CPU
  tensors under ``torch.no_grad()``, in eval mode (so PyTorch's fused CPU kernels run: the
  ``nn.MultiheadAttention``/``TransformerEncoderLayer`` fast path, oneDNN's LSTM);
* ptflops: ``get_model_complexity_info(model, ..., input_constructor=..., as_strings=False)``
  (default pytorch backend): one input tensor is passed as it is, several inputs as a dict
  by the forward's argument names (ptflops calls ``model(batch)`` or ``model(**batch)``);
  its number is per image, so it is compared with cnninspect's per-sample figure;
* thop: ``thop.profile(model, inputs=args, verbose=False)`` (positional inputs only).

Each tool runs on a fresh instance of the model.
"""

from __future__ import annotations

import contextlib
import io
import inspect
import logging
import warnings
from typing import Any


import torch

import cnninspect
from parity_models import Case

TOOLS = ("fvcore", "torchinfo", "flopcounter", "ptflops", "thop")


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


def _ptflops_inputs(case: Case, model: torch.nn.Module) -> Any:
    """What ptflops's ``input_constructor`` returns for the case: the one tensor, or a dict."""
    args, kwargs = case.data()
    if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
        return args[0]
    names = list(inspect.signature(model.forward).parameters)
    return {**dict(zip(names, args)), **kwargs}


def _ptflops(case: Case) -> int:
    from ptflops import get_model_complexity_info

    model = case.model()
    batch = _ptflops_inputs(case, model)
    macs, _params = get_model_complexity_info(model, (1,), input_constructor=lambda _res: batch, as_strings=False,
                                              print_per_layer_stat=False)
    if macs is None:
        raise RuntimeError("ptflops could not run the model (it printed the exception)")
    return int(macs)


def _thop(case: Case) -> int:
    import thop

    args, kwargs = case.data()
    if kwargs:
        raise TypeError("thop.profile passes positional inputs only; this model needs keyword inputs")
    total, _params = thop.profile(case.model(), inputs=args, verbose=False)
    return int(total)


MEASURE = {"fvcore": _fvcore, "torchinfo": _torchinfo, "flopcounter": _flopcounter, "ptflops": _ptflops,
           "thop": _thop}


def tool_total(case: Case, tool: str) -> int:
    """The tool's total in multiply-adds; raises what the tool raises when it cannot run."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return MEASURE[tool](case)


def cnninspect_total(case: Case, convention: str) -> int | float:
    """cnninspect's total under the convention of the tool's name, for the same call (for
    ptflops, whose number is per image: the per-sample figure, inputs passed as ptflops does)."""
    args, kwargs = case.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if convention == "ptflops":
            batch = _ptflops_inputs(case, case.model())
            report = cnninspect.summary(case.model(), input_data=batch, convention=convention)
            total, n = int(report.total_mult_adds), report.batch
            return total // n if total % n == 0 else total / n
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



