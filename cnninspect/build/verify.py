"""``--verify``: check an analysis against real tensors and fvcore, layer by layer.

The model is built with real (random) weights on the CPU and run once with forward hooks;
fvcore's ``FlopCountAnalysis`` traces it. For every primitive op we check

* input and output shapes against the real forward pass,
* parameter counts (trainable and frozen) against the module's own parameters,
* convolution and fully connected multiply-adds (the ``paper`` convention) against
  fvcore's per-module ``conv``/``linear``/``addmm`` counts,
* the ``fvcore`` convention against fvcore's per-module total,

and stop at the first disagreement. Before building anything the memory and time needed
are estimated; above the limits the check is refused with the estimate and a hint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..measure.analysis import Report, analyze
from ..base.errors import CnnInspectError, UsageError
from ..resolve.ir import Model, ops, walk

# Calibrated on a 2-core machine by peak RSS and wall time of `summary --verify` in a fresh
# process (tests/test_hardening2.py measures them again and requires the estimate to bound
# them): EfficientNet-B3 and B7 at 300 used 5.4 bytes per activation element over the
# ~250 MB of torch + fvcore; every module of the built network (an op or a container) costs
# about 100 KB more (its hooks' records, fvcore's traced graph and tables), and the time grows
# with the square of the module count (2,047 modules of doubling blocks took 7 s beyond the
# imports, 4,095 took 21 s; 3,003 in one sequence 12 s: 1.45 ms a module plus 0.9 us per
# pair). Rounded up so the estimate errs on the safe side.
BYTES_PER_ACTIVATION = 6
BYTES_PER_PARAM = 8  # float32 weights plus fvcore's traced copy
BYTES_PER_MODULE = 150_000
# torch and fvcore imported, and cnninspect's own analyses: clean CI installs (PyPI's torch
# wheel) peaked 14 MB above a 350 MB base's estimate on six 64-channel 3x3 convolutions at
# 256 px (517 MB) and 5 MB above a 300 MB base's on mobilenet_v1 at 96 px (2026-12-06)
BASE_BYTES = 400_000_000
MACS_PER_SECOND = 8e9  # two passes (hooked forward + fvcore trace) on 2 cores, conservative
BASE_SECONDS = 6.0  # importing torch and fvcore, building and tracing a tiny network
SECONDS_PER_MODULE = 0.003
SECONDS_PER_MODULE_PAIR = 1.5e-6


@dataclass(frozen=True)
class Estimate:
    bytes: int
    seconds: float

    def text(self) -> str:
        return f"about {self.bytes / 1e9:.1f} GB and {self.seconds:.0f} s"


@dataclass(frozen=True)
class Mismatch:
    layer: str
    what: str
    expected: str
    actual: str

    def text(self) -> str:
        return f"{self.layer}: {self.what} is {self.expected} in the analysis but {self.actual} in the real module"


@dataclass(frozen=True)
class Verification:
    layers: int
    checks: int
    mismatch: Mismatch | None
    seconds: float
    estimate: Estimate
    fvcore_total: int

    @property
    def ok(self) -> bool:
        return self.mismatch is None


def estimate(model: Model, report: Report | None = None) -> Estimate:
    """Memory and time a verification of ``model`` needs, an upper bound (see the constants
    above): activations, weights, and the module tree (every op and container is a module)."""
    report = report or analyze(model, "paper")
    activations = sum(math.prod(r.output_shape) for r in report.layers)
    modules = sum(1 for _ in walk(model.root))
    mem = (BASE_BYTES + BYTES_PER_ACTIVATION * activations + BYTES_PER_PARAM * report.totals.params
           + BYTES_PER_MODULE * modules)
    secs = (BASE_SECONDS + 2 * report.totals.mult_adds / MACS_PER_SECOND + SECONDS_PER_MODULE * modules
            + SECONDS_PER_MODULE_PAIR * modules * modules)
    return Estimate(int(mem), secs)


def check_limits(model: Model, max_mb: float, max_seconds: float, report: Report | None = None,
                 at_resolution: Callable[[int], Model] | None = None) -> Estimate:
    """The estimate, or a one-line refusal naming a resolution that fits the limits (found by
    re-resolving the model with ``at_resolution``), or saying that none does."""
    est = estimate(model, report)
    if _within(est, max_mb, max_seconds):
        return est
    res = model.settings.resolution
    hint = "raise --verify-max-mb / --verify-max-seconds"
    if at_resolution is not None:
        fitting = _largest_fitting_resolution(res, at_resolution, max_mb, max_seconds)
        if fitting is not None:
            hint = f"verify at a reduced resolution (e.g. --resolution {fitting}) or {hint}"
        else:
            hint = f"no resolution of this model fits these limits; {hint}"
    raise UsageError(
        f"--verify of {model.label} at {res}x{res} would need {est.text()}, over the limits "
        f"({max_mb:g} MB, {max_seconds:g} s): {hint}"
    )


def _within(est: Estimate, max_mb: float, max_seconds: float) -> bool:
    return est.bytes <= max_mb * 1e6 and est.seconds <= max_seconds


def _largest_fitting_resolution(res: int, at_resolution: Callable[[int], Model], max_mb: float,
                                max_seconds: float) -> int | None:
    """The largest multiple of 8 below ``res`` whose estimate fits (the estimate grows with
    the resolution), or None; resolutions the network cannot take count as not fitting."""

    def fits(r: int) -> bool:
        try:
            return _within(estimate(at_resolution(r)), max_mb, max_seconds)
        except CnnInspectError:
            return False

    candidates = list(range(8, res, 8))
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    if best is None and candidates and not fits(candidates[0]):
        # small inputs a valid-padding network refuses: look upward from the smallest that resolves
        best = next((r for r in candidates if fits(r)), None)
    return best


def verify(model: Model, *, max_mb: float = 4000, max_seconds: float = 300,
           at_resolution: Callable[[int], Model] | None = None) -> Verification:
    """Run the real-tensor and fvcore cross-checks (after the estimate allows it);
    ``at_resolution`` re-resolves the model at another resolution, for the refusal's hint."""
    from ..base.extras import require

    require("--verify", "torch", "fvcore")
    paper_report = analyze(model, "paper")
    est = check_limits(model, max_mb, max_seconds, paper_report, at_resolution)
    start = time.perf_counter()
    import logging

    import torch
    from fvcore.nn import FlopCountAnalysis

    from .builder import build_module
    from .torch_engine import observe_module

    torch.manual_seed(0)
    module = build_module(model)
    observed = observe_module(model, module, device="cpu")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    x = torch.randn((1,) + tuple(model.input_shape))
    fca = FlopCountAnalysis(module, x)
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    by_module = fca.by_module()
    by_op = fca.by_module_and_operator()
    paper = {r.name: r for r in paper_report.layers}
    fv = {r.name: r for r in analyze(model, "fvcore").layers}
    checks = 0
    mismatch: Mismatch | None = None
    named = dict(module.named_modules())
    for qual, op in ops(model.root):
        o = observed[qual]
        p = paper[qual]
        mod = named[qual]
        real_params = sum(t.numel() for t in mod.parameters(recurse=False))
        real_trainable = sum(t.numel() for t in mod.parameters(recurse=False) if t.requires_grad)
        conv_linear = sum(v for k, v in by_op.get(qual, {}).items() if k in ("conv", "linear", "addmm", "matmul"))
        expected_conv_linear = 0 if (p.side_branch or op.kind == "rbf") else p.mult_adds
        comparisons = [
            ("input shape", p.input_shape, o.in_shape),
            ("output shape", p.output_shape, o.out_shape),
            ("parameter count", p.params, real_params),
            ("trainable parameter count", p.trainable_params, real_trainable),
            ("conv/linear multiply-adds (fvcore)", expected_conv_linear, conv_linear),
            ("fvcore-convention count", fv[qual].mult_adds, by_module.get(qual, 0)),
        ]
        for what, expected, actual in comparisons:
            checks += 1
            if expected != actual:
                mismatch = Mismatch(qual, what, _show(expected), _show(actual))
                break
        if mismatch is not None:
            break
    return Verification(len(paper), checks, mismatch, time.perf_counter() - start, est, int(fca.total()))


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
