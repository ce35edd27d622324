"""``cnninspect check``: expected costs and budgets for CI; exit 1 when any fails."""

from __future__ import annotations

import click

from .common import emit, format_option, with_exit_code


@click.command("check")
@click.argument("expectations", type=click.Path(dir_okay=True))
@format_option()
@click.option("--allow-python", is_flag=True,
              help="Allow the file's Python models (file.py:NAME, package.module:NAME, torchvision:, timm:): "
                   "checking them runs their code. Only for check files you trust.")
@with_exit_code
def check(expectations: str, fmt: str, allow_python: bool) -> int:
    """Check models against EXPECTATIONS.yaml: expected params/mult-adds (absolute or %
    tolerance) and budgets (max params, mult-adds, peak activation, weight and training
    memory at a dtype, batch and optimizer).

    Prints a pass/fail table naming the line of every rule; --format markdown gives a
    comment ready for a pull request. Exit codes: 0 all passed, 1 a check failed,
    2 the file is invalid. See docs/check.md and docs/examples/budgets.yaml.
    """
    from ..checks import BYTE_METRICS, evaluate, load_checks
    from ..errors import UsageError
    from ..render.document import ESSENTIAL, Column, Document, Table

    if expectations == "-":
        raise UsageError("check reads an expectations file by its name (its model paths are relative to it); "
                         "standard input ('-') is not read")

    outcomes = evaluate(load_checks(expectations, allow_python=allow_python))
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
    notes = tuple(
        f"{expectations}:{o.rule.loc.line if o.rule.loc else o.check.loc.line}: {o.check.name}: "
        + (f"{o.rule.metric} is {o.actual:,}" if isinstance(o.actual, int) else f"{o.rule.metric}: {o.actual}")
        + f", rule {o.rule.limit_text()}"
        for o in failed
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
             "memory": o.check.memory.as_json() if o.rule.metric in BYTE_METRICS else None}
            for r, o in zip(rows, outcomes)
        ],
    }
    title = f"cnninspect check: {verdict}"
    emit(Document(title, meta, (table,), notes=notes, data=data), fmt)
    return 1 if failed else 0
