"""Measured latency of a resolved spec: its module built with real (seeded random) weights
on the CPU and timed by :func:`cnninspect.capture.timing.time_forward`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..base.errors import UsageError
from ..capture.timing import Progress, Timing, time_forward
from ..measure.analysis import Report
from ..resolve.ir import Model
from .builder import build_module
from .calibrate import TORCH_DTYPES


def forward_call(model: Model, *, batch: int = 1, dtype: str = "fp32") -> Callable[[], object]:
    """A forward pass of ``model`` built with seeded random weights, in eval mode, as a call."""
    torch.manual_seed(0)
    module = build_module(model).to(TORCH_DTYPES[dtype]).eval()
    x = torch.randn((batch, *model.input_shape)).to(TORCH_DTYPES[dtype])
    return lambda: module(x)


def profile_spec(model: Model, report: Report, *, batch: int, dtype: str, runs: int, warmup: int,
                 max_seconds: float, progress: Progress | None = None, on: str = "cpu") -> Timing:
    """Time ``model`` at ``batch`` and ``dtype`` (fp32, bf16 or fp16) on ``on`` (cpu or
    cuda), every layer of ``report`` one by one."""
    torch.manual_seed(0)
    module = build_module(model).to(device=on, dtype=TORCH_DTYPES[dtype])
    x = torch.randn((batch, *model.input_shape)).to(device=on, dtype=TORCH_DTYPES[dtype])
    try:
        return time_forward(module, (x,), {}, [r.name for r in report.layers], runs=runs, warmup=warmup,
                            max_seconds=max_seconds, batch=batch, progress=progress, on=on)
    except (RuntimeError, NotImplementedError) as exc:  # an operator PyTorch has no kernel for at this dtype
        text = " ".join(str(exc).split())[:200]
        raise UsageError(f"{model.label}: the forward pass at {dtype} on {on} raised "
                         f"{type(exc).__name__}: {text}") from None
