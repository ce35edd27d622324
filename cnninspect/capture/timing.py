"""Measured latency: real forward passes of a module on this machine, in total and per layer.

:func:`time_forward` runs a module that cnninspect owns (built from a spec, or a private copy
of a Python model) under ``torch.no_grad()``:

1. ``warmup`` plain forward passes, not measured;
2. then, alternating so that drift and other load hit both alike, plain passes (the total:
   no hook is attached) and timed passes (a forward pre-hook and hook on each layer read
   ``time.perf_counter``), ``runs`` of each, until ``max_seconds`` have passed (at least one
   of each always runs).

The total is the median of the plain passes; a layer's time is the median over the timed
passes of the time between its pre-hook and its hook (a module called twice in one pass
counts both calls). The per-layer timing's own cost is measured, not assumed:
``overhead = median(timed passes) / median(plain passes) - 1``. Time not spent inside a
timed layer (functional calls in a ``forward``, Python between layers) is the total minus
the layers' sum. On the CPU a stamp is ``time.perf_counter``; on a GPU (``on="cuda"``) it is a
CUDA event on the current stream, read after ``torch.cuda.synchronize`` (:data:`CLOCKS`).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Progress = Callable[[str], None]
# torch's floating dtypes by the names --dtype and the device table use
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class Timing:
    """The measured passes of one module: plain (the total) and timed per layer."""

    forward_seconds: tuple[float, ...]
    timed_seconds: tuple[float, ...]
    layer_seconds: Mapping[str, float]  # median over the timed passes
    warmup: int
    threads: int
    dtype: str
    batch: int
    stopped_by_limit: bool  # max_seconds ended the runs before ``runs`` of each
    on: str = "cpu"  # cpu, or cuda (timed by CUDA events)

    @property
    def measured_seconds(self) -> float:
        """The median plain forward pass."""
        return statistics.median(self.forward_seconds)

    @property
    def spread(self) -> tuple[float, float]:
        """The fastest and slowest plain forward pass."""
        return min(self.forward_seconds), max(self.forward_seconds)

    @property
    def timing_overhead(self) -> float:
        """How much longer a pass with per-layer timing took than a plain one (0.05 = 5%)."""
        return statistics.median(self.timed_seconds) / self.measured_seconds - 1

    @property
    def throughput(self) -> float:
        """Samples per second at the batch measured."""
        return self.batch / self.measured_seconds


class CpuClock:
    """Wall-clock stamps (``time.perf_counter``): the CPU runs each operator before returning."""

    name = "cpu"

    def stamp(self) -> Any:
        return time.perf_counter()

    def settle(self) -> None:
        """Wait until the work stamped so far has run (nothing to wait for on the CPU)."""

    def between(self, a: Any, b: Any) -> float:
        return float(b - a)


class CudaClock:
    """CUDA events recorded on the current stream: a GPU runs operators after the Python call
    returns, so a stamp is an event and the interval is read once the device has finished."""

    name = "cuda"

    def stamp(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def settle(self) -> None:
        torch.cuda.synchronize()

    def between(self, a: Any, b: Any) -> float:
        return float(a.elapsed_time(b)) / 1e3  # milliseconds


CLOCKS = {"cpu": CpuClock, "cuda": CudaClock}


def time_forward(module: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any], layers: Sequence[str], *,
                 runs: int, warmup: int, max_seconds: float, batch: int, progress: Progress | None = None,
                 on: str = "cpu") -> Timing:
    """Measure ``module(*args, **kwargs)`` as the module docstring says; ``layers`` are the
    names (in ``named_modules``) of the submodules to time one by one. The module must be
    cnninspect's own (it is switched to eval mode and hooks are attached while it runs), on
    the device ``on`` names (``cpu``, or ``cuda``: timed by CUDA events)."""
    clock = CLOCKS[on]()
    named = dict(module.named_modules())
    hooked = [(name, named[name]) for name in layers if name in named]
    module.eval()
    first = next((p for p in module.parameters() if p.dtype.is_floating_point), None)
    floating = first.dtype if first is not None else torch.get_default_dtype()
    dtype = DTYPE_NAMES.get(floating, str(floating).removeprefix("torch."))
    start = time.perf_counter()
    deadline = start + max_seconds

    def once() -> float:
        a = clock.stamp()
        module(*args, **kwargs)
        b = clock.stamp()
        clock.settle()
        return clock.between(a, b)

    plain: list[float] = []
    timed: list[float] = []
    per_layer: dict[str, list[float]] = {name: [] for name, _ in hooked}
    stopped = False
    with torch.no_grad():
        for _ in range(warmup):
            once()
            if time.perf_counter() > deadline:
                break
        for i in range(runs):
            if plain and time.perf_counter() > deadline:
                stopped = True
                break
            plain.append(once())
            stamps: list[list[Any]] = [[] for _ in hooked]
            with _layer_hooks(hooked, stamps, clock):
                timed.append(once())
            for (name, _), pairs in zip(hooked, stamps):
                per_layer[name].append(math.fsum(clock.between(a, b) for a, b in zip(pairs[::2], pairs[1::2])))
            if progress is not None:
                progress(f"run {i + 1}/{runs}: {plain[-1] * 1e3:.2f} ms plain, {timed[-1] * 1e3:.2f} ms timed "
                         f"({time.perf_counter() - start:.1f} s)")
    return Timing(tuple(plain), tuple(timed), {n: statistics.median(v) for n, v in per_layer.items()}, warmup,
                  torch.get_num_threads(), dtype, batch, stopped, on)


class _layer_hooks:
    """A pre-hook and a hook on each layer appending a clock stamp to the layer's list (start,
    end, start, end ... for a layer called more than once); removed on exit."""

    def __init__(self, hooked: Sequence[tuple[str, nn.Module]], stamps: list[list[Any]], clock: Any) -> None:
        self.hooked = hooked
        self.stamps = stamps
        self.clock = clock
        self.handles: list[Any] = []

    def __enter__(self) -> None:
        stamp = self.clock.stamp
        for i, (_, m) in enumerate(self.hooked):
            mine = self.stamps[i]

            def pre(mod: nn.Module, a: Any, mine: list[Any] = mine) -> None:
                mine.append(stamp())

            def post(mod: nn.Module, a: Any, out: Any, mine: list[Any] = mine) -> None:
                mine.append(stamp())

            self.handles.append(m.register_forward_pre_hook(pre))
            self.handles.append(m.register_forward_hook(post))

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def profile_python(text: str, convention: str, inputs: Any, resolution: int | None, *, runs: int, warmup: int,
                   max_seconds: float, progress: Progress | None = None, on: str = "cpu") -> tuple[Any, Timing]:
    """The report and the measured :class:`Timing` of a Python model reference.

    The report comes from the usual capture (:func:`~cnninspect.capture.pymodels.analyze_python`'s
    path). The timed module is cnninspect's own: built by calling the reference on the CPU,
    or, for an instance found in the file, a private copy of it
    (:func:`~cnninspect.capture.forward.private_copy`: parameters shared, buffers cloned,
    hooks and mode on the copy only), so the user's object is never run or changed. On a GPU
    (``on="cuda"``) the model must be built by the reference: a copy shares its parameters
    with the user's object, and moving them would move the user's."""
    from ..base.errors import CnnInspectError, UsageError
    from .forward import make_real_inputs, private_copy
    from .module_analysis import analyze_trace
    from .pymodels import _refused, build, build_cpu, input_for, load, parse_pyref, subject_for, trace_built
    from .usercode import guarded

    pm = load(parse_pyref(text))
    if on != "cpu" and pm.factory is None:
        raise UsageError(f"{pm.ref.shown} is a module object: it runs on the CPU only (a copy shares its parameters, "
                         f"and moving them to {on} would move the model's own); give a class or a function that "
                         "builds it")
    built = build(pm)
    model_inputs, source = input_for(built.module, pm.ref.shown, inputs, resolution)
    trace = trace_built(pm, built, model_inputs)
    report = analyze_trace(trace, convention, subject_for(pm, trace, resolution, source))
    with guarded():
        module = build_cpu(pm).to(on) if pm.factory is not None else private_copy(pm.instance, "cpu")
        args, kwargs = make_real_inputs(module, model_inputs)
        try:
            timing = time_forward(module, args, kwargs, [r.name for r in report.layers], runs=runs, warmup=warmup,
                                  max_seconds=max_seconds, batch=model_inputs.batch, progress=progress, on=on)
        except CnnInspectError:
            raise
        except Exception as exc:
            raise _refused(pm.ref.shown, model_inputs, exc) from None
    return report, timing


def time_interleaved(calls: Sequence[Callable[[], Any]], *, runs: int, warmup: int, max_seconds: float,
                     progress: Progress | None = None) -> list[list[float]]:
    """Plain timings of several forward calls, interleaved round by round (each round runs
    every call once), so that load from elsewhere falls on all of them alike: ``warmup``
    rounds, then up to ``runs`` measured rounds within ``max_seconds`` (at least one)."""
    start = time.perf_counter()
    out: list[list[float]] = [[] for _ in calls]
    with torch.no_grad():
        for _ in range(warmup):
            for call in calls:
                call()
        for r in range(runs):
            if out[0] and time.perf_counter() - start > max_seconds:
                break
            for i, call in enumerate(calls):
                t0 = time.perf_counter()
                call()
                out[i].append(time.perf_counter() - t0)
            if progress is not None:
                progress(f"round {r + 1}/{runs} ({time.perf_counter() - start:.1f} s)")
    return out
