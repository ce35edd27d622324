"""``cnninspect list``: the bundled specs, their variants and default costs (no torch)."""

from __future__ import annotations

import click

from .common import emit, format_option


@click.command("list")
@format_option()
def list_cmd(fmt: str) -> None:
    """List the bundled specs with citation, variants, parameters and mult-adds.

    Costs are for each spec's default variant under the paper convention, computed by the
    torch-free spec engine (so this command never imports torch).
    """
    from ..measure.analysis import analyze
    from ..resolve.catalog import bundled_names, load_bundled
    from ..ops.conventions import get_convention
    from ..render.document import ESSENTIAL, Column, Document, Table
    from ..resolve.resolver import resolve

    rows = []
    variant_lists = []
    for name in bundled_names():
        spec = load_bundled(name)
        model = resolve(spec)
        report = analyze(model, "paper")
        cite = spec.citation.get("short") or spec.citation.get("paper") or ""
        variant_lists.append(tuple(spec.variants))
        rows.append(
            {
                "spec": name,
                "title": spec.title,
                "variants": ", ".join(v + ("*" if v == model.variant else "") for v in spec.variants) or "-",
                "default": model.variant or "-",
                "input": list(model.input_shape),
                "params": report.totals.params,
                "mult_adds": report.totals.mult_adds,
                "citation": str(cite),
            }
        )
    table = Table(
        columns=(
            Column("spec", "Spec", priority=ESSENTIAL),
            Column("title", "Title", priority=30),
            Column("variants", "Variants (* default)", "prose", priority=60, width=36),
            Column("input", "Input", "shape", priority=40),
            Column("params", "Params", "si", priority=90),
            Column("mult_adds", "Mult-adds", "si", priority=90),
            Column("citation", "Citation", priority=20),
        ),
        rows=tuple(rows),
    )
    doc = Document(
        title="Bundled specs",
        meta=(("convention", get_convention("paper").describe()), ("costs", "each spec's default variant")),
        tables=(table,),
        notes=("Use NAME:VARIANT (e.g. mobilenet_v1:conv) with summary, compare and sweep.",),
        data={
            "schema": "cnninspect.list/1",
            "convention": "paper",
            "specs": [
                {**r, "variants": list(spec_variants)}
                for r, spec_variants in zip(rows, variant_lists)
            ],
        },
        csv_context={"convention": "paper"},
    )
    emit(doc, fmt)
