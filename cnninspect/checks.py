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

Every problem in the file is a located one-line error (exit 2); failed checks are data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from .errors import CnnInspectError, Location, SpecError, did_you_mean, shorten
from .memory import OPTIMIZERS, MemorySettings, parse_precision
from .numbers import NumberError, parse_bytes, parse_count, parse_number
from .lang.yamlsrc import YNode, load_yaml_file

METRICS = ("params", "trainable_params", "mult_adds", "flops", "peak_activation_bytes", "depth", "weight_bytes",
           "training_bytes")
BUDGETS = {
    "max_params": "params",
    "max_trainable_params": "trainable_params",
    "max_mult_adds": "mult_adds",
    "max_flops": "flops",
    "max_peak_activation": "peak_activation_bytes",
    "max_depth": "depth",
    "max_weight_bytes": "weight_bytes",
    "max_training_bytes": "training_bytes",
}
# byte sizes, evaluated at the check's memory settings (default fp32, batch 1, sgd)
BYTE_METRICS = ("peak_activation_bytes", "weight_bytes", "training_bytes")
CHECK_KEYS = ("name", "model", "settings", "memory", "convention", "expect", "budget")
MEMORY_KEYS = ("dtype", "batch", "optimizer")


@dataclass(frozen=True)
class Rule:
    """``kind`` is ``expect`` (value +- tolerance) or ``max`` (upper bound)."""

    metric: str
    kind: str
    value: float
    tol_abs: float = 0.0
    tol_rel: float | None = None
    text: str = ""
    loc: Location | None = None

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


@dataclass(frozen=True)
class Outcome:
    check: CheckSpec
    rule: Rule
    actual: int
    passed: bool

    @property
    def margin(self) -> float | None:
        """Headroom of a budget (positive = under the limit) or deviation of an expectation, %."""
        if self.rule.value == 0:
            return None
        if self.rule.kind == "max":
            return 100.0 * (self.rule.value - self.actual) / self.rule.value
        return 100.0 * (self.actual - self.rule.value) / self.rule.value


def _num(node: YNode, path: str, *, byte: bool = False, integer: bool = False) -> float:
    """A count (``4.2M``) or, with ``byte``, a size (``8MB``); the syntax of :mod:`cnninspect.numbers`."""
    if not node.is_scalar or node.value is None:
        what = "a size like 8MB or 8000000" if byte else "a count like 4.2M, 569M, 0.39B or 4231976"
        raise SpecError(f"must be {what}, got {node.kind_name()}", node.loc, path)
    try:
        value = (parse_bytes if byte else parse_count)(node.value)
    except NumberError as exc:
        raise SpecError(str(exc), node.loc, path) from None
    if integer and not float(value).is_integer():
        raise SpecError(f"must be a whole number, got {value:g}", node.loc, path)
    return value


def _tolerance(node: YNode, path: str, value: float) -> tuple[float, float | None]:
    raw = node.value
    if node.is_scalar and isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            pct = float(parse_number(raw.strip()[:-1]))
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


def load_checks(path: str | Path) -> tuple[CheckSpec, ...]:
    """Parse and validate an expectations file (located errors)."""
    from .conventions import CONVENTIONS

    label = str(path)
    root = load_yaml_file(path, label=label)
    if not root.is_map:
        raise SpecError(f"an expectations file must be a mapping with 'checks:', got {root.kind_name()}", root.loc)
    items = root.items or {}
    for key in items:
        if key not in ("convention", "checks"):
            raise SpecError(f"unknown key '{key}'{did_you_mean(key, ('convention', 'checks'))}; allowed: convention, checks",
                            root.key_locs[key], key)
    default_conv = "paper"
    if "convention" in items:
        default_conv = _convention(items["convention"], "convention", CONVENTIONS)
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
        settings: dict[str, Any] = {}
        if "settings" in ci:
            s = ci["settings"]
            if not s.is_map:
                raise SpecError("must be a mapping like {width: 0.75, resolution: 160}", s.loc, f"{cpath}.settings")
            settings = s.to_python()
        conv = _convention(ci["convention"], f"{cpath}.convention", CONVENTIONS) if "convention" in ci else default_conv
        memory = _memory(ci["memory"], f"{cpath}.memory") if "memory" in ci else MemorySettings()
        rules: list[Rule] = []
        if "expect" in ci:
            rules += _expectations(ci["expect"], f"{cpath}.expect", memory)
        if "budget" in ci:
            rules += _budgets(ci["budget"], f"{cpath}.budget", memory)
        if not rules:
            raise SpecError("a check needs 'expect' and/or 'budget'", item.loc, cpath)
        if "memory" in ci and not any(r.metric in BYTE_METRICS for r in rules):
            raise SpecError("'memory' sets the dtype, batch and optimizer of byte metrics, but this check has none "
                            f"({', '.join(BYTE_METRICS)})", ci["memory"].loc, f"{cpath}.memory")
        name = str(ci["name"].value) if "name" in ci else ci["model"].value
        out.append(CheckSpec(name, model, settings, conv, tuple(rules), item.loc, cpath, ci["model"].loc, memory))
    return tuple(out)


