"""RegNetX/RegNetY (specs/regnet.yaml) against the authors' code (pycls) and the paper.

* the spec's stage table (widths, depths, group width) is what pycls generates from each
  model's (d, w_0, w_a, w_m, g) - the spec lists it, tests/reference/regnet.py computes it;
* every parameter, by name and shape, equals pycls's for all ten models; for the two models
  torchvision builds differently (X-400MF, Y-800MF) also the output with the same weights and
  fvcore's and torchinfo's counts on pycls's module;
* exact totals pinned for every variant and convention;
* Figures 15 and 16 and Table 2 of the paper within their tolerances, through the CLI.
"""

from __future__ import annotations

import json
import re

import pytest

import reference as R
from cnninspect.build.builder import build_module
from cnninspect.resolve.catalog import load_bundled
from cnninspect.resolve.ir import ops
from cnninspect.published import judge, load_tables
from conftest import invoke, model_of, report_of
from netcompare import assert_same_names, assert_same_network
from reference import regnet

VARIANTS = tuple(regnet.CONFIGS)

# variant -> (params, mult-adds in the paper, fvcore and torchinfo conventions), at 224x224
PINNED = {
    "x_200mf": (2_684_792, 199_039_872, 203_384_016, 199_061_720),
    "x_400mf": (5_157_512, 397_677_568, 403_980_928, 397_715_240),
    "x_600mf": (6_196_040, 600_890_112, 608_864_176, 600_924_392),
    "x_800mf": (7_259_656, 799_699_712, 810_028_128, 799_738_024),
    "x_1_6gf": (9_190_136, 1_602_849_792, 1_618_759_504, 1_602_894_296),
    "y_200mf": (3_162_996, 199_514_080, 204_222_784, 199_539_924),
    "y_400mf": (4_344_144, 401_842_848, 410_406_088, 401_876_208),
    "y_600mf": (6_055_160, 601_220_992, 610_790_496, 601_257_368),
    "y_800mf": (6_263_168, 797_176_832, 808_780_032, 797_213_216),
    "y_1_6gf": (11_202_430, 1_612_076_160, 1_630_259_080, 1_612_139_998),
}


def test_the_variants_are_the_ten_models():
    assert set(load_bundled("regnet").variants) == set(VARIANTS) == set(PINNED)
    assert model_of("regnet").variant == "y_400mf"


