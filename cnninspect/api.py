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
from typing import TYPE_CHECKING, Any

from .measure.analysis import Report, Row, Totals
from .base.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .ops.aten_rules import OpCall

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

class Summary:
    """A report with its renderings: ``str()`` is the terminal table, ``to_dict()`` the JSON
    contract, ``_repr_html_()`` the table for Jupyter; ``report`` holds the data."""

    def __init__(self, report: Report, unit: str = "macs", levels: int | None = None,
                 columns: Sequence[str] | None = None, fields: Any = None, show_rf: bool = False) -> None:
        self.report = report
        self.unit = unit
        self.levels = levels
        self.columns = tuple(columns) if columns is not None else None
        self.fields = fields  # receptive fields of a Python model (summary(..., rf=True))
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

        doc = summary_document(self.report, self.unit, self.levels, fields=self.fields, show_rf=self.show_rf)
        if self.columns is None:
            return doc
        table = doc.tables[0]
        shown = {"layer", *self.columns}
        skip = tuple(c.key for c in table.columns if c.key not in shown)
        return replace(doc, tables=(replace(table, view_skip=skip), *doc.tables[1:]))

    def render(self, fmt: str = "table") -> str:
        """The report as ``table``, ``markdown``, ``csv``, ``json`` or ``html`` text."""
        from .render.formats import FORMATS

        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
        return FORMATS[fmt].render(self.document(), False)

    def to_dict(self) -> dict[str, Any]:
        from .render.report import summary_json

        return summary_json(self.report, self.unit)

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

    def __str__(self) -> str:
        return self.render("table")

    def _repr_html_(self) -> str:
        return self.render("html")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the table."""
        printer.text(repr(self) if cycle else str(self))

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
    ``trainable``). ``resolution`` sets an image input's height and width. ``rf`` adds
    the receptive-field columns (``.receptive_fields``; a Python model's where the path from
    its input is convolutional, docs/receptive-field.md). ``custom_rules``: your own counting
    rules for operators cnninspect does not count, ``{"mylib::my_op": fn}`` where
    ``fn(call: OpCall) -> int | None`` returns one call's multiply-adds for the batch (None:
    leave it uncounted); they apply in the operator conventions (paper, fvcore, torchinfo,
    flopcounter), to that operator alone (docs/counting.md, "Custom rules").

    For a spec, ``input_size`` is ``(1, channels, R, R)`` at the spec's channels.
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
        report, trace = _reference_report(model, input_size, convention, resolution, rules)
        return Summary(report, unit, levels, columns, _fields(trace, report) if rf and trace is not None else None, rf)
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"cnninspect.summary takes an nn.Module or a model reference, got {type(model).__name__}")
    from .capture.inputs import from_api

    if isinstance(input_data, str):
        raise UsageError(f"input_data={input_data!r}: the third argument is input_data, as in torchinfo; "
                         f"give the convention by name: convention={input_data!r}")
    inputs = from_api(input_size, input_data, dtypes, batch_dim, forward_kwargs)
    report, trace = module_report_traced(model, inputs, convention, resolution,
                                         device=None if device is None else str(device), mode=mode, rules=rules)
    return Summary(report, unit, levels, columns, _fields(trace, report) if rf else None, rf)


def _fields(trace: Any, report: Report) -> Any:
    from .capture.module_receptive import module_fields

    return module_fields(trace, report)


def module_report(module: Any, inputs: Any, convention: str, resolution: int | None = None,
                  name: str | None = None, *, device: str | None = None, mode: str = "eval") -> Report:
    """The report of an ``nn.Module`` object; ``inputs`` is :class:`~cnninspect.capture.inputs.ModelInputs`,
    or None for the input the module declares."""
    return module_report_traced(module, inputs, convention, resolution, name, device=device, mode=mode)[0]


def module_report_traced(module: Any, inputs: Any, convention: str, resolution: int | None = None,
                         name: str | None = None, *, device: str | None = None, mode: str = "eval",
                         rules: Mapping[str, Any] | None = None) -> tuple[Report, Any]:
    """:func:`module_report` with the captured forward pass."""
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
    return analyze_trace(trace, convention, subject, rules=rules), trace


def _reference_report(text: str, input_size: Any, convention: str, resolution: int | None,
                      rules: Mapping[str, Any] | None = None) -> tuple[Report, Any]:
    """A reference's report, and the captured forward pass of a Python model (None for a spec)."""
    from .capture.pymodels import analyze_python_traced, is_python_ref

    if is_python_ref(text):
        from .capture.inputs import from_api

        return analyze_python_traced(text, convention, input_shape=from_api(input_size), resolution=resolution,
                                     rules=rules)
    if rules:
        raise UsageError(f"custom_rules apply to Python models; {text} is a spec, whose op kinds all have rules")
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
    return report, None