def _model_path(model: str, base_dir: Path) -> str:
    """Spec paths in a check file are relative to the file; bundled names pass through."""
    from .catalog import classify, split_settings

    base, _settings = split_settings(model)
    ref = classify(base)
    if ref.kind != "yaml" or Path(ref.base).is_absolute():
        return model
    rest = model[len(base):]
    return str(base_dir / ref.base) + (f":{ref.variant}" if ref.variant else "") + rest


def _convention(node: YNode, path: str, conventions: Mapping[str, Any]) -> str:
    if not node.is_scalar or node.value not in conventions:
        raise SpecError(
            f"unknown convention {node.value!r}{did_you_mean(str(node.value), conventions)}; "
            f"available: {', '.join(conventions)}", node.loc, path)
    return str(node.value)


def _memory(node: YNode, path: str) -> MemorySettings:
    """``memory: {dtype: fp16 | int8,fp16, batch: 8, optimizer: adam}``."""
    from .lang.fields import Int

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
    from .memory import TRAINABLE_DTYPES

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
        byte = metric in BYTE_METRICS
        _trainable(metric, memory, v, mpath)
        if v.is_map:
            vi = v.items or {}
            for key in vi:
                if key not in ("value", "tolerance"):
                    raise SpecError(f"unknown key '{key}'{did_you_mean(key, ('value', 'tolerance'))}; allowed: value, tolerance",
                                    v.key_locs[key], f"{mpath}.{key}")
            if "value" not in vi:
                raise SpecError("missing required key 'value'", v.loc, mpath)
            value = _num(vi["value"], f"{mpath}.value", byte=byte, integer=metric == "depth")
            value_text = _as_written(vi["value"])
            tol_abs, tol_rel = _tolerance(vi["tolerance"], f"{mpath}.tolerance", value) if "tolerance" in vi else (0.0, None)
            tol_text = _as_written(vi["tolerance"]) if "tolerance" in vi else ""
        else:
            value = _num(v, mpath, byte=byte, integer=metric == "depth")
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
        byte = metric in BYTE_METRICS
        _trainable(metric, memory, v, f"{path}.{key}")
        value = _num(v, f"{path}.{key}", byte=byte, integer=metric == "depth")
        rules.append(Rule(metric, "max", value, text=f"<= {_as_written(v)}{_memory_text(metric, memory)}", loc=v.loc))
    return rules


def evaluate(checks: tuple[CheckSpec, ...]) -> list[Outcome]:
    """Resolve and analyse each check's model (spec engine) and judge its rules."""
    from .analysis import analyze, weight_depth
    from .catalog import resolve_ref
    from .memory import memory_report

    outcomes = []
    for c in checks:
        try:
            model = resolve_ref(c.model, dict(c.settings), f"{c.path}.settings")
        except SpecError as exc:
            if exc.loc is not None and exc.loc.line is not None:
                raise  # located inside the model's own spec file
            raise SpecError(exc.one_line(), c.model_loc or c.loc, f"{c.path}.model") from None
        except CnnInspectError as exc:
            raise SpecError(exc.one_line(), c.model_loc or c.loc, f"{c.path}.model") from None
        report = analyze(model, c.convention)
        t = report.totals
        actual = {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "mult_adds": t.mult_adds,
            "flops": 2 * t.mult_adds,
            "depth": weight_depth(model),
        }
        if any(r.metric in BYTE_METRICS for r in c.rules):
            mem = memory_report(model, c.memory)
            actual["peak_activation_bytes"] = mem.inference.peak_activation_bytes
            actual["weight_bytes"] = mem.inference.weight_bytes
            actual["training_bytes"] = mem.training.total_bytes if mem.training else 0
        for rule in c.rules:
            a = actual[rule.metric]
            if rule.kind == "max":
                ok = a <= rule.value
            else:
                ok = abs(a - rule.value) <= rule.tol_abs + 1e-9
            outcomes.append(Outcome(c, rule, a, ok))
    return outcomes