@pytest.mark.parametrize("variant", VARIANTS)
def test_stage_table_is_what_pycls_generates(variant):
    """The spec's widths, depths and group width equal pycls's generate_regnet +
    adjust_block_compatibility on the model's (d, w_0, w_a, w_m, g); SE only for RegNetY."""
    values = model_of("regnet", variant).settings.values
    table = [(values[f"w{i}"], values[f"d{i}"], values["g"]) for i in range(1, 5)]
    assert table == [(s.width, s.depth, s.group_w) for s in regnet.stages_of(variant)]
    assert values["b"] == 1.0
    assert values["se"] == (0.25 if regnet.CONFIGS[variant][5] else 0.0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_exact_totals(variant):
    paper = report_of("regnet", variant).totals
    assert paper.params == paper.trainable_params
    fvcore = report_of("regnet", variant, "fvcore").totals.mult_adds
    torchinfo = report_of("regnet", variant, "torchinfo").totals.mult_adds
    assert (paper.params, paper.mult_adds, fvcore, torchinfo) == PINNED[variant]


def pycls_name(name: str) -> str:
    """Our parameter name -> pycls's (models/anynet.py: ``s1.b1.f.a``, ``s1.b1.proj``, ...)."""
    m = re.match(r"^s(\d)\.(\d+)\.(.*)$", name)
    if m is None:
        return name  # stem.conv, stem.bn, head.fc: the same names
    stage, block, rest = m[1], int(m[2]) + 1, m[3]
    for ours, theirs in (("body.a.conv.", "f.a."), ("body.a.bn.", "f.a_bn."), ("body.b.conv.", "f.b."),
                         ("body.b.bn.", "f.b_bn."), ("body.c.conv.", "f.c."), ("body.c.bn.", "f.c_bn."),
                         ("body.se.branch.reduce.", "f.se.f_ex.0."), ("body.se.branch.expand.", "f.se.f_ex.2."),
                         ("shortcut.conv.", "proj."), ("shortcut.bn.", "bn.")):
        if rest.startswith(ours):
            return f"s{stage}.b{block}.{theirs}{rest[len(ours):]}"
    raise AssertionError(f"no pycls name for {name}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_is_pycls_by_name_and_shape(variant):
    ours = build_module(model_of("regnet", variant), device="meta")
    assert_same_names(ours, R.build_meta("regnet", variant), pycls_name)


@pytest.mark.parametrize("variant", ["x_400mf", "y_800mf"])
def test_computes_what_pycls_computes(variant, one_thread):
    """The two models torchvision builds differently (half-up rounding of the bottleneck
    width): same weights, same output as pycls's module at 32x32, every convention equal to
    the tools' counts on it."""
    counts = assert_same_network(model_of("regnet", variant, resolution=32), R.VARIANTS[("regnet", variant)].build(),
                                 pycls_name)
    assert counts["params"] == PINNED[variant][0]


def test_se_squeezes_a_quarter_of_the_block_input():
    """RegNetY's SE width is round(0.25 x w_in), the *block input* (pycls's w_se): 12 for the
    first block of stage 2 of Y-400MF (input 48, bottleneck 104), 26 for the next ones."""
    model = model_of("regnet", "y_400mf")
    reduce = {q: op.attrs["out_ch"] for q, op in ops(model.root) if q.endswith("se.branch.reduce")}
    assert reduce["s2.0.body.se.branch.reduce"] == 12
    assert reduce["s2.1.body.se.branch.reduce"] == 26
    assert not any(q.endswith("se.branch.reduce") for q, _ in ops(model_of("regnet", "x_400mf").root))


@pytest.mark.parametrize("variant,width", [("y_400mf", 0.75), ("x_1_6gf", 0.5)])
def test_scaled_widths_are_made_multiples_of_the_group_width(variant, width):
    """The paper has no width multiplier; with --width the block rounds the bottleneck width to
    a multiple of the group width as pycls's adjust_block_compatibility does (halves to even),
    and the block's output is that width (b = 1), so every scaled model builds."""
    model = model_of("regnet", variant, width=width)
    g = model.settings.values["g"]
    grouped = [op for _, op in ops(model.root) if op.kind == "conv2d" and op.attrs["groups"] > 1
               and op.attrs["kernel"] == (3, 3)]
    assert grouped and all(op.attrs["out_ch"] == op.attrs["groups"] * g for op in grouped)
    stages = [n for n in model.root.children if n.name in ("s1", "s2", "s3", "s4")]
    assert [s.out_shape[0] % g for s in stages] == [0, 0, 0, 0]


# --- published tables -------------------------------------------------------------------------

TABLES = [t for t in load_tables() if t.id.startswith("regnet.")]
ROWS = [(t.id, r) for t in TABLES for r in t.rows]


def test_figures_15_16_list_every_variant():
    listed = {r.variant for t in TABLES if t.id in ("regnet.figure15", "regnet.figure16") for r in t.rows}
    assert listed == set(VARIANTS)


@pytest.mark.parametrize("table_id,row", ROWS, ids=[f"{t}:{r.label}" for t, r in ROWS])
def test_published_values_within_tolerance(table_id, row):
    totals = report_of(row.model, row.variant, **dict(row.settings)).totals
    assert not row.errata
    for metric, value in row.values.items():
        computed = getattr(totals, metric)
        check = judge(table_id, row, metric, computed)
        assert check.status == "ok" and abs(computed - value.value) <= value.tolerance(), check


def test_reproduce_cli():
    r = invoke("reproduce", "regnet", "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    assert json.loads(r.stdout)["counts"] == {"ok": sum(len(r.values) for _, r in ROWS), "erratum": 0, "FAIL": 0}


def test_format_paper_shows_the_stages():
    r = invoke("summary", "regnet:x_1_6gf", "--format", "paper")
    assert r.exit_code == 0, r.output
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert [(row[-2], row[-1]) for row in rows if "block," in row] == [("72", "2"), ("168", "4"), ("408", "10"),
                                                                         ("912", "2")]
