"""Expectation files for ``cnninspect check``: expected costs and budgets, evaluated.

Format (documented in docs/check.md, example in docs/examples/budgets.yaml)::

    convention: paper                  # optional; per check too
    checks:
      - name: MobileNet 0.75           # optional label
        model: mobilenet_v1            # NAME[:VARIANT] or a spec path (relative to this file)
        settings: {width: 0.75}        # optional: width, depth, resolution, phi, padding, params
        memory: {dtype: fp16, batch: 8, optimizer: adam}   # optional: for the byte metrics
        expect:                        # value with an absolute or % tolerance, or exact
          params: {value: 2.6M, tolerance: 0.05M}
          mult_adds: {value: 325M, tolerance: 1%}
        budget:                        # upper limits
          max_params: 3M
          max_mult_adds: 400M
          max_peak_activation: 6MB
          max_weight_bytes: 4MB
          max_training_bytes: 1GB
        fit: {width: '0.25:1:0.05'}    # optional: the settings are on this grid's frontier
                                       # under the budget above (docs/fit.md)
        reference: ref.py:Net          # optional: the model is this model (cnninspect.explore.sameness)

Every problem in the file is a located one-line error (exit 2); failed checks are data.

A check's ``model`` may be a Python model (``file.py:NAME``, ``package.module:NAME``,
``torchvision:NAME``, ``timm:NAME``; settings ``resolution`` and ``input``). Checking it runs
Python code, so it is refused unless the caller allows it (``check --allow-python``): a
check file alone never makes cnninspect execute code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from ..base.errors import CnnInspectError, Location, SpecError, UsageError, did_you_mean, shorten
from ..measure.memory import OPTIMIZERS, MemorySettings, parse_precision
from .metrics import BUDGETS, BYTE_METRICS, METRIC, METRIC_LIST, METRICS, Measures, Metric, parse_metric_value
from ..base.numbers import NumberError, parse_count, parse_float
from ..lang.yamlsrc import YNode, load_yaml_file, require_document

if TYPE_CHECKING:
    from ..capture.targets import PythonTarget

CHECK_KEYS = ("name", "model", "settings", "memory", "convention", "expect", "budget", "fit", "reference")
MEMORY_KEYS = ("dtype", "batch", "optimizer")


@dataclass(frozen=True)
class Rule:
    """``kind`` is ``expect`` (value +- tolerance), ``max`` (upper bound), ``fit`` (the
    check's configuration is on the frontier of the grid ``axes`` under the check's budgets)
    or ``reference`` (the model equals the model ``reference``: :mod:`cnninspect.explore.sameness`)."""

    metric: str
    kind: str
    value: float
    tol_abs: float = 0.0
    tol_rel: float | None = None
    text: str = ""
    loc: Location | None = None
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    reference: str = ""

    def limit_text(self) -> str:
        return self.text


@dataclass(frozen=True)
class CheckSpec:
    name: str
    model: str
    settings: Mapping[str, Any]
    convention: str
    rules: tuple[Rule, ...]
    loc: Location
    path: str
    model_loc: Location | None = None
    memory: MemorySettings = MemorySettings()
    settings_locs: Mapping[str, Location] = field(default_factory=dict)  # each setting's key, for errors

    def locate(self, exc: CnnInspectError) -> SpecError:
        """An error about this check's model where it belongs: at the setting it names
        (``checks[0].settings.width: ...``), else at the model line."""
        prefix = f"{self.path}.settings."
        path = exc.path if isinstance(exc, SpecError) and exc.path else ""
        text = exc.message if isinstance(exc, SpecError) else exc.one_line()
        if not path and text.startswith(prefix) and ": " in text:
            path, text = text.split(": ", 1)
        if path.startswith(prefix):
            key = path[len(prefix):].split(".")[0]
            loc = self.settings_locs.get(key) or self.settings_locs.get("")
            if loc is not None:
                return SpecError(text, loc, path)
        return SpecError(exc.one_line(), self.model_loc or self.loc, f"{self.path}.model")


@dataclass(frozen=True)
class Outcome:
    check: CheckSpec
    rule: Rule
    actual: int | str  # a fit or reference rule's outcome is text (on the frontier / dominated by ...)
    passed: bool
    details: tuple[str, ...] = ()  # a reference rule's located differences
    data: Mapping[str, Any] | None = None  # a reference rule's verdict (cnninspect.explore.sameness.Verdict.as_json)

    @property
    def margin(self) -> float | None:
        """Headroom of a budget (positive = under the limit) or deviation of an expectation, %."""
        if self.rule.value == 0:
            return None
        if self.rule.kind == "max":
            return 100.0 * (self.rule.value - self.actual) / self.rule.value
        return 100.0 * (self.actual - self.rule.value) / self.rule.value


def _num(node: YNode, path: str, metric: Metric | None = None) -> float:
    """A value of ``metric`` (:func:`parse_metric_value`), or a plain count without one."""
    if not node.is_scalar or node.value is None:
        byte = metric is not None and metric.unit == "bytes"
        what = "a size like 8MB or 8000000" if byte else "a count like 4.2M, 569M, 0.39B or 4231976"
        raise SpecError(f"must be {what}, got {node.kind_name()}", node.loc, path)
    try:
        return parse_metric_value(metric, node.value) if metric is not None else parse_count(node.value)
    except NumberError as exc:
        raise SpecError(str(exc), node.loc, path) from None


def _tolerance(node: YNode, path: str, value: float) -> tuple[float, float | None]:
    raw = node.value
    if node.is_scalar and isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            pct = parse_float(raw.strip()[:-1])
        except NumberError:
            raise SpecError(f"must be a percentage like 2% or an absolute count, got {shorten(repr(raw))}", node.loc,
                            path) from None
        if pct < 0:
            raise SpecError("a tolerance cannot be negative", node.loc, path)
        return pct / 100 * value, pct / 100
    tol = _num(node, path)
    return tol, None


def _as_written(node: YNode) -> str:
    """A number as the user wrote it (569M, 5%), or with separators if written plainly."""
    raw = node.value
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return f"{raw:,}" if float(raw).is_integer() else f"{raw:g}"
    return str(raw).strip()


def load_checks(path: str | Path, *, allow_python: bool = False, convention: str | None = None,
                convention_given: bool = True) -> tuple[CheckSpec, ...]:
    """Parse and validate an expectations file (located errors); Python models only with
    ``allow_python``.

    ``convention`` is the convention of checks that name none, in place of ``paper``. The
    file's own top-level ``convention:`` is explicit: it wins over a project default
    (``convention_given`` False), and one that differs from a flag (True) is refused."""
    from ..capture.targets import target_of
    from ..ops.conventions import CONVENTIONS

    label = str(path)
    root = load_yaml_file(path, label=label)
    require_document(root, ("checks", "convention"), "an expectations file (a mapping with 'checks:')")
    items = root.items or {}
    for key in items:
        if key not in ("convention", "checks"):
            raise SpecError(f"unknown key '{key}'{did_you_mean(key, ('convention', 'checks'))}; allowed: convention, checks",
                            root.key_locs[key], key)
    default_conv = convention or "paper"
    if "convention" in items:
        default_conv = _convention(items["convention"], "convention", CONVENTIONS)
        if convention is not None and convention_given and default_conv != convention:
            raise SpecError(f"the file says convention {default_conv} but --convention says {convention}; "
                            "give one", items["convention"].loc, "convention")
    if "checks" not in items:
        raise SpecError("missing required key 'checks'", root.loc)
    node = items["checks"]
    if not node.is_seq or not node.seq:
        raise SpecError("'checks' must be a non-empty list", node.loc, "checks")
    base_dir = Path(path).parent
    out = []
    for i, item in enumerate(node.seq):
        cpath = f"checks[{i}]"
        if not item.is_map:
            raise SpecError(f"a check must be a mapping with 'model:', got {item.kind_name()}", item.loc, cpath)
        ci = item.items or {}
        for key in ci:
            if key not in CHECK_KEYS:
                raise SpecError(f"unknown key '{key}'{did_you_mean(key, CHECK_KEYS)}; allowed: {', '.join(CHECK_KEYS)}",
                                item.key_locs[key], f"{cpath}.{key}")
        if "model" not in ci or not ci["model"].is_scalar or not isinstance(ci["model"].value, str):
            raise SpecError("missing required key 'model' (a bundled NAME[:VARIANT] or a spec path)", item.loc, cpath)
        try:
            model = _model_path(ci["model"].value, base_dir)
        except CnnInspectError as exc:
            raise SpecError(exc.one_line(), ci["model"].loc, f"{cpath}.model") from None
        if not allow_python and target_of(model).python:
            raise SpecError(
                f"{shorten(ci['model'].value, 80)} is a Python model, and checking it runs Python code; "
                "pass --allow-python to run the Python models named in this file (only for files you trust)",
                ci["model"].loc, f"{cpath}.model")
        settings: dict[str, Any] = {}
        settings_locs: dict[str, Location] = {}
        if "settings" in ci:
            s = ci["settings"]
            if not s.is_map:
                raise SpecError("must be a mapping like {width: 0.75, resolution: 160}", s.loc, f"{cpath}.settings")
            settings = s.to_python()
            settings_locs = {"": s.loc, **s.key_locs}
        conv = _convention(ci["convention"], f"{cpath}.convention", CONVENTIONS) if "convention" in ci else default_conv
        memory = _memory(ci["memory"], f"{cpath}.memory") if "memory" in ci else MemorySettings()
        rules: list[Rule] = []
        if "expect" in ci:
            rules += _expectations(ci["expect"], f"{cpath}.expect", memory)
        if "budget" in ci:
            rules += _budgets(ci["budget"], f"{cpath}.budget", memory)
        if "fit" in ci:
            if "budget" not in ci:
                raise SpecError("a fit rule needs 'budget:', the limits its frontier is found under", ci["fit"].loc,
                                f"{cpath}.fit")
            rules.append(_fit_rule(ci["fit"], f"{cpath}.fit", settings, ci.get("settings")))
        if "reference" in ci:
            rules.append(_reference_rule(ci["reference"], f"{cpath}.reference", base_dir, allow_python))
        if not rules:
            raise SpecError("a check needs 'expect', 'budget', 'fit' and/or 'reference'", item.loc, cpath)
        if "memory" in ci and not any(r.metric in BYTE_METRICS for r in rules):
            raise SpecError("'memory' sets the dtype, batch and optimizer of byte metrics, but this check has none "
                            f"({', '.join(BYTE_METRICS)})", ci["memory"].loc, f"{cpath}.memory")
        name = str(ci["name"].value) if "name" in ci else ci["model"].value
        out.append(CheckSpec(name, model, settings, conv, tuple(rules), item.loc, cpath, ci["model"].loc, memory,
                             settings_locs))
    return tuple(out)


def _reference_rule(node: YNode, path: str, base_dir: Path, allow_python: bool) -> Rule:
    """``reference: FILE.py:NAME`` (relative to the check file), ``torchvision:NAME``, a spec..."""
    from ..capture.targets import target_of

    if not node.is_scalar or not isinstance(node.value, str) or not node.value.strip():
        raise SpecError("must be a model reference such as my_model.py:Net, torchvision:resnet50 or a spec",
                        node.loc, path)
    try:
        ref = _model_path(node.value.strip(), base_dir)
    except CnnInspectError as exc:
        raise SpecError(exc.one_line(), node.loc, path) from None
    if not allow_python and target_of(ref).python:
        raise SpecError(
            f"{shorten(node.value, 80)} is a Python model, and checking against it runs Python code; "
            "pass --allow-python to run the Python models named in this file (only for files you trust)",
            node.loc, path)
    return Rule("reference", "reference", 0, text=f"is {shorten(node.value.strip(), 120)}", loc=node.loc,
                reference=ref)


def _model_path(model: str, base_dir: Path) -> str:
    """Spec and Python file paths in a check file are relative to the file and must stay in
    its directory tree (or a directory of ``CNNINSPECT_INCLUDE_PATH``, as includes); bundled
    names, modules and hub names pass through."""
    from ..resolve.catalog import classify, split_settings
    from ..lang.compose import outside

    base, _settings = split_settings(model)
    ref = classify(base)
    if ref.kind not in ("yaml", "python-file"):
        return model
    if "\x00" in ref.base:
        raise UsageError("a file name cannot hold a null character")
    target = base_dir / ref.base
    why = outside(target.resolve(), base_dir.resolve())
    if why is not None:
        raise UsageError(f"{shorten(ref.base, 80)} {why}")
    if Path(ref.base).is_absolute():
        return model
    rest = model[len(base):]
    return str(target) + (f":{ref.variant}" if ref.variant else "") + rest


def _convention(node: YNode, path: str, conventions: Mapping[str, Any]) -> str:
    if not node.is_scalar or node.value not in conventions:
        raise SpecError(
            f"unknown convention {node.value!r}{did_you_mean(str(node.value), conventions)}; "
            f"available: {', '.join(conventions)}", node.loc, path)
    return str(node.value)


def _memory(node: YNode, path: str) -> MemorySettings:
    """``memory: {dtype: fp16 | int8,fp16, batch: 8, optimizer: adam}``."""
    from ..lang.fields import Int

    if not node.is_map:
        raise SpecError("must be a mapping like {dtype: fp16, batch: 8, optimizer: adam}", node.loc, path)
    items = node.items or {}
    for key in items:
        if key not in MEMORY_KEYS:
            raise SpecError(f"unknown key '{key}'{did_you_mean(key, MEMORY_KEYS)}; allowed: {', '.join(MEMORY_KEYS)}",
                            node.key_locs[key], f"{path}.{key}")
    settings = MemorySettings()
    precision, batch, optimizer = settings.precision, settings.batch, settings.optimizer
    for key, parse in (("dtype", parse_precision), ("batch", Int(1, 1_000_000).coerce), ("optimizer", _optimizer)):
        if key in items:
            v = items[key]
            try:
                value = parse(v.value if v.is_scalar else v.to_python())
            except ValueError as exc:
                raise SpecError(str(exc), v.loc, f"{path}.{key}") from None
            if key == "dtype":
                precision = value
            elif key == "batch":
                batch = value
            else:
                optimizer = value
    return MemorySettings(precision, batch, optimizer)


def _optimizer(value: Any) -> str:
    if value not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {value!r}{did_you_mean(str(value), OPTIMIZERS)}; optimizers: "
                         f"{', '.join(OPTIMIZERS)}")
    return str(value)


def _memory_text(metric: str, memory: MemorySettings) -> str:
    """`` (fp16, batch 8)``: the settings a byte rule is evaluated at (the optimizer for training)."""
    if metric == "weight_bytes":
        return f" ({memory.precision.weights})"
    if metric == "training_bytes":
        return f" ({memory.text()}, {memory.optimizer})"
    return f" ({memory.text()})" if metric in BYTE_METRICS else ""


def _trainable(metric: str, memory: MemorySettings, node: YNode, path: str) -> None:
    from ..measure.memory import TRAINABLE_DTYPES

    bad = [d for d in (memory.precision.weights, memory.precision.activations) if d not in TRAINABLE_DTYPES]
    if metric == "training_bytes" and bad:
        raise SpecError(f"training_bytes needs trainable dtypes ({', '.join(TRAINABLE_DTYPES)}), but memory.dtype "
                        f"has {bad[0]}", node.loc, path)


def _expectations(node: YNode, path: str, memory: MemorySettings) -> list[Rule]:
    if not node.is_map:
        raise SpecError("must be a mapping of metric: {value, tolerance}", node.loc, path)
    rules = []
    for metric, v in (node.items or {}).items():
        mpath = f"{path}.{metric}"
        if metric not in METRICS:
            raise SpecError(f"unknown metric '{metric}'{did_you_mean(metric, METRICS)}; metrics: {', '.join(METRICS)}",
                            node.key_locs[metric], mpath)
        m = METRIC[metric]
        _trainable(metric, memory, v, mpath)
        if v.is_map:
            vi = v.items or {}
            for key in vi:
                if key not in ("value", "tolerance"):
                    raise SpecError(f"unknown key '{key}'{did_you_mean(key, ('value', 'tolerance'))}; allowed: value, tolerance",
                                    v.key_locs[key], f"{mpath}.{key}")
            if "value" not in vi:
                raise SpecError("missing required key 'value'", v.loc, mpath)
            value = _num(vi["value"], f"{mpath}.value", m)
            value_text = _as_written(vi["value"])
            tol_abs, tol_rel = _tolerance(vi["tolerance"], f"{mpath}.tolerance", value) if "tolerance" in vi else (0.0, None)
            tol_text = _as_written(vi["tolerance"]) if "tolerance" in vi else ""
        else:
            value = _num(v, mpath, m)
            value_text = _as_written(v)
            tol_abs, tol_rel, tol_text = 0.0, None, ""
        text = f"= {value_text}" + (f" +- {tol_text}" if tol_text else " (exact)") + _memory_text(metric, memory)
        rules.append(Rule(metric, "expect", value, tol_abs, tol_rel, text, v.loc))
    return rules


def _budgets(node: YNode, path: str, memory: MemorySettings) -> list[Rule]:
    if not node.is_map:
        raise SpecError("must be a mapping like {max_params: 5M, max_mult_adds: 600M}", node.loc, path)
    rules = []
    for key, v in (node.items or {}).items():
        if key not in BUDGETS:
            raise SpecError(f"unknown budget '{key}'{did_you_mean(key, BUDGETS)}; budgets: {', '.join(BUDGETS)}",
                            node.key_locs[key], f"{path}.{key}")
        metric = BUDGETS[key]
        _trainable(metric, memory, v, f"{path}.{key}")
        value = _num(v, f"{path}.{key}", METRIC[metric])
        rules.append(Rule(metric, "max", value, text=f"<= {_as_written(v)}{_memory_text(metric, memory)}", loc=v.loc))
    return rules


def _fit_rule(node: YNode, path: str, settings: Mapping[str, Any], settings_node: YNode | None) -> Rule:
    """``fit: {width: 0.25:1.5:0.05, resolution: [160, 192, 224]}``: the check's settings
    must be on the frontier of that grid under the check's budgets."""
    from .sweep import MAX_POINTS, parse_axis

    if not node.is_map or not node.items:
        raise SpecError("must be a mapping of axis: values, e.g. {width: '0.25:1.5:0.05', resolution: '96:320:16'}",
                        node.loc, path)
    axes = []
    size = 1
    for name, v in node.items.items():
        apath = f"{path}.{name}"
        if name == "variant":
            raise SpecError("variants are not a numeric axis; write one check per variant", node.key_locs[name], apath)
        if v.is_seq and v.seq and all(x.is_scalar for x in v.seq):
            text = ",".join(str(x.value) for x in v.seq)
        elif v.is_scalar and v.value is not None and not isinstance(v.value, bool):
            text = str(v.value)
        else:
            raise SpecError("must be values like '0.25:1.5:0.05' (quoted), 224 or a list [160, 192, 224]", v.loc, apath)
        try:
            values = sorted(set(parse_axis(text, name, integer=name == "resolution", label=apath)))
        except CnnInspectError as exc:
            raise SpecError(exc.one_line().removeprefix(f"{apath}: "), v.loc, apath) from None
        if name not in settings:
            where = settings_node.loc if settings_node is not None else node.loc
            raise SpecError(f"the configuration on trial needs its {name}: add it to settings (one of the fit's "
                            f"values)", where, path.rsplit(".", 1)[0] + ".settings")
        mine = settings[name]
        if isinstance(mine, bool) or not isinstance(mine, (int, float)) or float(mine) not in map(float, values):
            raise SpecError(f"settings.{name} = {shorten(repr(mine))} is not one of the fit's {len(values)} {name} "
                            "values, so it cannot be on that frontier", v.loc, apath)
        size *= len(values)
        axes.append((name, tuple(values)))
    if size > MAX_POINTS:
        raise SpecError(f"the fit has {size:,} points (limit {MAX_POINTS:,})", node.loc, path)
    over = " x ".join(f"{n} ({len(vals)})" for n, vals in axes)
    return Rule("frontier", "fit", 0, text=f"on the frontier of {over}", loc=node.loc, axes=tuple(axes))


