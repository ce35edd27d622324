"""``cnninspect fit``: the largest configurations that meet a budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..explore.metrics import METRIC_LIST, METRICS
from .common import (
    check_output_file,
    convention_options,
    emit,
    format_option,
    input_option,
    memory_setting_options,
    memory_settings_from,
    parse_set,
    python_input,
    refuse_spec_options,
    device_option,
    rules_from,
    rules_note,
    rules_option,
)

if TYPE_CHECKING:
    from ..ops.conventions import Convention
    from ..explore.fit import Fit, FitPoint, FitResult
    from ..render.document import Document


def budget_option(name: str) -> str:
    """``max_peak_activation`` -> ``--max-peak-activation``."""
    return "--" + name.replace("_", "-")


def _budget_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--max-...`` option per metric of the registry (the budgets of check files)."""
    examples = {"count": "e.g. 300M", "bytes": "e.g. 4MB or 1MiB", "integer": "e.g. 30"}
    for m in reversed(METRIC_LIST):
        f = click.option(budget_option(m.budget), f"budget_{m.name}", metavar="LIMIT", multiple=True,
                         help=f"Upper limit on {m.help} ({examples[m.unit]}).")(f)
    return f


@click.command("fit")
@click.argument("model")
@click.option("--over", "over", multiple=True, metavar="AXIS=VALUES",
              help="An axis and its values: width, resolution, depth, phi or a spec parameter, with the "
                   "sweep's syntax (0.25:2.0:0.05, or 224,192,160). Repeat for more axes.")
@_budget_options
@click.option("--max-latency", "max_latency", metavar="SECONDS",
              help="Upper limit on the predicted latency on --device, in seconds (e.g. 0.02; roofline, "
                   "docs/latency.md).")
@device_option
@click.option("--maximize", type=click.Choice(list(METRICS)), default="mult_adds", show_default=True,
              metavar="METRIC",
              help=f"The best point: the feasible point with the most of this ({', '.join(METRICS)}).")
@click.option("--set", "set_values", multiple=True, metavar="KEY=VALUE", help="Set a spec parameter for every point.")
@click.option("--padding", type=click.Choice(["torch", "tf"]), help="'same' padding style.")
@click.option("--search", type=click.Choice(["auto", "exhaustive"]), default="auto", show_default=True,
              help="auto: prune where costs are proved monotone on this grid; exhaustive: evaluate every point.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Also draw the feasible region, each budget's boundary and the frontier over the first two "
                   "axes (FILE.png or FILE.svg; needs matplotlib).")
