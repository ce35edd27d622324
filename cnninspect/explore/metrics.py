"""The metrics check files and ``fit`` budgets can bound: one registry.

A :class:`Metric` names a number of a model (parameters, mult-adds, byte sizes, depth), how
it is written (a count, a size, a whole number), the budget key that bounds it
(``max_params`` in a check file, ``--max-params`` on the command line) and whether ``fit``
may prune on it. Adding a metric here makes it a check expectation, a check budget and a
``fit`` budget at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from ..measure.memory import MemorySettings
from ..base.numbers import NumberError, parse_bytes, parse_count

if TYPE_CHECKING:
    from ..measure.analysis import Totals
    from ..measure.memory import MemoryReport


@dataclass(frozen=True)
class Measures:
    """What a metric is read from: a model's totals and its weight-layer depth, the memory
    settings byte metrics are evaluated at, and the memory report where a metric needs it."""

    totals: Totals
    depth: int
    memory_settings: MemorySettings = MemorySettings()
    memory: MemoryReport | None = None
    latency: float | None = None  # the roofline's predicted seconds on the fit's device


@dataclass(frozen=True)
class Metric:
    """A number checks can expect and budgets (check files, ``fit --max-...``) can bound.

    ``budget`` is the key of its upper limit in a check file (``max_params``; the command
    line writes ``--max-params``); ``unit`` says how a value is written: ``count`` (4.2M),
    ``bytes`` (8MB, 1.5MiB) or ``integer`` (a whole count). ``monotone`` promises the value
    never decreases when any op or activation of the model grows (more channels, a larger
    input, more blocks): ``fit`` prunes its search only on monotone metrics. ``needs_memory``:
    the value needs the model's full memory report (a resolved model per point), not only its
    totals. Byte metrics are evaluated at the memory settings (dtype, batch, optimizer).
    """

    name: str
    budget: str
    unit: str
    help: str
    value: Callable[[Measures], int]
    monotone: bool = True
    needs_memory: bool = False


def _peak_activation(m: Measures) -> int:
    s = m.memory_settings
    return s.batch * m.totals.peak_activation_elements * s.precision.activation_bytes


def _training_bytes(m: Measures) -> int:
    assert m.memory is not None and m.memory.training is not None, "training bytes need trainable dtypes"
    return m.memory.training.total_bytes


METRIC_LIST: tuple[Metric, ...] = (
    Metric("params", "max_params", "count", "parameters (nn.Parameter elements)", lambda m: m.totals.params),
    Metric("trainable_params", "max_trainable_params", "count", "trainable parameters",
           lambda m: m.totals.trainable_params),
    Metric("mult_adds", "max_mult_adds", "count", "multiply-adds under the convention (batch 1)",
           lambda m: m.totals.mult_adds),
    Metric("flops", "max_flops", "count", "FLOPs = 2 x mult-adds", lambda m: 2 * m.totals.mult_adds),
    Metric("peak_activation_bytes", "max_peak_activation", "bytes",
           "peak live activation memory at inference, at the dtype and batch (default float32, batch 1)",
           _peak_activation),
    Metric("depth", "max_depth", "integer", "weight layers on the longest path", lambda m: m.depth),
    Metric("weight_bytes", "max_weight_bytes", "bytes", "parameters at the weights' dtype (buffers apart)",
           lambda m: m.totals.params * m.memory_settings.precision.weight_bytes),
    Metric("training_bytes", "max_training_bytes", "bytes",
           "training: weights, gradients, optimizer state and saved activations, at the dtype, batch and optimizer",
           _training_bytes, monotone=False, needs_memory=True),  # no pruning proof covers saved tensors
)
METRIC = {m.name: m for m in METRIC_LIST}


def _latency(m: Measures) -> float:
    assert m.latency is not None, "a latency budget needs a device"
    return m.latency


# ``fit --max-latency SECONDS --device D``: not in METRIC_LIST, since it needs a device. Monotone:
# every layer's operations and bytes grow with width, depth and resolution, and so does the
# sum over layers of max(operations / peak, bytes / bandwidth) + overhead.
LATENCY = Metric("predicted_seconds", "max_latency", "seconds",
                 "predicted latency on --device, in seconds (roofline, docs/latency.md)", _latency)
METRICS = tuple(METRIC)
BUDGETS = {m.budget: m.name for m in METRIC_LIST}
# byte sizes, evaluated at the check's memory settings (default fp32, batch 1, sgd)
BYTE_METRICS = tuple(m.name for m in METRIC_LIST if m.unit == "bytes")


def parse_metric_value(metric: Metric, value: Any) -> float:
    """A value of ``metric`` as written in a check file or after ``--max-...``: a count
    (``4.2M``), a size (``8MB``) or a whole number, in :mod:`cnninspect.base.numbers` syntax.
    Raises :class:`~cnninspect.base.numbers.NumberError`."""
    parsed = (parse_bytes if metric.unit == "bytes" else parse_count)(value)
    if metric.unit == "integer" and not float(parsed).is_integer():
        raise NumberError(f"must be a whole number, got {parsed:g}")
    return parsed