def _python_report(c: CheckSpec, target: PythonTarget, memory: bool = False,
                   rules: Mapping[str, Any] | None = None) -> Any:
    """A Python model's report, with the check's ``resolution`` and ``input`` settings, counted
    with the caller's operator ``rules``; with ``memory``, (report, memory report) measured on
    meta copies at the check's memory settings (its batch; its dtype casts the copy)."""
    from ..capture.pymodels import analyze_python, parse_input, prepare_python

    base = target.base
    settings = {**target.settings, **c.settings}
    unknown = sorted(set(settings) - {"resolution", "input"})
    if unknown:
        raise SpecError(f"{unknown[0]}: a Python model takes the settings resolution and input", c.loc,
                        f"{c.path}.settings")
    shape = parse_input(str(settings["input"]), "input") if "input" in settings else None
    resolution = settings.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)):
        raise SpecError(f"resolution must be a whole number, got {resolution!r}", c.loc, f"{c.path}.settings")
    if not memory:
        return analyze_python(base, c.convention, input_shape=shape, resolution=resolution, rules=rules)
    from ..capture.inputs import ModelInputs
    from ..capture.training import CASTS, module_memory

    prec = c.memory.precision
    if prec.weights != prec.activations or prec.weights not in CASTS:
        raise SpecError(f"memory.dtype: a Python model runs in one dtype ({', '.join(CASTS)}), not {prec.text()}",
                        c.loc, f"{c.path}.memory.dtype")
    cast = None if prec.weights == "fp32" else prec.weights
    batch = c.memory.batch
    plain = analyze_python(base, c.convention, input_shape=shape, resolution=resolution, rules=rules)
    inputs = ModelInputs.single(shape, batch) if shape is not None else ModelInputs((), {}, batch)
    p = prepare_python(base, input_shape=inputs, resolution=resolution)
    mem = module_memory(p.built.module, p.inputs, p.trace, cast=cast, batch=p.inputs.batch,
                        optimizer=c.memory.optimizer)
    if mem.training is None:
        raise SpecError(f"training_bytes: {mem.training_unavailable}", c.model_loc or c.loc, f"{c.path}.model")
    return plain, mem