@click.option("--force", is_flag=True, help="Allow --plot to replace an existing file.")
@format_option()
@convention_options
@memory_setting_options
@input_option
@rules_option
def fit(model: str, over: tuple[str, ...], max_latency: str | None, device: str | None, maximize: str, set_values: tuple[str, ...], padding: str | None,
        search: str, plot_path: str | None, force: bool, fmt: str, convention: str, unit: str,
        dtype: str | None, batch: int | None, optimizer: str | None, input_text: str | None,
        rules_file: str | None, **budgets: tuple[str, ...]) -> None:
    """The largest configurations of MODEL (NAME[:VARIANT] or a YAML spec) that meet every
    budget: how many points of the grid fit, the frontier (the feasible points that no
    other feasible point beats or equals on every axis) and the best one (--maximize).
    Every number is the exact total of that configuration. A Python model (file.py:NAME
    ...) is fitted over --over resolution=... only.

    \b
    Examples:
      cnninspect fit mobilenet_v1 --over width=0.25:1.5:0.05 \\
          --over resolution=96:320:16 --max-mult-adds 150M --max-params 1.5M
      cnninspect fit efficientnet --over phi=0:3:0.25 --max-mult-adds 1G
      cnninspect fit resnet:50 --over depth=0.5:1.5:0.25 \\
          --over resolution=128:288:32 --max-flops 6G
    """
    from ..resolve.catalog import parse_target
    from ..explore.metrics import METRIC, parse_metric_value
    from ..ops.conventions import get_convention
    from ..base.errors import UsageError
    from ..explore.fit import Axis, Budget, Fit, ModuleFit, parse_fit_axis
    from ..measure.memory import TRAINABLE_DTYPES
    from ..base.numbers import NumberError
    from ..resolve.resolver import Overrides
    from ..explore.sweep import MAX_POINTS, validate_axes

    from ..capture.targets import target_of
    from ..measure.roofline import get_device

    python = target_of(model).python
    target = None if python else parse_target(model)
    chosen = []
    for m in METRIC_LIST:
        given = budgets[f"budget_{m.name}"]
        if not given:
            continue
        if len(given) > 1:
            raise UsageError(f"{budget_option(m.budget)} is given {len(given)} times; give it once")
        text = given[0]
        try:
            chosen.append(Budget(m, parse_metric_value(m, text), text.strip()))
        except NumberError as exc:
            raise UsageError(f"{budget_option(m.budget)}: {exc}") from None
    if max_latency is not None:
        from ..explore.metrics import LATENCY

        try:
            seconds = float(max_latency)
        except ValueError:
            seconds = float("nan")
        if not seconds > 0 or seconds == float("inf"):
            raise UsageError(f"--max-latency takes a positive number of seconds (e.g. 0.02), got {max_latency!r:.40}")
        chosen.append(Budget(LATENCY, seconds, f"{max_latency.strip()} s"))
    axes = []
    for item in over:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"--over expects AXIS=VALUES (e.g. width=0.25:1:0.05), got {item!r:.60}")
        if name in (a.name for a in axes):
            raise UsageError(f"--over {name} is given twice")
        if python:
            if name != "resolution":
                raise UsageError(f"{model} is a Python model: fit it over --over resolution=... only "
                                 "(pass constructor arguments as file.py:NAME(width=2))")
            from ..explore.sweep import parse_axis

            axes.append(Axis(name, tuple(sorted(set(parse_axis(text, name, integer=True, label=f"--over {name}"))))))
        else:
            axes.append(parse_fit_axis(name, text, target.spec, f"--over {name}"))
    size = 1
    for a in axes:
        size *= len(a.values)
    if size > MAX_POINTS:
        raise UsageError(f"the fit has {size:,} points (limit {MAX_POINTS:,})")
    if plot_path is not None:
        check_output_file(plot_path, force, "--plot", (".png", ".svg"))
    memory = memory_settings_from(dtype, batch, optimizer)
    if python:
        refuse_spec_options(model, **{"--set": set_values, "--padding": padding})
        if not axes:
            raise UsageError("give the axis to fit over, e.g. --over resolution=96:320:16")
        shape = python_input(model, input_text)
        rules = rules_from(rules_file, any_python=True)
        job: Fit = ModuleFit(model, axes[0], chosen, METRIC[maximize], convention=convention, input_shape=shape,
                             memory=memory, device=get_device(device) if device is not None else None, rules=rules)
        result = job.run()
        notes = [*rules_note(rules_file, rules), *_latency_notes(job, memory, True)]
        if plot_path is not None:
            from ..explore.fit import plot_data
            from ..render.plot import plot_fit

            plot_fit(plot_data(job, result), plot_path,
                     title=f"{model}: {', '.join(b.describe() for b in result.budgets)}", replace=force)
            notes.append(f"plot written to {plot_path}")
        emit(fit_document(result, model, get_convention(convention), unit, notes), fmt)
        return
    if input_text is not None:
        raise UsageError("--input applies to Python models; a spec's input is set by --over resolution=...")
    rules_from(rules_file, any_python=False)
    base = Overrides(padding=padding, values=parse_set(set_values))
    validate_axes(target.spec, {"variant": [target.variant] if target.variant else [],
                                **{a.name: list(a.values) for a in axes}}, base)
    needs_training = "training_bytes" in {b.metric.name for b in chosen} | {maximize}
    if needs_training and not {memory.precision.weights, memory.precision.activations} <= set(TRAINABLE_DTYPES):
        raise UsageError(f"--max-training-bytes needs trainable dtypes ({', '.join(TRAINABLE_DTYPES)}), "
                         f"not --dtype {dtype}")
    job = Fit(target.spec, target.variant, axes, chosen, METRIC[maximize], convention=convention, base=base,
              memory=memory, device=get_device(device) if device is not None else None)
    result = job.run(search, budget_masks=plot_path is not None)
    conv = get_convention(convention)
    notes = _latency_notes(job, memory, False)
    if plot_path is not None:
        from ..explore.fit import plot_data
        from ..render.plot import plot_fit

        plot_fit(plot_data(job, result), plot_path,
                 title=f"{target.spec.title}: {', '.join(b.describe() for b in result.budgets)}", replace=force)
        notes.append(f"plot written to {plot_path}")
    variant = target.variant or (target.spec.default_variant if "phi" not in (a.name for a in axes) else None)
    if variant is not None:  # what a user writes is used, and said: the axes replace the variant's values
        own = target.spec.variants[variant].values
        replaced = [f"{a.name} {own[a.name]:g}" for a in axes if a.name in own and isinstance(own[a.name], (int, float))]
        if replaced:
            notes.insert(0, f"the fit's axes replace variant {variant}'s {', '.join(replaced)}")
    emit(fit_document(result, target.text, conv, unit, notes), fmt)


