"""``cnninspect device calibrate``: this machine's roofline figures, measured with torch.

Three measurements, each repeated within its share of a time budget, the best repetition
kept (a peak is the fastest the machine went, not its average under other load):

* **peak operations/s** per dtype: a square matrix product ``torch.mm`` of ``GEMM_SIZE`` x
  ``GEMM_SIZE``, ``2 n^3`` operations (one multiply-add is two operations, as in
  :mod:`cnninspect.measure.roofline`);
* **memory bandwidth**: ``Tensor.copy_`` of ``COPY_BYTES`` into another tensor, which reads
  and writes them: ``2 x COPY_BYTES`` bytes moved;
* **per-layer overhead**: the median time of calling an ``nn.ReLU`` module on a one-element
  tensor, the smallest layer that does work (a module call, the operator's dispatch and an
  allocation).

Everything runs on the CPU at ``torch.get_num_threads()`` threads, which the profile records.
"""

from __future__ import annotations

import functools
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..measure.roofline import Device, Figure

GEMM_SIZE = 1024
COPY_BYTES = 128 * 2**20
OVERHEAD_CALLS = 2000
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

Progress = Callable[[str], None]


def _best_rate(work: float, fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    """The highest ``work`` per second over repetitions of ``fn`` within ``seconds`` (at
    least two: the first also warms up), and the number of repetitions."""
    best = 0.0
    reps = 0
    end = time.perf_counter() + seconds
    while reps < 2 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        reps += 1
        if reps > 1 or seconds <= 0:
            best = max(best, work / dt)
    return best, reps


def calibrate(name: str, dtypes: Sequence[str] = ("fp32",), seconds: float = 10.0,
              progress: Progress | None = None) -> Device:
    """Measure this machine within about ``seconds`` (see the module docstring)."""
    say = progress or (lambda text: None)
    share = seconds / (len(dtypes) + 2)
    threads = torch.get_num_threads()
    gen = torch.Generator().manual_seed(0)
    peaks: dict[str, Figure] = {}
    n = GEMM_SIZE
    for d in dtypes:
        a = torch.randn(n, n, generator=gen).to(TORCH_DTYPES[d])
        b = torch.randn(n, n, generator=gen).to(TORCH_DTYPES[d])
        say(f"peak {d}: torch.mm {n}x{n} for {share:.1f} s")
        rate, reps = _best_rate(2.0 * n**3, functools.partial(torch.mm, a, b), share)
        peaks[d] = Figure(rate, f"measured: best of {reps} torch.mm of {n}x{n} {d} matrices (2n^3 operations), "
                                f"{threads} thread{'s' * (threads != 1)}")
        say(f"peak {d}: {rate / 1e9:.1f} G operations/s")
    src = torch.ones(COPY_BYTES // 4)
    dst = torch.empty_like(src)
    say(f"bandwidth: copying {COPY_BYTES // 2**20} MiB for {share:.1f} s")
    bandwidth, reps = _best_rate(2.0 * COPY_BYTES, functools.partial(dst.copy_, src), share)
    say(f"bandwidth: {bandwidth / 1e9:.1f} GB/s")
    del src, dst
    relu = nn.ReLU()
    one = torch.ones(1)
    times: list[float] = []
    end = time.perf_counter() + share
    with torch.no_grad():
        while len(times) < OVERHEAD_CALLS and (len(times) < 10 or time.perf_counter() < end):
            t0 = time.perf_counter()
            relu(one)
            times.append(time.perf_counter() - t0)
    overhead = statistics.median(times)
    say(f"overhead: {overhead * 1e6:.1f} us per layer")
    measured = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                "threads": threads, "torch": str(torch.__version__), "seconds": seconds,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return Device(
        name, f"this machine ({platform.machine()}, {threads} thread{'s' * (threads != 1)}), calibrated", "calibrated",
        "cnninspect device calibrate (measured on this machine)", peaks,
        Figure(bandwidth, f"measured: best of {reps} copies of {COPY_BYTES // 2**20} MiB (read + write)"),
        Figure(overhead, f"measured: median of {len(times)} calls of nn.ReLU on a one-element tensor"),
        measured,
    )
