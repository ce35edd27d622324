"""``--format paper``: the model in its paper's own table layout.

A spec names its layout under ``paper: {layout: ...}``; layouts are a registry:

* ``layer_rows`` (MobileNet v1 Table 1): one row per convolution, pooling, fully connected
  and softmax layer, "Type / Stride | Filter Shape | Input Size", with consecutive identical
  groups of rows collapsed as the paper does ("5x Conv dw / s1").
* ``stages`` (EfficientNet Table 1): one row per top-level entry, "Stage | Operator |
  Resolution | #Channels | #Layers".
* ``block_rows`` (DenseNet Table 1, ConvNeXt Table 9): one row per top-level entry, "Layers |
  Output Size | model", a repeated block drawn as a bracket of its layers ("[1x1 conv; 3x3
  conv] x 6"), other entries one row per drawn layer.

Where a published table for the same model and settings is bundled
(:mod:`cnninspect.published`), rows that differ from it are listed under the table with the
documented erratum, so the paper and the computation are shown side by side, never merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Sequence

from ..analysis import Report
from ..errors import UsageError, one_of
from ..ir import Node, Op, Seq, ops
from ..published import differences_for
from .document import Column, Document, Table

Cells = tuple[str, ...]


@dataclass(frozen=True)
class PaperTable:
    """Computed paper rows (each a tuple of cell strings) under the layout's column titles."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[Cells, ...]


def _hw(shape: Sequence[int], channels_last: bool = False) -> str:
    """A shape as the papers print it, H x W x C (a flat vector is 1 x 1 x C)."""
    if len(shape) == 1:
        return f"1x1x{shape[0]}"
    if channels_last:
        h, w, c = shape
    else:
        c, h, w = shape
    return f"{h}x{w}x{c}"


def _conv_cells(op: Op) -> tuple[str, str]:
    a = op.attrs
    kh, kw = a["kernel"]
    s = a["stride"][0]
    if op.kind == "conv_table":
        n = sum(len(r) for r in a["connections"])
        return f"Conv / s{s}", f"{kh}x{kw}x{n} (table)x{a['out_ch']}"
    g = a["groups"]
    if g > 1 and g == a["in_ch"] == a["out_ch"]:
        return f"Conv dw / s{s}", f"{kh}x{kw}x{a['in_ch']} dw"
    if g > 1:
        return f"Conv / s{s}", f"{kh}x{kw}x{a['in_ch'] // g}x{a['out_ch']} g{g}"
    return f"Conv / s{s}", f"{kh}x{kw}x{a['in_ch']}x{a['out_ch']}"


def layer_row(op: Op) -> Cells | None:
    """The paper row of one op, or None for ops the paper's table leaves out (BN, ReLU...)."""
    a = op.attrs
    if op.kind in ("conv2d", "conv_table"):
        t, f = _conv_cells(op)
        return (t, f, _hw(op.in_shape))
    if op.kind in ("gavgpool", "gmaxpool", "mean"):
        name = "Max Pool" if op.kind == "gmaxpool" else "Avg Pool"
        return (f"{name} / s1", f"Pool {op.in_shape[1]}x{op.in_shape[2]}", _hw(op.in_shape))
    if op.kind in ("avgpool2d", "maxpool2d"):
        name = "Avg Pool" if op.kind == "avgpool2d" else "Max Pool"
        kh, kw = a["kernel"]
        return (f"{name} / s{a['stride'][0]}", f"Pool {kh}x{kw}", _hw(op.in_shape))
    if op.kind == "linear":
        return ("FC / s1", f"{a['in_f']}x{a['out_f']}", _hw(op.in_shape, bool(a.get("channels_last"))))
    if op.kind == "softmax":
        return ("Softmax / s1", "Classifier", _hw(op.in_shape))
    return None


def collapse(rows: Sequence[Cells], max_period: int = 4) -> list[Cells]:
    """Collapse consecutive repeats of a group of rows, marking the first row ``Nx``."""
    out: list[Cells] = []
    i = 0
    while i < len(rows):
        best_p, best_r = 1, 1
        for p in range(1, max_period + 1):
            r = 1
            while i + (r + 1) * p <= len(rows) and rows[i + r * p : i + (r + 1) * p] == rows[i : i + p]:
                r += 1
            if r >= 2 and p * r > best_p * best_r:
                best_p, best_r = p, r
        group = list(rows[i : i + best_p])
        if best_r >= 2:
            group[0] = (f"{best_r}x {group[0][0]}",) + tuple(group[0][1:])
        out.extend(group)
        i += best_p * best_r
    return out


def layer_rows(report: Report) -> PaperTable:
    rows = [r for r in (layer_row(op) for _, op in ops(report.model.root)) if r is not None]
    title = str(report.model.paper.get("table", f"{report.model.title} body architecture"))
    return PaperTable(title, ("Type / Stride", "Filter Shape", "Input Size"), tuple(collapse(rows)))


def stage_channels(node: Node) -> int:
    """A stage's output channels; for a head ending in a flat vector (pool & FC), the
    channels of its last convolution (EfficientNet's 1280)."""
    if len(node.out_shape) == 3:
        return node.out_shape[0]
    found = [op.attrs["out_ch"] for _, op in ops(node) if op.kind in ("conv2d", "conv_table")]
    if isinstance(node, Op) and node.kind in ("conv2d", "conv_table"):
        found.append(node.attrs["out_ch"])
    return found[-1] if found else node.out_shape[0]


def stage_operator(node: Node) -> str:
    label = node.origin.paper.get("operator") if node.origin.paper else None
    if label:
        return str(label)
    if isinstance(node, Seq) and node.repeat is not None:
        first = node.children[0]
        return first.label if not isinstance(first, Op) else first.kind
    return node.label if not isinstance(node, Op) else node.kind