def _latency_notes(job: Fit, memory: Any, python: bool) -> list[str]:
    """The note saying where a latency budget's seconds come from (none without one)."""
    if job.device is None:
        return []
    what = "each point's captured operators, as summary --device prices them; " if python else ""
    return [f"latency: the roofline on {job.device.name} at {memory.precision.activations}, batch {memory.batch} "
            f"({what}docs/latency.md)"]


def fit_document(result: FitResult, label: str, conv: Convention, unit: str, notes: list[str]) -> Document:
    """A fit result as a document: the frontier table, the search and the best point."""
    from ..ops.conventions import UNITS
    from ..render.document import Column, Document, Table

    scale = UNITS[unit]
    cost = "FLOPs" if unit == "flops" else "Mult-adds"
    shown = ["params", "mult_adds"] + [b.metric.name for b in result.budgets if b.metric.name not in
                                       ("params", "mult_adds", "flops")]
    if result.maximize.name not in shown and result.maximize.name != "flops":
        shown.append(result.maximize.name)
    headers = {"params": ("Params", "int"), "trainable_params": ("Trainable", "int"),
               "mult_adds": (cost, "int"), "peak_activation_bytes": ("Peak act. bytes", "int"),
               "depth": ("Layers", "int"), "weight_bytes": ("Weight bytes", "int"),
               "training_bytes": ("Training bytes", "int"), "predicted_seconds": ("Predicted", "seconds")}
    # a metric column's key; the weight-layer depth must not be confused with the depth axis
    key = {m: "weight_depth" if m == "depth" else m for m in shown}
    columns = [Column(a.name, a.name.replace("_", " ").capitalize(), "int" if isinstance(a.values[0], int) else "float")
               for a in result.axes]
    columns += [Column(key[m], *headers[m]) for m in shown]
    columns.append(Column("note", ""))
    rows = []
    for p in result.frontier:
        row: dict[str, Any] = dict(p.settings)
        row.update({key[m]: p.metrics[m] * (scale if m == "mult_adds" else 1) for m in shown})
        row["note"] = "best" if result.best is not None and p.index == result.best.index else ""
        rows.append(row)
    over = " x ".join(f"{a.name} ({len(a.values)})" for a in result.axes)
    meta = [
        ("model", label),
        ("over", f"{over} = {result.size:,} points"),
        ("budgets", ", ".join(b.describe() for b in result.budgets)),
        ("convention", conv.describe(unit)),
        *((("memory", f"byte sizes at {result.memory.text()}" + (
            f", optimizer {result.memory.optimizer}" if any(b.metric.needs_memory for b in result.budgets) else "")),)
          if any(b.metric.unit == "bytes" for b in result.budgets) else ()),
        ("search", f"{result.search} ({result.reason}): {result.evaluated:,} of {result.size:,} points evaluated"),
        ("feasible", f"{result.feasible:,} of {result.size:,} points"),
    ]
    tables = []
    if rows:
        title = (f"Frontier: {len(rows)} point{'s' * (len(rows) != 1)} that no other feasible point beats or "
                 "equals on every axis")
        tables.append(Table(tuple(columns), tuple(rows), title=title,
                            styles=tuple("total" if r["note"] else "" for r in rows)))
    if result.best is not None:
        b = result.best
        how = f"the most {result.maximize.name}" + (" (ties: the larger settings)" if len(result.axes) > 1 else "")
        footer = (("best", f"{b.describe()}: {b.metrics[result.maximize.name]:,} {result.maximize.name} - {how}"),)
    else:
        footer = (("best", "none: no point of the grid meets the budgets"),)

    def point_json(p: FitPoint) -> dict[str, Any]:
        out: dict[str, Any] = {"settings": dict(p.settings)}
        for m in ("params", "mult_adds", "flops", *(b.metric.name for b in result.budgets), result.maximize.name):
            out[m] = p.metrics[m]
        return out

    data = {
        "schema": "cnninspect.fit/1",
        "model": result.model,
        "variant": result.variant,
        "convention": conv.as_json(unit),
        "axes": {a.name: list(a.values) for a in result.axes},
        "budgets": [{"metric": b.metric.name, "max": int(b.limit) if float(b.limit).is_integer() else b.limit,
                     "text": b.text} for b in result.budgets],
        "maximize": result.maximize.name,
        "search": {"mode": result.search, "reason": result.reason},
        "grid_points": result.size,
        "evaluated": result.evaluated,
        "feasible": result.feasible,
        "frontier": [point_json(p) for p in result.frontier],
        "best": point_json(result.best) if result.best is not None else None,
    }
    return Document(f"Fit of {label}", tuple(meta), tuple(tables), notes=tuple(notes), footer=footer, data=data,
                    csv_context={"model": result.model, "convention": conv.name, "unit": unit})
