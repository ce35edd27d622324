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
* ``bneck_rows`` (MobileNetV3 Tables 1-2): one row per top-level entry, "Input | Operator |
  exp size | #out | SE | NL | s".
* ``stage_rows`` (ShuffleNet v2 Table 5): "Layer | Output size | KSize | Stride | Repeat |
  Output channels", the input image first and a stage whose first block strides as two rows
  (the strided block, then the repeats).
* ``fire_rows`` (SqueezeNet Table 1): "layer name/type | output size | filter size / stride |
  depth | s1x1 | e1x1 | e3x3 | #parameter", a fire module's squeeze and expand widths in
  their own columns.

Every layout skips top-level entries without convolution, pooling or fully connected layers
(flatten, dropout). A spec's ``paper: {table: ...}`` is the table's title, or a mapping of
variant to title when the variants are different tables of the paper (MobileNetV3-Large and
-Small); an entry's ``paper: {operator: ...}`` is its label in the operator column, and
``bneck_rows`` prints an entry's ``paper: {out: ...}`` as its #out (the paper's ``k`` for the
number of classes).
* ``block_rows`` (DenseNet Table 1, ConvNeXt Table 9): one row per top-level entry, "Layers |
  Output Size | model", a repeated block drawn as a bracket of its layers ("[1x1 conv; 3x3
  conv] x 6"), other entries one row per drawn layer.

Where a published table for the same model and settings is bundled
(:mod:`cnninspect.published`), rows that differ from it are listed under the table with the
documented erratum, so the paper and the computation are shown side by side, never merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Mapping, Sequence

from ..measure.analysis import Report
from ..base.errors import UsageError, one_of
from ..ops.kinds import KINDS, Role
from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side, ops, walk
from ..published import differences_for
from .document import ESSENTIAL, Column, Document, Table

Cells = tuple[str, ...]


@dataclass(frozen=True)
class PaperTable:
    """Computed paper rows (each a tuple of cell strings) under the layout's column titles."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[Cells, ...]
    # which columns a narrow terminal hides first (lowest first); default: all but the first
    priorities: tuple[int, ...] = ()


def _hw(shape: Sequence[int], channels_last: bool = False) -> str:
    """A shape as the papers print it, H x W x C (a flat vector is 1 x 1 x C)."""
    if len(shape) == 1:
        return f"1x1x{shape[0]}"
    if channels_last:
        h, w, c = shape
    else:
        c, h, w = shape
    return f"{h}x{w}x{c}"


def role(node: Node) -> Role | None:
    """The role of an op's kind (:class:`~cnninspect.ops.kind.Role`); None for a container."""
    return KINDS[node.kind].role if isinstance(node, Op) else None


def _is(node: Node, *roles: Role) -> bool:
    return role(node) in roles


def _pool_name(op: Op) -> str:
    """``max`` or ``average``: what a pooling op's record says it computes."""
    return "max" if KINDS[op.kind].reduce == "max" else "average"


def _conv_cells(op: Op) -> tuple[str, str]:
    a = op.attrs
    kh, kw = a["kernel"]
    s = a["stride"][0]
    if "connections" in a:  # a connection table
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
    if _is(op, Role.CONV):
        t, f = _conv_cells(op)
        return (t, f, _hw(op.in_shape))
    if _is(op, Role.GLOBAL):
        name = "Max Pool" if _pool_name(op) == "max" else "Avg Pool"
        if "size" in a:
            return (f"Adaptive {name}", f"to {op.out_shape[1]}x{op.out_shape[2]}", _hw(op.in_shape))
        return (f"{name} / s1", f"Pool {op.in_shape[1]}x{op.in_shape[2]}", _hw(op.in_shape))
    if _is(op, Role.POOL):
        name = "Max Pool" if _pool_name(op) == "max" else "Avg Pool"
        kh, kw = a["kernel"]
        return (f"{name} / s{a['stride'][0]}", f"Pool {kh}x{kw}", _hw(op.in_shape))
    if _is(op, Role.DENSE):
        return ("FC / s1", f"{a['in_f']}x{a['out_f']}", _hw(op.in_shape, bool(a.get("channels_last"))))
    if _is(op, Role.CLASSIFIER):
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


