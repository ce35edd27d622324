"""ConvNeXt (specs/convnext.yaml) against the authors' code and the paper's tables.

* exact totals pinned for every variant and convention, at 224 and 384;
* every parameter, by name and shape, equals the authors' ``models/convnext.py``
  (tests/reference/convnext.py) for all four sizes; for ConvNeXt-T also the output with the
  same weights and fvcore's and torchinfo's counts on the authors' module;
* Table 1 (both halves), Table 9 (layout and totals) and the authors' README within their
  tolerances or documented errata (cnninspect/published/convnext.yaml), through the CLI;
* the stochastic depth schedule is the authors' (linear over the blocks).
"""

from __future__ import annotations

import json
import re

import pytest

import reference as R
from cnninspect.build.builder import build_module
from cnninspect.resolve.ir import ops
from cnninspect.published import judge, load_tables
from conftest import invoke, model_of, report_of
from netcompare import assert_same_names, assert_same_network

VARIANTS = ("tiny", "small", "base", "large")

# variant -> (params, mult-adds in the paper, fvcore and torchinfo conventions), at 224x224.
# torchinfo counts an nn.Linear's weights once, not at each of the H x W positions where the
# block applies it, hence its much smaller figure (docs/spec-format.md, "channels-last").
PINNED = {
    "tiny": (28_589_128, 4_455_531_264, 4_470_399_744, 322_371_592),
    "small": (50_223_688, 8_683_712_256, 8_705_354_496, 411_391_240),
    "base": (88_591_464, 15_354_729_472, 15_383_585_792, 646_530_408),
    "large": (197_767_336, 34_361_433_600, 34_404_718_080, 1_263_822_376),
}
AT_384 = {"tiny": 13_092_317_184, "small": 25_517_991_936, "base": 45_122_117_632, "large": 100_977_561_600}


@pytest.mark.parametrize("variant", VARIANTS)
def test_exact_totals(variant):
    paper = report_of("convnext", variant).totals
    assert paper.params == paper.trainable_params
    fvcore = report_of("convnext", variant, "fvcore").totals.mult_adds
    torchinfo = report_of("convnext", variant, "torchinfo").totals.mult_adds
    assert (paper.params, paper.mult_adds, fvcore, torchinfo) == PINNED[variant]
    assert report_of("convnext", variant, resolution=384).totals.mult_adds == AT_384[variant]


def test_the_default_variant_is_tiny():
    assert model_of("convnext").variant == "tiny"


def authors_name(name: str) -> str:
    """Our parameter name -> the authors' (facebookresearch/ConvNeXt models/convnext.py)."""
    rules = [
        (r"^stem\.conv\.", "downsample_layers.0.0."),
        (r"^stem\.norm\.", "downsample_layers.0.1."),
        (r"^down(\d)\.norm\.", lambda m: f"downsample_layers.{int(m[1]) - 1}.0."),
        (r"^down(\d)\.conv\.", lambda m: f"downsample_layers.{int(m[1]) - 1}.1."),
        (r"^stage(\d)\.(\d+)\.body\.(?:mlp\.)?", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}."),
        (r"layer_scale\.gamma$", "gamma"),
        (r"^head\.norm\.", "norm."),
        (r"^head\.fc\.", "head."),
    ]
    for pattern, repl in rules:
        name = re.sub(pattern, repl, name)
    return name


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_is_the_authors_by_name_and_shape(variant):
    ours = build_module(model_of("convnext", variant), device="meta")
    mapping = assert_same_names(ours, R.build_meta("convnext", variant), authors_name)
    assert mapping["stage3.0.body.mlp.pwconv1.weight"] == "stages.2.0.pwconv1.weight"
    assert mapping["down4.conv.bias"] == "downsample_layers.3.1.bias"


def test_tiny_computes_what_the_authors_module_computes(one_thread):
    """Same weights, same output (at 32x32: every count scales with the area, none depends on
    it otherwise); the paper and torchinfo counts equal the tools' on the authors' module.

    fvcore: the authors write the channels-first layer norm (stem and downsampling) as
    elementwise tensor ops, which fvcore does not count; cnninspect builds it as torchvision
    does (``F.layer_norm`` on the permuted tensor), which fvcore counts as 5 per element."""
    from reference.convnext import ConvNeXt

    model = model_of("convnext", "tiny", resolution=32)
    first = [op for _, op in ops(model.root) if op.kind == "layernorm" and op.attrs["dim"] == "channels"]
    assert len(first) == 4  # the stem's and three downsampling layers'
    delta = sum(5 * c * h * w for c, h, w in (op.in_shape for op in first))
    counts = assert_same_network(model, ConvNeXt("tiny"), authors_name, fvcore_delta=delta)
    assert counts["params"] == PINNED["tiny"][0] and delta == 84_480


