"""The Python API: ``cnninspect.summary(model, input_size=..., ...)``, torchinfo's call.

    import cnninspect, torch
    r = cnninspect.summary(my_module, input_size=(1, 3, 224, 224))   # any nn.Module, batch included
    r = cnninspect.summary(lm, input_size=[(2, 16)], dtypes=[torch.long])      # token ids
    r = cnninspect.summary(net, input_data={"x": x, "mask": m})       # keyword inputs
    r = cnninspect.summary("efficientnet:b3")                         # a bundled spec
    r = cnninspect.summary("my_model.py:Net(width=64)", input_size=(1, 3, 32, 32))
    print(r)                     # the terminal table
    r.total_params, r.trainable_params, r.total_mult_adds, r.summary_list   # torchinfo's names
    r.totals.params, r.totals.mult_adds                               # cnninspect's
    r.to_dict()                  # the JSON contract (docs/json-schema.md)
    r.plot()                     # a matplotlib Figure: mult-adds and params per top-level layer
    r                            # in Jupyter: an HTML table; in IPython: the table

Nothing is printed unless asked. A module passed in is left exactly as it was: cnninspect
runs a private copy of it (its parameters and buffers replaced by meta stand-ins, or for a
real run shared and copied) and never the module itself, so its parameters, buffers,
devices, training flags, hooks and attributes are as before, also on errors and Ctrl-C
(docs/python-models.md). Errors are :class:`~cnninspect.base.errors.CnnInspectError` with a
one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .measure.analysis import Report, Row, Totals
from .base.errors import UsageError

if TYPE_CHECKING:
    from .measure.memory import MemoryReport
    from .measure.training_step import TrainingStep
    from .ops.aten_rules import OpCall
    import torch
    from torch import nn

# torchinfo's column names -> the layer table's columns
COLUMNS: dict[str, str] = {
    "input_size": "input_shape",
    "output_size": "output_shape",
    "num_params": "params",
    "kernel_size": "kernel_stride",
    "mult_adds": "mult_adds",
    "trainable": "trainable_params",
}
MODES = ("eval", "train", "same")


class _Tabular:
    """A result shown as one table: ``str()``, ``render(fmt)``, ``to_dict()``, Jupyter's HTML."""

    def document(self) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document().data)

    def render(self, fmt: str = "table") -> str:
        """The result as ``table``, ``markdown``, ``csv``, ``json`` or ``html`` text."""
        from .render.formats import FORMATS

        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
        return FORMATS[fmt].render(self.document(), False)

    def __str__(self) -> str:
        return self.render("table")

    def _repr_html_(self) -> str:
        return self.render("html")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the table."""
        printer.text(repr(self) if cycle else str(self))


class Summary(_Tabular):
    """A report with its renderings: ``str()`` is the terminal table, ``to_dict()`` the JSON
    contract, ``_repr_html_()`` the table for Jupyter; ``report`` holds the data."""

    def __init__(self, report: Report, unit: str = "macs", levels: int | None = None,
                 columns: Sequence[str] | None = None, memory: MemoryReport | None = None,
                 training_step: TrainingStep | None = None, fields: Any = None, show_rf: bool = False) -> None:
        self.report = report
        self.unit = unit
        self.levels = levels
        self.columns = tuple(columns) if columns is not None else None
        self.memory = memory
        """The memory report (``memory=True``, ``dtype=`` or ``optimizer=``), else None."""
        self.training_step = training_step
        """Forward plus backward cost of one training step (``training_step=True``), else None."""
        self.fields = fields  # a Python model's receptive fields (summary(..., rf=True))
        self.show_rf = show_rf

    @property
    def receptive_fields(self) -> Any:
        """Every row's receptive field (:class:`~cnninspect.measure.receptive.ReceptiveFields`,
        ``.rows[name].conv``): a spec's always, a Python model's with ``summary(..., rf=True)``."""
        if self.fields is None and self.report.model is not None:
            from .measure.receptive import receptive_fields

            self.fields = receptive_fields(self.report.model)
        return self.fields

    # torchinfo's names (ModelStatistics), same numbers as ``totals``
    @property
    def total_params(self) -> int:
        """Parameter elements, each tensor once (torchinfo's ``total_params``; a pruned
        ``weight_orig`` counts all its elements here, its mask's ones in torchinfo)."""
        return self.report.totals.params

    @property
    def trainable_params(self) -> int:
        return self.report.totals.trainable_params

    @property
    def total_mult_adds(self) -> int:
        """Mult-adds of the whole batch the model ran on, under the report's convention
        (torchinfo's ``total_mult_adds`` under the ``torchinfo`` convention)."""
        return self.report.totals.mult_adds

    @property
    def batch(self) -> int:
        """The batch the counts are for: ``total_mult_adds / batch`` is per sample."""
        return self.report.subject.batch

    @property
    def summary_list(self) -> list[Row]:
        """Every row of the table, blocks and layers, in order (torchinfo's ``summary_list``)."""
        return list(self.report.rows)

    @property
    def totals(self) -> Totals:
        return self.report.totals

    @property
    def rows(self) -> tuple[Row, ...]:
        return self.report.rows

    @property
    def uncounted(self) -> tuple[tuple[str, int], ...]:
        return self.report.uncounted

    def document(self) -> Any:
        from dataclasses import replace

        from .render.report import summary_document

        doc = summary_document(self.report, self.unit, self.levels, memory=self.memory,
                               show_memory=self.memory is not None, fields=self.fields, show_rf=self.show_rf)
        if self.training_step is not None:
            from .render.training import with_training_step

            doc = with_training_step(doc, self.training_step, self.unit, self.report.subject.title, self.levels,
                                     {r.name: r.type for r in self.report.rows})
        if self.columns is None:
            return doc
        table = doc.tables[0]
        shown = {"layer", *self.columns}
        skip = tuple(c.key for c in table.columns if c.key not in shown)
        return replace(doc, tables=(replace(table, view_skip=skip), *doc.tables[1:]))

    def plot(self) -> Any:
        """The mult-adds and parameters of each top-level layer or block as a matplotlib
        ``Figure`` (needs ``pip install 'cnninspect[plot]'``; built without pyplot, so it
        changes no global state). ``fig.savefig("layers.png")`` writes it; a notebook shows it."""
        from .ops.conventions import UNITS
        from .render.plot import layers_figure

        top = [r for r in self.report.rows if r.depth == 0]
        scale = UNITS[self.unit]
        return layers_figure([r.name for r in top], [r.params for r in top], [r.mult_adds * scale for r in top],
                             title=f"{self.report.subject.label} ({self.report.convention.name} convention)",
                             cost="FLOPs" if self.unit == "flops" else "Mult-adds")

    def __repr__(self) -> str:
        t = self.report.totals
        return (f"<cnninspect summary of {self.report.subject.label}: {t.params:,} params, "
                f"{t.mult_adds:,} mult-adds ({self.report.convention.name})>")


def summary(
    model: nn.Module | str,
    input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
    input_data: torch.Tensor | Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    dtypes: Sequence[torch.dtype | str] | None = None,
    batch_dim: int | None = None,
    device: torch.device | str | None = None,
    mode: str = "eval",
    depth: int | None = None,
    col_names: Sequence[str] | None = None,
    convention: str = "paper",
    resolution: int | None = None,
    unit: str = "macs",
    levels: int | None = None,
    memory: bool = False,
    dtype: str | None = None,
    optimizer: str | None = None,
    training_step: bool = False,
    rf: bool = False,
    custom_rules: Mapping[str, Callable[[OpCall], int | None]] | None = None,
    **forward_kwargs: Any,
) -> Summary:
    """Analyse ``model``, called as ``torchinfo.summary`` is.

    ``model``: an ``nn.Module``; or a bundled spec or spec file (``"resnet:50"``,
    ``"specs/x.yaml"``, with ``@key=value`` settings), or a Python model reference
    (``"file.py:Net(k=1)"``, ``"torchvision:resnet50"``).

    Inputs, as torchinfo takes them:

    * ``input_size``: the full shape of the input, batch dimension included
      (``(1, 3, 224, 224)``), or a list of shapes for several positional inputs. A
      convolution reached by a shape without a batch dimension (``(3, 224, 224)``) is
      refused with the shape to write instead; a 1-D shape is one sample.
    * ``input_data``: a tensor, a sequence of positional inputs or a dict of keyword inputs
      (to pass one dict as the only argument, wrap it in a list). Only shapes and dtypes are
      used, unless the model refuses the meta device and is run for real.
    * ``dtypes``: one dtype per ``input_size`` entry (``torch.long`` for token ids into
      ``nn.Embedding``; default: the model's floating dtype).
    * ``batch_dim``: the shapes leave the batch out; a batch of one goes at that dimension.
    * ``**forward_kwargs``: further keyword arguments of ``forward`` (tensors or values).

    Without inputs, a module uses the input it declares (timm's ``default_cfg``).

    The counts are for the whole batch the model ran on (``.batch``; per sample is the total
    over the batch), so the ``torchinfo`` convention equals torchinfo's ``total_mult_adds``
    for the same call. ``device``: None runs on the meta device (no memory, nothing
    computed) and, when the model refuses it, for real where its parameters are; ``"meta"``
    allows no real run; a real device runs there for real and must be where the
    parameters are (cnninspect never moves a model). ``mode``: ``eval`` (default),
    ``train`` (dropout, batch statistics, auxiliary heads) or ``same`` (each submodule's own
    flag); on a private copy, never on ``model``. ``depth`` (torchinfo's) or ``levels``
    folds the table to that many levels; ``col_names`` picks torchinfo's columns
    (``input_size``, ``output_size``, ``num_params``, ``kernel_size``, ``mult_adds``,
    ``trainable``). ``resolution`` sets an image input's height and width.

    For a spec, ``input_size`` is ``(1, channels, R, R)`` at the spec's channels.

    Memory (``.memory``, shown in the table and ``to_dict()["memory"]``): ``memory=True``,
    or ``dtype=`` / ``optimizer=`` (which imply it), as ``summary --memory`` does. For a
    module: weights and buffers at its own dtypes, the peak of live activations at the batch
    it ran on, and training memory (gradients, ``optimizer`` state, and what autograd saves
    for backward, measured on a meta copy in training mode); ``dtype`` (``fp32``, ``fp16``,
    ``bf16``) casts the copy. For a spec: its memory model at ``dtype`` and batch 1.
    ``training_step=True`` adds ``.training_step``: the mult-adds of forward plus backward
    per module, as ``torch.utils.flop_counter.FlopCounterMode`` counts them around
    ``loss.backward()`` with the loss the sum of the outputs (docs/python-models.md).

    ``rf=True`` adds the receptive-field columns (``.receptive_fields``; a Python model's
    where the path from its input is convolutional, docs/receptive-field.md).
    ``custom_rules``: your own counting rules for operators cnninspect does not count,
    ``{"mylib::my_op": fn}`` where ``fn(call: OpCall) -> int | None`` returns one call's
    multiply-adds for the batch (None: leave it uncounted); they apply in the operator
    conventions (paper, fvcore, torchinfo, flopcounter), to that operator alone
    (docs/counting.md, "Custom rules").
    """
    from .ops.conventions import UNITS, get_convention

    from .ops.custom_rules import custom_rules as checked_rules

    get_convention(convention)
    rules = checked_rules(custom_rules)
    if unit not in UNITS:
        raise UsageError(f"unknown unit '{unit}'; units: {', '.join(UNITS)}")
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if depth is not None and levels is not None and depth != levels:
        raise UsageError(f"depth={depth} and levels={levels} disagree; give one of them")
    levels = levels if levels is not None else depth
    if levels is not None and (not isinstance(levels, int) or levels < 1):
        raise UsageError(f"depth must be a whole number of at least 1, got {levels!r}")
    columns = None
    if col_names is not None:
        unknown = [c for c in col_names if c not in COLUMNS]
        if unknown:
            raise UsageError(f"col_names: unknown column {unknown[0]!r}; columns: {', '.join(COLUMNS)}")
        columns = [COLUMNS[c] for c in col_names]
    if isinstance(model, str):
        if input_data is not None or forward_kwargs or dtypes is not None or batch_dim is not None:
            raise UsageError("input_data, dtypes, batch_dim and forward keyword arguments apply to nn.Module objects; "
                             "a model reference takes input_size")
        if mode != "eval" or device is not None:
            raise UsageError("mode= and device= apply to nn.Module objects")
        if memory or dtype is not None or optimizer is not None or training_step or rf or rules:
            return _reference_with_extras(model, input_size, convention, resolution, unit, levels, columns,
                                          memory, dtype, optimizer, training_step, rf, rules)
        return Summary(_reference_report(model, input_size, convention, resolution), unit, levels, columns)
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"cnninspect.summary takes an nn.Module or a model reference, got {type(model).__name__}")
    from .capture.inputs import from_api

    if isinstance(input_data, str):
        raise UsageError(f"input_data={input_data!r}: the third argument is input_data, as in torchinfo; "
                         f"give the convention by name: convention={input_data!r}")
    inputs = from_api(input_size, input_data, dtypes, batch_dim, forward_kwargs)
    if not (memory or dtype is not None or optimizer is not None or training_step or rf or rules):
        report = module_report(model, inputs, convention, resolution, device=None if device is None else str(device),
                               mode=mode)
        return Summary(report, unit, levels, columns)
    return _module_with_extras(model, inputs, convention, resolution, device, mode, unit, levels, columns,
                               dtype, optimizer, memory or dtype is not None or optimizer is not None, training_step,
                               rf, rules)