def paper_title(model: Model, fallback: str) -> str:
    """The spec's ``paper: {table: ...}``: one title, or one per variant (a mapping)."""
    title = model.paper.get("table")
    if isinstance(title, Mapping):
        title = title.get(model.variant)
    return str(title) if title else fallback


def layer_rows(report: Report) -> PaperTable:
    rows = [r for r in (layer_row(op) for _, op in ops(report.model.root)) if r is not None]
    title = paper_title(report.model, f"{report.model.title} body architecture")
    return PaperTable(title, ("Type / Stride", "Filter Shape", "Input Size"), tuple(collapse(rows)))


def stage_channels(node: Node) -> int:
    """A stage's output channels; for a head ending in a flat vector (pool & FC), the
    channels of its last convolution (EfficientNet's 1280)."""
    if len(node.out_shape) == 3:
        return node.out_shape[0]
    found = [op.attrs["out_ch"] for _, op in ops(node) if _is(op, Role.CONV)]
    if _is(node, Role.CONV):
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
    title = paper_title(report.model, f"{report.model.title} stages")
    return PaperTable(title, ("Stage", "Operator", "Resolution", "#Channels", "#Layers"), tuple(rows))


def _only_conv(node: Node) -> Op | None:
    """The convolution of a node that is one convolution unit (conv, BN, activation), else None."""
    if isinstance(node, Op):
        return node if _is(node, Role.CONV) else None
    if not isinstance(node, Seq) or not all(isinstance(c, Op) for c in node.children):
        return None
    convs = [c for c in node.children if _is(c, Role.CONV)]
    return convs[0] if len(convs) == 1 else None


def _bracket(node: Node) -> str:
    """A residual block as the papers print it: ``[1x1, 64; 3x3, 64, C=32; 1x1, 256]``."""
    body = node.body if isinstance(node, Residual) else node
    cells = []
    for _, op in ops(body):
        if _is(op, Role.CONV):
            kh, kw = op.attrs["kernel"]
            g = op.attrs.get("groups", 1)
            cells.append(f"{kh}x{kw}, {op.attrs['out_ch']}" + (f", C={g}" if g > 1 else ""))
    return "[" + "; ".join(cells) + "]"


def _head_part(op: Op) -> str | None:
    if _is(op, Role.GLOBAL):
        if "size" in op.attrs:
            return f"adaptive {_pool_name(op)} pool to {op.out_shape[1]}x{op.out_shape[2]}"
        return f"global {_pool_name(op)} pool"
    if _is(op, Role.DENSE):
        return f"{op.attrs['out_f']}-d fc"
    if _is(op, Role.CLASSIFIER):
        return "softmax"
    return None


def stage_brackets(report: Report) -> PaperTable:
    rows: list[Cells] = []
    head: list[str] = []
    levels: list[tuple[int, ...]] = []
    for node in report.model.root.children:
        if isinstance(node, Side):
            continue
        if isinstance(node, Op) and (_is(node, Role.GLOBAL) or head or len(node.out_shape) == 1):
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
        elif isinstance(node, Op) and _is(node, Role.POOL):
            kh, kw = node.attrs["kernel"]
            cell = f"{kh}x{kw} {_pool_name(node)} pool, stride {node.attrs['stride'][0]}"
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
        if isinstance(node, Side) or _is(node, Role.LAYOUT, Role.ELEMENTWISE):
            continue
        size = _hw(node.in_shape)
        conv = _only_conv(node)
        cells: Cells | None = None
        if conv is not None:
            kh, kw = conv.attrs["kernel"]
            padded = any(conv.attrs["pad"])
            cells = ("conv padded" if padded else "conv", f"{kh}x{kw}/{conv.attrs['stride'][0]}", size)
        elif isinstance(node, Op) and _is(node, Role.POOL):
            kh, kw = node.attrs["kernel"]
            cells = ("pool", f"{kh}x{kw}/{node.attrs['stride'][0]}", size)
        elif isinstance(node, Op) and _is(node, Role.GLOBAL) and "size" in node.attrs:
            cells = ("adaptive pool", f"to {node.out_shape[1]}x{node.out_shape[2]}", size)
        elif isinstance(node, Op) and _is(node, Role.GLOBAL):
            cells = ("pool", f"{node.in_shape[1]}x{node.in_shape[2]}", size)
        elif isinstance(node, Op) and _is(node, Role.DENSE):
            cells = ("linear", "logits", size)
        elif isinstance(node, Op) and _is(node, Role.CLASSIFIER):
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
# --- helpers of the per-entry layouts -----------------------------------------------------

