"""``cnninspect reproduce``: the papers' tables regenerated, published vs computed."""

from __future__ import annotations

import click

from .common import emit, format_option, with_exit_code


@click.command("reproduce")
@click.argument("tables", nargs=-1)
@format_option()
@with_exit_code
def reproduce(tables: tuple[str, ...], fmt: str) -> int:
    """Regenerate the papers' tables bundled as data (all of them by default; or TABLES
    given as ids such as mobilenet_v1.table4 or any prefix of ids: efficientnet, mobile).

    Every value is shown as published | computed | delta | tolerance | status. Known
    errata are shown with their note and pass only while the computed value equals the
    pinned one. Exit 1 when any value is outside its tolerance.
    """
    from ..ops.conventions import get_convention
    from ..base.errors import UsageError, did_you_mean
    from ..published import judge, layout_differences, load_tables
    from ..render.document import ESSENTIAL, Column, Document, Table

    available = load_tables()
    ids = [t.id for t in available]
    chosen = []
    for name in tables or ("",):
        match = [t for t in available if t.id.startswith(name)]
        if not match:
            raise UsageError(f"unknown table '{name}'{did_you_mean(name, ids)}; tables: {', '.join(ids)}")
        chosen += [t for t in match if t not in chosen]

    rows = []
    styles = []
    counts = {"ok": 0, "erratum": 0, "FAIL": 0}
    cache: dict[tuple, object] = {}
    for table in chosen:
        if table.kind == "layout":
            status, notes = _layout_status(table, layout_differences)
            counts[status] += 1
            rows.append({"table": table.id, "row": f"{len(table.layout_rows)} rows", "metric": "layout",
                         "published": table.title, "computed": "", "delta": None, "tolerance": "row for row",
                         "status": status, "note": " ".join(notes)})
            styles.append(_style(status))
            continue
        for row in table.rows:
            report = _report(row, cache)
            for metric in row.values:
                computed = getattr(report.totals, metric)
                c = judge(table.id, row, metric, computed)
                counts[c.status] += 1
                rows.append({"table": table.id, "row": row.label, "metric": metric, "published": c.published.text,
                             "computed": computed, "delta": c.delta_pct, "tolerance": c.published.tolerance_text(),
                             "status": c.status, "note": c.note})
                styles.append(_style(c.status))
    errata = "known erratum" if counts["erratum"] == 1 else "known errata"
    verdict = f"{counts['ok']} ok, {counts['erratum']} {errata}, {counts['FAIL']} outside tolerance"
    table_doc = Table(
        columns=(
            Column("table", "Table", priority=70),
            Column("row", "Row", priority=ESSENTIAL),
            Column("metric", "Metric", priority=ESSENTIAL),
            Column("published", "Published", priority=95),
            Column("computed", "Computed", "int", priority=95),
            Column("delta", "Delta", "pct", priority=60),
            Column("tolerance", "Tolerance", priority=50),
            Column("status", "Status", priority=ESSENTIAL),
            Column("note", "Note", "prose", priority=40),
        ),
        rows=tuple(rows),
        styles=tuple(styles),
    )
    papers = sorted({t.paper for t in chosen})
    meta = (
        ("papers", "; ".join(papers)),
        ("convention", get_convention("paper").describe()),
        ("result", verdict),
    )
    data = {"schema": "cnninspect.reproduce/1", "passed": counts["FAIL"] == 0, "counts": counts,
            "values": [dict(r) for r in rows]}
    emit(Document("Published vs computed", meta, (table_doc,), data=data, csv_context={"convention": "paper"}), fmt)
    return 1 if counts["FAIL"] else 0


def _style(status: str) -> str:
    return {"ok": "pass", "erratum": "warn", "FAIL": "fail"}[status]


def _paper_report(model: str, variant: str | None, settings: dict, where: str):  # type: ignore[no-untyped-def]
    """A bundled model at the settings a published table states, in the paper convention."""
    from ..measure.analysis import analyze
    from ..resolve.catalog import load_bundled, overrides_for
    from ..resolve.resolver import resolve

    return analyze(resolve(load_bundled(model), variant, overrides_for(dict(settings), where)), "paper")


def _report(row, cache):  # type: ignore[no-untyped-def]
    key = (row.model, row.variant, tuple(sorted(row.settings.items())))
    if key not in cache:
        cache[key] = _paper_report(row.model, row.variant, row.settings, row.label)
    return cache[key]


def _layout_status(table, layout_differences):  # type: ignore[no-untyped-def]
    from ..render.paper import paper_table

    computed = paper_table(_paper_report(table.model, table.variant, table.settings, table.id)).rows
    notes = layout_differences(table, computed)
    if any("undocumented" in n for n in notes) or len(computed) != len(table.layout_rows):
        return "FAIL", notes
    return ("erratum" if notes else "ok"), notes or ["matches row for row"]