def test_block_parameters_closed_form():
    """A block has 8C^2 + 58C parameters (7x7 depthwise with bias, LN, two linear layers with
    biases, layer scale); the stem 48 C1 + C1 + 2 C1; a downsampling layer 2 C + 4 C C' + C'."""
    for variant in VARIANTS:
        model = model_of("convnext", variant)
        c = [model.settings.values[f"c{i}"] for i in range(1, 5)]
        b = [model.settings.values[f"b{i}"] for i in range(1, 5)]
        total = 3 * 16 * c[0] + c[0] + 2 * c[0]
        total += sum(n * (8 * w * w + 58 * w) for n, w in zip(b, c))
        total += sum(2 * w + 4 * w * w2 + w2 for w, w2 in zip(c, c[1:]))
        total += 2 * c[3] + c[3] * 1000 + 1000
        assert total == PINNED[variant][0], variant


@pytest.mark.parametrize("variant,depth,blocks", [("small", 1.0, 36), ("tiny", 2.0, 36), ("large", 3.0, 108)])
def test_stochastic_depth_rises_linearly_over_the_blocks(variant, depth, blocks):
    """The authors' (and torchvision's) schedule: block i of N (counted over all stages) drops
    with probability drop_path x i / (N - 1), also when --depth changes N."""
    model = model_of("convnext", variant, depth=depth)
    rates = [op.attrs["p"] for _, op in ops(model.root) if op.kind == "drop_path"]
    n = len(rates)
    assert n == blocks
    assert rates == pytest.approx([model.settings.values["drop_path"] * i / (n - 1) for i in range(n)])


# --- published tables -------------------------------------------------------------------------

TABLES = {t.id: t for t in load_tables() if t.id.startswith("convnext.")}
ERRATA = {  # (table, row, metric): the computed value pinned with the erratum
    ("convnext.table1", "ConvNeXt-B 384", "mult_adds"): 45_122_117_632,
    ("convnext.readme", "ConvNeXt-T", "params"): 28_589_128,
    ("convnext.readme", "ConvNeXt-B 384", "mult_adds"): 45_122_117_632,
}
ROWS = [(t.id, r) for t in TABLES.values() if t.kind == "totals" for r in t.rows]


@pytest.mark.parametrize("table_id,row", ROWS, ids=[f"{t}:{r.label}" for t, r in ROWS])
def test_published_totals_within_tolerance_or_pinned_erratum(table_id, row):
    totals = report_of(row.model, row.variant, **dict(row.settings)).totals
    for metric, value in row.values.items():
        computed = getattr(totals, metric)
        check = judge(table_id, row, metric, computed)
        pinned = ERRATA.get((table_id, row.label, metric))
        if pinned is None:
            assert check.status == "ok" and abs(computed - value.value) <= value.tolerance(), check
        else:
            assert check.status == "erratum" and computed == pinned == row.errata[metric].computed, check
            assert abs(computed - value.value) > value.tolerance()


def test_every_erratum_is_listed():
    documented = {(t.id, r.label, m) for t in TABLES.values() if t.kind == "totals" for r in t.rows for m in r.errata}
    assert documented == set(ERRATA)


def test_the_two_halves_of_table1_disagree_on_base_at_384():
    """The ImageNet-22K half prints 45.1G for the network the ImageNet-1K half prints 45.0G for."""
    one_k = next(r for r in TABLES["convnext.table1"].rows if r.label == "ConvNeXt-B 384")
    twenty_two_k = next(r for r in TABLES["convnext.table1_22k"].rows if r.label == "ConvNeXt-B 384")
    assert (one_k.model, one_k.variant, dict(one_k.settings)) == (
        twenty_two_k.model, twenty_two_k.variant, dict(twenty_two_k.settings))
    assert (one_k.values["mult_adds"].text, twenty_two_k.values["mult_adds"].text) == ("45.0G", "45.1G")


def test_format_paper_reproduces_table9():
    r = invoke("summary", "convnext", "--format", "paper")
    assert r.exit_code == 0, r.output
    assert "[d7x7, 384; 1x1, 1536; 1x1, 384] x 9" in r.stdout
    assert "Matches the published Table 9 row for row." in r.stdout
    other = invoke("summary", "convnext:base", "--format", "paper").stdout
    assert "[d7x7, 512; 1x1, 2048; 1x1, 512] x 27" in other
    assert "Not at the settings of the published Table 9" in other


def test_reproduce_cli():
    r = invoke("reproduce", "convnext", "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    data = json.loads(r.stdout)
    n = sum(len(r.values) for t in TABLES.values() if t.kind == "totals" for r in t.rows)
    layouts = sum(1 for t in TABLES.values() if t.kind == "layout")
    assert data["counts"] == {"ok": n - len(ERRATA) + layouts, "erratum": len(ERRATA), "FAIL": 0}