def _fields(trace: Any, report: Report, rf: bool) -> Any:
    """A Python model's receptive fields, when asked for."""
    if not rf:
        return None
    from .capture.module_receptive import module_fields

    return module_fields(trace, report)


def _module_with_extras(model: Any, inputs: Any, convention: str, resolution: int | None, device: Any, mode: str,
                        unit: str, levels: int | None, columns: Any, dtype: str | None, optimizer: str | None,
                        memory: bool, training_step: bool, rf: bool = False,
                        rules: Mapping[str, Any] | None = None) -> Summary:
    """A module's summary with its memory, training step, receptive fields or custom rules
    (on meta copies of it)."""
    from .capture.module_analysis import analyze_trace, input_settings, module_subject
    from .capture.pymodels import check_depth, input_for, trace_module
    from .capture.training import module_memory, run_training

    cast = _cast(dtype, optimizer)
    label = type(model).__name__
    check_depth(model, label)
    model_inputs, source = input_for(model, label, inputs, resolution)
    params = list(model.parameters())
    built_on = "meta" if params and all(p.device.type == "meta" for p in params) else "cpu"
    trace = trace_module(model, model_inputs, label, built_on=built_on,
                         device=None if device is None else str(device), mode=mode)
    settings = {**input_settings(trace), "resolution": resolution, "kwargs": {}, "class": label,
                "input_from": source or "given", "mode": mode}
    report = analyze_trace(trace, convention, module_subject(trace, label, title="nn.Module passed from Python",
                                                             settings=settings), rules=rules)
    mem = module_memory(model, model_inputs, trace, cast=cast, batch=model_inputs.batch,
                        optimizer=optimizer or "sgd") if memory else None
    step = _step_of(run_training(model, model_inputs)) if training_step else None
    return Summary(report, unit, levels, columns, mem, step, _fields(trace, report, rf), rf)


