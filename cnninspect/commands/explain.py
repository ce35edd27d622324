"""``cnninspect explain``: every number with its formula; reconciled with the peer tools."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..base.errors import CnnInspectError, UsageError, did_you_mean, shorten
from ..render.explain import PARTS
from ..explore.teach import TEACH_OPS
from .common import (
    convention_option,
    emit,
    format_option,
    model_options_without_padding,
    overrides_from,
    pick_variant,
    rules_from,
    rules_option,
)


def _with_ops(f: Any) -> Any:
    """The docstring names the ops ``explain`` works by hand, from their records."""
    f.__doc__ = f.__doc__.replace("{ops}", ", ".join(TEACH_OPS))
    return f


@click.command("explain")
@click.argument("target", metavar="MODEL|OP")
@model_options_without_padding
@click.option("--padding", help="A model's 'same' padding: torch or tf. An op's padding: valid, same (PyTorch), "
                                "same-tf (TensorFlow) or a number of pixels.")
@click.option("--layer", "-l", help="One layer or block of the model: its rows and their sum.")
@format_option()
@convention_option
@click.option("--show", "parts", multiple=True, type=click.Choice(PARTS),
              help="Show only these tables (repeatable; default all): layer formulas, totals by op class, "
                   "the tools' reconciliation, version choices.")
@click.option("--measure/--no-measure", default=True, show_default=True,
              help="Run the installed peer tools on the built module (else every tool row is derived).")
@click.option("--measure-max-mb", type=click.FloatRange(min=1), default=4000, show_default=True,
              help="Derive instead of measuring the tools that need real tensors when they would need more memory.")
@click.option("--input", "input_size", metavar="[C x]H x W",
              help="Op: input size, e.g. 5x5 or 3x32x32. A Python model: its input per sample, as for summary.")
@click.option("--kernel", metavar="K|KxK", help="Op: window size (default 3 for conv2d, 2 for pooling).")
@click.option("--stride", metavar="S|SxS", help="Op: stride (default 1 for conv2d, the kernel for pooling).")
@click.option("--filters", type=click.IntRange(min=1), help="Op conv2d: number of filters (output channels).")
@click.option("--bias/--no-bias", default=True, show_default=True, help="Op conv2d: one bias per filter.")
@click.option("--ceil-mode", is_flag=True, help="Op pooling: round output sizes up (Caffe).")
@rules_option
@click.option("--example", is_flag=True,
              help="Op: work the source deck's example by hand (its 5x5 image, and its 3x3 filter for conv2d).")
@_with_ops
def explain(target: str, variant: str | None, width: float | None, resolution: int | None, depth: float | None,
            phi: float | None, set_values: tuple[str, ...], padding: str | None, layer: str | None, fmt: str,
            convention: str, parts: tuple[str, ...], measure: bool, measure_max_mb: float, input_size: str | None,
            kernel: str | None, stride: str | None, filters: int | None, bias: bool, ceil_mode: bool,
            rules_file: str | None, example: bool) -> None:
    """Every count of MODEL with its formula, totals by op class, and the totals fvcore,
    torchinfo, ptflops, thop and FlopCounterMode report, each written as the paper total plus
    named terms. Also the version choices (stride placement, padding, pooling rounding) that
    change totals, where the model has them.

    MODEL is a bundled name, NAME:VARIANT or a YAML path, as for summary, or a Python model
    (file.py:NAME ..., with --input): its layers with the formulas of the op records its calls
    lower onto (other operators by name), totals by op class, and the tools measured on a
    private copy. OP ({ops}) works one op by hand:
    output size, mult-adds and parameters with their formulas; --example uses the source
    deck's 5x5 image.
    """
    op_options = {"--input": input_size, "--kernel": kernel, "--stride": stride, "--filters": filters,
                  "--no-bias": None if bias else True, "--ceil-mode": ceil_mode or None, "--example": example or None}
    if target in TEACH_OPS:
        model_given = {"--variant": variant, "--width": width, "--resolution": resolution, "--depth": depth,
                       "--phi": phi, "--set": set_values or None, "--layer": layer, "--show": parts or None}
        bad = [k for k, v in model_given.items() if v is not None]
        if bad:
            raise UsageError(f"{', '.join(bad)} appl{'ies' if len(bad) == 1 else 'y'} to models, not to the op {target}")
        from ..render.explain import lesson_document
        from ..explore.teach import lesson

        doc = lesson_document(lesson(target, input=input_size, kernel=kernel, stride=stride, padding=padding,
                                     filters=filters or 1, bias=bias, ceil_mode=ceil_mode, example=example))
        emit(doc, fmt)
        return
    from ..resolve.catalog import parse_target
    from ..capture.targets import target_of

    if target_of(target).python:
        _explain_python(target, variant=variant, width=width, resolution=resolution, depth=depth, phi=phi,
                        set_values=set_values, padding=padding, layer=layer, fmt=fmt, convention=convention,
                        parts=parts, measure=measure, measure_max_mb=measure_max_mb, input_size=input_size,
                        op_options=op_options, rules_file=rules_file)
        return
    rules_from(rules_file, any_python=False)
    bad = [k for k, v in op_options.items() if v is not None]
    if bad:
        try:
            parse_target(target)
        except CnnInspectError:  # neither an op nor a model: the op options say an op was meant
            raise UsageError(f"unknown op {shorten(repr(target))}{did_you_mean(target, TEACH_OPS)}; the ops are "
                             f"{', '.join(TEACH_OPS)}") from None
        raise UsageError(f"{', '.join(bad)} appl{'ies' if len(bad) == 1 else 'y'} to the ops "
                         f"{', '.join(TEACH_OPS)}, not to a model")
    if padding is not None and padding not in ("torch", "tf"):
        raise UsageError(f"--padding for a model is torch or tf, got {padding!r}")
    from ..explore.explain import explain_model
    from ..render.explain import explain_document
    from ..resolve.resolver import resolve

    t = parse_target(target)
    model = resolve(t.spec, pick_variant(t.variant, variant, target),
                    overrides_from(width, resolution, depth, phi, set_values, padding))
    if measure and layer is None and sys.stderr is not None and sys.stderr.isatty():
        from ..build.peers import TOOLS, installed

        names = [tool.name for tool in TOOLS.values() if installed(tool)]
        if names:  # the tools take seconds each: say what the wait is for
            click.echo(f"measuring {len(names)} tools on the model (10-20 s; --no-measure skips this)...", err=True)
    exp = explain_model(model, t.spec, convention, layer, measure=measure, max_mb=measure_max_mb)
    emit(explain_document(exp, parts or PARTS), fmt)


def _explain_python(target: str, *, variant: str | None, width: float | None, resolution: int | None,
                    depth: float | None, phi: float | None, set_values: tuple[str, ...], padding: str | None,
                    layer: str | None, fmt: str, convention: str, parts: tuple[str, ...], measure: bool,
                    measure_max_mb: float, input_size: str | None, op_options: dict[str, object],
                    rules_file: str | None = None) -> None:
    """``explain file.py:NAME``: the by-operator breakdown and the tools' reconciliation of a
    Python model (``--input`` is its per-sample input, as for summary)."""
    from ..capture.pymodels import prepare_python
    from ..explore.explain import explain_trace
    from ..render.explain import module_explain_document
    from .common import python_inputs, refuse_spec_options

    refuse_spec_options(target, **{"--variant": variant, "--width": width, "--depth": depth, "--phi": phi,
                                   "--set": set_values, "--padding": padding,
                                   **{k: v for k, v in op_options.items() if k != "--input"}})
    inputs = python_inputs(target, (input_size,) if input_size else (), None)
    rules = rules_from(rules_file, any_python=True)
    p = prepare_python(target, input_shape=inputs, resolution=resolution)
    measured = None
    if measure and layer is None:
        from ..build.peers import measure_module

        if sys.stderr is not None and sys.stderr.isatty():
            click.echo("measuring the installed tools on a copy of the model (--no-measure skips this)...", err=True)
        measured = measure_module(p.built.module, p.inputs, measure_max_mb)
    exp = explain_trace(p.trace, p.subject, convention, layer, measured=measured, rules=rules)
    emit(module_explain_document(exp, parts or PARTS), fmt)
