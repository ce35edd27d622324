"""Receptive fields: known answers derived by hand, and an independent measurement on the
built modules (the extent of the input gradient of one unit) for a plain chain, a residual
net with a squeeze-and-excitation gate, an inception net, asymmetric kernels and dilation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from cnninspect.measure import receptive as rf
from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.ops.kinds import KINDS
from cnninspect.resolve.resolver import resolve
from cnninspect.lang.spec import spec_from_text

from conftest import invoke


def test_every_op_kind_has_a_geometry_on_a_map():
    """Each record's receptive-field rule gives a window or GLOBAL on a 3x8x8 input."""
    for kind, record in KINDS.items():
        g = record.field({"kernel": (3, 3), "stride": (1, 1), "pad": (1, 1, 1, 1)}, (3, 8, 8))
        assert isinstance(g, rf.Window) or g is rf.GLOBAL, kind


# --- known answers ---------------------------------------------------------------------------


def closed_form(layers: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Araujo et al. 2019, eq. (2) and (5): size r = 1 + sum (k_l - 1) prod_{i<l} s_i,
    effective stride prod s_l, start -sum p_l prod_{i<l} s_i, for (kernel, stride, pad before)."""
    size, jump, start = 1, 1, 0
    for k, s, p in layers:
        size += (k - 1) * jump
        start -= p * jump
        jump *= s
    return size, jump, start


def summary_json(*args: str) -> dict:
    result = invoke("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def row(doc: dict, name: str) -> dict:
    return next(r for r in doc["layers"] + doc["blocks"] if r["name"] == name)


# MobileNet v1, Table 1: (kernel, stride) of every row up to the last pointwise convolution.
# The printed "Conv dw / s2" at 7x7x1024 is an erratum (the spec's header explains it): s1.
MOBILENET_TABLE1 = [(3, 2)] + [
    (k, s)
    for dw_stride in (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
    for k, s in ((3, dw_stride), (1, 1))
]


def test_mobilenet_v1_last_pointwise_conv_matches_table_1():
    # padding: PyTorch's symmetric k//2 (the spec's default) ...
    torch_pad = [(k, s, k // 2) for k, s in MOBILENET_TABLE1]
    size, jump, start = closed_form(torch_pad)
    assert (size, jump, start) == (315, 32, -157)
    doc = summary_json("mobilenet_v1")
    last = row(doc, "sep9.pw.conv")
    assert last["receptive_field"] == [size, size]
    assert last["effective_stride"] == [jump, jump]
    assert last["rf_start"] == [start, start]
    assert doc["receptive_field"]["layer"] == "sep9"
    # ... and TensorFlow's 'same' at 224 (no padding before a stride-2 window on an even map):
    # the 315, stride 32 and effective padding 126 of Araujo et al.'s table for mobilenet_v1
    tf_pad = [(k, s, 0 if s == 2 else k // 2) for k, s in MOBILENET_TABLE1]
    assert closed_form(tf_pad) == (315, 32, -126)
    tf_last = row(summary_json("mobilenet_v1", "--padding", "tf"), "sep9.pw.conv")
    assert (tf_last["receptive_field"], tf_last["rf_start"]) == ([315, 315], [-126, -126])
    # global pooling: every later row depends on the whole input
    assert row(doc, "fc")["receptive_field"] == "global"
    assert row(doc, "fc")["effective_stride"] is None


def test_vgg16_and_alexnet_match_the_published_table():
    # VGG-16 (Table 1, configuration D): 13 3x3/1 pad 1 convolutions, 2x2/2 pools
    vgg = []
    for n in (2, 2, 3, 3, 3):
        vgg += [(3, 1, 1)] * n + [(2, 2, 0)]
    assert closed_form(vgg) == (212, 32, -90)  # Araujo et al.: vgg_16 212, 32, padding 90
    assert row(summary_json("vgg16"), "pool5")["receptive_field"] == [212, 212]
    assert row(summary_json("vgg16"), "pool5")["rf_start"] == [-90, -90]
    # AlexNet (its geometry is TF-slim's alexnet_v2: 195, 32, padding 64 in the same table)
    alex = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    assert closed_form(alex) == (195, 32, -64)
    pool5 = row(summary_json("alexnet"), "pool5")
    assert (pool5["receptive_field"], pool5["effective_stride"], pool5["rf_start"]) == ([195, 195], [32, 32], [-64, -64])


def _resnet50_body(stride_on: str) -> list[tuple[int, int, int]]:
    """The longest path of ResNet-50 (Table 1): stem, then per block 1x1, 3x3, 1x1; the
    projection shortcuts lie inside the body's field, so the body path gives the union."""
    layers = [(7, 2, 3), (3, 2, 1)]
    for n, stride in ((3, 1), (4, 2), (6, 2), (3, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            s1, s3 = (s, 1) if stride_on == "1x1" else (1, s)
            layers += [(1, s1, 0), (3, s3, 1), (1, 1, 0)]
    return layers


@pytest.mark.parametrize("stride_on, expected", [("1x1", (483, 32, -241)), ("3x3", (427, 32, -213))])
def test_resnet50_in_both_stride_placements(stride_on, expected):
    assert closed_form(_resnet50_body(stride_on)) == expected
    size, jump, start = expected
    doc = summary_json("resnet", "--set", f"stride_on={stride_on}")
    last = row(doc, "conv5_x")
    assert last["receptive_field"] == [size, size]
    assert last["effective_stride"] == [jump, jump]
    assert last["rf_start"] == [start, start]
    # the projection shortcut of conv3_x.0 sees less than its body: the union is the body
    body, short = row(doc, "conv3_x.0.body"), row(doc, "conv3_x.0.shortcut")
    assert row(doc, "conv3_x.0")["receptive_field"] == body["receptive_field"]
    assert short["receptive_field"][0] < body["receptive_field"][0]


def test_squeeze_and_excitation_makes_the_field_global_but_not_the_convolutional_one():
    doc = summary_json("efficientnet")
    se_block = row(doc, "stage2.0")
    assert se_block["receptive_field"] == "global"
    assert se_block["conv_receptive_field"] == [7, 7]  # stem 3x3/2, then a 3x3 depthwise
    assert se_block["effective_stride"] == [2, 2]
    assert doc["receptive_field"]["layer"] == "head.conv"
    assert doc["receptive_field"]["conv_receptive_field"] == [851, 851]


# --- independent measurement on built modules ---------------------------------------------

NETS = {
    # TF 'same' padding: stride-2 windows pad after only; an even kernel pads asymmetrically
    "chain": """
name: chain
input: {channels: 3, resolution: 160}
padding_style: tf
layers:
  - conv: {out: 8, kernel: 3, stride: 2, bn: true, act: relu}
  - maxpool: {kernel: 3, stride: 2, padding: same}
  - conv: {out: 8, kernel: 5, act: silu}
  - avgpool: {kernel: 2}
  - conv: {out: 8, kernel: 3, stride: 2, padding: valid}
  - conv: {out: 8, kernel: 4, act: relu}
""",
    # identity and projection shortcuts, both bottleneck stride placements, an SE gate
    "residual": """
name: residual
input: {channels: 3, resolution: 160}
layers:
  - conv: {out: 8, kernel: 3, stride: 2, bn: true, act: relu}
  - basic: {out: 8}
  - basic: {out: 16, stride: 2}
  - bottleneck: {mid: 8, out: 32, stride: 2}
  - bottleneck: {mid: 8, out: 32, stride: 2, stride_on: 3x3}
  - mbconv: {out: 32, expand: 2, kernel: 5, se: 0.25}
  - residual:
      body:
        - dwconv: {kernel: 3, bn: true, act: relu}
        - pwconv: {out: 32}
      post: relu
""",
    "inception": """
name: inception
input: {channels: 3, resolution: 64}
layers:
  - conv: {out: 8, kernel: 3, stride: 2, act: relu}
  - inception: {c1x1: 4, c3x3_reduce: 4, c3x3: 8, c5x5_reduce: 2, c5x5: 4, pool_proj: 4}
  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}
  - concat:
      - [{conv: {out: 4, kernel: [1, 7], act: relu}}]
      - [{conv: {out: 4, kernel: [7, 1], act: relu}}, {conv: {out: 4, kernel: 3}}]
      - [{avgpool: {kernel: 3, stride: 1, padding: same}}]
""",
    "asymmetric": """
name: asymmetric
input: {channels: 3, resolution: 64}
layers:
  - conv: {out: 8, kernel: [1, 7], act: relu}
  - conv: {out: 8, kernel: [7, 1], stride: [2, 1], act: relu}
  - dwconv: {kernel: [3, 5], stride: [1, 2], padding: [1, 2], act: relu}
  - conv: {out: 8, kernel: [5, 3], padding: valid}
  - maxpool: {kernel: [2, 3], stride: [2, 1]}
""",
    "dilated": """
name: dilated
input: {channels: 3, resolution: 64}
layers:
  - conv: {out: 8, kernel: 3, dilation: 2, bn: true, act: relu}
  - dwconv: {kernel: 3, dilation: 3, stride: 2, act: relu}
  - conv: {out: 8, kernel: 3, dilation: [1, 2], padding: valid, act: relu}
  - conv: {out: 8, kernel: [3, 5], dilation: [2, 1]}
""",
}


def _positive_module(model, detach_gates: bool) -> nn.Module:
    """The built module with every weight positive (no cancellation: a path that exists
    carries gradient), max pooling replaced by average pooling of the same geometry (a max
    passes gradient to one element only), batch norm at mean 0 and variance 1, float64."""
    torch.manual_seed(0)
    net = build_module(model).double()
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(parent, name, nn.AdaptiveAvgPool2d(child.output_size))
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_((torch.rand_like(p) * 0.5 + 0.5) / fan_in)  # keeps activations near 1
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    if detach_gates:  # the convolutional path alone: a gate's branch becomes a constant
        from cnninspect.build.modules import Gate

        for m in net.modules():
            if isinstance(m, Gate):
                m.branch.register_forward_hook(lambda mod, inp, out: out.detach())
    return net


def measured_extents(model, names: list[str], detach_gates: bool = False):
    """For each named row: the input rows and columns (first, last) with a non-zero gradient
    of the sum over channels of the row's centre unit, ``"global"`` when it is all of them,
    or None when the row is a detached gate branch."""
    net = _positive_module(model, detach_gates)
    modules = dict(net.named_modules())
    outputs = {}
    for name in names:
        modules[name].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
    x = (torch.rand((1,) + tuple(model.input_shape), dtype=torch.float64) + 0.5).requires_grad_()
    net(x)
    out = {}
    for name in names:
        y = outputs[name]
        if not y.requires_grad:
            out[name] = None
            continue
        ci, cj = y.shape[2] // 2, y.shape[3] // 2
        (g,) = torch.autograd.grad(y[0, :, ci, cj].sum(), x, retain_graph=True)
        hit = g[0].abs().sum(0) > 0
        if bool(hit.all()):
            out[name] = "global"
            continue
        rows = hit.any(1).nonzero().flatten()
        cols = hit.any(0).nonzero().flatten()
        out[name] = ((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())))
    return out


def predicted_extent(g: rf.Geometry, out_shape, in_hw):
    if isinstance(g, rf.Global):
        return "global"
    ext = []
    for a, n, size in ((g.h, out_shape[1], in_hw[0]), (g.w, out_shape[2], in_hw[1])):
        lo = a.start + (n // 2) * a.stride
        ext.append((max(lo, 0), min(lo + a.size - 1, size - 1)))
    return tuple(ext)


@pytest.mark.parametrize("net", list(NETS))
def test_gradient_measurement_agrees_with_the_computed_field(net, one_thread):
    model = resolve(spec_from_text(NETS[net], f"{net}.yaml"))
    fields = rf.receptive_fields(model)
    rows = [r for r in analyze(model).rows if len(r.output_shape) == 3]
    names = [r.name for r in rows]
    in_hw = model.input_shape[1:]
    for mode in ("full", "conv"):
        measured = measured_extents(model, names, detach_gates=mode == "conv")
        for r in rows:
            g = getattr(fields.rows[r.name], mode)
            expected = predicted_extent(g, r.output_shape, in_hw)
            if measured[r.name] is None:  # a gate branch made constant: its field is global
                assert mode == "conv" and expected == "global", (net, r.name)
                continue
            assert measured[r.name] == expected, (net, mode, r.name, g)
    # not vacuous: the last feature map's centre unit sees a field that lies inside the input
    last = fields.last_field.conv
    shape = next(r.output_shape for r in rows if r.name == fields.last)
    for a, n, size in ((last.h, shape[1], in_hw[0]), (last.w, shape[2], in_hw[1])):
        lo = a.start + (n // 2) * a.stride
        assert 0 <= lo and lo + a.size - 1 <= size - 1, (net, last)
    if net == "residual":  # the SE gate's global pooling reaches the output; the conv path does not
        assert isinstance(fields.last_field.full, rf.Global) and isinstance(last, rf.ReceptiveField)


# --- the CLI: columns, notes, JSON -------------------------------------------------------------


def test_rf_columns_only_with_the_flag():
    plain = invoke("summary", "mobilenet_v1").stdout
    with_rf = invoke("summary", "mobilenet_v1", "--rf").stdout
    header = next(ln for ln in plain.splitlines() if ln.lstrip().startswith("Layer"))
    assert "RF" not in header.split()
    rf_header = next(ln for ln in with_rf.splitlines() if ln.lstrip().startswith("Layer"))
    assert "RF" in rf_header.split() and "Eff. stride" in rf_header
    assert "Conv RF" not in rf_header  # equal to RF everywhere in MobileNet v1
    folded = invoke("summary", "mobilenet_v1", "--rf", "-L", "1").stdout
    sep9 = next(ln for ln in folded.splitlines() if ln.startswith(" sep9 "))
    assert "315" in sep9.split() and "32" in sep9.split()
    assert "Conv RF" in invoke("summary", "efficientnet", "--rf", "-L", "1").stdout
    csv = invoke("summary", "mobilenet_v1", "--rf", "--format", "csv").stdout.splitlines()
    assert "rf_start" in csv[0].split(",")


def test_every_json_row_carries_its_field():
    doc = summary_json("googlenet", "--set", "aux=true")
    for r in doc["layers"] + doc["blocks"]:
        assert r["receptive_field"] == "global" or len(r["receptive_field"]) == 2
        assert "conv_receptive_field" in r and "effective_stride" in r and "rf_start" in r
    # an auxiliary classifier's 5x5/3 average pool on inception_4a (stride 16)
    assert row(doc, "aux1.branch.pool")["effective_stride"] == [48, 48]
    assert row(doc, "aux1")["receptive_field"] == row(doc, "inception_4a")["receptive_field"]


def test_dropped_rows_are_named():
    result = invoke("summary", "vgg16", "--resolution", "225", "-L", "1")
    assert "note: the 225x225 input is not a multiple of the total stride 32" in result.stdout
    assert "pool1 (1 row, 1 column of 225x225)" in result.stdout
    doc = summary_json("vgg16", "--resolution", "225")
    assert [w["code"] for w in doc["warnings"]] == ["dropped_rows"]
    assert summary_json("vgg16")["warnings"] == []
    # AlexNet's 227 is no multiple of 32, but every window fits exactly: nothing is dropped
    assert not any(w["code"] == "dropped_rows" for w in summary_json("alexnet")["warnings"])


def test_uncovered_input_is_named(tmp_spec):
    path = tmp_spec("""
name: uncovered
input: {channels: 1, resolution: 10}
layers:
  - conv: {out: 2, kernel: 3, stride: 3, padding: valid}
""")
    doc = summary_json(str(path))
    messages = {w["code"]: w["message"] for w in doc["warnings"]}
    # three windows 0-2, 3-5, 6-8: row and column 9 are read by none
    assert "conv0 (1 row, 1 column of 10x10)" in messages["dropped_rows"]
    assert messages["input_not_covered"] == "input row 9 and column 9 reach no unit of the last feature map (conv0)"


def test_field_size_notes(tmp_spec):
    codes = [w["code"] for w in summary_json("resnet")["warnings"]]
    assert codes == ["rf_larger_than_input"]
    small = summary_json(str(tmp_spec(NETS["asymmetric"])))
    assert [w["code"] for w in small["warnings"]] == ["rf_much_smaller_than_input"]
    # the size notes appear in the text only with --rf
    assert "note: the receptive field" not in invoke("summary", "resnet", "-L", "1").stdout
    assert "note: the receptive field" in invoke("summary", "resnet", "-L", "1", "--rf").stdout


def test_misaligned_paths_are_reported(tmp_spec):
    path = tmp_spec("""
name: misaligned
input: {channels: 3, resolution: 8}
layers:
  - residual:
      body: [{conv: {out: 3, kernel: 5, padding: valid}}]
      shortcut: [{conv: {out: 3, kernel: 1, stride: 2, padding: valid}}]
""")
    doc = summary_json(str(path))
    assert "misaligned_paths" in [w["code"] for w in doc["warnings"]]
    # body: 5x5 at stride 1; shortcut: 1x1 at stride 2; unit 3 sees 3..7 and 6: the larger
    assert row(doc, "residual0")["receptive_field"] == [5, 5]


def test_compare_rf_columns():
    out = invoke("compare", "mobilenet_v1", "vgg16", "resnet", "--rf").stdout
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith(" ") and ln.split()}
    assert "315" in lines["mobilenet_v1"].split() and "212" in lines["vgg16"].split()
    assert "483" in lines["resnet"].split()
    doc = json.loads(invoke("compare", "mobilenet_v1", "vgg16", "--format", "json").stdout)
    assert doc["models"][1]["receptive_field"]["receptive_field"] == [212, 212]


def test_union_is_the_span_of_the_paths():
    a = rf.ReceptiveField(rf.FieldAxis(5, 2, -2), rf.FieldAxis(3, 2, 0))
    b = rf.ReceptiveField(rf.FieldAxis(3, 2, 0), rf.FieldAxis(7, 2, -3))
    u, aligned = rf.union([a, b], conv=False, out_shape=(1, 4, 4))
    assert aligned and u == rf.ReceptiveField(rf.FieldAxis(5, 2, -2), rf.FieldAxis(7, 2, -3))
    assert rf.union([a, rf.GLOBAL], conv=False, out_shape=(1, 4, 4))[0] is rf.GLOBAL
    assert rf.union([a, rf.GLOBAL], conv=True, out_shape=(1, 4, 4))[0] == a
    assert math.prod(rf.apply(rf.INPUT, rf.Window((3, 3), (2, 2), (1, 1), (2, 2))).size) == 25
