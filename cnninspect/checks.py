"""Expectation files for ``cnninspect check``: expected costs and budgets, evaluated.

Format (documented in docs/check.md, example in docs/examples/budgets.yaml)::

    convention: paper                  # optional; per check too
    checks:
      - name: MobileNet 0.75           # optional label
        model: mobilenet_v1            # NAME[:VARIANT] or a spec path (relative to this file)
        settings: {width: 0.75}        # optional: width, depth, resolution, phi, padding, params
        expect:                        # value with an absolute or % tolerance, or exact
          params: {value: 2.6M, tolerance: 0.05M}
          mult_adds: {value: 325M, tolerance: 1%}
        budget:                        # upper limits
          max_params: 3M
          max_mult_adds: 400M
          max_peak_activation: 6MB

Every problem in the file is a located one-line error (exit 2); failed checks are data.

A check's ``model`` may be a Python model (``file.py:NAME``, ``package.module:NAME``,
``torchvision:NAME``, ``timm:NAME``; settings ``resolution`` and ``input``). Checking it runs
Python code, so it is refused unless the caller allows it (``check --allow-python``): a
check file alone never makes cnninspect execute code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from .errors import CnnInspectError, Location, SpecError, did_you_mean, shorten
from .numbers import NumberError, parse_bytes, parse_count, parse_number
from .yamlsrc import YNode, load_yaml_file

METRICS = ("params", "trainable_params", "mult_adds", "flops", "peak_activation_bytes", "depth")
BUDGETS = {
    "max_params": "params",
    "max_trainable_params": "trainable_params",
    "max_mult_adds": "mult_adds",
    "max_flops": "flops",
    "max_peak_activation": "peak_activation_bytes",
    "max_depth": "depth",
}
CHECK_KEYS = ("name", "model", "settings", "convention", "expect", "budget")


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


def load_checks(path: str | Path, *, allow_python: bool = False) -> tuple[CheckSpec, ...]:
    """Parse and validate an expectations file (located errors); Python models only with
    ``allow_python``."""
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
        if not allow_python and _is_python(model):
            raise SpecError(
                f"{shorten(ci['model'].value, 80)} is a Python model, and checking it runs Python code; "
                "pass --allow-python to run the Python models named in this file (only for files you trust)",
                ci["model"].loc, f"{cpath}.model")
        settings: dict[str, Any] = {}
        if "settings" in ci:
            s = ci["settings"]
            if not s.is_map:
                raise SpecError("must be a mapping like {width: 0.75, resolution: 160}", s.loc, f"{cpath}.settings")
            settings = s.to_python()
        conv = _convention(ci["convention"], f"{cpath}.convention", CONVENTIONS) if "convention" in ci else default_conv
        rules: list[Rule] = []
        if "expect" in ci:
            rules += _expectations(ci["expect"], f"{cpath}.expect")
        if "budget" in ci:
            rules += _budgets(ci["budget"], f"{cpath}.budget")
        if not rules:
            raise SpecError("a check needs 'expect' and/or 'budget'", item.loc, cpath)
        name = str(ci["name"].value) if "name" in ci else ci["model"].value
        out.append(CheckSpec(name, model, settings, conv, tuple(rules), item.loc, cpath, ci["model"].loc))
    return tuple(out)


def _is_python(model: str) -> bool:
    from .pymodels import is_python_ref

    return is_python_ref(model)


def _model_path(model: str, base_dir: Path) -> str:
    """Spec and Python file paths in a check file are relative to the file; bundled names,
    modules and hub names pass through."""
    from .catalog import classify, split_settings

    base, _settings = split_settings(model)
    ref = classify(base)
    if ref.kind not in ("yaml", "python-file") or Path(ref.base).is_absolute():
        return model
    rest = model[len(base):]
    return str(base_dir / ref.base) + (f":{ref.variant}" if ref.variant else "") + rest


def _convention(node: YNode, path: str, conventions: Mapping[str, Any]) -> str:
    if not node.is_scalar or node.value not in conventions:
        raise SpecError(
            f"unknown convention {node.value!r}{did_you_mean(str(node.value), conventions)}; "
            f"available: {', '.join(conventions)}", node.loc, path)
    return str(node.value)


def _expectations(node: YNode, path: str) -> list[Rule]:
    if not node.is_map:
        raise SpecError("must be a mapping of metric: {value, tolerance}", node.loc, path)
    rules = []
    for metric, v in (node.items or {}).items():
        mpath = f"{path}.{metric}"
        if metric not in METRICS:
            raise SpecError(f"unknown metric '{metric}'{did_you_mean(metric, METRICS)}; metrics: {', '.join(METRICS)}",
                            node.key_locs[metric], mpath)
        byte = metric == "peak_activation_bytes"
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
        text = f"= {value_text}" + (f" +- {tol_text}" if tol_text else " (exact)")
        rules.append(Rule(metric, "expect", value, tol_abs, tol_rel, text, v.loc))
    return rules


def _budgets(node: YNode, path: str) -> list[Rule]:
    if not node.is_map:
        raise SpecError("must be a mapping like {max_params: 5M, max_mult_adds: 600M}", node.loc, path)
    rules = []
    for key, v in (node.items or {}).items():
        if key not in BUDGETS:
            raise SpecError(f"unknown budget '{key}'{did_you_mean(key, BUDGETS)}; budgets: {', '.join(BUDGETS)}",
                            node.key_locs[key], f"{path}.{key}")
        metric = BUDGETS[key]
        byte = metric == "peak_activation_bytes"
        value = _num(v, f"{path}.{key}", byte=byte, integer=metric == "depth")
        rules.append(Rule(metric, "max", value, text=f"<= {_as_written(v)}", loc=v.loc))
    return rules


def _python_report(c: CheckSpec) -> Any:
    """A Python model's report, with the check's ``resolution`` and ``input`` settings."""
    from .catalog import split_settings
    from .pymodels import analyse, parse_input

    base, inline = split_settings(c.model)
    settings = {**inline, **c.settings}
    unknown = sorted(set(settings) - {"resolution", "input"})
    if unknown:
        raise SpecError(f"{unknown[0]}: a Python model takes the settings resolution and input", c.loc,
                        f"{c.path}.settings")
    shape = parse_input(str(settings["input"]), "input") if "input" in settings else None
    resolution = settings.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)):
        raise SpecError(f"resolution must be a whole number, got {resolution!r}", c.loc, f"{c.path}.settings")
    return analyse(base, c.convention, input_shape=shape, resolution=resolution)


def evaluate(checks: tuple[CheckSpec, ...]) -> list[Outcome]:
    """Resolve and analyse each check's model (spec engine, or a Python model's captured
    forward pass) and judge its rules."""
    from .analysis import analyze
    from .catalog import resolve_ref

    outcomes = []
    for c in checks:
        try:
            report = _python_report(c) if _is_python(c.model) else analyze(
                resolve_ref(c.model, dict(c.settings), f"{c.path}.settings"), c.convention)
        except SpecError as exc:
            if exc.loc is not None and exc.loc.line is not None:
                raise  # located inside the model's own spec file
            raise SpecError(exc.one_line(), c.model_loc or c.loc, f"{c.path}.model") from None
        except CnnInspectError as exc:
            raise SpecError(exc.one_line(), c.model_loc or c.loc, f"{c.path}.model") from None
        t = report.totals
        actual = {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "mult_adds": t.mult_adds,
            "flops": 2 * t.mult_adds,
            "peak_activation_bytes": t.peak_activation_bytes,
            "depth": report.subject.depth,
        }
        for rule in c.rules:
            a = actual[rule.metric]
            if rule.kind == "max":
                ok = a <= rule.value
            else:
                ok = abs(a - rule.value) <= rule.tol_abs + 1e-9
            outcomes.append(Outcome(c, rule, a, ok))
    return outcomes