def evaluate(checks: tuple[CheckSpec, ...], rules: Mapping[str, Any] | None = None) -> list[Outcome]:
    """Resolve and analyse each check's model (spec engine, or a Python model's captured
    forward pass, counted with the caller's operator ``rules``) and judge its rules."""
    from ..capture.targets import PythonTarget, target_of
    from ..measure.analysis import analyze
    from ..resolve.catalog import resolve_ref
    from ..measure.memory import memory_report

    outcomes = []
    for c in checks:
        needs_memory = any(METRIC[r.metric].needs_memory for r in c.rules if r.metric in METRIC)
        mem = None
        try:
            target = target_of(c.model)
            if isinstance(target, PythonTarget) and needs_memory:
                report, mem = _python_report(c, target, memory=True, rules=rules)
            else:
                report = _python_report(c, target, rules=rules) if isinstance(target, PythonTarget) else analyze(
                    resolve_ref(c.model, dict(c.settings), f"{c.path}.settings"), c.convention)
        except SpecError as exc:
            if exc.loc is not None and exc.loc.line is not None:
                raise  # located inside the model's own spec file
            raise c.locate(exc) from None
        except CnnInspectError as exc:
            raise c.locate(exc) from None
        if needs_memory and mem is None:
            mem = memory_report(report.model, c.memory)
        measures = Measures(report.totals, report.subject.depth, c.memory, mem)
        actual = {m.name: m.value(measures) for m in METRIC_LIST if not m.needs_memory or mem is not None}
        for rule in c.rules:
            if rule.kind == "fit":
                text, ok = _on_frontier(c, rule)
                outcomes.append(Outcome(c, rule, text, ok))
                continue
            if rule.kind == "reference":
                outcomes.append(_against_reference(c, rule))
                continue
            a = actual[rule.metric]
            if rule.kind == "max":
                ok = a <= rule.value
            else:
                ok = abs(a - rule.value) <= rule.tol_abs + 1e-9
            outcomes.append(Outcome(c, rule, a, ok))
    return outcomes


