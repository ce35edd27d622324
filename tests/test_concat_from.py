"""A concat of earlier named entries (``concat: {from: [...]}``, issue 22): DLA's aggregation
roots against a plain-PyTorch transcription of timm's DLA (``tests/reference/dla.py``) in
every convention, and the errors of a bad ``from``."""

from __future__ import annotations

import pytest
import torch

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.base.errors import SpecError
from cnninspect.lang.spec import spec_from_text
from cnninspect.measure.memory import simulate
from cnninspect.measure.receptive import receptive_fields
from cnninspect.resolve.resolver import resolve
from cnninspect.measure.totals import TotalsEngine

from conftest import ROOT, invoke
from reference.dla import DLA
from reftools import assert_every_convention

# DLA-34 at a quarter of its widths: levels (1, 1, 1, 2, 2, 1), channels (4, 8, 16, 32, 64, 128)
DLA34_QUARTER = """\
name: dla34q
title: DLA-34 at a quarter width
input: {channels: 3, resolution: 64}
blocks:
  dla_body:
    help: "DlaBasic without its shortcut: 3x3 conv (stride) - BN - ReLU - 3x3 conv - BN"
    params: {out: {channels: true}, stride: {default: 1}}
    layers:
      - {name: conv1, conv: {out: $out, kernel: 3, stride: $stride, bn: true, act: relu}}
      - {name: conv2, conv: {out: $out, kernel: 3, bn: true}}
  dla_block:
    help: "DlaBasic with an identity shortcut"
    params: {out: {channels: true}}
    layers:
      - residual: {body: [{dla_body: {out: $out}}], shortcut: identity, post: relu}
  dla_first:
    help: "the first block of a tree: strided, its shortcut the input max-pooled (bottom) and projected"
    params: {out: {channels: true}}
    layers:
      - residual:
          body: [{dla_body: {out: $out, stride: 2}}]
          shortcut:
            - {name: bottom, maxpool: {kernel: 2, stride: 2}}
            - {name: project, conv: {out: $out, kernel: 1, bn: true}}
          post: relu
  dla_root:
    help: "DlaRoot after its concatenation: 1x1 conv - BN - ReLU"
    params: {out: {channels: true}}
    layers:
      - {conv: {out: $out, kernel: 1, bn: true, act: relu}}
layers:
  - {name: base, conv: {out: 4, kernel: 7, bn: true, act: relu}}
  - {name: level0, conv: {out: 4, kernel: 3, bn: true, act: relu}}
  - {name: level1, conv: {out: 8, kernel: 3, stride: 2, bn: true, act: relu}}
  - name: level2                                   # levels 1
    sequential:
      - {name: tree1, dla_first: {out: 16}}
      - {name: tree2, dla_block: {out: 16}}
      - {name: cat, concat: {from: [tree2, tree1]}}
      - {name: root, dla_root: {out: 16}}
  - name: level3                                   # levels 2, a level root
    sequential:
      - {name: down, side: {branch: [{name: bottom, maxpool: {kernel: 2, stride: 2}}]}}
      - name: t1
        sequential:
          - {name: tree1, dla_first: {out: 32}}
          - {name: tree2, dla_block: {out: 32}}
          - {name: cat, concat: {from: [tree2, tree1]}}
          - {name: root, dla_root: {out: 32}}
      - name: t2
        sequential:
          - {name: tree1, dla_block: {out: 32}}
          - {name: tree2, dla_block: {out: 32}}
          - {name: cat, concat: {from: [tree2, tree1, down.branch.bottom, t1]}}
          - {name: root, dla_root: {out: 32}}
  - name: level4                                   # levels 2, a level root
    sequential:
      - {name: down, side: {branch: [{name: bottom, maxpool: {kernel: 2, stride: 2}}]}}
      - name: t1
        sequential:
          - {name: tree1, dla_first: {out: 64}}
          - {name: tree2, dla_block: {out: 64}}
          - {name: cat, concat: {from: [tree2, tree1]}}
          - {name: root, dla_root: {out: 64}}
      - name: t2
        sequential:
          - {name: tree1, dla_block: {out: 64}}
          - {name: tree2, dla_block: {out: 64}}
          - {name: cat, concat: {from: [tree2, tree1, down.branch.bottom, t1]}}
          - {name: root, dla_root: {out: 64}}
  - name: level5                                   # levels 1, a level root
    sequential:
      - {name: tree1, dla_first: {out: 128}}
      - {name: tree2, dla_block: {out: 128}}
      - {name: cat, concat: {from: [tree2, tree1, tree1.shortcut.bottom]}}
      - {name: root, dla_root: {out: 128}}
  - {name: pool, avgpool: {output_size: 1}}
  - {name: fc, conv: {out: 10, kernel: 1}}
  - flatten
"""


