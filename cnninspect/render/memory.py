"""MemoryReport -> tables, columns and JSON for ``summary``, ``compare``, ``sweep`` and ``check``."""

from __future__ import annotations

from typing import Any

from ..measure.memory import DTYPE_BYTES, MemoryReport, MemorySettings
from .document import ESSENTIAL, Column, Table, fmt_bytes


def settings_text(settings: MemorySettings) -> str:
    """``fp16, batch 8, optimizer adam``: what the memory figures assume."""
    return f"{settings.text()}, optimizer {settings.optimizer}"


def memory_table(m: MemoryReport) -> Table:
    """Inference and training memory side by side; each column's parts sum to its total."""
    inf, tr = m.inference, m.training
    s = m.settings
    wb = DTYPE_BYTES.get(s.precision.weights, 0)
    rows: list[dict[str, Any]] = [
        {"part": "weights", "inference": inf.weight_bytes, "training": tr and tr.weight_bytes,
         "detail": m.weights_text or f"{m.params:,} parameters x {wb} bytes"},
        {"part": "buffers", "inference": inf.buffer_bytes, "training": tr and tr.buffer_bytes,
         "detail": m.buffers_text or "batch norm's running mean and variance, step count"},
        {"part": "gradients", "inference": None, "training": tr and tr.gradient_bytes,
         "detail": f"{m.trainable_params:,} trainable parameters"},
        {"part": "optimizer state", "inference": None, "training": tr and tr.optimizer_state_bytes,
         "detail": (tr.optimizer.torch if tr else "")},
        {"part": "activations", "inference": inf.peak_activation_bytes, "training": tr and tr.saved_activation_bytes,
         "detail": f"inference: peak live at {inf.peak_at}"
                   + (f"; training: saved for backward, most by {tr.top_layer} ({fmt_bytes(tr.top_layer_bytes)})"
                      if tr else "")},
        {"part": "total", "inference": inf.total_bytes, "training": tr and tr.total_bytes,
         "detail": "" if tr else f"training: {m.training_unavailable}"},
    ]
    return Table(
        columns=(
            Column("part", "Memory", priority=ESSENTIAL),
            Column("inference", "Inference", "bytes", priority=ESSENTIAL),
            Column("training", "Training", "bytes", priority=ESSENTIAL),
            Column("detail", "Detail", "prose", priority=10),
        ),
        rows=tuple(rows),
        title=f"Memory ({settings_text(s)}; " + ("measured on a meta copy)" if m.measured
                                                 else "mult-adds stay per sample)"),
        styles=("",) * (len(rows) - 1) + ("total",),
    )


def memory_summary(m: MemoryReport) -> dict[str, Any]:
    """The three figures ``compare`` and ``sweep`` show, with their settings."""
    return {
        **m.settings.as_json(),
        "weight_bytes": m.inference.weight_bytes,
        "peak_activation_bytes": m.inference.peak_activation_bytes,
        "training_bytes": m.training.total_bytes if m.training else None,
    }


MEMORY_COLUMNS = (
    # asked for with the memory options: kept ahead of the other optional columns
    Column("weight_bytes", "Weights", "bytes", priority=84),
    Column("mem_peak_activation_bytes", "Peak act.", "bytes", priority=86),
    Column("training_bytes", "Training", "bytes", priority=85),
)


def memory_cells(m: MemoryReport) -> dict[str, Any]:
    """Row cells for :data:`MEMORY_COLUMNS`."""
    return {
        "weight_bytes": m.inference.weight_bytes,
        "mem_peak_activation_bytes": m.inference.peak_activation_bytes,
        "training_bytes": m.training.total_bytes if m.training else None,
    }