_SHOWN = (Role.CONV, Role.POOL, Role.GLOBAL, Role.DENSE)  # the layers a paper's row is about


def _ops_of(node: Node) -> list[Op]:
    return [node] if isinstance(node, Op) else [op for _, op in ops(node)]


def _nodes(node: Node) -> list[Node]:
    """``node`` and everything inside it."""
    return [node] + [n for _, _, n in walk(node)]


def _shown(node: Node) -> list[Op]:
    """The ops a paper's row is about: convolutions, pooling and fully connected layers."""
    return [op for op in _ops_of(node) if _is(op, *_SHOWN)]


def _operator(node: Node, found: Sequence[Op]) -> str:
    label = node.origin.paper.get("operator") if node.origin.paper else None
    if label:
        return str(label)
    if len(found) == 1:
        op = found[0]
        if _is(op, Role.CONV):
            kh, kw = op.attrs["kernel"]
            return f"conv2d, {kh}x{kw}"
        if _is(op, Role.GLOBAL):
            return f"pool, {op.in_shape[1]}x{op.in_shape[2]}"
        if _is(op, Role.POOL):
            kh, kw = op.attrs["kernel"]
            return f"pool, {kh}x{kw}"
        return "FC"
    return node.label if not isinstance(node, Op) else node.kind


def _stride(found: Sequence[Op]) -> int:
    return max((op.attrs["stride"][0] for op in found if "stride" in op.attrs), default=1)


def _depthwise(op: Op) -> bool:
    a = op.attrs
    return _is(op, Role.CONV) and a.get("groups", 1) > 1 and a["groups"] == a["in_ch"] == a["out_ch"]


def _weight_depth(node: Node) -> int:
    """Convolution and FC layers on the longest path through ``node``."""
    if isinstance(node, Op):
        return 1 if _is(node, Role.CONV, Role.DENSE) else 0
    if isinstance(node, Seq):
        return sum(_weight_depth(c) for c in node.children)
    if isinstance(node, Concat):
        return max((_weight_depth(c) for c in node.branches), default=0)
    if isinstance(node, Residual):
        post = _weight_depth(node.post) if node.post is not None else 0
        return max(_weight_depth(node.body), _weight_depth(node.shortcut)) + post
    return 0  # a gate or side branch is off the main path


def _square(shape: Sequence[int]) -> str:
    """MobileNetV3's "112^2 x 16" (a flat vector is 1^2 x C)."""
    if len(shape) == 1:
        return f"1^2 x {shape[0]}"
    c, h, w = shape
    return f"{h}^2 x {c}" if h == w else f"{h}x{w} x {c}"


# --- MobileNetV3 Tables 1-2 ------------------------------------------------------------

NONLINEARITY = {"relu": "RE", "hardswish": "HS"}


