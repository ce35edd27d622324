"""``--format paper``: the model in its paper's own table layout.

A spec names its layout under ``paper: {layout: ...}``; layouts are a registry:

* ``layer_rows`` (MobileNet v1 Table 1): one row per convolution, pooling, fully connected
  and softmax layer, "Type / Stride | Filter Shape | Input Size", with consecutive identical
  groups of rows collapsed as the paper does ("5x Conv dw / s1").
* ``stages`` (EfficientNet Table 1): one row per top-level entry, "Stage | Operator |
  Resolution | #Channels | #Layers".
* ``stage_brackets`` (ResNet/ResNeXt Table 1): "stage | output | layers", each residual stage
  as its block in brackets times its repeats ("[1x1, 128; 3x3, 128, C=32; 1x1, 256] x3"),
  stages named conv1, conv2, ... by output resolution, the head on one row.
* ``outline`` (Inception-v3 Table 1): "type | patch size/stride | input size", one row per
  convolution, pooling, linear and softmax entry, and consecutive modules of the same
  ``paper: {operator, remarks}`` on one row ("3xInception | As in figure 5"); a module that
  shrinks the grid joins the row before it uncounted (the table's "reduction technique ...
  between the Inception blocks"). Side outputs (auxiliary classifiers) are not rows.

Where a published table for the same model and settings is bundled
(:mod:`cnninspect.published`), rows that differ from it are listed under the table with the
documented erratum, so the paper and the computation are shown side by side, never merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Sequence

from ..analysis import Report
from ..errors import UsageError, one_of
from ..ir import Node, Op, Residual, Seq, Side, ops
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


def _only_conv(node: Node) -> Op | None:
    """The convolution of a node that is one convolution unit (conv, BN, activation), else None."""
    if isinstance(node, Op):
        return node if node.kind == "conv2d" else None
    if not isinstance(node, Seq) or not all(isinstance(c, Op) for c in node.children):
        return None
    convs = [c for c in node.children if isinstance(c, Op) and c.kind == "conv2d"]
    return convs[0] if len(convs) == 1 else None


def _bracket(node: Node) -> str:
    """A residual block as the papers print it: ``[1x1, 64; 3x3, 64, C=32; 1x1, 256]``."""
    body = node.body if isinstance(node, Residual) else node
    cells = []
    for _, op in ops(body):
        if op.kind == "conv2d":
            kh, kw = op.attrs["kernel"]
            g = op.attrs["groups"]
            cells.append(f"{kh}x{kw}, {op.attrs['out_ch']}" + (f", C={g}" if g > 1 else ""))
    return "[" + "; ".join(cells) + "]"


def _head_part(op: Op) -> str | None:
    if op.kind in ("gavgpool", "mean"):
        return "global average pool"
    if op.kind == "gmaxpool":
        return "global max pool"
    if op.kind == "linear":
        return f"{op.attrs['out_f']}-d fc"
    if op.kind == "softmax":
        return "softmax"
    return None


def stage_brackets(report: Report) -> PaperTable:
    rows: list[Cells] = []
    head: list[str] = []
    levels: list[tuple[int, ...]] = []
    for node in report.model.root.children:
        if isinstance(node, Side):
            continue
        if isinstance(node, Op) and (node.kind in ("gavgpool", "gmaxpool", "mean") or head or len(node.out_shape) == 1):
            part = _head_part(node)
            if part:
                head.append(part)
            continue
        size = tuple(node.out_shape[1:])
        if size not in levels:
            levels.append(size)
        stage = f"conv{levels.index(size) + 1}"
        out = "x".join(map(str, size))
        conv = _only_conv(node)
        if conv is not None:
            kh, kw = conv.attrs["kernel"]
            s = conv.attrs["stride"][0]
            cell = f"{kh}x{kw}, {conv.attrs['out_ch']}" + (f", stride {s}" if s > 1 else "")
        elif isinstance(node, Op) and node.kind in ("maxpool2d", "avgpool2d"):
            kh, kw = node.attrs["kernel"]
            cell = f"{kh}x{kw} {'max' if node.kind == 'maxpool2d' else 'average'} pool, stride {node.attrs['stride'][0]}"
        elif isinstance(node, Seq) and node.repeat is not None:
            cell = f"{_bracket(node.children[0])} x{node.repeat}"
        elif isinstance(node, Residual):
            cell = f"{_bracket(node)} x1"
        else:
            cell = stage_operator(node)
        rows.append((stage, out, cell))
    if head:
        rows.append(("", "1x1", ", ".join(head)))
    title = str(report.model.paper.get("table", f"{report.model.title} stages"))
    return PaperTable(title, ("stage", "output", "layers"), tuple(rows))


def outline(report: Report) -> PaperTable:
    rows: list[Cells] = []
    group: tuple[str, str] | None = None  # (type, remarks) of the module row being counted
    count = 0
    for node in report.model.root.children:
        if isinstance(node, Side) or (isinstance(node, Op) and node.kind in ("flatten", "dropout")):
            continue
        size = _hw(node.in_shape)
        conv = _only_conv(node)
        cells: Cells | None = None
        if conv is not None:
            kh, kw = conv.attrs["kernel"]
            padded = any(conv.attrs["pad"])
            cells = ("conv padded" if padded else "conv", f"{kh}x{kw}/{conv.attrs['stride'][0]}", size)
        elif isinstance(node, Op) and node.kind in ("maxpool2d", "avgpool2d"):
            kh, kw = node.attrs["kernel"]
            cells = ("pool", f"{kh}x{kw}/{node.attrs['stride'][0]}", size)
        elif isinstance(node, Op) and node.kind in ("gavgpool", "gmaxpool", "mean"):
            cells = ("pool", f"{node.in_shape[1]}x{node.in_shape[2]}", size)
        elif isinstance(node, Op) and node.kind == "linear":
            cells = ("linear", "logits", size)
        elif isinstance(node, Op) and node.kind == "softmax":
            cells = ("softmax", "classifier", size)
        if cells is not None:
            rows.append(cells)
            group = None
            continue
        paper = node.origin.paper or {}
        key = (str(paper.get("operator", node.label)), str(paper.get("remarks", "")))
        reduces = len(node.in_shape) == 3 and node.out_shape[1:] != node.in_shape[1:]
        if group is not None and (reduces or key == group):
            count += 0 if reduces else 1
            rows[-1] = (f"{count}x{group[0]}",) + rows[-1][1:]
            continue
        group, count = key, 1
        rows.append((f"1x{key[0]}", key[1], size))
    title = str(report.model.paper.get("table", f"{report.model.title} outline"))
    return PaperTable(title, ("type", "patch size/stride", "input size"), tuple(rows))


LAYOUTS: dict[str, Callable[[Report], PaperTable]] = {
    "layer_rows": layer_rows,
    "stages": stages,
    "stage_brackets": stage_brackets,
    "outline": outline,
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
