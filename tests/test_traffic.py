"""Memory traffic per layer (issue 24 point 1): bytes read and written, mult-adds per byte.

Hand computations: ShuffleNet V2's memory access cost of a 1x1 convolution (Ma et al. 2018,
Sec. 2, G1), every op kind of every bundled spec (and a spec with the kinds no bundled spec
uses) against a formula written here from the op's shapes and its real module's parameters
and buffers, and the containers' own adds, joins and multiplies.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from cnninspect.build.builder import build_module
from cnninspect.lang.spec import spec_from_text
from cnninspect.measure.analysis import analyze
from cnninspect.measure.memory import MemorySettings, Precision
from cnninspect.measure.traffic import traffic_report
from cnninspect.ops.kinds import KINDS
from cnninspect.resolve.catalog import bundled_names
from cnninspect.resolve.ir import Op, children, walk
from cnninspect.resolve.resolver import resolve

from conftest import invoke, model_of

# kinds whose output is their input at inference: they move nothing
VIEWS = {"identity", "take", "flatten", "permute", "channel_split", "dropout", "drop_path"}

EXTRA = """
name: traffic_extra
input: {channels: 3, resolution: 16}
layers:
  - {name: a, conv: {out: 8, kernel: 3}}
  - {name: b, bn_act: {act: relu6}}
  - {name: c, groupnorm: 2}
  - {name: d, conv: {out: 8, kernel: 1}}
  - {name: cat, concat: {from: [a, d]}}
  - {name: gate, gate: [{avgpool: {global: true}}, {conv: {out: 16, kernel: 1}}, {act: sigmoid}]}
  - {name: res, residual: {body: [{conv: {out: 16, kernel: 3}}], shortcut: identity}}
  - {name: gmax, maxpool: {global: true}}
  - flatten
  - {name: bn1, bn: {}}
  - {name: fc, linear: {out: 4}}
