"""The papers' own tables, bundled as data, and their comparison with computed values.

Each ``*.yaml`` file here holds one paper's tables exactly as printed: ``totals`` tables
(rows of a model + settings with published mult-adds/parameters) and ``layout`` tables
(the rows of a paper's architecture table, compared with ``--format paper``). Every value has
a tolerance stated in the data (by default half a unit of its last printed digit). A value
outside its tolerance is a failure unless the row documents an erratum *and* pins the exact
computed integer: then it is shown as ``erratum`` with its note, and any change of the
computed value still fails. Nothing is bent to fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping, Sequence

from ..base import numbers
from ..base.errors import SpecError
from ..lang.yamlsrc import YNode, parse_yaml

if TYPE_CHECKING:
    from ..resolve.ir import Model

METRICS = ("mult_adds", "params", "trainable_params")
_SUFFIX = numbers.COUNT_UNITS
_NUM = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([KMBG]?)\s*$")


@dataclass(frozen=True)
class Value:
    """A published number as printed (``text``) and as a count (``value``)."""

    text: str
    value: float
    tol_abs: float | None = None
    tol_rel: float | None = None

    def tolerance(self) -> float:
        if self.tol_rel is not None:
            return self.tol_rel * self.value
        if self.tol_abs is not None:
            return self.tol_abs
        return half_unit(self.text)

    def tolerance_text(self) -> str:
        """The tolerance in the unit the paper printed: 4.2M -> +-0.05M, 60,000 -> +-0.5."""
        if self.tol_rel is not None:
            return f"{self.tol_rel * 100:g}%"
        m = _NUM.match(self.text)
        suffix = m.group(2) if m else ""
        return f"+-{self.tolerance() / _SUFFIX[suffix]:g}{suffix}"


@dataclass(frozen=True)
class Erratum:
    computed: int | None
    note: str


@dataclass(frozen=True)
class PubRow:
    label: str
    model: str
    variant: str | None
    settings: Mapping[str, Any]
    values: Mapping[str, Value]
    errata: Mapping[str, Erratum] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class LayoutErratum:
    row: int  # 1-based
    column: int  # 1-based
    computed: str
    note: str


@dataclass(frozen=True)
class PubTable:
    id: str
    title: str
    paper: str
    kind: str
    rows: tuple[PubRow, ...] = ()
    model: str | None = None
    columns: tuple[str, ...] = ()
    layout_rows: tuple[tuple[str, ...], ...] = ()
    layout_errata: tuple[LayoutErratum, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    variant: str | None = None
    note: str = ""


def parse_count(text: Any) -> float:
    """``569M`` -> 569e6, ``0.39B`` -> 3.9e8, ``60,000`` -> 60000 (:func:`cnninspect.base.numbers.parse_count`)."""
    return numbers.parse_count(text)


def half_unit(text: str) -> float:
    """Half a unit of the last printed digit: ``4.2M`` -> 0.05M, ``569M`` -> 0.5M."""
    m = _NUM.match(str(text))
    if not m:
        return 0.0
    digits = m.group(1).replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return 0.5 * 10 ** (-decimals) * _SUFFIX[m.group(2)]


def _get(node: YNode, key: str) -> YNode | None:
    return (node.items or {}).get(key)


def _req(node: YNode, key: str, path: str) -> YNode:
    v = _get(node, key)
    if v is None:
        raise SpecError(f"missing required key '{key}'", node.loc, path)
    return v


def _split_model(text: str) -> tuple[str, str | None]:
    name, _, variant = str(text).partition(":")
    return name, (variant or None)


def _tolerances(node: YNode | None, path: str) -> dict[str, tuple[float | None, float | None]]:
    out: dict[str, tuple[float | None, float | None]] = {}
    if node is None:
        return out
    for key, v in (node.items or {}).items():
        raw = v.value
        if isinstance(raw, str) and raw.strip().endswith("%"):
            out[key] = (None, float(raw.strip()[:-1]) / 100)
        else:
            try:
                out[key] = (parse_count(raw), None)
            except ValueError as exc:
                raise SpecError(str(exc), v.loc, f"{path}.{key}") from None
    return out


def _parse_table(t: YNode, paper: str, path: str) -> PubTable:
    tid = str(_req(t, "id", path).value)
    title = str(_req(t, "title", path).value)
    kind = str(_req(t, "kind", path).value)
    note = str(_get(t, "note").value) if _get(t, "note") is not None else ""
    if kind == "layout":
        model, variant = _split_model(_req(t, "model", path).value)
        cols = tuple(str(c.value) for c in (_req(t, "columns", path).seq or ()))
        rows = tuple(tuple(str(c.value) for c in (r.seq or ())) for r in (_req(t, "rows", path).seq or ()))
        errata = []
        for e in (_get(t, "errata").seq if _get(t, "errata") is not None else ()) or ():
            errata.append(
                LayoutErratum(int(_req(e, "row", path).value), int(_req(e, "column", path).value),
                              str(_req(e, "computed", path).value), " ".join(str(_req(e, "note", path).value).split()))
            )
        settings = _get(t, "settings").to_python() if _get(t, "settings") is not None else {}
        return PubTable(tid, title, paper, kind, model=model, variant=variant, columns=cols, layout_rows=rows,
                        layout_errata=tuple(errata), settings=settings, note=note)
    if kind != "totals":
        raise SpecError(f"unknown table kind {kind!r} (layout or totals)", t.loc, f"{path}.kind")
    tol = _tolerances(_get(t, "tolerance"), f"{path}.tolerance")
    rows = []
    for i, r in enumerate(_req(t, "rows", path).seq or ()):
        rpath = f"{path}.rows[{i}]"
        model, variant = _split_model(_req(r, "model", rpath).value)
        values: dict[str, Value] = {}
        for metric in METRICS:
            v = _get(r, metric)
            if v is None:
                continue
            try:
                number = parse_count(v.value)
            except ValueError as exc:
                raise SpecError(str(exc), v.loc, f"{rpath}.{metric}") from None
            row_tol = _tolerances(_get(r, "tolerance"), f"{rpath}.tolerance")
            ta, tr = row_tol.get(metric, tol.get(metric, (None, None)))
            values[metric] = Value(str(v.value), number, ta, tr)
        errata: dict[str, Erratum] = {}
        en = _get(r, "errata")
        for metric, e in ((en.items or {}).items() if en is not None else ()):
            comp = _get(e, "computed")
            errata[metric] = Erratum(
                int(comp.value) if comp is not None else None, " ".join(str(_req(e, "note", rpath).value).split())
            )
        settings = _get(r, "settings").to_python() if _get(r, "settings") is not None else {}
        rnote = " ".join(str(_get(r, "note").value).split()) if _get(r, "note") is not None else ""
        rows.append(PubRow(str(_req(r, "label", rpath).value), model, variant, settings, values, errata, rnote))
    return PubTable(tid, title, paper, kind, rows=tuple(rows), note=note)


@cache
def load_tables() -> tuple[PubTable, ...]:
    """All bundled published tables, in file then table order."""
    tables: list[PubTable] = []
    root = resources.files(__name__)
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        label = f"cnninspect/published/{entry.name}"
        doc = parse_yaml(entry.read_text(encoding="utf-8"), label)
        paper = str(_req(doc, "paper", "").value)
        for i, t in enumerate(_req(doc, "tables", "").seq or ()):
            tables.append(_parse_table(t, paper, f"tables[{i}]"))
    return tuple(tables)


# --- comparisons ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One published value against its computed value."""

    table: str
    label: str
    metric: str
    published: Value
    computed: int
    status: str  # ok | erratum | FAIL
    note: str

    @property
    def delta(self) -> float:
        return self.computed - self.published.value

    @property
    def delta_pct(self) -> float:
        return 100.0 * self.delta / self.published.value if self.published.value else 0.0


