"""ResNeXt, Wide ResNet and Inception-v3 (issue 11): the bundled specs against their reference
implementations (``tests/reference/``, transcribed from torchvision) and their papers' tables.

* exact integers: parameters and multiply-adds in three conventions for every variant, and
  the reference's own counts (its ``sum(p.numel())`` and FlopCounterMode's paper count);
* parameters and buffers by name and shape against the reference module, for every variant
  (on the meta device: the names translate one to one, so nothing is merely counted);
* the computation: the 50-layer nets and Inception-v3 at a reduced resolution, with the
  reference's weights copied in, give the reference's output, and fvcore and torchinfo
  measured on the reference equal the spec's counts (``reftools.assert_same_as``); the
  auxiliary classifier (which needs the full 17x17 grid) on its own input;
* every published value (cnninspect/published/{resnext,wide_resnet,inception_v3}.yaml) with
  its expected status, errata pinned; ``--format paper`` against the layout tables;
* ResNet keeps its counts after becoming the base of ResNeXt and Wide ResNet (those are
  pinned in test_classic_specs.py; here: the stride placements of the three specs).
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

import reference as R
from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.resolve.catalog import load_bundled
from cnninspect.resolve.ir import Side, ops
from cnninspect.lang.spec import spec_from_text
from cnninspect.published import judge, load_tables
from cnninspect.render.paper import outline, stage_brackets
from cnninspect.resolve.resolver import Overrides, resolve
from reference import inception_v3 as ref_inception

from conftest import invoke, model_of, report_of
from reftools import assert_same_as

FAMILIES = ("resnext", "wide_resnet", "inception_v3")

# (spec, variant, settings) -> (params, paper, fvcore, torchinfo mult-adds), default resolution
PINNED = {
    ("resnext", "50_32x4d", ()): (25_028_904, 4_230_479_872, 4_259_381_248, 4_230_549_096),
    ("resnext", "101_32x8d", ()): (88_791_336, 16_414_015_488, 16_476_534_784, 16_414_219_368),
    ("wide_resnet", "50_2", ()): (68_883_240, 11_398_021_120, 11_426_922_496, 11_398_090_344),
    ("wide_resnet", "101_2", ()): (126_886_696, 22_753_050_624, 22_795_599_872, 22_753_189_480),
    ("inception_v3", None, ()): (23_834_568, 5_713_216_096, 5_731_282_144, 5_713_251_528),
    # the auxiliary classifier is a side output: fvcore's tracer drops it, so does fvcore's count
    ("inception_v3", "aux", ()): (27_161_264, 5_718_899_296, 5_731_282_144, 5_718_937_520),
    # He et al.'s stride placement: same parameters, fewer mult-adds
    ("resnext", "50_32x4d", (("stride_on", "1x1"),)): (25_028_904, 3_768_057_856, 3_794_851_840, 3_768_127_080),
    ("wide_resnet", "50_2", (("stride_on", "1x1"),)): (68_883_240, 10_935_599_104, 10_962_393_088, 10_935_668_328),
    # Wide ResNet's Table 7: ResNet-18 widened 2x (every 3x3 of the blocks; the stem keeps 64)
    ("resnet", "18", (("width_per_group", 128),)): (45_618_216, 6_695_706_624, 6_704_888_832, 6_695_726_952),
}

# the reference modules' (torchvision's) counts, as tests/test_reference_models.py pins them
REFERENCE = {
    ("resnext", "50_32x4d"): (25_028_904, 4_230_479_872),
    ("resnext", "101_32x8d"): (88_791_336, 16_414_015_488),
    ("wide_resnet", "50_2"): (68_883_240, 11_398_021_120),
    ("wide_resnet", "101_2"): (126_886_696, 22_753_050_624),
    ("inception_v3", "default"): (23_834_568, 5_713_216_096),
    ("inception_v3", "aux"): (27_161_264, 5_718_899_296),
}


def _spec_variant(variant: str) -> str | None:
    """The spec variant of a reference variant (the reference calls Inception-v3's "default")."""
    return None if variant == "default" else variant


@pytest.mark.parametrize("key", PINNED, ids=[f"{n}:{v or ''}{''.join(f'@{k}={x}' for k, x in s)}" for n, v, s in PINNED])
def test_exact_counts_are_pinned(key):
    name, variant, settings = key
    values = dict(settings)
    counts = []
    for convention in ("paper", "fvcore", "torchinfo"):
        report = report_of(name, variant, convention, values=values)
        counts.append(report.totals.mult_adds)
    assert report.totals.params == report.totals.trainable_params
    assert (report.totals.params, *counts) == PINNED[key]


def test_every_variant_is_pinned_and_equals_its_reference():
    for family in FAMILIES:
        spec = load_bundled(family)
        variants = set(spec.variants) | ({None} if spec.default_variant is None else set())
        assert variants == {v for n, v, s in PINNED if n == family and not s}, family
    for (family, variant), (params, paper) in REFERENCE.items():
        assert PINNED[(family, _spec_variant(variant), ())][:2] == (params, paper)


@pytest.mark.parametrize("family,variant", list(REFERENCE), ids=[f"{f}:{v}" for f, v in REFERENCE])
def test_reference_module_counts(family, variant):
    """The reference module's own count and FlopCounterMode's, at the paper's resolution."""
    ref = R.build_meta(family, variant)
    assert (R.param_count(ref), R.paper_mult_adds(ref, R.VARIANTS[(family, variant)].resolution)) == REFERENCE[
        (family, variant)
    ]


# --- parameters and buffers by name -----------------------------------------------------------


def _torchvision_resnet_name(name: str) -> str:
    """``conv3_x.0.body.conv2.bn.weight`` -> ``layer2.0.bn2.weight`` (torchvision's ResNet)."""
    if name.startswith("conv1."):
        return name.replace("conv1.conv.", "conv1.").replace("conv1.bn.", "bn1.")
    m = re.fullmatch(r"conv(\d)_x\.(\d+)\.(body\.conv(\d)|shortcut)\.(conv|bn)\.(\w+)", name)
    if m is None:
        return name  # fc.weight, fc.bias
    stage, block, part, j, kind, leaf = m.groups()
    if part == "shortcut":
        return f"layer{int(stage) - 1}.{block}.downsample.{0 if kind == 'conv' else 1}.{leaf}"
    return f"layer{int(stage) - 1}.{block}.{'conv' if kind == 'conv' else 'bn'}{j}.{leaf}"


def _torchvision_inception_name(name: str) -> str:
    """``Mixed_7b.branch1.branch3x3_2.branch0.a.conv.weight`` -> ``Mixed_7b.branch3x3_2a.conv.weight``:
    the concat branches and the side branch are containers torchvision does not have."""
    name = re.sub(r"\.branch\d*\.", ".", name)
    return re.sub(r"\.(branch3x3(?:dbl)?_[23])\.([ab])\.", r".\1\2.", name)


def _state(module: nn.Module, rename=lambda n: n) -> dict[str, tuple[int, ...]]:
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    return {rename(n): tuple(t.shape) for n, t in tensors}


@pytest.mark.parametrize("family,variant", list(REFERENCE), ids=[f"{f}:{v}" for f, v in REFERENCE])
def test_parameters_and_buffers_by_name_equal_the_reference(family, variant):
    model = model_of(family, _spec_variant(variant))
    ours = build_module(model, device="meta")
    rename = _torchvision_inception_name if family == "inception_v3" else _torchvision_resnet_name
    mine = _state(ours, rename)
    theirs = _state(R.build_meta(family, variant))
    assert len(mine) == len(list(ours.named_parameters())) + len(list(ours.named_buffers()))  # one to one
    assert mine == theirs
    # and in the same order (the order state dicts and optimisers see)
    assert [rename(n) for n, _ in ours.named_parameters()] == [n for n, _ in R.build_meta(family, variant).named_parameters()]


# --- the same computation ---------------------------------------------------------------------


class _Softmax(nn.Module):
    """The reference with the softmax the specs end with (the papers' tables list it)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


@pytest.mark.parametrize("target,resolution", [
    ("resnext:50_32x4d", 32),
    ("wide_resnet:50_2", 32),
    ("inception_v3", 75),  # the smallest input Inception-v3 takes (75 -> 1x1 after Mixed_7a)
])
def test_same_output_and_tool_counts_as_the_reference(target, resolution, one_thread):
    family, _, variant = target.partition(":")
    model = model_of(family, variant or None, resolution=resolution)
    ref = R.VARIANTS[(family, variant or "default")].build()
    counts = assert_same_as(model, _Softmax(ref))
    assert counts["params"] == REFERENCE[(family, variant or "default")][0]


def test_auxiliary_classifier_computes_the_references(one_thread):
    """The side output on Mixed_6e's 17x17x768 map equals torchvision's InceptionAux."""
    model = model_of("inception_v3", "aux")
    side = next(n for n in model.root.children if isinstance(n, Side))
    assert side.name == "AuxLogits" and side.in_shape == (768, 17, 17) and side.branch.out_shape == (1000,)
    module = build_module(model)
    ours = module.get_submodule("AuxLogits.branch")
    ref = ref_inception.InceptionAux(768, 1000).eval()
    mine = list(ours.named_parameters()) + list(ours.named_buffers())
    theirs = dict(list(ref.named_parameters()) + list(ref.named_buffers()))
    assert {n: tuple(t.shape) for n, t in mine} == {n: tuple(t.shape) for n, t in theirs.items()}
    torch.manual_seed(1)
    with torch.no_grad():
        for n, t in mine:
            t.copy_(theirs[n] if t.dtype == torch.long else torch.rand_like(t) + 0.5)
            theirs[n].copy_(t)
        x = torch.randn(2, 768, 17, 17)
        torch.testing.assert_close(ours.eval()(x), ref(x), rtol=1e-5, atol=1e-5)
    aux = report_of("inception_v3", "aux")
    rows = {r.name: r for r in aux.rows}
    assert rows["AuxLogits"].params == 3_326_696 and rows["AuxLogits"].mult_adds == 5_683_200
    assert aux.output_shape == (1000,)  # the main path is unchanged


# --- the papers ---------------------------------------------------------------------------------

TABLES = {t.id: t for t in load_tables()}

# table id -> {(row label, metric): expected status}: every value of these tables
EXPECTED = {
    "resnext.table1.totals": {
        ("ResNet-50", "params"): "erratum",  # 25.5: the count without batch norm
        ("ResNet-50", "mult_adds"): "ok",
        ("ResNeXt-50 (32x4d)", "params"): "ok",
        ("ResNeXt-50 (32x4d)", "mult_adds"): "ok",
    },
    "resnext.wsl": {
        ("ResNeXt-101 32x8d", "params"): "erratum",
        ("ResNeXt-101 32x8d", "mult_adds"): "ok",
        ("ResNeXt-101 32x16d", "params"): "erratum",
        ("ResNeXt-101 32x16d", "mult_adds"): "ok",
        ("ResNeXt-101 32x32d", "params"): "erratum",
        ("ResNeXt-101 32x32d", "mult_adds"): "ok",
        ("ResNeXt-101 32x48d", "params"): "erratum",
        ("ResNeXt-101 32x48d", "mult_adds"): "ok",
    },
    "wide_resnet.table8": {
        ("ResNet-50", "params"): "ok",
        ("ResNet-101", "params"): "ok",
        ("ResNet-152", "params"): "ok",
        ("WRN-50-2-bottleneck", "params"): "ok",
    },
    "wide_resnet.table7": {(f"WRN-{d} width {w}", "params"): "ok"
                           for d, ws in (("18", ("1.0", "1.5", "2.0", "3.0")), ("34", ("1.0", "1.5", "2.0")))
                           for w in ws},
    "inception_v3.abstract": {("Inception-v3", "mult_adds"): "erratum"},  # "5 billion"
}

ROWS = [(tid, row) for tid in EXPECTED for row in TABLES[tid].rows]


@pytest.mark.parametrize("table_id,row", ROWS, ids=[f"{t}:{r.label}" for t, r in ROWS])
def test_published_totals_within_tolerance_or_pinned_erratum(table_id, row):
    report = report_of(row.model, row.variant, values=dict(row.settings))
    for metric, value in row.values.items():
        computed = getattr(report.totals, metric)
        check = judge(table_id, row, metric, computed)
        assert check.status == EXPECTED[table_id][(row.label, metric)], check
        if check.status == "ok":
            assert abs(computed - value.value) <= value.tolerance()
        else:
            assert abs(computed - value.value) > value.tolerance()
            assert row.errata[metric].computed == computed and row.errata[metric].note


def test_every_value_of_the_tables_is_expected():
    for tid, expected in EXPECTED.items():
        assert {(r.label, m) for r in TABLES[tid].rows for m in r.values} == set(expected), tid
    ours = {t.id for t in load_tables() if t.id.split(".")[0] in FAMILIES}
    assert ours == set(EXPECTED) | {"resnext.table1", "inception_v3.table1"}


def test_resnext_table1_notes_are_arithmetic():
    """The 25.5 x 10^6 erratum: ResNet-50's parameters without batch norm; both columns."""
    for target, values, printed in (("resnet:50", {"stride_on": "3x3"}, 25.5e6), ("resnext", {}, 25.0e6)):
        name, _, variant = target.partition(":")
        report = report_of(name, variant or None, values=values)
        bn = sum(r.params for r in report.layers if r.kind == "bn2d")
        assert round((report.totals.params - bn) / 1e5) * 1e5 == printed


def test_inception_bounds_of_the_abstract_and_section_6():
    base, aux = report_of("inception_v3").totals, report_of("inception_v3", "aux").totals
    assert base.params < 25_000_000 < aux.params  # "less than 25 million parameters"
    googlenet = report_of("googlenet").totals.mult_adds
    assert round(base.mult_adds / googlenet, 2) == 3.61  # "only about 2.5 higher than ... GoogLeNet"
    # TF-slim's batch norm learns no scale: its count of the same network
    bn_scales = sum(r.params for r in report_of("inception_v3").layers if r.kind == "bn2d") // 2
    assert bn_scales == 17_216 and base.params - bn_scales == 23_817_352


def test_reproduce_cli_passes_on_these_tables():
    r = invoke("reproduce", *FAMILIES, "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    data = json.loads(r.stdout)
    statuses = [s for e in EXPECTED.values() for s in e.values()]
    # two layout tables: ResNeXt's matches row for row, Inception-v3's differs in documented cells
    assert data["counts"] == {"ok": statuses.count("ok") + 1, "erratum": statuses.count("erratum") + 1, "FAIL": 0}


def test_paper_format_resnext_matches_table1_row_for_row():
    r = invoke("summary", "resnext", "--format", "paper")
    assert r.exit_code == 0, r.stderr
    assert "Matches the published Table 1 row for row." in r.stdout
    assert "[1x1, 128; 3x3, 128, C=32; 1x1, 256] x3" in r.stdout
    other = invoke("summary", "resnext:101_32x8d", "--format", "paper").stdout
    assert "[1x1, 2048; 3x3, 2048, C=32; 1x1, 2048] x3" in other and "no comparison" in other
    wide = invoke("summary", "wide_resnet", "--format", "paper").stdout
    assert "[1x1, 128; 3x3, 128; 1x1, 256] x3" in wide and "[1x1, 1024; 3x3, 1024; 1x1, 2048] x3" in wide


def test_paper_format_resnet18_brackets_basic_blocks():
    table = stage_brackets(analyze(model_of("resnet", "18")))
    assert table.rows[2] == ("conv2", "56x56", "[3x3, 64; 3x3, 64] x2")
    assert table.rows[-1] == ("", "1x1", "global average pool, 1000-d fc, softmax")


def test_paper_format_inception_names_every_difference_from_table1():
    r = invoke("summary", "inception_v3", "--format", "paper")
    assert r.exit_code == 0, r.stderr
    notes = [ln for ln in r.stdout.splitlines() if ln.startswith("Row ")]
    assert len(notes) == len(TABLES["inception_v3.table1"].layout_errata) == 8
    assert all(" - erratum: " in n for n in notes) and "undocumented" not in r.stdout
    assert re.search(r"^ 3xInception\s+As in figure 5\s+35x35x192$", r.stdout, re.M)
    # the auxiliary classifier is no row of Table 1; the outline is the same with it
    assert outline(analyze(model_of("inception_v3", "aux"))).rows == outline(analyze(model_of("inception_v3"))).rows
    assert "Not at the settings" in invoke("summary", "inception_v3:aux", "--format", "paper").stdout


# --- stride placement and the shared ResNet spec --------------------------------------------------


@pytest.mark.parametrize("name,variant,placement", [
    ("resnet", "50", "1x1"), ("resnext", None, "3x3"), ("wide_resnet", None, "3x3"),
])
def test_stride_placement(name, variant, placement):
    model = model_of(name, variant)
    strides = {q: op.attrs["stride"] for q, op in ops(model.root) if op.kind == "conv2d" and q.startswith("conv3_x.0.body.")}
    strided = [q for q, s in strides.items() if s == (2, 2)]
    assert strided == [f"conv3_x.0.body.conv{1 if placement == '1x1' else 2}.conv"]
    groups = {op.attrs["groups"] for q, op in ops(model.root) if op.kind == "conv2d" and q.endswith("body.conv2.conv")}
    assert groups == ({32} if name == "resnext" else {1})


def test_extends_keeps_one_layer_list():
    """ResNeXt and Wide ResNet are ResNet's layers with other parameters, not copies."""
    base, spec = load_bundled("resnet"), load_bundled("resnext")
    assert [e.path for e in spec.layers] == [e.path for e in base.layers]
    assert spec.params["groups"].default == 32 and spec.params["width_per_group"].default == 4
    assert load_bundled("wide_resnet").params["width_per_group"].default == 128
    assert base.params["groups"].default == 1 and base.params["width_per_group"].default == 64


def test_a_block_calls_paper_labels_reach_its_node():
    text = """name: labels
input: {channels: 8, resolution: 8}
blocks:
  one:
    params: {c: {}}
    layers:
      - concat:
          - [{conv: {out: $c, kernel: 1}}]
          - [{conv: {out: $c, kernel: 3}}]
  two:
    params: {c: {}}
    layers:
      - conv: {out: $c, kernel: 1}
      - conv: {out: $c, kernel: 1}
layers:
  - {name: a, one: {c: 4}, paper: {operator: Inception, remarks: "As in figure 5"}}
  - {name: b, two: {c: 4}, paper: {operator: Pair}}
  - {name: c, one: {c: 4}}
"""
    model = resolve(spec_from_text(text, "labels.yaml"), None, Overrides())
    a, b, c = model.root.children
    assert dict(a.origin.paper) == {"operator": "Inception", "remarks": "As in figure 5"} and a.label == "one"
    assert dict(b.origin.paper) == {"operator": "Pair"}
    assert dict(c.origin.paper) == {}
