"""``cnninspect device calibrate``: this machine's roofline figures, measured with torch.

Half of the time budget goes to three device-wide measurements, each repeated within its
share, the best repetition kept (a peak is the fastest the machine went, not its average
under other load):

* **peak operations/s** per dtype: a square matrix product ``torch.mm`` of ``GEMM_SIZE`` x
  ``GEMM_SIZE``, ``2 n^3`` operations (one multiply-add is two operations, as in
  :mod:`cnninspect.measure.roofline`);
* **memory bandwidth**: ``Tensor.copy_`` of ``COPY_BYTES`` into another tensor, which reads
  and writes them: ``2 x COPY_BYTES`` bytes moved;
* **per-layer overhead**: the median time of calling an ``nn.ReLU`` module on a one-element
  tensor, the smallest layer that does work (a module call, the operator's dispatch and an
  allocation).

The other half measures what each role of the roofline
(:data:`cnninspect.measure.roofline.ROLES`) *attains*: the synthetic kernel of that role in
``cnninspect/measure/kernels.yaml`` (a 3x3, a 1x1 and a depthwise 3x3 convolution, a fully
connected layer, a 3x3 max and a 3x3 average pooling, a global average pooling, batch norm,
ReLU, softmax, a per-channel scale, a channel shuffle), built from its op record exactly as
``profile`` builds a layer and called through ``nn.Module.__call__`` under
``torch.no_grad()``, fp32, batch 1:

* the role's **overhead** is the median time of its kernel at a tiny size (:data:`TINY`: 8
  channels, 4x4), the cost of calling such a layer at all;
* the kernel then runs at each of :data:`SIZES` (the channel x resolution steps of an
  ImageNet network at batch 1; :data:`FLAT_SIZES` for the flat kernels), round-robin over
  enough copies of its weights and input to leave the cache cold (:data:`COLD_BYTES`), the
  median of its timing samples kept (a typical layer's time, not the best one; a sample is
  :data:`WINDOW_SECONDS` of back-to-back calls), and its operations and bytes
  come from its op record exactly as the roofline counts them (``paper`` convention);
* if the kernels are compute-bound on the device-wide roofline just measured, the role
  attains ``ops_per_second`` = their operations / their time less the overhead (summed over
  the sizes), else ``bytes_per_second`` = their bytes / that time.

Everything runs on the CPU at ``torch.get_num_threads()`` threads, which the profile records.
No model is measured: only these synthetic kernels.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from importlib import resources

import torch
from torch import nn

from ..lang.spec import Spec, load_spec
from ..measure.roofline import ROLES, Device, Figure, RoleFigures
from ..resolve.ir import Op
from .builder import build_op

GEMM_SIZE = 1024
COPY_BYTES = 128 * 2**20
OVERHEAD_CALLS = 2000
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# (channels, resolution) of the per-role kernels: an ImageNet network's steps at batch 1
SIZES = ((32, 112), (64, 56), (128, 28), (256, 14), (512, 7))
FLAT_SIZES = ((256, 7), (512, 7), (1024, 7), (2048, 7), (4096, 7))  # features of dense and classifier kernels
FLAT_ROLES = ("dense", "classifier")
TINY = (8, 4)
MIN_CALLS = 3
# the kernels run round-robin over copies (weights and input) moving this much in all, more
# than a CPU's last-level cache holds: a layer in a network reads weights and activations the
# previous layers have pushed out of the cache, not the ones it read a moment ago
COLD_BYTES = 64 * 2**20
MAX_COPIES = 64
WINDOW_SECONDS = 0.02  # one timing sample of a kernel: back-to-back calls for about this long

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


def _median_call(fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    """The time of one call of ``fn``: the median over samples of :data:`WINDOW_SECONDS` or
    more of back-to-back calls, each divided by its number of calls (after one warm-up
    call), within ``seconds`` and at least :data:`MIN_CALLS` samples; and the calls made.
    A sample as long as a small network's forward pass meets the machine's other load in
    the same proportion as that pass does (a single short call rarely would)."""
    t0 = time.perf_counter()
    fn()
    per = max(time.perf_counter() - t0, 1e-7)
    n = max(1, min(100_000, round(min(WINDOW_SECONDS, seconds / (MIN_CALLS + 1)) / per)))
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while len(samples) < MIN_CALLS or time.perf_counter() < end:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples), n * len(samples)


@functools.cache
def _kernels_spec() -> Spec:
    """``cnninspect/measure/kernels.yaml``, loaded once."""
    path = resources.files("cnninspect.measure").joinpath("kernels.yaml")
    return load_spec(str(path), label="cnninspect/measure/kernels.yaml")


def kernel_op(role: str, channels: int, resolution: int) -> tuple[Op, int, int]:
    """The synthetic kernel of ``role`` (``cnninspect/measure/kernels.yaml``): its op, and the
    operations and bytes the roofline counts for it (fp32, batch 1, ``paper``)."""
    from ..measure.analysis import analyze
    from ..measure.roofline import report_costs
    from ..resolve.ir import ops
    from ..resolve.resolver import Overrides, resolve

    model = resolve(_kernels_spec(), None, Overrides(values={"c": channels, "role": role}, resolution=resolution))
    op = dict(ops(model.root))["k"]
    cost = next(c for c in report_costs(analyze(model, "paper")) if c.name == "k")
    return op, cost.operations, cost.bytes_moved


def _role_figures(role: str, share: float, peak: float, bandwidth: float, threads: int,
                  say: Progress) -> RoleFigures:
    """What layers of ``role`` attain (see the module docstring), within about ``share`` s."""
    sizes = FLAT_SIZES if role in FLAT_ROLES else SIZES
    each = share / (len(sizes) + 1)

    def timed(channels: int, resolution: int) -> tuple[float, int, int, int]:
        op, operations, moved = kernel_op(role, channels, resolution)
        copies = max(1, min(MAX_COPIES, math.ceil(COLD_BYTES / max(moved, 1))))
        module = build_op(op).eval()
        x = torch.randn((1, *op.in_shape))
        calls = itertools.cycle([functools.partial(copy.deepcopy(module), x.clone()) for _ in range(copies)])
        with torch.no_grad():
            seconds, n = _median_call(lambda: next(calls)(), each)
        return seconds, n, operations, moved

    overhead, calls, _o, _b = timed(*TINY)
    runs = [timed(c, r) for c, r in sizes]
    operations = sum(r[2] for r in runs)
    moved = sum(r[3] for r in runs)
    # time beyond the call's overhead (never below 1% of the call: a noisy tiny-size sample
    # must not make a rate infinite or negative)
    busy = math.fsum(max(r[0] - overhead, r[0] * 0.01) for r in runs)
    what = (f"{role} kernel of cnninspect/measure/kernels.yaml at "
            f"{', '.join(f'{c}x{r}x{r}' if role not in FLAT_ROLES else str(c) for c, r in sizes)}, "
            f"{threads} thread{'s' * (threads != 1)}, fp32, batch 1")
    tiny = f"{TINY[0]}x{TINY[1]}x{TINY[1]}" if role not in FLAT_ROLES else str(TINY[0])
    figures = {"overhead_seconds": Figure(overhead, f"measured: median of {calls} calls of the {role} kernel "
                                                    f"of cnninspect/measure/kernels.yaml at {tiny}")}
    if operations / peak >= moved / bandwidth:
        rate = operations / busy
        figures["ops_per_second"] = Figure(rate, f"measured: operations / (median time - overhead) of the {what}")
        say(f"{role}: {rate / 1e9:.1f} G operations/s, {overhead * 1e6:.1f} us per layer")
    else:
        rate = moved / busy
        figures["bytes_per_second"] = Figure(rate, f"measured: bytes moved / (median time - overhead) of the {what}")
        say(f"{role}: {rate / 1e9:.2f} GB/s, {overhead * 1e6:.1f} us per layer")
    return RoleFigures(**figures)


def calibrate(name: str, dtypes: Sequence[str] = ("fp32",), seconds: float = 10.0,
              progress: Progress | None = None) -> Device:
    """Measure this machine within about ``seconds`` (see the module docstring)."""
    say = progress or (lambda text: None)
    dtypes = ("fp32", *(d for d in dtypes if d != "fp32"))  # the roles are timed at fp32, against its peak
    share = seconds / 2 / (len(dtypes) + 2)
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
    role_share = seconds / 2 / len(ROLES)
    say(f"attained per role: {len(ROLES)} synthetic kernels at {len(SIZES)} sizes, {role_share:.1f} s each")
    attained = {"fp32": {role: _role_figures(role, role_share, peaks["fp32"].value, bandwidth, threads, say)
                         for role in ROLES}}
    measured = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                "threads": threads, "torch": str(torch.__version__), "seconds": seconds,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return Device(
        name, f"this machine ({platform.machine()}, {threads} thread{'s' * (threads != 1)}), calibrated", "calibrated",
        "cnninspect device calibrate (measured on this machine)", peaks,
        Figure(bandwidth, f"measured: best of {reps} copies of {COPY_BYTES // 2**20} MiB (read + write)"),
        Figure(overhead, f"measured: median of {len(times)} calls of nn.ReLU on a one-element tensor"),
        measured, attained,
    )