def bneck_rows(report: Report) -> PaperTable:
    """MobileNetV3's "Input | Operator | exp size | #out | SE | NL | s": exp size is the
    depthwise convolution's width, SE marks a gate, NL is the first activation outside it."""
    rows = []
    for node in report.model.root.children:
        found = _shown(node)
        if not found:
            continue
        paper = node.origin.paper or {}
        gates = [g for g in _nodes(node) if isinstance(g, Gate)]
        inside_gates = {id(op) for g in gates for op in _ops_of(g.branch)}
        acts = [op.attrs["fn"] for op in _ops_of(node) if _is(op, Role.ACTIVATION) and id(op) not in inside_gates]
        dw = [op for op in found if _depthwise(op)]
        weighted = [op for op in found if _is(op, Role.CONV, Role.DENSE)]
        out = paper.get("out") or (str(node.out_shape[0]) if weighted else "-")
        rows.append((
            _square(node.in_shape),
            _operator(node, found),
            str(dw[0].attrs["out_ch"]) if dw else "-",
            str(out),
            "SE" if gates else "-",
            NONLINEARITY.get(acts[0], acts[0]) if acts else "-",
            str(_stride(found)),
        ))
    title = paper_title(report.model, f"{report.model.title} specification")
    return PaperTable(title, ("Input", "Operator", "exp size", "#out", "SE", "NL", "s"), tuple(rows))


# --- ShuffleNet v2 Table 5 ---------------------------------------------------------------


def stage_rows(report: Report) -> PaperTable:
    """ShuffleNet v2's "Layer | Output size | KSize | Stride | Repeat | Output channels": the
    image first; a repeated stage as its strided first block and the repeats; global pooling
    with its window and nothing else; the FC layer with its outputs only."""
    c, h, w = report.model.input_shape
    rows: list[Cells] = [("Image", f"{h}x{w}", "", "", "", str(c))]
    for node in report.model.root.children:
        found = _shown(node)
        if not found:
            continue
        name = str((node.origin.paper or {}).get("operator") or node.name)
        size = f"{node.out_shape[1]}x{node.out_shape[2]}" if len(node.out_shape) == 3 else ""
        ch = str(node.out_shape[0])
        if isinstance(node, Seq) and node.repeat is not None:
            first = _stride(_shown(node.children[0]))
            if first > 1 and node.repeat > 1:
                rows.append((name, size, "", str(first), "1", ch))
                rows.append((name, size, "", "1", str(node.repeat - 1), ch))
            else:
                rows.append((name, size, "", str(first), str(node.repeat), ch))
            continue
        op = found[0]
        if _is(op, Role.GLOBAL):
            rows.append((name, size, f"{op.in_shape[1]}x{op.in_shape[2]}", "", "", ""))
        elif _is(op, Role.DENSE):
            rows.append((name, "", "", "", "", str(op.attrs["out_f"])))
        else:
            kh, kw = op.attrs["kernel"]
            rows.append((name, size, f"{kh}x{kw}", str(_stride(found)), "1", ch))
    title = paper_title(report.model, f"{report.model.title} architecture")
    return PaperTable(title, ("Layer", "Output size", "KSize", "Stride", "Repeat", "Output channels"), tuple(rows))


# --- SqueezeNet Table 1 -------------------------------------------------------------------


def _fire_widths(node: Node) -> tuple[str, str, str]:
    """(s1x1, e1x1, e3x3) of a fire-like block: 1x1 convolutions before its concatenation,
    1x1 and 3x3 convolutions inside it; blank for anything else."""
    concats = [n for n in _nodes(node) if isinstance(n, Concat)]
    if not concats:
        return "", "", ""
    inside = {id(op) for n in concats for op in _ops_of(n)}
    convs = [op for op in _ops_of(node) if _is(op, Role.CONV)]

    def width(ops_: list[Op]) -> str:
        return str(sum(op.attrs["out_ch"] for op in ops_)) if ops_ else ""

    return (
        width([op for op in convs if id(op) not in inside and op.attrs["kernel"] == (1, 1)]),
        width([op for op in convs if id(op) in inside and op.attrs["kernel"] == (1, 1)]),
        width([op for op in convs if id(op) in inside and op.attrs["kernel"] == (3, 3)]),
    )


