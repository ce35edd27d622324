"""DenseNet-121/169/201/161 (specs/densenet.yaml) against torchvision's and the paper.

* exact totals pinned for every variant and convention;
* every parameter, by name and shape, equals torchvision's densenet (tests/reference/
  densenet.py) for all four; for DenseNet-121 and -161 also the output with the same weights
  and fvcore's and torchinfo's counts on torchvision's module (plus the paper's softmax);
* the network's weight layers number what its name says; every convolution is bias-free;
* Table 1 (the DenseNet-121/169/201 columns) row for row with ``--format paper``, and the
  text's "DenseNet-201 with 20M parameters", through the CLI.
"""

from __future__ import annotations

import json
import re

import pytest
from torch import nn

import reference as R
from cnninspect.build.builder import build_module
from cnninspect.resolve.ir import ops
from cnninspect.published import judge, load_tables
from conftest import invoke, model_of, report_of
from netcompare import assert_same_names, assert_same_network

VARIANTS = ("121", "169", "201", "161")

# variant -> (params, mult-adds in the paper, fvcore and torchinfo conventions), at 224x224
PINNED = {
    "121": (7_978_856, 2_834_161_664, 2_865_546_752, 2_834_246_312),
    "169": (14_149_480, 3_359_843_328, 3_397_970_816, 3_360_002_728),
    "201": (20_013_928, 4_291_365_888, 4_340_870_784, 4_291_595_944),
    "161": (28_681_000, 7_727_907_072, 7_786_843_488, 7_728_128_008),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_exact_totals(variant):
    paper = report_of("densenet", variant).totals
    assert paper.params == paper.trainable_params
    fvcore = report_of("densenet", variant, "fvcore").totals.mult_adds
    torchinfo = report_of("densenet", variant, "torchinfo").totals.mult_adds
    assert (paper.params, paper.mult_adds, fvcore, torchinfo) == PINNED[variant]


def torchvision_name(name: str) -> str:
    """Our parameter name -> torchvision's (``features.denseblock1.denselayer1.norm1``, ...)."""
    rules = [
        (r"^conv0\.conv\.", "features.conv0."),
        (r"^conv0\.bn\.", "features.norm0."),
        (r"^block(\d)\.(\d+)\.branch1\.", lambda m: f"features.denseblock{m[1]}.denselayer{int(m[2]) + 1}."),
        (r"^transition(\d)\.", r"features.transition\1."),
        (r"^norm5\.norm\.", "features.norm5."),
        (r"^classifier\.fc\.", "classifier."),
    ]
    for pattern, repl in rules:
        name = re.sub(pattern, repl, name)
    return name


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_is_torchvisions_by_name_and_shape(variant):
    ours = build_module(model_of("densenet", variant), device="meta")
    mapping = assert_same_names(ours, R.build_meta("densenet", variant), torchvision_name)
    assert mapping["block3.4.branch1.conv2.weight"] == "features.denseblock3.denselayer5.conv2.weight"


@pytest.mark.parametrize("variant", ["121", "161"])
def test_computes_what_torchvisions_module_computes(variant, one_thread):
    """Same weights, same output at 32x32 (the last block at 1x1); the paper's softmax ends the
    spec, so the reference is torchvision's network followed by a softmax."""
    reference = nn.Sequential(R.VARIANTS[("densenet", variant)].build(), nn.Softmax(dim=1))
    counts = assert_same_network(model_of("densenet", variant, resolution=32), reference,
                                 lambda n: "0." + torchvision_name(n))
    assert counts["params"] == PINNED[variant][0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_name_counts_the_weight_layers(variant):
    """DenseNet-L has L convolution and fully connected layers (2 per dense layer, one per
    transition, the first convolution and the classifier); no convolution has a bias."""
    model = model_of("densenet", variant)
    weighted = [op for _, op in ops(model.root) if op.kind in ("conv2d", "linear")]
    assert len(weighted) == int(variant)
    assert not any(op.attrs["bias"] for op in weighted if op.kind == "conv2d")


def test_transitions_halve_the_channels():
    model = model_of("densenet", "161")
    blocks = {n.name: n for n in model.root.children}
    assert [blocks[f"transition{i}"].out_shape[0] for i in (1, 2, 3)] == [192, 384, 1056]
    assert [blocks[f"block{i}"].out_shape[0] for i in (1, 2, 3, 4)] == [384, 768, 2112, 2208]


# --- published tables -------------------------------------------------------------------------

TABLES = [t for t in load_tables() if t.id.startswith("densenet.")]


@pytest.mark.parametrize("variant", ["121", "169", "201"])
def test_format_paper_reproduces_table1(variant):
    r = invoke("summary", f"densenet:{variant}", "--format", "paper")
    assert r.exit_code == 0, r.output
    assert "Matches the published Table 1 row for row." in r.stdout
    assert r.stdout.count("Table 1") == 2  # the title and the one comparison, not one per column


def test_densenet_161_has_no_table1_column():
    r = invoke("summary", "densenet:161", "--format", "paper")
    assert "[1x1 conv; 3x3 conv] x 36" in r.stdout
    assert r.stdout.count("Not at the settings of the published Table 1") == 1


def test_section_4_4_201_has_20m_parameters():
    (table,) = [t for t in TABLES if t.kind == "totals"]
    (row,) = table.rows
    computed = report_of(row.model, row.variant).totals.params
    assert judge(table.id, row, "params", computed).status == "ok" and computed == 20_013_928


def test_reproduce_cli():
    r = invoke("reproduce", "densenet", "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    assert json.loads(r.stdout)["counts"] == {"ok": 4, "erratum": 0, "FAIL": 0}
