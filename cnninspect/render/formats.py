"""Output formats: one renderer per format behind one interface, in a registry.

Every renderer returns text (``table`` adds ANSI styles when asked to, for a terminal).
Renderers never print; the CLI does. Every format shows the document's
metadata (where the counting convention is stated) in its own way: a header in the
terminal and Markdown, context columns in CSV, keys in JSON.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Mapping

from ..base.safetext import display_width, printable
from .document import ESSENTIAL, Column, Document, Table, fmt_cell, raw_cell


@dataclass(frozen=True)
class Format:
    """An output format: ``render(document, color, width)`` returns the text to write.

    ``width`` is the terminal's width in columns when the output goes to a terminal (the
    ``table`` format fits it), None when it is piped (full width).
    """

    name: str
    help: str
    render: Callable[[Document, bool, int | None], str]
    # the same text in pieces, for writing as it is produced (large documents); None: render
    pieces: Callable[[Document], Iterator[str]] | None = None


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


_ANSI = {
    "bold": "1",
    "dim": "2",
    "cyan": "36",
    "block": "1",
    "fail": "1;31",
    "pass": "32",
    "warn": "33",
    "total": "1",
}
NUMERIC = ("int", "si", "float", "ratio", "pct", "bytes")
PROSE_WIDTH = 64  # prose cells wrap at this width even on a wide terminal
PROSE_MIN = 24  # ... and at no less than this before columns are reduced
GAP = 3  # spaces between columns


def _style(text: str, style: str, color: bool) -> str:
    code = _ANSI.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code and text else text


def _wrap(text: str, width: int, indent: str | None = None) -> list[str]:
    """Wrap at spaces only: a number or a name is never split across lines. Explicit line
    breaks are kept, and an indented line continues indented (by ``indent`` if given)."""
    if "\n" not in text and display_width(text) <= width:
        return [text]
    lines: list[str] = []
    for line in text.split("\n"):
        if display_width(line) <= width:
            lines.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        follow = indent if indent is not None else (lead + "  " if lead else "")
        lines += textwrap.wrap(line, width, subsequent_indent=follow,
                               break_long_words=False, break_on_hyphens=False) or [""]
    return lines


@dataclass
class _Fit:
    """How a table is shown in a given width: hidden and compacted columns, and the width
    each wrapped column wraps at (prose columns always wrap, at :data:`PROSE_WIDTH` at most)."""

    hidden: set[str]
    compact: set[str]
    wrap: dict[str, int]

    def copy(self) -> _Fit:
        return _Fit(set(self.hidden), set(self.compact), dict(self.wrap))


def _cell(value: Any, col: Column, fit: _Fit) -> list[str]:
    kind = "si" if col.key in fit.compact else col.kind
    raw = fmt_cell(value, kind)
    if col.kind == "prose":  # prose keeps its explicit line breaks
        text = "\n".join(printable(line) for line in raw.split("\n"))
        limit = fit.wrap.get(col.key, col.width or PROSE_WIDTH)
    else:
        text = printable(raw)
        limit = fit.wrap.get(col.key)
    return _wrap(text, limit) if limit else [text]


def _measure(table: Table, fit: _Fit) -> tuple[list[Column], list[list[list[str]]], list[int]]:
    cols = [c for c in table.view_columns() if c.key not in fit.hidden]
    cells = [[_cell(row.get(c.key), c, fit) for c in cols] for row in table.rows]
    widths = [display_width(printable(c.header)) for c in cols]
    for row in cells:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], max(display_width(ln) for ln in lines))
    return cols, cells, widths


def _total(widths: list[int]) -> int:
    return 1 + sum(widths) + GAP * max(len(widths) - 1, 0)


def fit_table(table: Table, width: int | None) -> _Fit:
    """Choose how to show ``table`` within ``width`` columns (None: no limit).

    First prose wraps narrower (down to :data:`PROSE_MIN`). Then columns are reduced lowest
    priority first - an int column to compact units (4.23M), then hidden (never an
    :data:`ESSENTIAL` one) - but before each reduction, wrapping text columns at spaces is
    tried, and taken if it makes the table fit. Numbers and shapes never wrap, so a number is
    never split; a table that still does not fit is shown as records (:func:`_records`).
    """
    fit = _Fit(set(), set(), {})
    if width is None:
        return fit
    cols, _, widths = _measure(table, fit)
    narrowable = {c.key for c in cols if c.kind == "prose"}
    while _total(widths) > width and narrowable:  # narrow the widest prose column, down to PROSE_MIN
        w, i = max((w, i) for i, (c, w) in enumerate(zip(cols, widths)) if c.key in narrowable)
        key = cols[i].key
        target = max(PROSE_MIN, w - max(1, (_total(widths) - width) // len(narrowable)))
        if target >= w:
            narrowable.discard(key)
            continue
        fit.wrap[key] = target
        cols, _, new_widths = _measure(table, fit)
        if new_widths[i] >= w:  # a word longer than the target: this column cannot get narrower
            fit.wrap[key] = w
            narrowable.discard(key)
        widths = new_widths
    steps: list[tuple[int, int, str, str]] = []
    for order, c in enumerate(table.view_columns()):
        if c.kind == "int":
            steps.append((c.priority, order, "compact", c.key))
        if c.priority < ESSENTIAL:
            steps.append((c.priority, order, "hide", c.key))
    for _priority, _order, action, key in sorted(steps):
        if _total(_measure(table, fit)[2]) <= width:
            return fit
        wrapped = _wrap_to_fit(table, fit, width)
        if wrapped is not None:
            return wrapped
        if key not in fit.hidden:
            (fit.compact if action == "compact" else fit.hidden).add(key)
    return _wrap_to_fit(table, fit, width, partial=True) or fit


def _wrap_to_fit(table: Table, fit: _Fit, width: int, partial: bool = False) -> _Fit | None:
    """``fit`` plus text columns wrapped at spaces (widest first) until the table fits;
    None when it cannot fit that way (with ``partial``: as narrow as wrapping allows)."""
    trial = fit.copy()
    cols, _, widths = _measure(table, trial)
    done: set[str] = set()
    while _total(widths) > width:
        candidates = sorted(((w, i) for i, (c, w) in enumerate(zip(cols, widths))
                             if c.kind == "text" and c.wrap and c.key not in done), reverse=True)
        if not candidates:
            return trial if partial else None
        w, i = candidates[0]
        col = cols[i]
        floor = max([display_width(printable(col.header))] + [
            display_width(word) for row in table.rows
            for word in printable(fmt_cell(row.get(col.key), col.kind)).split()
        ])
        target = max(floor, w - (_total(widths) - width))
        if target >= w:
            done.add(col.key)
            continue
        trial.wrap[col.key] = target
        cols, _, new_widths = _measure(table, trial)
        if new_widths[i] >= w:
            done.add(col.key)
        widths = new_widths
    return trial


def _text_table(table: Table, color: bool, width: int | None = None) -> list[str]:
    """Aligned columns, a rule under the header (rich's SIMPLE_HEAD look), fitted to ``width``.

    Plain string arithmetic: rendering EfficientNet-B7's 2,400 rows this way takes
    milliseconds, where rich's Table layout took about a second.
    """
    fit = fit_table(table, width)
    cols, cells, widths = _measure(table, fit)
    if width is not None and _total(widths) > width:
        return _records(table, color, width)

    def pad(text: str, w: int, right: bool) -> str:
        fill = " " * (w - display_width(text))
        return fill + text if right else text + fill

    def line(parts: list[str]) -> str:
        out = [pad(text, w, c.kind in NUMERIC) for c, w, text in zip(cols, widths, parts)]
        return (" " + (" " * GAP).join(out)).rstrip()

    lines = []
    if table.title:
        title = printable(table.title)
        lines += [_style(ln, "bold", color) for ln in (_wrap(title, width) if width else [title])]
    lines.append(_style(line([printable(c.header) for c in cols]), "bold", color))
    lines.append(" " + "─" * (sum(widths) + GAP * (len(widths) - 1)))
    for i, row in enumerate(cells):
        style = table.styles[i] if i < len(table.styles) else ""
        height = max(len(x) for x in row)
        for k in range(height):
            text = line([x[k] if k < len(x) else "" for x in row])
            lines.append(_style(text, style, color))
    hidden = [c.header for c in table.view_columns() if c.key in fit.hidden]
    rounded = [c.header for c in cols if c.key in fit.compact]
    if hidden or rounded:
        what = []
        if hidden:
            what.append(f"hidden: {', '.join(hidden)}")
        if rounded:
            what.append(f"rounded: {', '.join(rounded)}")
        note = f"({'; '.join(what)} to fit {width} columns; pipe the output for every column, exact)"
        lines += [_style(ln, "dim", color) for ln in _wrap(note, (width or 80) - 1)]
    return lines


def _records(table: Table, color: bool, width: int) -> list[str]:
    """A table too wide for the terminal even with columns hidden and rounded (a terminal
    narrower than the essential columns): each row as ``Header: value`` lines, rows apart,
    every value whole - a number is never split by the terminal's own wrapping."""
    lines = [_style(ln, "bold", color) for ln in _wrap(printable(table.title), width)] if table.title else []
    cols = table.view_columns()
    for i, row in enumerate(table.rows):
        style = table.styles[i] if i < len(table.styles) else ""
        if i:
            lines.append(" " + "─" * max(1, min(width - 1, 20)))
        for c in cols:
            value = fmt_cell(row.get(c.key), c.kind)
            if value.strip():
                lines += [_style(ln, style, color) for ln in _prose_lines(f" {printable(c.header)}", value, width)]
    return lines


def _prose_lines(key: str, value: str, width: int | None) -> list[str]:
    """``key: value`` wrapped at spaces with a hanging indent (the value under the key when
    the key takes more than half the width, or a word of the value would not fit beside it)."""
    head = f"{key}: "
    text = printable(value)
    if width is None or display_width(head + text) <= width:
        return [head + text]
    longest = max((display_width(w) for w in text.split()), default=0)
    if len(head) > width // 2 or longest > width - len(head):  # the value under the key: more room
        body = _wrap(text, max(width - 2, 1))
        indent = head[: len(head) - len(head.lstrip())]
        return _wrap(head.rstrip(), width, indent) + ["  " + b for b in body]
    body = _wrap(text, width - len(head))
    return [head + body[0]] + [" " * len(head) + b for b in body[1:]]


def _text(doc: Document, color: bool, width: int | None = None) -> str:
    def styled_kv(key: str, value: str, style: str) -> list[str]:
        lines = _prose_lines(key, value, width)
        first = lines[0]
        return [_style(first[: len(key) + 1], style, color) + first[len(key) + 1 :]] + lines[1:]

    out = [_style(printable(doc.title), "bold", color) if width is None else
           "\n".join(_style(ln, "bold", color) for ln in _wrap(printable(doc.title), width))]
    for k, v in doc.meta:
        out += styled_kv(k, v, "cyan")
    for table in doc.tables:
        out.append("")
        out += _text_table(table, color, width)
    if doc.tables and (doc.footer or doc.notes):
        out.append("")
    for k, v in doc.footer:
        out += styled_kv(k, v, "bold")
    for n in doc.notes:
        text = printable(n)
        out += [_style(ln, "dim", color) for ln in (_wrap(text, width) if width else [text])]
    return "\n".join(out) + "\n"


# What GitHub-flavoured Markdown would read as markup in a table cell or a line of text:
# HTML (< > &), links and images ([ ] !), emphasis, code and strike-through (* _ ` ~), the
# cell separator (|) and the escape itself (\\)
# (an underscore inside a word, as in mobilenet_v1, is never emphasis and stays as it is)
# (a backslash escapes only before punctuation: printable()'s \x1b is shown as it is)
_MD_SPECIAL = re.compile(r"([`*\[\]<>!~|]|\\(?=[!-/:-@\[-`{-~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# what GitHub turns into a notification or a link without any markup: @user, @org/team,
# #123-like references are harmless; a bare URL or www. address becomes a link
_MD_AUTO = re.compile(r"@(?=\w)|(?<=\w):(?=//)|\bwww(?=\.)", re.IGNORECASE)
_ZWSP = "&#8203;"  # a zero-width space: shown as nothing, but breaks a mention or an autolink


def _md_escape(text: str) -> str:
    """Text for a Markdown cell or line: shown as it is, never as markup, HTML, an image, a
    link or an @mention (the text of a check's name comes from a check file, which may come
    from a pull request); lines joined with ``<br>``."""
    def one(line: str) -> str:
        line = printable(line).replace("&", "&amp;")
        line = _MD_SPECIAL.sub(r"\\\1", line)
        return _MD_AUTO.sub(lambda m: m.group(0) + _ZWSP, line)

    return "<br>".join(one(line) for line in text.split("\n"))


def _markdown(doc: Document, color: bool = False, width: int | None = None) -> str:
    lines = [f"### {_md_escape(doc.title)}", ""]
    for key, value in doc.meta:
        lines.append(f"- **{key}**: {_md_escape(value)}")
    if doc.meta:
        lines.append("")
    for table in doc.tables:
        if table.title:
            lines += [f"**{_md_escape(table.title)}**", ""]
        columns = table.view_columns()
        lines.append("| " + " | ".join(_md_escape(c.header) for c in columns) + " |")
        aligns = []
        for c in columns:
            aligns.append("---:" if c.kind in NUMERIC else ":---")
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
        lines.append(f"> {_md_escape(note)}")
    return "\n".join(lines).rstrip() + "\n"


def _csv(doc: Document, color: bool = False, width: int | None = None) -> str:
    table: Table = doc.tables[0]
    return "".join(csv_lines(table.columns, doc.csv_context, table.rows, table.csv_skip))


def csv_lines(columns: Iterable[Column], context: Mapping[str, Any], rows: Iterable[Mapping[str, Any]],
              skip: Iterable[str] = ()) -> Iterator[str]:
    """The ``csv`` format one line at a time (a header, then a line per row), so a command
    can stream 100,000 rows without holding them: context columns first, then the table's."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    ctx = [_csv_value(v) for v in context.values()]
    cols = [c for c in columns if c.key not in set(skip)]

    def line(values: list[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    yield line(list(context) + [c.key for c in cols])
    for row in rows:
        yield line(ctx + [_csv_value(row.get(c.key)) for c in cols])


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,eE+-]*%?")


def _csv_value(value: Any) -> Any:
    """A cell as CSV carries it. Text that a spreadsheet would run as a formula (a layer named
    ``=HYPERLINK(...)`` in a spec; OWASP's "CSV injection") is prefixed with ``'``, as OWASP
    recommends; numbers and text like ``-`` or ``-3.5`` are left as they are."""
    v = raw_cell(value)
    if isinstance(v, str):
        v = printable(v)
        if v.startswith(_FORMULA_START) and v != "-" and not _NUMBER.fullmatch(v):
            return "'" + v
        return v
    return "" if v is None else v


_SCALAR = r"(?:-?[0-9.]+|null|true|false|\"[^\"\n]{0,40}\")"
_SHORT_LIST = re.compile(rf"\[\s+({_SCALAR}(?:,\s+{_SCALAR})*)\s+\]")
_SHORT_SCALAR = re.compile(_SCALAR)


_encode_str: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _collapse(match: re.Match[str]) -> str:
    return "[" + ", ".join(x.strip() for x in match.group(1).split(",")) + "]"


def dumps_json(data: Any) -> str:
    """Indented JSON with short lists of scalars (shapes, kernels) kept on one line."""
    return "".join(json_pieces(data))


def json_pieces(data: Any) -> Iterator[str]:
    """:func:`dumps_json`'s text in pieces, produced as it is written: ``json.dumps(data,
    indent=2)`` with every list of short scalars (``-?[0-9.]+``, ``null``, ``true``, ``false``,
    a string of at most 40 characters without quotes) on one line as ``[a, b]``.

    Equal, byte for byte, to rewriting the whole ``json.dumps`` text with :data:`_SHORT_LIST`
    (``tests/test_growth.py`` compares the two): a rewritten list lies inside one innermost
    list of scalars or one string, and each is written here in one piece. Scalars go through
    the C encoder's string escaping; the pieces are one row of a large table at most, so
    writing a 10,000-row document holds neither its text nor millions of fragments.
    """
    yield from _pieces(data, "\n")
    yield "\n"


def _scalar(value: Any) -> str | None:
    """A scalar as ``json.dumps`` writes it, or None for a container (or an unknown type)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        text = _encode_str(value)
        return _SHORT_LIST.sub(_collapse, text) if "[" in text else text
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json.dumps(value)
    return None


def _pieces(value: Any, newline: str) -> Iterator[str]:
    """``value`` at the indentation ``newline`` (a newline and the current indent)."""
    inner = newline + "  "
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        if not all(isinstance(k, str) for k in value):
            yield _SHORT_LIST.sub(_collapse, json.dumps(value, indent=2).replace("\n", newline))  # json's key rules
            return
        yield "{"
        sep = inner
        for key, v in value.items():
            text = _scalar(v)
            if text is not None:
                yield f"{sep}{_scalar(key)}: {text}"
            else:
                yield f"{sep}{_scalar(key)}: "
                yield from _pieces(v, inner)
            sep = "," + inner
        yield newline + "}"
        return
    if isinstance(value, (list, tuple)):
        if not value:
            yield "[]"
            return
        texts = [_scalar(v) if not isinstance(v, str) else _encode_str(v) for v in value]
        if all(t is not None for t in texts):
            if all(_SHORT_SCALAR.fullmatch(t) for t in texts):  # type: ignore[arg-type]
                yield "[" + ", ".join(x.strip() for x in ",".join(texts).split(",")) + "]"  # type: ignore[arg-type]
                return
            texts = [_scalar(v) for v in value]  # strings rewritten inside, as the whole text would be
            yield "[" + inner + ("," + inner).join(texts) + newline + "]"  # type: ignore[arg-type]
            return
        yield "["
        sep = inner
        for v in value:
            text = _scalar(v)
            if text is not None:
                yield sep + text
            else:
                yield sep
                yield from _pieces(v, inner)
            sep = "," + inner
        yield newline + "]"
        return
    text = _scalar(value)
    yield text if text is not None else _SHORT_LIST.sub(_collapse, json.dumps(value, indent=2).replace("\n", newline))


def _json(doc: Document, color: bool = False, width: int | None = None) -> str:
    return dumps_json(doc.data)


def _json_pieces(doc: Document) -> Iterator[str]:
    return json_pieces(doc.data)


def _html(doc: Document, color: bool = False, width: int | None = None) -> str:
    """A self-contained HTML fragment (Jupyter's ``_repr_html_``); every text escaped."""
    from html import escape as _escape

    def escape(text: str) -> str:
        return _escape(printable(text))

    out = ['<meta charset="utf-8">', '<div class="cnninspect">',
           "<style>.cnninspect table{border-collapse:collapse}.cnninspect th,.cnninspect td"
           "{padding:2px 12px;font-family:monospace}</style>", f"<h4>{escape(doc.title)}</h4>"]
    if doc.meta:
        out.append("<ul>" + "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in doc.meta) + "</ul>")
    for table in doc.tables:
        cols = table.view_columns()
        out.append("<table>")
        if table.title:
            out.append(f"<caption>{escape(table.title)}</caption>")
        out.append("<thead><tr>" + "".join(
            f'<th style="text-align:{"right" if c.kind in NUMERIC else "left"}">{escape(c.header)}</th>' for c in cols
        ) + "</tr></thead><tbody>")
        for i, row in enumerate(table.rows):
            style = table.styles[i] if i < len(table.styles) else ""
            weight = ' style="font-weight:bold"' if style in ("block", "total") else ""
            cells = "".join(
                f'<td style="text-align:{"right" if c.kind in NUMERIC else "left"};white-space:pre">'
                f"{escape(fmt_cell(row.get(c.key), c.kind))}</td>"
                for c in cols
            )
            out.append(f"<tr{weight}>{cells}</tr>")
        out.append("</tbody></table>")
    if doc.footer:
        out.append("<ul>" + "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in doc.footer) + "</ul>")
    out += [f"<p><i>{escape(n)}</i></p>" for n in doc.notes]
    out.append("</div>")
    return "\n".join(out) + "\n"


register_format(Format("table", "aligned tables for the terminal (default)", _text))
register_format(Format("markdown", "GitHub-flavoured Markdown (for READMEs and PR comments)", _markdown))
register_format(Format("csv", "the main table as CSV, with model and convention columns", _csv))
register_format(Format("json", "the stable JSON contract (see docs/json-schema.md)", _json, _json_pieces))
register_format(Format("html", "an HTML table (what Jupyter shows for the Python API's reports)", _html))