def dla_model(resolution: int = 64):
    return resolve(spec_from_text(DLA34_QUARTER.replace("resolution: 64", f"resolution: {resolution}"), "dla.yaml"))


def reference() -> DLA:
    return DLA(channels=(4, 8, 16, 32, 64, 128), num_classes=10)


def test_dla34_aggregation_is_the_reference_in_every_convention():
    model = dla_model()
    counts = assert_every_convention(model, reference())
    assert counts == {"params": 956_454, "paper": 17_417_472, "fvcore": 17_622_784, "torchinfo": 17_421_354,
                      "ptflops": 17_855_754, "thop": 17_827_712, "flopcounter": 17_417_472}
    # the roots concatenate in the reference's order: level3's last root takes x2, x1, bottom, x1 of t1
    rows = {r.name: r for r in analyze(model, "paper").rows}
    assert rows["level3.t2.cat"].output_shape == (32 + 32 + 16 + 32, 8, 8)
    assert rows["level5.cat"].output_shape == (128 + 128 + 64, 2, 2)


def test_the_reference_rule_finds_the_spec_equal_to_the_transcription(tmp_path):
    path = tmp_path / "dla34q.yaml"
    path.write_text(DLA34_QUARTER)
    ref = f"{ROOT}/tests/reference/dla.py:DLA(channels=(4, 8, 16, 32, 64, 128), num_classes=10)"
    r = invoke("compare", str(path), ref, "--equal", "--input", "3x64x64")
    assert r.exit_code == 0, r.stdout
    assert "same model: equal: 4 conventions, " in r.stdout


def test_the_built_module_keeps_no_tensor_after_a_call():
    model = dla_model(32)
    module = build_module(model)
    points = module.level3.t2.cat.branch2.points
    with torch.no_grad():
        y = module(torch.randn(2, 3, 32, 32))
    assert tuple(y.shape) == (2, 10) and points == {}
    assert module.level3.t2.cat.branch2.point == "level3.down.branch.bottom"
    assert module.level3.t2.cat.branch3.point == "level3.t1"


@pytest.mark.parametrize("resolution", [32, 64, 96])
def test_totals_fast_path_equals_the_full_analysis(resolution):
    engine = TotalsEngine(spec_from_text(DLA34_QUARTER, "dla.yaml"), "fvcore")
    measured = engine.measure({"resolution": resolution})
    full = analyze(dla_model(resolution), "fvcore").totals
    assert (measured.totals.params, measured.totals.mult_adds) == (full.params, full.mult_adds)
    assert measured.totals.peak_activation_elements == full.peak_activation_elements