"""


def _model(text: str):
    return resolve(spec_from_text(text, "t.yaml"))


def _g1_spec(h: int, c1: int, c2: int) -> str:
    return (f"name: g1\ninput: {{channels: {c1}, resolution: {h}}}\n"
            f"layers:\n  - {{name: pw, conv: {{out: {c2}, kernel: 1, bias: false}}}}\n")


@pytest.mark.parametrize("c1,c2", [(128, 128), (90, 180), (52, 312), (36, 432)])
def test_a_1x1_convolution_moves_shufflenet_v2s_memory_access_cost(c1, c2):
    """G1's four channel ratios (1:1, 1:2, 1:6, 1:12 at about equal FLOPs): MAC =
    h*w*(c1 + c2) + c1*c2 elements; int8 weights and activations make bytes = elements."""
    h = 56
    model = _model(_g1_spec(h, c1, c2))
    t = traffic_report(analyze(model), MemorySettings(Precision("int8", "int8"))).layers["pw"]
    assert t.bytes_moved == h * h * (c1 + c2) + c1 * c2
    assert (t.bytes_read, t.bytes_written) == (h * h * c1 + c1 * c2, h * h * c2)
    assert t.arithmetic_intensity == pytest.approx(h * h * c1 * c2 / (h * h * (c1 + c2) + c1 * c2))
    # fp32 at batch 4: activations x4 bytes x4 samples, the weights read once per batch
    t4 = traffic_report(analyze(model), MemorySettings(batch=4)).layers["pw"]
    assert t4.bytes_moved == 4 * 4 * h * h * (c1 + c2) + 4 * c1 * c2


def _hand(kind: str, op: Op, module: torch.nn.Module, ab: int, wb: int, batch: int) -> tuple[int, int]:
    """(bytes read, bytes written) of one op, from its shapes and its real module."""
    if kind in VIEWS or (kind == "act" and op.attrs["fn"] == "linear"):
        return 0, 0
    weights = sum(p.numel() for p in module.parameters(recurse=False))
    weights += sum(b.numel() for b in module.buffers(recurse=False) if b.is_floating_point())
    c, *hw = op.in_shape
    if kind == "conv_table":  # each output map reads the maps its row names
        read = sum(len(r) for r in op.attrs["connections"]) * math.prod(hw)
    else:
        read = math.prod(op.in_shape)
    return batch * read * ab + weights * wb, batch * math.prod(op.out_shape) * ab


def test_every_op_kind_against_a_hand_computation():
    settings = MemorySettings(Precision("fp16", "fp32"), batch=3)
    seen: set[str] = set()
    for model in [model_of(n) for n in bundled_names()] + [model_of("lenet5", "modern"), _model(EXTRA)]:
        report = analyze(model)
        traffic = traffic_report(report, settings)
        module = build_module(model, device="meta")
        macs = {r.name: r.mult_adds for r in report.rows}
        for qual, _d, node in walk(model.root):
            if not isinstance(node, Op):
                continue
            t = traffic.layers[qual]
            expected = _hand(node.kind, node, module.get_submodule(qual), 4, 2, 3)
            assert (t.bytes_read, t.bytes_written) == expected, (model.name, qual, node.kind)
            assert t.mult_adds == 3 * macs[qual]
            seen.add(node.kind)
    assert seen == set(KINDS), f"kinds without a hand check: {sorted(set(KINDS) - seen)}"


def test_containers_move_their_own_add_join_and_multiply():
    model = _model(EXTRA)
    report = analyze(model)
    t = traffic_report(report, MemorySettings()).layers
    rows = {r.name: r for r in report.rows}

    nodes = {q: node for q, _d, node in walk(model.root)}

    def own(name: str):
        total = t[name]
        parts = [f"{name}.{c.name}" for c in children(nodes[name])]
        return (total.bytes_read - sum(t[p].bytes_read for p in parts),
                total.bytes_written - sum(t[p].bytes_written for p in parts))

    n = math.prod(rows["cat"].output_shape)  # 16 x 14 x 14
    assert own("cat") == (4 * n, 4 * n)  # reads both parts, writes the join
    assert own("res") == (4 * 2 * n, 4 * n)  # x + f(x)
    g = math.prod(rows[f"gate.{nodes['gate'].branch.name}"].output_shape)  # 16 x 1 x 1
    assert own("gate") == (4 * (n + g), 4 * n)  # x * gate(x)


def test_totals_add_the_top_level_rows_and_views_move_nothing():
    model = model_of("mobilenet_v2")
    report = analyze(model)
    traffic = traffic_report(report)
    top = [r.name for r in report.rows if r.depth == 0]
    assert traffic.totals.bytes_moved == sum(traffic.layers[n].bytes_moved for n in top)
    assert traffic.totals.mult_adds == report.totals.mult_adds
    flat = [r.name for r in report.rows if r.kind in ("flatten", "dropout")]
    assert flat and all(traffic.layers[n].bytes_moved == 0 for n in flat)
    assert all(traffic.layers[n].arithmetic_intensity is None for n in flat)


def test_json_csv_and_the_traffic_flag():
    data = json.loads(invoke("summary", "lenet5", "-f", "json", "--dtype", "fp16", "--batch", "2").stdout)
    layer = data["layers"][0]
    assert layer["bytes_moved"] == layer["bytes_read"] + layer["bytes_written"] > 0
    top = [r for r in data["layers"] + data["blocks"] if r["level"] == 0]
    assert data["totals"]["bytes_moved"] == sum(r["bytes_moved"] for r in top)
    assert isinstance(data["totals"]["arithmetic_intensity"], float)
    csv = invoke("summary", "lenet5", "-f", "csv").stdout.splitlines()[0]
    assert "bytes_read,bytes_written,bytes_moved,arithmetic_intensity" in csv
    plain = invoke("summary", "lenet5").stdout
    shown = invoke("summary", "lenet5", "--traffic").stdout
    assert "Moved B" not in plain and "Moved B" in shown and "Memory traffic" in shown
    r = invoke("summary", "lenet5", "--traffic", "-f", "paper")
    assert r.exit_code == 2 and "--traffic applies to the layer table" in r.stderr
