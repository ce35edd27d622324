"""The peer tools, run for real on the modules cnninspect builds.

One :class:`Tool` per peer: which convention reproduces it, how many of its units make one
of that convention's multiply-adds (FlopCounterMode reports FLOPs: 2), where it must run
and how to call it. ``explain`` measures a tool when it is installed and reports the
convention's count as *derived* otherwise; the tests hold every measurement equal to the
derived count on every bundled model.

Devices: fvcore traces with TorchScript and fails on meta tensors, and ptflops counts
``F.linear`` again on meta tensors (its decomposition calls the ``torch.matmul`` ptflops
patches), so both run on real CPU tensors; torchinfo, thop and FlopCounterMode read shapes
only and run on the meta device, allocating nothing.

The registry is torch-free; torch and the tools are imported only to measure.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

if TYPE_CHECKING:
    from ..resolve.ir import Model

Measure = Callable[[Any, Any], float]  # (module, input tensor) -> the tool's total


@dataclass(frozen=True)
class Tool:
    name: str  # as the tool is known (and as JSON names it)
    convention: str  # the convention whose count reproduces the tool
    factor: int  # tool units per multiply-add of that convention
    unit: str  # what the tool calls its number
    module: str  # import name
    package: str  # distribution, for its version and the install hint
    device: str  # "cpu" (real tensors) or "meta"
    measure: Measure


def _fvcore(module: Any, x: Any) -> float:
    import torch
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():  # as its users run it
        fca = FlopCountAnalysis(module, x)
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return fca.total()


def _torchinfo(module: Any, x: Any) -> float:
    import torchinfo

    return torchinfo.summary(module, input_data=[x], verbose=0, device=x.device).total_mult_adds


def _ptflops(module: Any, x: Any) -> float:
    import torch
    from ptflops import get_model_complexity_info

    with torch.no_grad():
        macs, _params = get_model_complexity_info(
            module, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False
        )
    if macs is None:  # ptflops prints the exception and returns None
        raise RuntimeError("ptflops failed on this module")
    return macs


def _thop(module: Any, x: Any) -> float:
    import thop

    return thop.profile(module, inputs=(x,), verbose=False)[0]


def _flop_counter(module: Any, x: Any) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("fvcore", "fvcore", 1, "mult-adds", "fvcore", "fvcore", "cpu", _fvcore),
        Tool("torchinfo", "torchinfo", 1, "mult-adds", "torchinfo", "torchinfo", "meta", _torchinfo),
        Tool("ptflops", "ptflops", 1, "MACs", "ptflops", "ptflops", "cpu", _ptflops),
        Tool("thop", "thop", 1, "MACs", "thop", "ultralytics-thop", "meta", _thop),
        Tool("FlopCounterMode", "flopcounter", 2, "FLOPs", "torch", "torch", "meta", _flop_counter),
    )
}


def installed(tool: Tool) -> bool:
    return importlib.util.find_spec(tool.module) is not None


def version(tool: Tool) -> str | None:
    for dist in (tool.package, tool.module):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def run_tool(tool: Tool, model: Model) -> int:
    """Build ``model`` afresh on the tool's device and return the tool's total (batch 1).

    A fresh module per tool: ptflops and thop attach attributes and hooks while they count.
    Whatever a tool prints is swallowed (only the CLI writes output). Weights are never
    initialised: every tool counts from shapes, so their values do not matter.
    """
    import torch

    from .builder import build_module

    # counts depend on shapes only: real CPU storage filled with zeros, no weight init cost
    # (uninitialised memory may hold denormals, which make CPU arithmetic crawl)
    module = build_module(model, device="meta")
    if tool.device != "meta":
        module = module.to_empty(device=tool.device)
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                t.zero_()
    shape = (1,) + tuple(model.input_shape)
    x = torch.empty(shape, device="meta") if tool.device == "meta" else torch.zeros(shape)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        total = tool.measure(module, x)
    return int(round(float(total)))


def measure_module(module: Any, inputs: Any, max_mb: float) -> dict[str, tuple[int | None, str, str | None]]:
    """Each installed tool's total on a private copy of a Python model (never the model
    itself): on the meta device for the tools that read shapes only, on zero-filled CPU
    tensors for the others when the copy's weights fit in ``max_mb``. One positional tensor
    input only (the tools' own calling convention); per tool (total or None, note, version)."""
    import torch

    from ..capture.forward import private_copy
    from ..capture.inputs import TensorSpec
    from ..capture.pymodels import state_bytes
    from ..capture.usercode import guarded

    out: dict[str, tuple[int | None, str, str | None]] = {}
    single = len(inputs.args) == 1 and not inputs.kwargs and isinstance(inputs.args[0], TensorSpec)
    first = next((p for p in module.parameters() if p.dtype.is_floating_point), None)
    dtype = first.dtype if first is not None else torch.float32
    for tool in TOOLS.values():
        if not installed(tool):
            out[tool.name] = (None, "not installed", None)
            continue
        if not single:
            out[tool.name] = (None, "not measured: the tools take one positional tensor input", version(tool))
            continue
        need = state_bytes(module)
        if tool.device == "cpu" and need > max_mb * 1e6:
            out[tool.name] = (None, f"not measured: real weights would need {need / 1e6:.0f} MB (over "
                                    f"--measure-max-mb {max_mb:g})", version(tool))
            continue
        spec = inputs.args[0]
        dt = getattr(torch, spec.dtype) if spec.dtype else dtype
        try:
            with guarded(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                copy_ = private_copy(module, "meta").eval()
                if tool.device == "meta":
                    x = torch.empty(spec.shape, dtype=dt, device="meta")
                else:
                    copy_ = copy_.to_empty(device="cpu")
                    with torch.no_grad():
                        for t in [*copy_.parameters(), *copy_.buffers()]:
                            t.zero_()
                    x = torch.zeros(spec.shape, dtype=dt)
                out[tool.name] = (int(round(float(tool.measure(copy_, x)))), "", version(tool))
        except Exception as exc:  # a peer failing is reported, never fatal
            out[tool.name] = (None, f"not measured: {tool.name} failed ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())})"[:200], version(tool))
    return out