def stages(report: Report) -> PaperTable:
    rows = []
    for i, node in enumerate(report.model.root.children, start=1):
        _, h, w = node.in_shape if len(node.in_shape) == 3 else (0, 1, 1)
        n = node.repeat if isinstance(node, Seq) and node.repeat is not None else 1
        rows.append((str(i), stage_operator(node), f"{h}x{w}", str(stage_channels(node)), str(n)))
    title = str(report.model.paper.get("table", f"{report.model.title} stages"))
    return PaperTable(title, ("Stage", "Operator", "Resolution", "#Channels", "#Layers"), tuple(rows))


def _size(shape: Sequence[int], channels_last: bool = False) -> str:
    """The spatial size of a tensor as the papers print it (a flat vector is 1x1)."""
    if len(shape) != 3:
        return "1x1"
    h, w = shape[:2] if channels_last else shape[1:]
    return f"{h}x{w}"


def block_cell(op: Op, style: str) -> str | None:
    """One op as a block table draws it ("d7x7, 96", "1x1 conv", "3x3 max pool, stride 2"),
    or None for ops the table leaves out (normalisation, activations, softmax)."""
    a = op.attrs
    if op.kind == "conv2d":
        kh, kw = a["kernel"]
        s = a["stride"][0]
        stride = f", stride {s}" if s > 1 else ""
        if style == "kernels":
            return f"{kh}x{kw} conv{stride}"
        g = a["groups"]
        dw = g > 1 and g == a["in_ch"] == a["out_ch"]
        groups = f", C={g}" if g > 1 and not dw else ""
        return f"{'d' if dw else ''}{kh}x{kw}, {a['out_ch']}{groups}{stride}"
    if op.kind == "linear":
        if a.get("channels_last"):  # a linear layer at every position: a 1x1 convolution
            return "1x1 conv" if style == "kernels" else f"1x1, {a['out_f']}"
        return f"{a['out_f']}D fully-connected"
    if op.kind in ("maxpool2d", "avgpool2d"):
        kh, kw = a["kernel"]
        name = "max" if op.kind == "maxpool2d" else "average"
        return f"{kh}x{kw} {name} pool, stride {a['stride'][0]}"
    if op.kind in ("gavgpool", "gmaxpool", "mean"):
        name = "max" if op.kind == "gmaxpool" else "average"
        return f"{op.in_shape[1]}x{op.in_shape[2]} global {name} pool"
    return None


def block_rows(report: Report) -> PaperTable:
    """One row per top-level entry, as DenseNet's Table 1 and ConvNeXt's Table 9 draw a
    network: a repeated block is one bracket of its weighted layers ("[1x1 conv; 3x3 conv]
    x 6"), any other entry one row per drawn layer, with the output size where it changes.
    An entry's ``paper: {layer: ...}`` names its row, ``drawn: false`` leaves it out (the
    paper does not draw it); the spec's ``paper: {style: kernels}`` prints kernels only
    (DenseNet), the default ``channels`` kernel and channels (ResNet, ConvNeXt)."""
    style = str(report.model.paper.get("style", "channels"))
    rows: list[Cells] = []
    for node in report.model.root.children:
        paper = node.origin.paper or {}
        if paper.get("drawn") is False:
            continue
        layer = str(paper.get("layer", node.name))
        if isinstance(node, Seq) and node.repeat is not None:
            cells = [c for c in (block_cell(op, style) for _, op in ops(node.children[0])) if c]
            rows.append((layer, _size(node.out_shape), f"[{'; '.join(cells)}] x {node.repeat}"))
            continue
        entry: list[Cells] = []
        last_size = None
        for op in [node] if isinstance(node, Op) else [op for _, op in ops(node)]:
            if op.kind == "softmax" and entry:
                entry[-1] = entry[-1][:2] + (entry[-1][2] + ", softmax",)
                continue
            cell = block_cell(op, style)
            if cell is None:
                continue
            size = _size(op.out_shape, bool(op.attrs.get("channels_last")))
            entry.append(("" if entry else layer, "" if size == last_size else size, cell))
            last_size = size
        rows.extend(entry)
    title = str(report.model.paper.get("table", f"{report.model.title} architecture"))
    return PaperTable(title, ("Layers", "Output Size", report.model.label), tuple(rows))


LAYOUTS: dict[str, Callable[[Report], PaperTable]] = {
    "layer_rows": layer_rows,
    "stages": stages,
    "block_rows": block_rows,
}


def paper_table(report: Report) -> PaperTable:
    layout = str(report.model.paper.get("layout", "layer_rows"))
    if layout not in LAYOUTS:
        raise UsageError(f"{report.model.name}: unknown paper layout '{layout}'; known: {one_of(LAYOUTS)}")
    return LAYOUTS[layout](report)


def paper_document(report: Report, convention_meta: tuple[str, str]) -> Document:
    pt = paper_table(report)
    keys = [f"c{i}" for i in range(len(pt.columns))]
    table = Table(
        columns=tuple(Column(k, h) for k, h in zip(keys, pt.columns)),
        rows=tuple(dict(zip(keys, row)) for row in pt.rows),
    )
    notes = differences_for(report.model, pt.title, pt.rows)
    t = report.totals
    footer = (
        ("Params", f"{t.params:,}"),
        (f"Mult-adds ({report.convention.name})", f"{t.mult_adds:,}"),
    )
    return Document(
        title=f"{pt.title} (computed: {report.model.label})",
        meta=(convention_meta,),
        tables=(table,),
        notes=tuple(notes),
        footer=footer,
        csv_context={"model": report.model.label, "convention": report.convention.name},
    )
