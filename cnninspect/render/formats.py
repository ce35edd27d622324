"""Output formats: one renderer per format behind one interface, in a registry.

``table`` returns rich renderables for the terminal; ``markdown``, ``csv`` and ``json``
return text. Renderers never print; the CLI does. Every format shows the document's
metadata (where the counting convention is stated) in its own way: a header in the
terminal and Markdown, context columns in CSV, keys in JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from .document import Document, Table, fmt_cell, raw_cell


@dataclass(frozen=True)
class Format:
    name: str
    help: str
    render: Callable[[Document], Any]


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


_STYLES = {
    "block": "bold",
    "dim": "dim",
    "fail": "bold red",
    "pass": "green",
    "warn": "yellow",
    "total": "bold",
}


def _rich(doc: Document) -> list[Any]:
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    out: list[Any] = []
    out.append(Text(doc.title, style="bold"))
    for key, value in doc.meta:
        line = Text()
        line.append(f"{key}: ", style="cyan")
        line.append(value)
        out.append(line)
    for table in doc.tables:
        rt = RichTable(title=table.title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for col in table.view_columns():
            numeric = col.kind in ("int", "si", "float", "ratio", "pct")
            if col.kind == "prose":
                rt.add_column(col.header, max_width=64, overflow="fold")
            else:
                rt.add_column(col.header, justify="right" if numeric else "left", no_wrap=True)
        for i, row in enumerate(table.rows):
            style = table.styles[i] if i < len(table.styles) else ""
            cells = [Text(fmt_cell(row.get(c.key), c.kind)) for c in table.view_columns()]
            rt.add_row(*cells, style=_STYLES.get(style))
        out.append(rt)
    for key, value in doc.footer:
        line = Text()
        line.append(f"{key}: ", style="bold")
        line.append(value)
        out.append(line)
    for note in doc.notes:
        out.append(Text(note, style="dim"))
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(doc: Document) -> str:
    lines = [f"### {doc.title}", ""]
    for key, value in doc.meta:
        lines.append(f"- **{key}**: {_md_escape(value)}")
    if doc.meta:
        lines.append("")
    for table in doc.tables:
        if table.title:
            lines += [f"**{table.title}**", ""]
        columns = table.view_columns()
        lines.append("| " + " | ".join(_md_escape(c.header) for c in columns) + " |")
        aligns = []
        for c in columns:
            aligns.append("---:" if c.kind in ("int", "si", "float", "ratio", "pct") else ":---")
        lines.append("| " + " | ".join(aligns) + " |")
        for i, row in enumerate(table.rows):
            cells = [_md_escape(fmt_cell(row.get(c.key), c.kind)) for c in columns]
            style = table.styles[i] if i < len(table.styles) else ""
            if style in ("block", "total"):
                cells = [f"**{c}**" if c.strip() else c for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for key, value in doc.footer:
        lines.append(f"- **{key}**: {_md_escape(value)}")
    if doc.footer:
        lines.append("")
    for note in doc.notes:
        lines.append(f"> {note}")
    return "\n".join(lines).rstrip() + "\n"


def _csv(doc: Document) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    table: Table = doc.tables[0]
    context = list(doc.csv_context.items())
    cols = [c for c in table.columns if c.key not in table.csv_skip]
    writer.writerow([k for k, _ in context] + [c.key for c in cols])
    for row in table.rows:
        writer.writerow([raw_cell(v) for _, v in context] + [_csv_value(row.get(c.key)) for c in cols])
    return buf.getvalue()


def _csv_value(value: Any) -> Any:
    v = raw_cell(value)
    return "" if v is None else v


_SHORT_LIST = re.compile(r"\[\s+((?:-?[0-9.]+|null|true|false|\"[^\"\n]{0,40}\")(?:,\s+(?:-?[0-9.]+|null|true|false|\"[^\"\n]{0,40}\"))*)\s+\]")


def dumps_json(data: Any) -> str:
    """Indented JSON with short lists of scalars (shapes, kernels) kept on one line."""
    text = json.dumps(data, indent=2, sort_keys=False)
    return _SHORT_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def _json(doc: Document) -> str:
    return dumps_json(doc.data)


register_format(Format("table", "aligned tables for the terminal (default)", _rich))
register_format(Format("markdown", "GitHub-flavoured Markdown (for READMEs and PR comments)", _markdown))
register_format(Format("csv", "the main table as CSV, with model and convention columns", _csv))
register_format(Format("json", "the stable JSON contract (see docs/json-schema.md)", _json))