def _rules_for_specs(*specs: str) -> UsageError:
    """The refusal of ``custom_rules`` given where no model is a Python model."""
    return UsageError(f"custom_rules apply to Python models; every op kind of the spec{'s' * (len(specs) > 1)} "
                      f"{', '.join(specs)} has a rule")


def _is_python(model: Any) -> bool:
    """An ``nn.Module`` object or a Python model reference (not a spec)."""
    from .capture.targets import target_of

    return not isinstance(model, str) or target_of(model).python


def _cast(dtype: str | None, optimizer: str | None) -> str | None:
    from .commands.common import python_cast

    return python_cast(dtype, optimizer)


def _step_of(run: Any) -> TrainingStep:
    if run.step is None:
        raise UsageError(f"training_step: {run.failure}")
    return run.step


def _reference_with_extras(text: str, input_size: Any, convention: str, resolution: int | None, unit: str,
                           levels: int | None, columns: Any, memory: bool, dtype: str | None,
                           optimizer: str | None, training_step: bool, rf: bool = False,
                           rules: Mapping[str, Any] | None = None) -> Summary:
    """A spec's or a Python reference's summary with memory, the training step, receptive
    fields or custom rules."""
    from .capture.targets import target_of

    show = memory or dtype is not None or optimizer is not None
    if target_of(text).python:
        from .capture.inputs import from_api
        from .capture.module_analysis import analyze_trace
        from .capture.pymodels import prepare_python
        from .capture.training import module_memory, run_training

        cast = _cast(dtype, optimizer)
        p = prepare_python(text, input_shape=from_api(input_size), resolution=resolution)
        report = analyze_trace(p.trace, convention, p.subject, rules=rules)
        mem = module_memory(p.built.module, p.inputs, p.trace, cast=cast, batch=p.inputs.batch,
                            optimizer=optimizer or "sgd") if show else None
        step = _step_of(run_training(p.built.module, p.inputs)) if training_step else None
        return Summary(report, unit, levels, columns, mem, step, _fields(p.trace, report, rf), rf)
    if rules:
        raise _rules_for_specs(text)
    from .commands.common import memory_settings_from
    from .measure.memory import memory_report

    report = _reference_report(text, input_size, convention, resolution)
    mem = memory_report(report.model, memory_settings_from(dtype, None, optimizer)) if show else None
    step = None
    if training_step:
        from .build.builder import build_module
        from .capture.inputs import ModelInputs
        from .capture.training import run_training

        step = _step_of(run_training(build_module(report.model, "meta"), ModelInputs.single(report.model.input_shape)))
    return Summary(report, unit, levels, columns, mem, step, None, rf)