def _against_reference(c: CheckSpec, rule: Rule) -> Outcome:
    """Is the check's model the reference model? (:mod:`cnninspect.explore.sameness`, every convention)"""
    from .sameness import compare, measure_pair

    loc = rule.loc or c.loc
    try:
        a, b = measure_pair(c.model, rule.reference, c.settings, where=f"{c.path}.settings")
    except SpecError as exc:
        if exc.loc is not None and exc.loc.line is not None:
            raise
        raise SpecError(exc.one_line(), loc, f"{c.path}.reference") from None
    except CnnInspectError as exc:
        raise SpecError(exc.one_line(), loc, f"{c.path}.reference") from None
    verdict = compare(a, b, ("the model", "the reference"))
    return Outcome(c, rule, verdict.headline(), verdict.equal, tuple(verdict.lines()), verdict.as_json())


def _on_frontier(c: CheckSpec, rule: Rule) -> tuple[str, bool]:
    """Fit the grid of a fit rule under the check's budgets: is the configuration on the frontier?"""
    from ..resolve.catalog import overrides_for, parse_model_ref
    from .fit import Axis, Budget, Fit
    from .sweep import validate_axes

    loc = rule.loc or c.loc
    try:
        ref = parse_model_ref(c.model)
        spec, variant = ref.target.spec, ref.target.variant
        axes = []
        for name, values in rule.axes:
            kind = spec.params[name].kind if name in spec.params else None
            axes.append(Axis(name, tuple(kind.coerce(v) if kind is not None else v for v in values)))
        names = {a.name for a in axes}
        twice = sorted(names & set(ref.settings))
        if twice:
            raise SpecError(f"{', '.join(twice)} is both a fit axis and set after '@' in the model", loc,
                            f"{c.path}.fit")
        fixed = {k: v for k, v in {**ref.settings, **c.settings}.items() if k not in names}
        base = overrides_for(fixed, f"{c.path}.settings")
        validate_axes(spec, {"variant": [variant] if variant else [], **{a.name: list(a.values) for a in axes}}, base)
        budgets = [Budget(METRIC[r.metric], r.value, r.text.removeprefix("<= ")) for r in c.rules if r.kind == "max"]
        job = Fit(spec, variant, axes, budgets, METRIC["mult_adds"], convention=c.convention, base=base)
        result = job.run()
    except SpecError as exc:
        if exc.loc is not None and exc.loc.line is not None and exc.loc != loc:
            raise
        raise SpecError(exc.one_line(), loc, f"{c.path}.fit") from None
    except (CnnInspectError, ValueError) as exc:
        text = exc.one_line() if isinstance(exc, CnnInspectError) else str(exc)
        raise SpecError(text, loc, f"{c.path}.fit") from None
    index = tuple(next(i for i, v in enumerate(a.values) if float(v) == float(c.settings[a.name])) for a in axes)
    if any(p.index == index for p in result.frontier):
        return f"on the frontier ({len(result.frontier)} points)", True
    if not result.feasible_mask[job.position(index)]:
        return "over budget", False
    above = [p for p in result.frontier if all(a >= b for a, b in zip(p.index, index))]
    return f"dominated by {above[0].describe()}", False

