"""``cnninspect layer-types`` and ``cnninspect conventions``: the registries, documented."""

from __future__ import annotations

from typing import Any

import click

from .common import emit, format_option


@click.command("layer-types")
@click.argument("name", required=False)
@click.option("--spec", "spec_ref", metavar="SPEC",
              help="Also list the user-defined blocks of this spec (a bundled name or a YAML file).")
@format_option()
def layer_types(name: str | None, spec_ref: str | None, fmt: str) -> None:
    """The spec language's layer types and their fields (or one type's fields in detail);
    with --spec, a spec's own blocks too."""
    from ..base.errors import UsageError, did_you_mean
    from ..lang.fields import REQUIRED
    from ..lang.layertypes import LAYER_TYPES, TYPE_ALIASES
    from ..render.document import ESSENTIAL, Column, Document, Table

    blocks = {}
    if spec_ref is not None:
        from ..resolve.catalog import parse_target

        blocks = dict(parse_target(spec_ref).spec.blocks)
    if name is not None and name in blocks:
        emit(_block_document(blocks[name], spec_ref or ""), fmt)
        return
    if name is not None:
        key = TYPE_ALIASES.get(name, name)
        if key not in LAYER_TYPES:
            known = list(LAYER_TYPES) + list(TYPE_ALIASES) + list(blocks)
            raise UsageError(f"unknown layer type '{name}'{did_you_mean(name, known)}")
        lt = LAYER_TYPES[key]
        rows = tuple(
            {
                "field": f.name,
                "kind": f.kind.description,
                "default": "required" if f.default is REQUIRED else _show(f.default),
                "scaled": "width" if f.channels else "",
                "help": f.help,
            }
            for f in lt.fields
        )
        table = Table(
            columns=(Column("field", "Field", priority=ESSENTIAL), Column("kind", "Accepts", "prose", priority=60), Column("default", "Default", priority=70),
                     Column("scaled", "Scaled by", priority=30), Column("help", "Meaning", "prose", priority=ESSENTIAL)),
            rows=rows,
        )
        aliases = f" (aliases: {', '.join(lt.aliases)})" if lt.aliases else ""
        doc = Document(f"{lt.name}{aliases}: {lt.help}", (), (table,),
                       data={"type": lt.name, "aliases": list(lt.aliases), "help": lt.help,
                             "fields": [dict(r) for r in rows]})
        emit(doc, fmt)
        return
    rows = tuple(
        {
            "type": lt.name,
            "category": lt.category,
            "fields": ", ".join(f.name + ("" if f.default is REQUIRED else "?") for f in lt.fields) or "-",
            "help": lt.help,
        }
        for lt in LAYER_TYPES.values()
    ) + tuple(
        {
            "type": b.name,
            "category": "block (spec)",
            "fields": ", ".join(p.name + ("" if p.required else "?") for p in b.params.values()) or "-",
            "help": b.help,
        }
        for b in blocks.values()
    )
    table = Table(columns=(Column("type", "Type", priority=ESSENTIAL), Column("category", "Category", priority=20),
                           Column("fields", "Fields (? = optional)", "prose", priority=60), Column("help", "What it is", "prose", priority=ESSENTIAL)),
                  rows=rows)
    details = "cnninspect layer-types NAME" + (f" --spec {spec_ref}" if spec_ref else "")
    doc = Document("Layer types", (("details", details),), (table,),
                   data={"layer_types": [dict(r) for r in rows]})
    emit(doc, fmt)


def _block_document(block: object, spec_ref: str) -> object:
    """``layer-types NAME --spec SPEC`` for a user-defined block: its parameters."""
    from ..lang.spec import BlockDef
    from ..render.document import Column, Document, Table

    assert isinstance(block, BlockDef)
    rows = tuple(
        {
            "field": p.name,
            "kind": "a channel count" if p.channels else "a value",
            "default": "required" if p.required else _show(getattr(p.default, "text", p.default)),
            "scaled": "width (at the call)" if p.channels else "",
            "help": p.help,
        }
        for p in block.params.values()
    )
    table = Table(
        columns=(Column("field", "Parameter"), Column("kind", "Accepts", "prose"), Column("default", "Default"),
                 Column("scaled", "Scaled by"), Column("help", "Meaning", "prose")),
        rows=rows,
    )
    where = f"{block.loc.file}:{block.loc.line}"
    return Document(f"{block.name} (block of {spec_ref}, {where}): {block.help or 'user-defined block'}", (), (table,),
                    data={"type": block.name, "block": True, "help": block.help, "label": block.label,
                          "defined_at": where, "params": [dict(r) for r in rows]})


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value)


@click.command("conventions")
@format_option()
@click.option("--operators", is_flag=True,
              help="What each convention counts per aten operator, for Python models (cnninspect/ops/aten_rules.py).")
def conventions(fmt: str, operators: bool) -> None:
    """The counting conventions: what one mult-add counts in each, and which tool it matches."""
    from ..ops.conventions import CONVENTIONS
    from ..render.document import ESSENTIAL, Column, Document, Table

    if operators:
        emit(_operator_rules(), fmt)
        return

    rows = [{"name": c.name, "title": c.title, "counts": c.counted, "summary": c.summary} for c in CONVENTIONS.values()]
    table = Table(columns=(Column("name", "Convention", priority=ESSENTIAL), Column("counts", "Counts", "prose", priority=50), Column("summary", "Definition", "prose", priority=ESSENTIAL)),
                  rows=tuple(rows))
    doc = Document("Counting conventions", (("unit", "--unit flops reports 2 x mult-adds"),), (table,),
                   data={"conventions": rows})
    emit(doc, fmt)


def _operator_rules() -> Any:
    from ..ops.aten_rules import ATEN_OPS, CATEGORIES
    from ..ops.lowering import rules_overview
    from ..render.document import Column, Document, Table

    categories = tuple(
        {"category": c, "what": what, "operators": ", ".join(o.name for o in ATEN_OPS.values() if o.category == c)}
        for c, what in CATEGORIES.items()
    )
    rules = tuple({"convention": c, "applies": a, "rule": r} for c, a, r in rules_overview())
    return Document(
        "Counting conventions per aten operator (Python models)",
        (("unit", "multiply-adds for a batch of one; --unit flops reports 2 x mult-adds"),
         ("rules", "every entry not listed under Rules is not counted by its convention"),
         ("uncounted", "an operator a convention cannot count is listed by name and call count in every output")),
        (Table((Column("convention", "Convention"), Column("applies", "Applies to", "prose"),
                Column("rule", "Rule", "prose")),
               rules, title="Rules"),
         Table((Column("category", "Category"), Column("what", "What"), Column("operators", "Operators", "prose")),
               categories, title="Operators by category")),
        data={"rules": [dict(r) for r in rules], "categories": [dict(c) for c in categories]},
    )