def module_report(module: Any, inputs: Any, convention: str, resolution: int | None = None,
                  name: str | None = None, *, device: str | None = None, mode: str = "eval") -> Report:
    """The report of an ``nn.Module`` object; ``inputs`` is :class:`~cnninspect.capture.inputs.ModelInputs`,
    or None for the input the module declares."""
    from .capture.module_analysis import analyze_trace, input_settings, module_subject
    from .capture.pymodels import check_depth, input_for, trace_module

    label = name or type(module).__name__
    check_depth(module, label)
    model_inputs, source = input_for(module, label, inputs, resolution)
    params = list(module.parameters())
    built_on = "meta" if params and all(p.device.type == "meta" for p in params) else "cpu"
    trace = trace_module(module, model_inputs, label, built_on=built_on, device=device, mode=mode)
    settings = {**input_settings(trace), "resolution": resolution, "kwargs": {}, "class": type(module).__name__,
                "input_from": source or "given", "mode": mode}
    subject = module_subject(trace, label, title="nn.Module passed from Python", settings=settings)
    return analyze_trace(trace, convention, subject)


def _reference_report(text: str, input_size: Any, convention: str, resolution: int | None) -> Report:
    from .capture.pymodels import analyze_python
    from .capture.targets import target_of

    if target_of(text).python:
        from .capture.inputs import from_api

        return analyze_python(text, convention, input_shape=from_api(input_size), resolution=resolution)
    from .measure.analysis import analyze
    from .resolve.catalog import resolve_ref

    extra: dict[str, Any] = {}
    if input_size is not None:
        full = tuple(input_size)
        if len(full) != 4 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in full) \
                or full[2] != full[3]:
            raise UsageError(f"input_size for the spec {text} must be (1, channels, R, R), batch included as in "
                             f"torchinfo, got {full}")
        if full[0] != 1:
            raise UsageError(f"input_size for the spec {text}: a spec is counted at a batch of 1, got batch {full[0]}")
        shape = full[1:]
        if resolution is not None and resolution != shape[1]:
            raise UsageError(f"input_size says resolution {shape[1]} but resolution= says {resolution}")
        resolution = shape[1]
        channels = shape[0]
    else:
        channels = None
    if resolution is not None:
        extra["resolution"] = resolution
    report = analyze(resolve_ref(text, extra, "resolution="), convention)
    if channels is not None and report.subject.input_shape[0] != channels:
        raise UsageError(f"{text} takes {report.subject.input_shape[0]} input channels, not {channels}")
    return report


# --- compare, sweep, fit and check from Python --------------------------------------------------
# Each takes nn.Module objects as well as model references (a bundled spec, a spec file, a
# Python reference such as "file.py:Net"), as the commands of the same names do; a module is
# analysed on private copies, never changed. Results are frozen data with ``str()`` (the
# terminal table), ``render(fmt)`` and ``to_dict()``.


def _named(models: Sequence[Any] | Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, model) pairs: a mapping's keys, a reference's own text, a module's class name
    (numbered when two modules share one)."""
    if isinstance(models, Mapping):
        return [(str(k), v) for k, v in models.items()]
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
        raise UsageError("models must be a list of models (nn.Module objects or references) or a dict name -> model")
    out: list[tuple[str, Any]] = []
    seen: dict[str, int] = {}
    for m in models:
        name = m if isinstance(m, str) else type(m).__name__
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", m))
    return out


def _memory_kwargs(memory: bool, dtype: str | None, optimizer: str | None) -> dict[str, Any]:
    return {"memory": memory, "dtype": dtype, "optimizer": optimizer}


def _summary_of(model: Any, input_size: Any, convention: str, resolution: int | None, **extra: Any) -> Summary:
    """``summary`` of a module or a reference; a spec takes no ``input_size`` (its own input,
    at ``resolution``)."""
    from .capture.targets import target_of

    if isinstance(model, str) and not target_of(model).python:
        input_size = None
    return summary(model, input_size, convention=convention, resolution=resolution, **extra)


class Comparison(_Tabular):
    """Models side by side (``compare``): each model's :class:`Summary` and ratios against
    the first. Ratios compare mult-adds per sample, so models run at different batches
    compare fairly."""

    def __init__(self, names: Sequence[str], summaries: Sequence[Summary], unit: str = "macs") -> None:
        self.names = tuple(names)
        self.summaries = tuple(summaries)
        self.unit = unit

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per model: its totals, batch, per-sample mult-adds and ratios against the first."""
        first = self.summaries[0]
        p0 = first.total_params
        m0 = first.total_mult_adds / first.batch
        out = []
        for name, s in zip(self.names, self.summaries):
            t, subject = s.totals, s.report.subject
            per_sample = _per_sample(t.mult_adds, s.batch)
            row: dict[str, Any] = {
                "model": name, "input": list(subject.input_shape), "output": list(s.report.output_shape),
                "batch": s.batch, "params": t.params, "trainable_params": t.trainable_params,
                "mult_adds": t.mult_adds, "mult_adds_per_sample": per_sample, "depth": subject.depth,
                "params_ratio": t.params / p0 if p0 else None, "mult_adds_ratio": per_sample / m0 if m0 else None,
                "peak_activation_bytes": t.peak_activation_bytes,
            }
            if s.memory is not None:
                row["weight_bytes"] = s.memory.inference.weight_bytes
                row["training_bytes"] = s.memory.training.total_bytes if s.memory.training else None
            out.append(row)
        return out

    def document(self) -> Any:
        from .ops.conventions import UNITS
        from .render.document import ESSENTIAL, Column, Document, Table

        scale = UNITS[self.unit]
        cost = "FLOPs" if self.unit == "flops" else "Mult-adds"
        rows = [{**r, "mult_adds": r["mult_adds"] * scale} for r in self.rows]
        memory = any("weight_bytes" in r for r in rows)
        table = Table(columns=(
            Column("model", "Model", priority=ESSENTIAL), Column("input", "Input", "shape", priority=40),
            Column("batch", "Batch", "int", priority=35), Column("params", "Params", "int", priority=90),
            Column("mult_adds", cost, "int", priority=95), Column("depth", "Depth", "int", priority=30),
            Column("params_ratio", "Params vs 1st", "ratio", priority=60),
            Column("mult_adds_ratio", f"{cost}/sample vs 1st", "ratio", priority=65),
            Column("peak_activation_bytes", "Peak act.", "bytes", priority=50),
            *((Column("weight_bytes", "Weights", "bytes", priority=84),
               Column("training_bytes", "Training", "bytes", priority=85)) if memory else ()),
        ), rows=tuple(rows))
        conv = self.summaries[0].report.convention
        return Document(title="compare", meta=(("convention", conv.describe(self.unit)),), tables=(table,),
                        data={"convention": conv.name, "unit": self.unit, "models": rows})

    def __repr__(self) -> str:
        return f"<cnninspect comparison of {len(self.names)} models: {', '.join(self.names)}>"


