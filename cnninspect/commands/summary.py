"""``cnninspect summary``: one model's layer table and totals, or its paper's table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from ..base.errors import UsageError
from .common import (
    MemoryChoice,
    ModelChoice,
    OutputChoice,
    PythonChoice,
    analyze_with_engine,
    device_option,
    emit,
    memory_choice,
    model_choice,
    note_shadowed,
    option_group,
    output_choice,
    pick_variant,
    python_cast,
    python_inputs,
    python_choice,
    refuse_spec_options,
    rules_from,
    rules_option,
    step_document,
    with_device,
    with_exit_code,
)

if TYPE_CHECKING:
    from ..capture.targets import PythonTarget, SpecTarget
    from ..resolve.ir import Model


@dataclass(frozen=True)
class VerifyChoice:
    """--verify and its bounds: check every layer against a real forward pass and fvcore."""

    verify: bool
    verify_max_mb: float
    verify_max_seconds: float


verify_choice = option_group(VerifyChoice, "verify", [
    click.option("--verify", is_flag=True,
                 help="Also build real tensors and check every layer against a real forward pass and fvcore (exit 1 on disagreement)."),
    click.option("--verify-max-mb", type=click.FloatRange(min=1), default=4000, show_default=True,
                 help="Refuse --verify when its estimated memory exceeds this."),
    click.option("--verify-max-seconds", type=click.FloatRange(min=1), default=300, show_default=True,
                 help="Refuse --verify when its estimated time exceeds this."),
])


@click.command("summary")
@click.argument("spec")
@model_choice
@output_choice(extra=("paper",))
@click.option("--levels", "-L", type=click.IntRange(1, 100), help="Fold the layer tree (and the --training-step table) to N levels; blocks show their "
                   "totals.")
@verify_choice
@click.option("--engine", type=click.Choice(["spec", "meta"]),
              help="For a spec: spec (default), shape arithmetic on the resolved spec (no torch import); meta: "
                   "build the nn.Module on PyTorch's meta device and walk it with hooks (same numbers, slower).")
@click.option("--rf", "show_rf", is_flag=True,
              help="Add receptive-field columns: RF, effective stride (and Conv RF where SE gates make the field global).")
@click.option("--traffic", "show_traffic", is_flag=True,
              help="Add memory-traffic columns: bytes each layer moves and mult-adds per byte, at --dtype and "
                   "--batch (docs/traffic.md). JSON, CSV and HTML always carry them.")
@rules_option
@memory_choice
@click.option("--training-step", "training_step", is_flag=True,
              help="Add the mult-adds of one training step per layer: forward plus backward, as "
                   "FlopCounterMode counts them around loss.backward() (loss: the sum of the outputs; at --batch).")
@device_option
@python_choice
@with_exit_code
def summary(spec: str, model: ModelChoice, output: OutputChoice, levels: int | None, verify: VerifyChoice,
            engine: str | None, show_rf: bool, show_traffic: bool, rules_file: str | None, memory: MemoryChoice,
            training_step: bool, device: str | None, python: PythonChoice) -> int:
    """Layer table and totals of SPEC: a bundled name (mobilenet_v1), NAME:VARIANT
    (efficientnet:b3), a YAML file (net.yaml, net.yaml:VARIANT, dir/net), - for a spec on
    standard input, or a Python model: file.py:NAME, package.module:NAME, torchvision:NAME or
    timm:NAME, with keyword arguments as NAME(num_classes=10). A Python file is run as
    Python code; its inputs are --input (repeatable) and --batch (counts per batch and per
    sample). A bare NAME is always a bundled spec, even when a file of that name is in
    the working directory: write ./NAME for the file.

    Every output names its counting convention. --format paper prints the paper's own
    table layout (MobileNet v1 Table 1, EfficientNet Table 1) and notes where the paper
    differs from the computation.
    """
    from ..capture.targets import PythonTarget, target_of

    target = target_of(spec)
    if isinstance(target, PythonTarget):
        refuse_spec_options(spec, **model.spec_only(), **{"--verify": verify.verify, "--engine": engine})
        if output.fmt == "paper":
            raise UsageError(f"{spec} is a Python model: --format paper needs a spec with a paper layout")
        doc, report, settings = _python_summary(target, model, output, levels, show_rf, show_traffic, rules_file,
                                                memory, training_step, python)
        emit(with_device(doc, report, device, settings), output.fmt)
        return 0
    if python.mode != "eval":
        raise UsageError("--mode applies to Python models; a spec is counted in inference")
    rules_from(rules_file, any_python=False)
    if python.input_texts:
        raise UsageError("--input applies to Python models; a spec's input is set by --resolution")
    return _spec_summary(target, model, output, levels, verify, engine or "spec", show_rf, show_traffic, memory,
                         training_step, device)


def _python_summary(target: PythonTarget, model: ModelChoice, output: OutputChoice, levels: int | None,
                    show_rf: bool, show_traffic: bool, rules_file: str | None, memory: MemoryChoice,
                    training_step: bool, python: PythonChoice) -> tuple[Any, Any, Any]:
    """A Python model's layer table (a document), its report and the memory settings it ran at:
    reference -> captured graph -> measures -> document."""
    from ..capture.module_analysis import analyze_trace
    from ..capture.module_receptive import module_fields
    from ..capture.pymodels import prepare_python
    from ..measure.traffic import as_run
    from ..render.report import summary_document

    inputs = python_inputs(target.text, python.input_texts, memory.batch)
    cast = python_cast(memory.dtype, memory.optimizer)
    rules = rules_from(rules_file, any_python=True)
    p = prepare_python(target.text, input_shape=inputs, resolution=model.resolution, mode=python.mode)
    report = analyze_trace(p.trace, output.convention, p.subject, rules=rules)
    mem = None
    if memory.python_shown:
        from ..capture.training import module_memory

        mem = module_memory(p.built.module, p.inputs, p.trace, cast=cast, batch=p.inputs.batch,
                            optimizer=memory.optimizer or "sgd")
    fields = module_fields(p.trace, report) if show_rf else None
    doc = summary_document(report, output.unit, levels, fields=fields, show_rf=show_rf, memory=mem,
                           show_memory=memory.python_shown, show_traffic=show_traffic)
    if training_step:
        from ..capture.training import run_training

        doc = step_document(doc, run_training(p.built.module, p.inputs), output.unit, report.subject.title, levels,
                            report)
    return doc, report, mem.settings if mem is not None else as_run(report)


def _spec_summary(target: SpecTarget, model: ModelChoice, output: OutputChoice, levels: int | None,
                  verify: VerifyChoice, engine: str, show_rf: bool, show_traffic: bool, memory: MemoryChoice,
                  training_step: bool, device: str | None) -> int:
    """A spec's layer table or paper table, written: reference -> resolved graph -> measures
    (and --verify) -> document."""
    from ..resolve.catalog import parse_target
    from ..resolve.resolver import resolve

    spec, fmt, unit = target.text, output.fmt, output.unit
    parsed = parse_target(spec)
    note_shadowed(spec)
    mem_settings = memory.settings()
    show_memory = memory.shown
    chosen = pick_variant(parsed.variant, model.variant, spec)
    overrides = model.overrides()
    resolved = resolve(parsed.spec, chosen, overrides)
    report = analyze_with_engine(resolved, output.convention, engine)
    verification = None
    if verify.verify:
        from ..build.verify import verify as run_verify

        from dataclasses import replace

        def at_resolution(r: int) -> Model:
            if overrides.phi is None:
                return resolve(parsed.spec, chosen, replace(overrides, resolution=r))
            s = resolved.settings  # --phi fixed width and depth: keep them, change the resolution
            return resolve(parsed.spec, chosen, replace(overrides, phi=None, width=s.width, depth=s.depth, resolution=r))

        verification = run_verify(resolved, max_mb=verify.verify_max_mb, max_seconds=verify.verify_max_seconds,
                                  at_resolution=at_resolution)
    if fmt == "paper":
        from ..render.paper import paper_document
        from ..render.report import convention_line

        for flag, given in (("--levels", levels is not None), ("--rf", show_rf), ("--traffic", show_traffic),
                            ("--memory/--dtype/--batch/--optimizer", show_memory), ("--training-step", training_step),
                            ("--device", device is not None)):
            if given:
                raise UsageError(f"{flag} applies to the layer table, not to --format paper")
        doc = paper_document(report, convention_line(report, unit))
        fmt = "table"
    else:
        from ..measure.memory import memory_report
        from ..render.report import summary_document

        doc = summary_document(report, unit, levels, show_rf=show_rf, show_memory=show_memory,
                               memory=memory_report(resolved, mem_settings), show_traffic=show_traffic)
        if training_step:
            from ..build.builder import build_module
            from ..capture.inputs import ModelInputs
            from ..capture.training import run_training

            run = run_training(build_module(resolved, "meta"), ModelInputs.single(resolved.input_shape, mem_settings.batch))
            doc = step_document(doc, run, unit, resolved.label, levels, report)
        doc = with_device(doc, report, device, mem_settings)
    if verification is not None:
        from ..render.report import with_verification

        doc = with_verification(doc, verification)
    emit(doc, fmt)
    return 0 if verification is None or verification.ok else 1