def test_a_taken_output_stays_live_until_its_concat():
    """a (16x8x8 = 1,024 values) is taken by the last concat: it stays live through c, the
    largest tensor, so the peak is at c: b 128 + c 4,096 + a 1,024 = 5,248 values (4,224 if a
    were freed after b read it)."""
    model = resolve(spec_from_text(
        "name: t\ninput: {channels: 4, resolution: 8}\nlayers:\n"
        "  - {name: a, conv: {out: 16, kernel: 1}}\n"
        "  - {name: b, conv: {out: 2, kernel: 1}}\n"
        "  - {name: c, conv: {out: 64, kernel: 1}}\n"
        "  - {name: d, conv: {out: 2, kernel: 1}}\n"
        "  - {name: cat, concat: {from: [d, a]}}\n", "t.yaml"))
    trace = simulate(model)
    assert (trace.peak_elements, trace.peak_at) == (128 + 4096 + 1024, "c")
    assert model.output_shape == (18, 8, 8)


def test_the_receptive_field_is_the_union_of_the_taken_points():
    model = resolve(spec_from_text(
        "name: t\ninput: {channels: 1, resolution: 32}\nlayers:\n"
        "  - {name: a, conv: {out: 2, kernel: 3}}\n"
        "  - {name: b, conv: {out: 2, kernel: 5}}\n"
        "  - {name: cat, concat: {from: [a, b]}}\n"
        "  - {name: c, conv: {out: 2, kernel: 1}}\n", "t.yaml"))
    rf = receptive_fields(model).rows
    assert rf["a"].full.size == (3, 3) and rf["b"].full.size == (7, 7)
    assert rf["cat"].full.size == (7, 7) and rf["cat.branch0"].full.size == (3, 3)


BAD = [
    ("  - {name: a, conv: {out: 2, kernel: 1}}\n  - {name: cat, concat: {from: [a, nowhere]}}\n",
     "t.yaml:5", "unknown name 'nowhere': no earlier entry of this list or an enclosing one is called that"),
    ("  - {name: cat, concat: {from: [later]}}\n  - {name: later, conv: {out: 2, kernel: 1}}\n",
     "t.yaml:4", "'later' is used before it is defined: 'later' comes later (line 5); 'from' takes earlier entries"),
    ("  - {name: cat, concat: {from: [cat]}}\n",
     "t.yaml:4", "'cat' names this concat itself, whose output is not made yet (a cycle)"),
    ("  - name: s\n    sequential:\n      - {name: a, conv: {out: 2, kernel: 1}}\n"
     "      - {name: cat, concat: {from: [a, s]}}\n",
     "t.yaml:7", "'s' names an entry that contains this concat, whose output is not made yet (a cycle)"),
    ("  - {name: a, conv: {out: 2, kernel: 1, bn: true}}\n  - {name: cat, concat: {from: [a.bn.x]}}\n",
     "t.yaml:5", "'a.bn.x': 'a.bn' has no part 'x' (it has: nothing inside)"),
    ("  - {name: a, conv: {out: 2, kernel: 1}}\n  - {name: cat, concat: {from: [a], branches: [[identity]]}}\n",
     "t.yaml:5", "'from' takes earlier entries' outputs: give it without 'branches', 'each' and 'branch'"),
    ("  - {name: a, conv: {out: 2, kernel: 1}}\n  - {name: b, maxpool: {kernel: 2}}\n"
     "  - {name: cat, concat: {from: [a, b]}}\n",
     "t.yaml:6", "concatenated branches must agree on every dimension but channels"),
    ("  - name: r\n    residual:\n      shortcut: none\n      body:\n"
     "        - {name: a, conv: {out: 2, kernel: 1}}\n        - {name: cat, concat: {from: [a]}}\n",
     "t.yaml:9", "'from' cannot take an entry inside the body of a residual with shortcut: none"),
]


@pytest.mark.parametrize("layers,where,message", BAD)
def test_a_bad_from_is_a_located_one_line_error(tmp_path, layers, where, message):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\ninput: {channels: 3, resolution: 8}\nlayers:\n" + layers)
    r = invoke("summary", str(path))
    assert r.exit_code == 2, r.stdout
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {tmp_path}/{where}") and message in err, err
    with pytest.raises(SpecError):
        resolve(spec_from_text(path.read_text(), "t.yaml"))
