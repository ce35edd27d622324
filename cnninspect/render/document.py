"""The document model every command renders through.

A command turns its results into a :class:`Document`: a title, a few metadata lines (which
always include the counting convention), one or more :class:`Table` s of typed cells, notes,
and ``data``, the stable JSON contract. Formats (``formats.py``) render any document, so a
new command gets terminal, Markdown, CSV and JSON output for free and the formats cannot
drift apart. Cells hold raw values (ints, shapes); columns say how to show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence


@dataclass(frozen=True)
class Column:
    """A table column. ``kind``: text, prose (long text, wrapped in the terminal at word
    boundaries, ``width`` characters at most; explicit line breaks kept), int (exact, with
    separators), si (M/G suffix), shape, float, ratio (x1.23), pct (signed %), bytes (an
    exact byte count shown as 16.93 MB; raw integer in CSV and JSON).

    ``priority`` decides what a terminal too narrow for the whole table keeps: columns are
    reduced lowest priority first, an ``int`` column first to compact units (4.23M), then
    hidden; a column of priority :data:`ESSENTIAL` is never hidden. Text columns may wrap
    at spaces unless ``wrap`` is false. Piped output and the machine formats always have
    every column, exact.
    """

    key: str
    header: str
    kind: str = "text"
    priority: int = 50
    wrap: bool = True  # a text column may wrap at spaces to fit (not tree guides)
    width: int | None = None  # prose: wrap width (default formats.PROSE_WIDTH)


ESSENTIAL = 100


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    title: str | None = None
    # per-row style names for terminal output (e.g. "block", "fail"); same length as rows
    styles: tuple[str, ...] = ()
    # columns to leave out of CSV (decorations such as tree guides)
    csv_skip: tuple[str, ...] = ()
    # columns only for machine formats (CSV), not shown in terminal or Markdown tables
    view_skip: tuple[str, ...] = ()

    def view_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.key not in self.view_skip)


@dataclass(frozen=True)
class Document:
    title: str
    meta: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()
    footer: tuple[tuple[str, str], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    # constant columns prepended to every CSV row (e.g. model, convention)
    csv_context: Mapping[str, Any] = field(default_factory=dict)


def fmt_shape(shape: Sequence[int] | None) -> str:
    if shape is None:
        return ""
    return "x".join(str(d) for d in shape) if len(shape) else "-"


def fmt_int(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def fmt_si(value: float | int | None) -> str:
    """Engineering notation with a unit letter: 568.74M, 4.23M, 1.8G."""
    if value is None:
        return ""
    v = float(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{int(v)}" if v == int(v) else f"{v:.3g}"


def fmt_bytes(value: int | None) -> str:
    """Decimal units, as in the footers: 6.42 MB, 512 B."""
    if value is None:
        return ""
    for div, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(value) >= div:
            return f"{value / div:.2f} {unit}"
    return f"{value} B"


def fmt_seconds(value: float | None) -> str:
    """Three significant digits in the unit that fits: 2.10 s, 1.23 ms, 45.6 us, 820 ns."""
    if value is None:
        return ""
    if not value:
        return "0 s"
    for div, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if abs(value) >= div or unit == "ns":
            v = value / div
            return f"{v:.{0 if abs(v) >= 99.95 else 1 if abs(v) >= 9.995 else 2}f} {unit}"
    raise AssertionError("unreachable")


def fmt_cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "seconds":
        return fmt_seconds(value) if isinstance(value, (int, float)) else str(value)
    if kind == "bytes":
        return fmt_bytes(value) if isinstance(value, int) else str(value)
    if kind == "int":
        return fmt_int(value) if isinstance(value, int) else str(value)
    if kind == "si":
        return fmt_si(value) if isinstance(value, (int, float)) else str(value)
    if kind == "shape":
        return fmt_shape(value) if isinstance(value, (tuple, list)) else str(value)
    if kind == "float":
        return f"{value:g}" if isinstance(value, (int, float)) else str(value)
    if kind == "ratio":
        return f"x{value:.3f}" if isinstance(value, (int, float)) else str(value)
    if kind == "pct":
        return f"{value:+.2f}%" if isinstance(value, (int, float)) else str(value)
    return str(value)


def raw_cell(value: Any) -> Any:
    """The value as written to CSV and JSON: shapes as 3x224x224, others unchanged."""
    if isinstance(value, (tuple, list)):
        return fmt_shape(value)
    return value
