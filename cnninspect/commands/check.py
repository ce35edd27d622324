"""``cnninspect check``: expected costs and budgets for CI; exit 1 when any fails."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..ops.conventions import CONVENTIONS
from ..base.errors import UsageError
from ..render.ci import CHECK_FORMATS, finding
from .common import emit, format_option, rules_from, rules_note, rules_option, with_exit_code, write_out


@click.command("check")
@click.argument("expectations", type=click.Path(dir_okay=True), required=False)
@format_option(tuple(CHECK_FORMATS))
@click.option("--convention", "-c", type=click.Choice(list(CONVENTIONS)),
              help="Convention of the checks that name none (default paper); refused when the file names another.")
@click.option("--allow-python", is_flag=True,
              help="Allow the file's Python models (file.py:NAME, package.module:NAME, torchvision:, timm:): "
                   "checking them runs their code. Only for check files you trust.")
@rules_option
@with_exit_code
def check(expectations: str | None, fmt: str, convention: str | None, allow_python: bool,
          rules_file: str | None) -> int:
    """Check models against EXPECTATIONS.yaml: expected params/mult-adds (absolute or %
    tolerance), budgets (max params, mult-adds, peak activation, weight and training
    memory at a dtype, batch and optimizer), and that a spec is its reference model
    (reference: ref.py:Net; totals in every convention and layer by layer).

    Prints a pass/fail table naming the line of every rule; --format markdown gives a
    comment ready for a pull request, --format github an annotation on the pull request's
    diff per failed rule, --format junit a test report. Without EXPECTATIONS, the check-file
    of [tool.cnninspect] in pyproject.toml. Exit codes: 0 all passed, 1 a check failed,
    2 the file is invalid. See docs/check.md and docs/examples/budgets.yaml.
    """
    from ..explore.checks import BYTE_METRICS, evaluate, load_checks
    from ..base.errors import UsageError
    from ..render.document import ESSENTIAL, Column, Document, Table

    if expectations is None:
        raise UsageError("give the EXPECTATIONS file, or set check-file under [tool.cnninspect] in pyproject.toml")
    if expectations == "-":
        raise UsageError("check reads an expectations file by its name (its model paths are relative to it); "
                         "standard input ('-') is not read")
    from_flag = click.get_current_context().get_parameter_source("convention") == ParameterSource.COMMANDLINE
    from ..capture.targets import target_of

    checks = load_checks(expectations, allow_python=allow_python, convention=convention, convention_given=from_flag)
    rules = rules_from(rules_file, any(target_of(c.model).python for c in checks))
    outcomes = evaluate(checks, rules)
    rows = []
    styles = []
    for o in outcomes:
        byte = o.rule.metric in BYTE_METRICS
        rows.append(
            {
                "line": o.rule.loc.line if o.rule.loc else o.check.loc.line,
                "check": o.check.name,
                "metric": o.rule.metric,
                "rule": o.rule.limit_text(),
                "actual": o.actual,
                "margin": o.margin,
                "status": "PASS" if o.passed else "FAIL",
                "convention": o.check.convention,
                "unit": "bytes" if byte else "",
            }
        )
        styles.append("pass" if o.passed else "fail")
    failed = [o for o in outcomes if not o.passed]
    verdict = (f"FAILED: {len(failed)} of {len(outcomes)} rules" if failed
               else f"passed: all {len(outcomes)} rules")
    table = Table(
        columns=(
            Column("line", "Line", priority=40),
            Column("check", "Check", priority=ESSENTIAL),
            Column("metric", "Metric", priority=ESSENTIAL),
            Column("rule", "Rule", priority=80),
            Column("actual", "Actual", "int", priority=90),
            Column("margin", "Margin", "pct", priority=30),
            Column("status", "Status", priority=ESSENTIAL),
            Column("convention", "Convention", priority=20),
        ),
        rows=tuple(rows),
        styles=tuple(styles),
    )
    meta = (
        ("file", expectations),
        ("result", verdict),
        ("margin", "budgets: headroom left (negative = over); expectations: deviation from the expected value"),
    )
    data = {
        "schema": "cnninspect.check/1",
        "file": expectations,
        "passed": not failed,
        "results": [
            {**r, "model": o.check.model, "settings": dict(o.check.settings), "limit": o.rule.value,
             "kind": o.rule.kind,
             "memory": o.check.memory.as_json() if o.rule.metric in BYTE_METRICS else None,
             **({"reference": o.data} if o.data is not None else {})}
            for r, o in zip(rows, outcomes)
        ],
    }
    notes = tuple(
        line
        for r, o in zip(data["results"], outcomes)
        if r["status"] != "PASS"
        for line in (f"{expectations}:{r['line']}: {r['check']}: {finding(r)}", *(f"  {d}" for d in o.details))
    )
    doc = Document(f"cnninspect check: {verdict}", meta, (table,), notes=rules_note(rules_file, rules) + notes,
                   data=data)
    if fmt in CHECK_FORMATS:
        write_out(CHECK_FORMATS[fmt].render(doc, False, None))
    else:
        emit(doc, fmt)
    return 1 if failed else 0
