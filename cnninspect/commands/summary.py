"""``cnninspect summary``: one model's layer table and totals, or its paper's table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..base.errors import UsageError
from .common import (
    analyze_with_engine,
    convention_options,
    device_option,
    emit,
    format_option,
    inputs_option,
    memory_options,
    mode_option,
    memory_settings_from,
    model_options,
    note_shadowed,
    overrides_from,
    pick_variant,
    python_cast,
    python_inputs,
    refuse_spec_options,
    step_document,
    with_device,
    with_exit_code,
)

if TYPE_CHECKING:
    from ..resolve.ir import Model


@click.command("summary")
@click.argument("spec")
@model_options
@format_option(extra=("paper",))
@convention_options
@click.option("--levels", "-L", type=click.IntRange(1, 100), help="Fold the layer tree to N levels (blocks show their totals).")
@click.option("--verify", is_flag=True,
              help="Also build real tensors and check every layer against a real forward pass and fvcore (exit 1 on disagreement).")
@click.option("--verify-max-mb", type=click.FloatRange(min=1), default=4000, show_default=True,
              help="Refuse --verify when its estimated memory exceeds this.")
@click.option("--verify-max-seconds", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Refuse --verify when its estimated time exceeds this.")
@click.option("--engine", type=click.Choice(["spec", "meta"]),
              help="For a spec: spec (default), shape arithmetic on the resolved spec (no torch import); meta: "
                   "build the nn.Module on PyTorch's meta device and walk it with hooks (same numbers, slower).")
@click.option("--rf", "show_rf", is_flag=True,
              help="Add receptive-field columns: RF, effective stride (and Conv RF where SE gates make the field global).")
@click.option("--traffic", "show_traffic", is_flag=True,
              help="Add memory-traffic columns: bytes each layer moves and mult-adds per byte, at --dtype and "
                   "--batch (docs/traffic.md). JSON, CSV and HTML always carry them.")
@click.option("--rules", "rules_file", metavar="FILE.py",
              help="Python models: your own counting rules for operators cnninspect does not count, from a Python "
                   "file defining RULES = {'namespace::op': function} (run as a Python model's file is; "
                   "docs/counting.md).")
@memory_options
@click.option("--training-step", "training_step", is_flag=True,
              help="Add the mult-adds of one training step per layer: forward plus backward, as "
                   "FlopCounterMode counts them around loss.backward() (loss: the sum of the outputs; at --batch).")
@device_option
@inputs_option
@mode_option
@with_exit_code
def summary(spec: str, variant: str | None, width: float | None, resolution: int | None, depth: float | None,
            phi: float | None, set_values: tuple[str, ...], padding: str | None, fmt: str, convention: str,
            unit: str, levels: int | None, verify: bool, verify_max_mb: float, verify_max_seconds: float,
            engine: str | None, show_rf: bool, show_traffic: bool, rules_file: str | None, show_memory: bool,
            dtype: str | None, batch: int | None, optimizer: str | None, training_step: bool, device: str | None,
            input_texts: tuple[str, ...], mode: str) -> int:
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
    from ..resolve.catalog import parse_target
    from ..capture.targets import target_of
    from ..resolve.resolver import resolve

    if target_of(spec).python:
        from ..render.report import summary_document

        refuse_spec_options(spec, **{"--variant": variant, "--width": width, "--depth": depth, "--phi": phi,
                                     "--set": set_values, "--padding": padding, "--verify": verify,
                                     "--engine": engine})
        if fmt == "paper":
            raise UsageError(f"{spec} is a Python model: --format paper needs a spec with a paper layout")
        inputs = python_inputs(spec, input_texts, batch)
        show_memory = show_memory or dtype is not None or optimizer is not None
        cast = python_cast(dtype, optimizer)
        rules = None
        if rules_file is not None:
            from ..capture.rule_files import load_rules

            rules = load_rules(rules_file)
        from ..capture.module_analysis import analyze_trace
        from ..capture.module_receptive import module_fields
        from ..capture.pymodels import prepare_python

        p = prepare_python(spec, input_shape=inputs, resolution=resolution, mode=mode)
        report = analyze_trace(p.trace, convention, p.subject, rules=rules)
        memory = None
        if show_memory:
            from ..capture.training import module_memory

            memory = module_memory(p.built.module, p.inputs, p.trace, cast=cast, batch=p.inputs.batch,
                                   optimizer=optimizer or "sgd")
        fields = module_fields(p.trace, report) if show_rf else None
        doc = summary_document(report, unit, levels, fields=fields, show_rf=show_rf, memory=memory,
                               show_memory=show_memory, show_traffic=show_traffic)
        if training_step:
            from ..capture.training import run_training

            doc = step_document(doc, run_training(p.built.module, p.inputs), unit, report.subject.title)
        from ..measure.memory import MemorySettings

        settings = memory.settings if memory is not None else MemorySettings(batch=p.inputs.batch)
        emit(with_device(doc, report, device, settings), fmt)
        return 0
    if mode != "eval":
        raise UsageError("--mode applies to Python models; a spec is counted in inference")
    if rules_file is not None:
        raise UsageError("--rules applies to Python models; every op kind of a spec has a rule in every convention")
    if input_texts:
        raise UsageError("--input applies to Python models; a spec's input is set by --resolution")
    engine = engine or "spec"
    target = parse_target(spec)
    note_shadowed(spec)
    mem_settings = memory_settings_from(dtype, batch, optimizer)
    show_memory = show_memory or any(v is not None for v in (dtype, batch, optimizer))
    chosen = pick_variant(target.variant, variant, spec)
    overrides = overrides_from(width, resolution, depth, phi, set_values, padding)
    model = resolve(target.spec, chosen, overrides)
    report = analyze_with_engine(model, convention, engine)
    verification = None
    if verify:
        from ..build.verify import verify as run_verify

        from dataclasses import replace

        def at_resolution(r: int) -> Model:
            if overrides.phi is None:
                return resolve(target.spec, chosen, replace(overrides, resolution=r))
            s = model.settings  # --phi fixed width and depth: keep them, change the resolution
            return resolve(target.spec, chosen, replace(overrides, phi=None, width=s.width, depth=s.depth, resolution=r))

        verification = run_verify(model, max_mb=verify_max_mb, max_seconds=verify_max_seconds,
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
                               memory=memory_report(model, mem_settings), show_traffic=show_traffic)
        if training_step:
            from ..build.builder import build_module
            from ..capture.inputs import ModelInputs
            from ..capture.training import run_training

            run = run_training(build_module(model, "meta"), ModelInputs.single(model.input_shape, mem_settings.batch))
            doc = step_document(doc, run, unit, model.label)
        doc = with_device(doc, report, device, mem_settings)
    if verification is not None:
        from ..render.report import with_verification

        doc = with_verification(doc, verification)
    emit(doc, fmt)
    return 0 if verification is None or verification.ok else 1
