"""The blocks docs/spec-format.md writes once - a fire module, a ShuffleNetV2 unit, a ConvNeXt
block, a MobileNetV3 block table and a ResNeXt stage - are the modules torchvision builds.

Each example is read from the documentation itself (so the docs cannot drift from what is
tested) and compared with ``refmodules`` by ``reftools.assert_same_as``: parameters by name
and shape, the same output with the same weights, and the paper, fvcore and torchinfo
counts measured on the reference module. Resolutions are reduced to keep the real forward
passes cheap; every count here scales with the spatial size, none depends on it otherwise.
"""

from __future__ import annotations

import re

import pytest
from torch import nn

from cnninspect.lang.spec import spec_from_text
from cnninspect.resolve.resolver import Overrides, resolve

import refmodules as R
from conftest import ROOT
from reftools import assert_same_as

DOC = ROOT / "docs" / "spec-format.md"


def doc_example(name: str):
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if re.search(rf"^name: {name}$", b, re.M)]
    assert len(found) == 1, f"{name}: {len(found)} examples in {DOC.name}"
    return spec_from_text(found[0], f"spec-format.md ({name})")


def test_fire_module():
    model = resolve(doc_example("fire_example"), None, Overrides(resolution=15))
    ref = nn.Sequential(R.Fire(96, 16, 64, 64), R.Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2, ceil_mode=True))
    counts = assert_same_as(model, ref)
    assert counts["params"] == 2 * (96 * 16 + 16 + 16 * 64 + 64 + 16 * 64 * 9 + 64) - 96 * 16 + 128 * 16
    assert model.root.children[0].label == "Fire 16/64"


def test_shufflenet_v2_unit():
    model = resolve(doc_example("shufflenet_v2_unit_example"), None, Overrides(resolution=16))
    ref = nn.Sequential(R.ShuffleUnit(24, 116, 2), *(R.ShuffleUnit(116, 116, 1) for _ in range(3)))
    assert_same_as(model, ref)


def test_convnext_block_and_downsampling():
    spec = doc_example("convnext_block_example")
    model = resolve(spec, None, Overrides(resolution=14, values={"drop_path": 0.1}))
    ref = nn.Sequential(
        *(R.CNBlock(96, 1e-6, 0.1) for _ in range(3)),
        nn.Sequential(R.LayerNorm2d(96, eps=1e-6), nn.Conv2d(96, 192, kernel_size=2, stride=2)),
    )
    counts = assert_same_as(model, ref, rename={"layer_scale": "gamma"})
    block = 96 * 49 + 96 + 2 * 96 + 2 * 96 * 384 + 384 + 96 + 96  # dw, LN, two Linears, gamma
    assert counts["params"] == 3 * block + 2 * 96 + 96 * 192 * 4 + 192


def test_mobilenet_v3_table():
    model = resolve(doc_example("mobilenet_v3_block_example"), None, Overrides(resolution=32))
    rows = [(3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
            (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
            (3, 240, 80, False, "HS", 2)]
    blocks, inp = [], 16
    for k, exp, out, se, nl, s in rows:
        blocks.append(R.MobileNetV3Block(inp, k, exp, out, se, nl, s))
        inp = out
    assert_same_as(model, nn.Sequential(*blocks))
    assert [c.name for c in model.root.children] == [f"bneck{i}" for i in range(1, 8)]
    # the block's label, with the row's values, names each row in tables and --format paper
    assert [c.label for c in model.root.children][:4] == ["bneck, 3x3", "bneck, 3x3", "bneck, 3x3", "bneck, 5x5"]


@pytest.mark.parametrize("width", [0.75, 1.25])
def test_mobilenet_v3_table_at_other_widths(width):
    """torchvision's width multiplier: every #exp and #out through _make_divisible(c x w, 8);
    the SE squeeze from the scaled #exp, never scaled again."""
    model = resolve(doc_example("mobilenet_v3_block_example"), None, Overrides(resolution=16, width=width))
    rows = [(3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
            (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
            (3, 240, 80, False, "HS", 2)]

    def adjust(c: int) -> int:
        return R.make_divisible(c * width, 8)

    blocks, inp = [], 16  # the input is the (fixed) 16 channels of the example
    for k, exp, out, se, nl, s in rows:
        blocks.append(R.MobileNetV3Block(inp, k, adjust(exp), adjust(out), se, nl, s))
        inp = adjust(out)
    assert_same_as(model, nn.Sequential(*blocks))


def test_resnext_stage():
    model = resolve(doc_example("resnext_stage_example"), None, Overrides(resolution=8))
    ref = nn.Sequential(
        R.ResNeXtBottleneck(64, 64, groups=32, base_width=4),
        R.ResNeXtBottleneck(256, 64, groups=32, base_width=4),
        R.ResNeXtBottleneck(256, 64, groups=32, base_width=4),
    )
    counts = assert_same_as(model, ref)
    assert model.root.children[0].label == "Bottleneck g32 x3"
    assert counts["params"] == sum(p.numel() for p in ref.parameters())


VECTOR_HEAD = """name: vector_head
input: {channels: 3, resolution: 8}
layers:
  - conv: {out: 16, kernel: 3, act: mish}
  - act: gelu
  - act: hardsigmoid
  - mean
  - bn
  - layernorm
  - linear: {out: 10}
"""


@pytest.mark.parametrize("name,resolution", [
    ("shufflenet_v2_unit_example", 16),   # split, shuffle, mean-free units
    ("convnext_block_example", 14),       # channels-last linear, layer norm (both forms), GELU, layer scale
    ("mobilenet_v3_block_example", 32),    # hardswish, SE with hardsigmoid gate
    ("vector_head", 8),                     # written below: mish, global mean, BatchNorm1d, flat LayerNorm
])
def test_ptflops_thop_and_flopcounter_rules_equal_the_tools_on_the_new_vocabulary(name, resolution):
    """explain's per-tool rules for the spec language v2 op kinds, against the real tools."""
    from cnninspect.measure.analysis import analyze
    from cnninspect.explore.explain import op_facts, reconcile_tool
    from cnninspect.build.peers import TOOLS, installed, run_tool

    spec = spec_from_text(VECTOR_HEAD, "vector_head") if name == "vector_head" else doc_example(name)
    model = resolve(spec, None, Overrides(resolution=resolution))
    report = analyze(model)
    facts = [f for _, f in op_facts(report, report.layers)]
    tools = [t for t in TOOLS.values() if installed(t)]
    assert tools
    for tool in tools:
        row = reconcile_tool(tool, facts, run_tool(tool, model))
        assert row.measured == row.derived, (tool.name, row.terms)