def fire_rows(report: Report) -> PaperTable:
    """SqueezeNet's Table 1: name, output size, filter size / stride for single layers, depth
    (weight layers on the longest path), the fire widths, and the entry's parameters."""
    c, h, w = report.model.input_shape
    params = {r.name: r.params for r in report.rows}
    rows: list[Cells] = [("input image", f"{h}x{w}x{c}", "", "", "", "", "", "-")]
    for node in report.model.root.children:
        found = _shown(node)
        if not found:
            continue
        size = "x".join(str(d) for d in (*node.out_shape[1:], node.out_shape[0])) if len(node.out_shape) == 3 else ""
        filt = ""
        if len(found) == 1:
            op = found[0]
            if _is(op, Role.GLOBAL):
                filt = f"{op.in_shape[1]}x{op.in_shape[2]}/1"
            elif _is(op, Role.POOL, Role.CONV):
                kh, kw = op.attrs["kernel"]
                filt = f"{kh}x{kw}/{op.attrs['stride'][0]}"
                if _is(op, Role.CONV):
                    filt += f" (x{op.attrs['out_ch']})"
        n = params.get(node.name, 0)
        rows.append((node.name, size, filt, str(_weight_depth(node)), *_fire_widths(node), f"{n:,}" if n else ""))
    title = paper_title(report.model, f"{report.model.title} architectural dimensions")
    columns = ("Layer", "Output size", "Filter / stride", "Depth", "s1x1", "e1x1", "e3x3", "#params")
    return PaperTable(title, columns, tuple(rows), (ESSENTIAL, 60, 60, 30, 40, 40, 40, 60))
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
    if _is(op, Role.CONV):
        kh, kw = a["kernel"]
        s = a["stride"][0]
        stride = f", stride {s}" if s > 1 else ""
        if style == "kernels":
            return f"{kh}x{kw} conv{stride}"
        g = a.get("groups", 1)
        dw = g > 1 and g == a["in_ch"] == a["out_ch"]
        groups = f", C={g}" if g > 1 and not dw else ""
        return f"{'d' if dw else ''}{kh}x{kw}, {a['out_ch']}{groups}{stride}"
    if _is(op, Role.DENSE):
        if a.get("channels_last"):  # a linear layer at every position: a 1x1 convolution
            return "1x1 conv" if style == "kernels" else f"1x1, {a['out_f']}"
        return f"{a['out_f']}D fully-connected"
    if _is(op, Role.POOL):
        kh, kw = a["kernel"]
        return f"{kh}x{kw} {_pool_name(op)} pool, stride {a['stride'][0]}"
    if _is(op, Role.GLOBAL):
        name = _pool_name(op)
        if "size" in a:
            return f"adaptive {name} pool to {op.out_shape[1]}x{op.out_shape[2]}"
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
            if _is(op, Role.CLASSIFIER) and entry:
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
    "stage_brackets": stage_brackets,
    "outline": outline,
    "bneck_rows": bneck_rows,
    "stage_rows": stage_rows,
    "fire_rows": fire_rows,
    "block_rows": block_rows,
}


def paper_table(report: Report) -> PaperTable:
    layout = str(report.model.paper.get("layout", "layer_rows"))
    if layout not in LAYOUTS:
        raise UsageError(f"{report.model.name}: unknown paper layout '{layout}'; known: {one_of(LAYOUTS)}")
    return LAYOUTS[layout](report)


def _priorities(pt: PaperTable) -> tuple[int, ...]:
    """The layout's column priorities, or: the first column (it names the row) is never hidden."""
    if pt.priorities:
        return pt.priorities
    return (ESSENTIAL,) + (50,) * (len(pt.columns) - 1)


def paper_document(report: Report, convention_meta: tuple[str, str]) -> Document:
    pt = paper_table(report)
    keys = [f"c{i}" for i in range(len(pt.columns))]
    table = Table(
        columns=tuple(Column(k, h, priority=p) for k, h, p in zip(keys, pt.columns, _priorities(pt))),
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