def judge(table: str, row: PubRow, metric: str, computed: int) -> Check:
    pub = row.values[metric]
    within = abs(computed - pub.value) <= pub.tolerance() + 1e-9
    err = row.errata.get(metric)
    if within:
        status = "ok"
        note = err.note if err else row.note
    elif err is not None and err.computed == computed:
        status, note = "erratum", err.note
    elif err is not None:
        status = "FAIL"
        note = f"computed {computed:,} differs from the pinned {err.computed:,}; {err.note}"
    else:
        status, note = "FAIL", row.note
    return Check(table, row.label, metric, pub, computed, status, note)


def layout_differences(table: PubTable, computed_rows: Sequence[Sequence[str]]) -> list[str]:
    """Human notes for every cell where the computed layout differs from the published one."""
    notes: list[str] = []
    documented = {(e.row, e.column): e for e in table.layout_errata}
    if len(computed_rows) != len(table.layout_rows):
        notes.append(
            f"{table.title}: the paper has {len(table.layout_rows)} rows, the computation "
            f"{len(computed_rows)}"
        )
    for i, (pub, comp) in enumerate(zip(table.layout_rows, computed_rows), start=1):
        for j, (p, c) in enumerate(zip(pub, comp), start=1):
            if p == c:
                continue
            e = documented.get((i, j))
            col = table.columns[j - 1] if j - 1 < len(table.columns) else f"column {j}"
            if e is not None and e.computed == c:
                notes.append(f"Row {i} ({col}): the paper prints '{p}', computed '{c}' - erratum: {e.note}.")
            else:
                notes.append(f"Row {i} ({col}): the paper prints '{p}', computed '{c}' (undocumented difference).")
    return notes


def layout_tables_for(model_name: str) -> list[PubTable]:
    return [t for t in load_tables() if t.kind == "layout" and t.model == model_name]


def settings_match(table: PubTable, model: Model) -> bool:
    """Is ``model`` resolved at the settings the published layout table describes?"""
    from ..resolve.catalog import load_bundled
    from ..resolve.resolver import settings_for

    if model.variant != table.variant:
        return False
    spec = load_bundled(model.name)
    _, defaults = settings_for(spec, table.variant)
    defaults.update(table.settings)
    return dict(model.settings.values) == defaults


def differences_for(model: Model, title: str, rows: Sequence[Sequence[str]]) -> list[str]:
    """Notes comparing a computed paper table (its title and rows of cells) with the
    published one, when one applies (a paper table printed once per variant, as DenseNet's
    Table 1 columns, is compared with the column of the model's variant)."""
    notes: list[str] = []
    same = [t for t in layout_tables_for(model.name) if t.title.split(".")[0] == title.split(".")[0]]
    # a paper table bundled once per variant (ShuffleNet v2's Table 5, one per width column)
    # is compared where the settings match; only when none does is that said
    matching = [t for t in same if settings_match(t, model)]
    if same and not matching:
        notes.append(f"Not at the settings of the published {same[0].title.split('.')[0]}; no comparison.")
    for table in matching:
        diffs = layout_differences(table, rows)
        if diffs:
            notes.extend(diffs)
        else:
            notes.append(f"Matches the published {table.title.split('.')[0]} row for row.")
    return notes
