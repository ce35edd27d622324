"""A training step's cost (:class:`~cnninspect.measure.training_step.TrainingStep`) as a table
and JSON, added to a ``summary`` document by ``--training-step``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..measure.training_step import CONVENTION, LOSS, TrainingStep, fold
from ..ops.conventions import UNITS
from .document import ESSENTIAL, Column, Document, Table, fmt_int, fmt_si


def step_json(step: TrainingStep) -> dict[str, Any]:
    """The ``training_step`` object of the summary JSON: mult-adds (FLOPs / 2) of the whole
    batch, per module (its own operators) and in total."""
    return {
        "convention": CONVENTION,
        "loss": LOSS,
        "batch": step.batch,
        "forward_mult_adds": step.forward_flops // 2,
        "backward_mult_adds": step.backward_flops // 2,
        "mult_adds": step.flops // 2,
        "flops": step.flops,
        "layers": [{"name": layer.path, "type": layer.torch_class, "forward_mult_adds": layer.forward_flops // 2,
                    "backward_mult_adds": layer.backward_flops // 2, "mult_adds": layer.flops // 2}
                   for layer in step.layers],
        "notes": list(step.notes),
    }


def step_table(step: TrainingStep, unit: str, root: str, levels: int | None = None,
               types: Mapping[str, str] | None = None) -> Table:
    """One row per module with operators of its own, then the total; each column sums to
    its total. ``root`` names the model's own row (its path is empty). With ``levels`` the
    rows are folded as the layer table is (:func:`~cnninspect.measure.training_step.fold`;
    ``types``: the layer table's type of each row, by name)."""
    half = 2 // UNITS[unit]  # FLOPs -> the unit
    layers = step.layers if levels is None else fold(step.layers, levels, types)
    rows: list[dict[str, Any]] = [
        {"layer": layer.path or root, "type": layer.torch_class, "forward": layer.forward_flops // half,
         "backward": layer.backward_flops // half, "total": layer.flops // half}
        for layer in layers
    ]
    rows.append({"layer": "total", "type": "", "forward": step.forward_flops // half,
                 "backward": step.backward_flops // half, "total": step.flops // half})
    cost = "FLOPs" if unit == "flops" else "mult-adds"
    return Table(
        columns=(
            Column("layer", "Layer", priority=ESSENTIAL, wrap=False),
            Column("type", "Type", priority=40),
            Column("forward", "Forward", "int", priority=80),
            Column("backward", "Backward", "int", priority=85),
            Column("total", "Step", "int", priority=ESSENTIAL),
        ),
        rows=tuple(rows),
        title=f"Training step ({cost}, forward + backward, batch {step.batch})",
        styles=("",) * (len(rows) - 1) + ("total",),
    )


def with_training_step(doc: Document, step: TrainingStep, unit: str, root: str, levels: int | None = None,
                       types: Mapping[str, str] | None = None) -> Document:
    """``doc`` with the training step's table (folded to ``levels`` as the layer table is;
    the JSON keeps every module, as the summary's JSON keeps every row), a footer line,
    notes and its JSON."""
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    value = step.flops // (2 // UNITS[unit])
    data = dict(doc.data)
    data["training_step"] = step_json(step)
    return replace(
        doc,
        tables=doc.tables + (step_table(step, unit, root, levels, types),),
        footer=doc.footer + ((f"Training step {cost.lower()}", f"{fmt_int(value)} ({fmt_si(value)}) forward + "
                                                               f"backward, batch {step.batch}"),),
        meta=doc.meta + (("training step", f"{CONVENTION}; loss: {LOSS}"),),
        notes=doc.notes + tuple(f"note: {n}" for n in step.notes),
        data=data,
    )