def compare(models: Sequence[nn.Module | str] | Mapping[str, nn.Module | str], input_size: Any = None, *,
            convention: str = "paper", resolution: int | None = None, unit: str = "macs", memory: bool = False,
            dtype: str | None = None, optimizer: str | None = None,
            custom_rules: Mapping[str, Callable[[OpCall], int | None]] | None = None) -> Comparison:
    """Compare ``models`` (``cnninspect compare``): a list of ``nn.Module`` objects and model
    references, or a dict name -> model. ``input_size`` (batch included, as in
    :func:`summary`) is the input of every module and Python reference; a spec keeps its own
    input (``resolution`` sets it). ``memory``/``dtype``/``optimizer`` add weight and training
    bytes, as in :func:`summary`; ``custom_rules`` count the Python models' operators as in
    :func:`summary` (refused when no model is one). At least two models."""
    named = _named(models)
    if len(named) < 2:
        raise UsageError("compare needs at least two models")
    if custom_rules and not any(_is_python(m) for _, m in named):
        raise _rules_for_specs(*(str(m) for _, m in named))
    summaries = [_summary_of(m, input_size, convention, resolution, unit=unit,
                             **_memory_kwargs(memory, dtype, optimizer),
                             **({"custom_rules": custom_rules} if _is_python(m) else {})) for _, m in named]
    return Comparison([n for n, _ in named], summaries, unit)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the resolution (None: the model's own input) and batch, and the
    totals there. ``mult_adds`` is for the whole batch; a spec's per-sample count times the
    batch (each sample costs the same)."""

    resolution: int | None
    batch: int
    params: int
    trainable_params: int
    mult_adds: int
    mult_adds_per_sample: int | float
    peak_activation_bytes: int
    memory: MemoryReport | None = None


class SweepResult(_Tabular):
    """The totals of one model over resolutions and batches (``sweep``)."""

    def __init__(self, name: str, convention: str, points: Sequence[SweepPoint], unit: str = "macs") -> None:
        self.name = name
        self.convention = convention
        self.points = tuple(points)
        self.unit = unit

    def document(self) -> Any:
        from .ops.conventions import UNITS, get_convention
        from .render.document import ESSENTIAL, Column, Document, Table

        scale = UNITS[self.unit]
        cost = "FLOPs" if self.unit == "flops" else "Mult-adds"
        rows = []
        for p in self.points:
            row = {"resolution": p.resolution, "batch": p.batch, "params": p.params,
                   "trainable_params": p.trainable_params, "mult_adds": p.mult_adds * scale,
                   "mult_adds_per_sample": p.mult_adds_per_sample * scale,
                   "peak_activation_bytes": p.peak_activation_bytes}
            if p.memory is not None:
                row["training_bytes"] = p.memory.training.total_bytes if p.memory.training else None
            rows.append(row)
        memory = any(p.memory is not None for p in self.points)
        table = Table(columns=(
            Column("resolution", "Resolution", "int", priority=ESSENTIAL),
            Column("batch", "Batch", "int", priority=ESSENTIAL), Column("params", "Params", "int", priority=80),
            Column("mult_adds", cost, "int", priority=95),
            Column("mult_adds_per_sample", f"{cost}/sample", "int", priority=70),
            Column("peak_activation_bytes", "Peak act.", "bytes", priority=90),
            *((Column("training_bytes", "Training", "bytes", priority=85),) if memory else ()),
        ), rows=tuple(rows))
        conv = get_convention(self.convention)
        return Document(title=f"sweep {self.name}", meta=(("convention", conv.describe(self.unit)),),
                        tables=(table,), data={"model": self.name, "convention": self.convention,
                                               "unit": self.unit, "points": rows})

    def __repr__(self) -> str:
        return f"<cnninspect sweep of {self.name}: {len(self.points)} points>"


def _with_batch(inputs: Any, batch: int) -> Any:
    """``inputs`` at another batch: every tensor to make whose first dimension is the batch."""
    from dataclasses import replace

    from .capture.inputs import ModelInputs, TensorSpec

    def at(x: Any) -> Any:
        if isinstance(x, TensorSpec) and len(x.shape) >= 2 and x.shape[0] == inputs.batch:
            return replace(x, shape=(batch, *x.shape[1:]))
        if isinstance(x, TensorSpec) or not isinstance(x, (tuple, list, dict)):
            if not isinstance(x, TensorSpec) and _is_tensor(x):
                raise UsageError("sweep over batches makes its own inputs: give input_size, not input_data")
            return x
        if isinstance(x, dict):
            return {k: at(v) for k, v in x.items()}
        return type(x)(at(v) for v in x)

    return ModelInputs(at(tuple(inputs.args)), at(dict(inputs.kwargs)), batch)


def _per_sample(total: int, batch: int) -> int | float:
    """A batch's count per sample: exact when it divides, else a float."""
    return total // batch if total % batch == 0 else total / batch


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _module_of(model: Any) -> tuple[Any, str]:
    """A module object and its name: the object itself, or a Python reference built on the
    meta device (once, for every point)."""
    if not isinstance(model, str):
        return model, type(model).__name__
    from .capture.pymodels import build, load, parse_pyref

    pm = load(parse_pyref(model))
    built = build(pm)
    return built.module, pm.ref.shown


def sweep(model: nn.Module | str, input_size: Any = None, *, resolutions: Sequence[int] | None = None,
          batches: Sequence[int] | None = None, convention: str = "paper", unit: str = "macs", memory: bool = False,
          dtype: str | None = None, optimizer: str | None = None,
          custom_rules: Mapping[str, Callable[[OpCall], int | None]] | None = None) -> SweepResult:
    """Totals of ``model`` at every ``resolution`` (an image input's height and width) and
    every ``batch`` (``cnninspect sweep``): a module or Python reference runs one captured
    forward pass per point on ``input_size`` (batch included) with the batch replaced; a
    spec is counted per sample and its per-batch totals and activations scale with the
    batch. ``memory``/``dtype``/``optimizer`` add each point's memory report; ``custom_rules``
    count a Python model's operators as in :func:`summary` (a spec takes none)."""
    from .base.limits import MAX_FORWARD_PASSES
    from .capture.targets import target_of
    from .ops.conventions import get_convention

    get_convention(convention)
    res_list: list[int | None] = list(resolutions) if resolutions is not None else [None]
    batch_list = list(batches) if batches is not None else [None]
    if resolutions is None and batches is None:
        raise UsageError("sweep needs resolutions=, batches= or both")
    for label, values in (("resolutions", resolutions or []), ("batches", batches or [])):
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
            raise UsageError(f"{label} must be whole numbers of at least 1, got {list(values)!r}")
    if len(res_list) * len(batch_list) > MAX_FORWARD_PASSES:
        raise UsageError(f"a sweep runs at most {MAX_FORWARD_PASSES:,} points, got {len(res_list) * len(batch_list):,}")
    show = memory or dtype is not None or optimizer is not None
    points: list[SweepPoint] = []
    if isinstance(model, str) and not target_of(model).python:
        from .commands.common import memory_settings_from
        from .measure.memory import memory_report

        if custom_rules:
            raise _rules_for_specs(model)
        name = model
        for r in res_list:
            s = summary(model, convention=convention, resolution=r)
            t = s.totals
            for b in batch_list:
                b = b or 1
                mem = memory_report(s.report.model, memory_settings_from(dtype, b, optimizer)) if show else None
                points.append(SweepPoint(r, b, t.params, t.trainable_params, b * t.mult_adds, t.mult_adds,
                                         b * t.peak_activation_bytes, mem))
        return SweepResult(name, convention, points, unit)
    from .capture.inputs import from_api
    from .capture.pymodels import input_for
    from .ops.custom_rules import custom_rules as checked_rules

    rules = checked_rules(custom_rules)
    module, name = _module_of(model)
    base, _source = input_for(module, name, from_api(input_size) if input_size is not None else None, None)
    for r in res_list:
        for b in batch_list:
            inputs = _with_batch(base, b) if b is not None else base
            s = _module_with_extras(module, inputs, convention, r, None, "eval", unit, None, None, dtype, optimizer,
                                    show, False, False, rules)
            t = s.totals
            points.append(SweepPoint(r, s.batch, t.params, t.trainable_params, t.mult_adds, _per_sample(t.mult_adds, s.batch),
                                     t.peak_activation_bytes, s.memory))
    return SweepResult(name, convention, points, unit)


def _budgets(budgets: Mapping[str, str | float] | None) -> list[Any]:
    """Budgets as check files write them (``{"max_params": "5M", "max_mult_adds": 6e8}``)."""
    from .base.numbers import NumberError
    from .explore.fit import Budget
    from .explore.metrics import BUDGETS, METRIC, parse_metric_value
    from .base.errors import did_you_mean

    out = []
    for key, value in (budgets or {}).items():
        if key not in BUDGETS:
            raise UsageError(f"unknown budget {key!r}{did_you_mean(key, BUDGETS)}; budgets: {', '.join(BUDGETS)}")
        metric = METRIC[BUDGETS[key]]
        try:
            out.append(Budget(metric, parse_metric_value(metric, value), str(value).strip()))
        except NumberError as exc:
            raise UsageError(f"{key}: {exc}") from None
    return out


class FitSummary(_Tabular):
    """A fit's result (:class:`~cnninspect.explore.fit.FitResult`: ``frontier``, ``best``,
    ``feasible``) with the table ``cnninspect fit`` prints."""

    def __init__(self, result: Any, label: str, convention: str, unit: str = "macs") -> None:
        self.result = result
        self.label = label
        self.convention = convention
        self.unit = unit

    @property
    def best(self) -> Any:
        """The best feasible point (``.settings``, ``.metrics``), or None when nothing fits."""
        return self.result.best

    @property
    def frontier(self) -> tuple[Any, ...]:
        return self.result.frontier

    def document(self) -> Any:
        from .commands.fit import fit_document
        from .ops.conventions import get_convention

        return fit_document(self.result, self.label, get_convention(self.convention), self.unit, [])

    def __repr__(self) -> str:
        best = self.result.best
        where = ", ".join(f"{k}={v}" for k, v in best.settings) if best is not None else "nothing fits"
        return f"<cnninspect fit of {self.label}: {self.result.feasible} of {self.result.size} feasible; best {where}>"


def fit(model: nn.Module | str, input_size: Any = None, *, over: Mapping[str, Sequence[float]],
        budgets: Mapping[str, str | float], maximize: str = "mult_adds", convention: str = "paper",
        unit: str = "macs", dtype: str | None = None, optimizer: str | None = None,
        custom_rules: Mapping[str, Callable[[OpCall], int | None]] | None = None) -> FitSummary:
    """The largest configurations of ``model`` within ``budgets`` (``cnninspect fit``).

    ``over`` maps each axis to its values: a spec takes ``width``, ``resolution``, ``depth``,
    ``phi`` and its numeric parameters; a module or Python reference ``resolution`` only (one
    captured forward pass per value, on ``input_size``). ``budgets`` are written as in a
    check file (``{"max_mult_adds": "150M", "max_params": 1.5e6}``); ``maximize`` is a metric
    (``mult_adds``, ``params``, ...). A Python model's ``max_training_bytes`` is measured on a
    meta copy (``dtype``, ``optimizer`` as in :func:`summary`); ``custom_rules`` count its
    operators at every point as in :func:`summary` (a spec takes none).
    """
    from .explore.fit import Axis, Fit
    from .explore.metrics import METRIC
    from .base.errors import did_you_mean
    from .capture.targets import target_of
    from .commands.common import memory_settings_from

    get_metric = METRIC.get(maximize)
    if get_metric is None:
        raise UsageError(f"unknown metric {maximize!r}{did_you_mean(maximize, METRIC)}; metrics: {', '.join(METRIC)}")
    chosen = _budgets(budgets)
    settings = memory_settings_from(dtype, None, optimizer)
    if isinstance(model, str) and not target_of(model).python:
        from .explore.fit import parse_fit_axis
        from .resolve.catalog import parse_target

        if custom_rules:
            raise _rules_for_specs(model)

        target = parse_target(model)
        axes = [parse_fit_axis(k, ",".join(f"{v:g}" for v in vs), target.spec, f"over[{k!r}]") for k, vs in over.items()]
        job: Fit = Fit(target.spec, target.variant, axes, chosen, get_metric, convention=convention, memory=settings)
        return FitSummary(job.run(), model, convention, unit)
    unknown = [k for k in over if k != "resolution"]
    if unknown:
        raise UsageError(f"a Python model is fitted over resolution only, not {unknown[0]!r} (pass constructor "
                         "arguments to the model instead)")
    values = over.get("resolution") or ()
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise UsageError(f"over['resolution'] must be whole numbers of at least 1, got {list(values)!r}")
    from .ops.custom_rules import custom_rules as checked_rules

    rules = checked_rules(custom_rules)
    module, name = _module_of(model)
    job = _ObjectFit(module, name, Axis("resolution", tuple(sorted(set(values)))), chosen, get_metric,
                     convention=convention, input_size=input_size, cast=_cast(dtype, optimizer), memory=settings,
                     rules=rules)
    return FitSummary(job.run(), name, convention, unit)


class _ObjectFit:
    """A fit of an ``nn.Module`` object over resolutions (``ModuleFit`` on the object, not a
    reference); made lazily so that importing the API does not import the fit machinery."""

    def __new__(cls, module: Any, name: str, axis: Any, budgets: Sequence[Any], maximize: Any, *,
                convention: str, input_size: Any, cast: str | None, memory: Any,
                rules: Mapping[str, Any] | None = None) -> Any:
        from .base.limits import MAX_FORWARD_PASSES
        from .capture.inputs import from_api
        from .explore.fit import FitPoint, ModuleFit
        from .explore.metrics import METRIC_LIST, Measures

        class ObjectFit(ModuleFit):
            def __init__(self) -> None:  # ModuleFit's fields, from the object
                if not budgets:
                    raise UsageError("give at least one budget, e.g. budgets={'max_mult_adds': '300M'}")
                if len(axis.values) > MAX_FORWARD_PASSES:
                    raise UsageError(f"a Python model is fitted over at most {MAX_FORWARD_PASSES:,} resolutions")
                if not axis.values:
                    raise UsageError("give the resolutions to fit over, e.g. over={'resolution': [96, 128, 160]}")
                self.name, self.variant, self.axes, self.budgets = name, None, (axis,), tuple(budgets)
                self.maximize, self.memory, self.needs_memory = maximize, memory, False
                self.convention, self.input_shape = convention, from_api(input_size) if input_size else None
                self.names, self.line_axis, self.key_axes = [axis.name], 0, []
                self.size, self.evaluated, self.count = len(axis.values), {}, 0

            def measure(self, index: tuple[int, ...], keep: bool = True) -> Mapping[str, int]:
                if index in self.evaluated:
                    return self.evaluated[index]
                res = self.axes[0].values[index[0]]
                wants = any(m.needs_memory for m in (self.maximize, *(b.metric for b in self.budgets)))
                s = _module_with_extras(module, self.input_shape, self.convention, res, None, "eval", "macs", None,
                                        None, cast, memory.optimizer, wants, False, False, rules)
                if wants and (s.memory is None or s.memory.training is None):
                    raise UsageError(f"max_training_bytes: {s.memory.training_unavailable if s.memory else ''}")
                self.count += 1
                measures = Measures(s.totals, s.report.subject.depth, self.memory, s.memory)
                metrics = {m.name: m.value(measures) for m in METRIC_LIST if not m.needs_memory or wants}
                if keep:
                    self.evaluated[index] = metrics
                return metrics

            def fit_point(self, index: tuple[int, ...], metrics: Mapping[str, int]) -> FitPoint:
                return FitPoint(index, (("resolution", self.axes[0].values[index[0]]),), None, metrics)

        return ObjectFit()


@dataclass(frozen=True)
class CheckOutcome:
    """One expectation or budget: the metric, ``expect`` (value +- tolerance) or ``max``,
    the limit, the model's value and whether it passed."""

    metric: str
    kind: str
    limit: float
    tolerance: float
    actual: int
    passed: bool


class CheckResult(_Tabular):
    """The outcomes of :func:`check`; ``ok`` when every one passed."""

    def __init__(self, name: str, convention: str, outcomes: Sequence[CheckOutcome]) -> None:
        self.name = name
        self.convention = convention
        self.outcomes = tuple(outcomes)

    @property
    def ok(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def __bool__(self) -> bool:
        return self.ok

    def document(self) -> Any:
        from .render.document import ESSENTIAL, Column, Document, Table

        rows = [{"metric": o.metric, "rule": (f"<= {_number_text(o.limit)}" if o.kind == "max" else f"= "
                                               f"{_number_text(o.limit)}" + (f" +- {_number_text(o.tolerance)}"
                                                                             if o.tolerance else "")),
                 "actual": o.actual, "status": "PASS" if o.passed else "FAIL"} for o in self.outcomes]
        table = Table(columns=(Column("metric", "Metric", priority=ESSENTIAL), Column("rule", "Rule", priority=90),
                               Column("actual", "Actual", "int", priority=ESSENTIAL),
                               Column("status", "Status", priority=ESSENTIAL)),
                      rows=tuple(rows), styles=tuple("" if o.passed else "fail" for o in self.outcomes))
        return Document(title=f"check {self.name}", meta=(("convention", self.convention),), tables=(table,),
                        data={"model": self.name, "convention": self.convention, "ok": self.ok,
                              "outcomes": [{**r, "kind": o.kind, "limit": o.limit, "tolerance": o.tolerance,
                                            "passed": o.passed} for r, o in zip(rows, self.outcomes)]})

    def __repr__(self) -> str:
        failed = sum(not o.passed for o in self.outcomes)
        return f"<cnninspect check of {self.name}: {'ok' if self.ok else f'{failed} failed'}>"


def check(model: nn.Module | str, input_size: Any = None, *, expect: Mapping[str, Any] | None = None,
          budgets: Mapping[str, str | float] | None = None, convention: str = "paper", resolution: int | None = None,
          dtype: str | None = None, optimizer: str | None = None,
          custom_rules: Mapping[str, Callable[[OpCall], int | None]] | None = None) -> CheckResult:
    """Check ``model`` against expected values and budgets, as one entry of a check file
    (``cnninspect check``): ``expect`` maps a metric to its value or ``(value, tolerance)``
    (``{"params": 4_231_976, "mult_adds": ("569M", "1%")}``), ``budgets`` maps
    ``max_<metric>`` to a limit (``{"max_params": "5M"}``). Values are written as in check
    files (``4.2M``, ``8MB``). ``training_bytes`` is the training memory of :func:`summary`'s
    memory report (``dtype``, ``optimizer``); ``custom_rules`` count a Python model's
    operators as in :func:`summary` (a spec takes none). ``bool(result)`` is True when all
    pass."""
    from .base.numbers import NumberError, parse_float
    from .base.errors import did_you_mean
    from .commands.common import memory_settings_from
    from .explore.metrics import METRIC, Measures, parse_metric_value

    rules: list[tuple[str, str, float, float]] = []
    for metric, spec in (expect or {}).items():
        if metric not in METRIC:
            raise UsageError(f"unknown metric {metric!r}{did_you_mean(metric, METRIC)}; metrics: {', '.join(METRIC)}")
        value, tol = (spec if isinstance(spec, tuple) else (spec, 0))
        try:
            v = parse_metric_value(METRIC[metric], value)
            t = str(tol).strip()
            tolerance = v * parse_float(t[:-1]) / 100 if t.endswith("%") else parse_metric_value(METRIC[metric], tol)
        except NumberError as exc:
            raise UsageError(f"expect[{metric!r}]: {exc}") from None
        rules.append((metric, "expect", v, tolerance))
    rules += [(b.metric.name, "max", b.limit, 0.0) for b in _budgets(budgets)]
    if not rules:
        raise UsageError("check needs expect= or budgets=")
    wants = any(METRIC[m].needs_memory for m, *_ in rules)
    s = _summary_of(model, input_size, convention, resolution, memory=wants, dtype=dtype, optimizer=optimizer,
                    custom_rules=custom_rules)
    if wants and (s.memory is None or s.memory.training is None):
        raise UsageError(f"training_bytes: {s.memory.training_unavailable if s.memory else 'no memory report'}")
    settings = memory_settings_from(dtype if s.report.model is not None else None, None, optimizer)
    measures = Measures(s.totals, s.report.subject.depth, settings, s.memory)
    outcomes = []
    for metric, kind, limit, tolerance in rules:
        actual = METRIC[metric].value(measures)
        passed = actual <= limit if kind == "max" else abs(actual - limit) <= tolerance + 1e-9
        outcomes.append(CheckOutcome(metric, kind, limit, tolerance, actual, passed))
    name = model if isinstance(model, str) else type(model).__name__
    return CheckResult(name, convention, outcomes)
