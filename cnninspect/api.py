"""The Python API: ``cnninspect.summary(model_or_spec, input_size=..., convention=...)``.

    import cnninspect
    r = cnninspect.summary(my_module, input_size=(1, 3, 224, 224))   # any nn.Module
    r = cnninspect.summary("efficientnet:b3")                         # a bundled spec
    r = cnninspect.summary("my_model.py:Net(width=64)", input_size=(3, 32, 32))
    print(r)                     # the terminal table
    r.totals.params, r.totals.mult_adds
    r.to_dict()                  # the JSON contract (docs/json-schema.md)
    r.plot()                     # a matplotlib Figure: mult-adds and params per top-level layer
    r                            # in Jupyter: an HTML table

Nothing is printed unless asked. A module passed in is left exactly as it was: it runs on
the meta device through copies of its parameters and buffers (or, when it refuses the meta
device, with its own parameters on their device), in eval mode, with process-wide hooks that
are removed afterwards; training flags and attributes are restored. Errors are
:class:`~cnninspect.errors.CnnInspectError` with a one-line message.
"""

from __future__ import annotations

from typing import Any

from .analysis import Report, Row, Totals
from .errors import UsageError


class Summary:
    """A report with its renderings: ``str()`` is the terminal table, ``to_dict()`` the JSON
    contract, ``_repr_html_()`` the table for Jupyter; ``report`` holds the data."""

    def __init__(self, report: Report, unit: str = "macs", levels: int | None = None) -> None:
        self.report = report
        self.unit = unit
        self.levels = levels

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
        from .render.summary import summary_document

        return summary_document(self.report, self.unit, self.levels)

    def render(self, fmt: str = "table") -> str:
        """The report as ``table``, ``markdown``, ``csv``, ``json`` or ``html`` text."""
        from .render.formats import FORMATS

        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
        return FORMATS[fmt].render(self.document(), False)

    def to_dict(self) -> dict[str, Any]:
        from .render.summary import summary_json

        return summary_json(self.report, self.unit)

    def plot(self) -> Any:
        """The mult-adds and parameters of each top-level layer or block as a matplotlib
        ``Figure`` (needs ``pip install 'cnninspect[plot]'``; built without pyplot, so it
        changes no global state). ``fig.savefig("layers.png")`` writes it; a notebook shows it."""
        from .conventions import UNITS
        from .plot import layers_figure

        top = [r for r in self.report.rows if r.depth == 0]
        scale = UNITS[self.unit]
        return layers_figure([r.name for r in top], [r.params for r in top], [r.mult_adds * scale for r in top],
                             title=f"{self.report.subject.label} ({self.report.convention.name} convention)",
                             cost="FLOPs" if self.unit == "flops" else "Mult-adds")

    def __str__(self) -> str:
        return self.render("table")

    def _repr_html_(self) -> str:
        return self.render("html")

    def __repr__(self) -> str:
        t = self.report.totals
        return (f"<cnninspect summary of {self.report.subject.label}: {t.params:,} params, "
                f"{t.mult_adds:,} mult-adds ({self.report.convention.name})>")


def summary(
    model: Any,
    input_size: tuple[int, ...] | list[int] | None = None,
    convention: str = "paper",
    *,
    resolution: int | None = None,
    unit: str = "macs",
    levels: int | None = None,
) -> Summary:
    """Analyse ``model``: an ``nn.Module``, a bundled spec or spec file
    (``"resnet:50"``, ``"specs/x.yaml"``, with ``@key=value`` settings), or a Python model
    reference (``"file.py:Net(k=1)"``, ``"torchvision:resnet50"``).

    ``input_size`` is per sample (``(3, 224, 224)``) or with a batch of one
    (``(1, 3, 224, 224)``); a module without it uses the input it declares (timm's
    ``default_cfg``). ``resolution`` sets an image input's height and width. For a spec,
    ``input_size`` must be the spec's channels at a square resolution.
    """
    from .conventions import UNITS, get_convention

    get_convention(convention)
    if unit not in UNITS:
        raise UsageError(f"unknown unit '{unit}'; units: {', '.join(UNITS)}")
    if isinstance(model, str):
        return Summary(_reference_report(model, input_size, convention, resolution), unit, levels)
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"cnninspect.summary takes an nn.Module or a model reference, got {type(model).__name__}")
    return Summary(module_report(model, input_size, convention, resolution), unit, levels)


def module_report(module: Any, input_size: Any, convention: str, resolution: int | None = None,
                  name: str | None = None) -> Report:
    """The report of an ``nn.Module`` object."""
    from .module_analysis import analyze_trace, module_subject
    from .pymodels import input_for, parse_input, trace_module

    label = name or type(module).__name__
    shape = parse_input(tuple(input_size), "input_size") if input_size is not None else None
    shape, source = input_for(module, label, shape, resolution)
    params = list(module.parameters())
    built_on = "meta" if params and all(p.device.type == "meta" for p in params) else "cpu"
    trace = trace_module(module, shape, label, built_on=built_on)
    settings = {"input": list(shape), "resolution": resolution, "kwargs": {}, "class": type(module).__name__,
                "input_from": source or "given"}
    subject = module_subject(trace, label, title="nn.Module passed from Python", settings=settings)
    return analyze_trace(trace, convention, subject)


def _reference_report(text: str, input_size: Any, convention: str, resolution: int | None) -> Report:
    from .pymodels import analyse, is_python_ref, parse_input

    if is_python_ref(text):
        shape = parse_input(tuple(input_size), "input_size") if input_size is not None else None
        return analyse(text, convention, input_shape=shape, resolution=resolution)
    from .analysis import analyze
    from .catalog import resolve_ref

    extra: dict[str, Any] = {}
    if input_size is not None:
        shape = parse_input(tuple(input_size), "input_size")
        if len(shape) != 3 or shape[1] != shape[2]:
            raise UsageError(f"input_size for the spec {text} must be channels x R x R, got {shape}")
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
