"""MobileNetV3, ShuffleNet V2 and SqueezeNet (issue 11) as bundled specs, against their
reference implementations (tests/reference) and their papers' tables.

* exact integers for every variant: parameters, and mult-adds in the paper, fvcore and
  torchinfo conventions, as regression guards;
* each variant's built module against its reference module (``reftools.assert_same_as``:
  parameters by name and shape in order, the same output with the same weights, the paper,
  fvcore and torchinfo counts measured on the reference, and ``--verify`` on ours) at a
  reduced resolution (every count scales with the spatial size, none depends on it otherwise),
  and the parameter total against the reference at the paper's resolution. References:
  torchvision's MobileNetV3 (a port of the authors' TF code), the authors' ShuffleNetV2
  (megvii), torchvision's SqueezeNet (= the authors' Caffe models but conv10's padding);
* every value of the bundled tables: in tolerance or a documented erratum pinned exactly,
  the layout tables row for row with ``--format paper``; the errata's own arithmetic.

The whole-network forward passes run at 48-64 pixels on one thread, so the file stays cheap.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import reference as R
from cnninspect.resolve.catalog import bundled_path, load_bundled
from cnninspect.lang.spec import spec_from_text
from cnninspect.published import judge, layout_differences, load_tables
from cnninspect.render.paper import paper_table
from cnninspect.resolve.resolver import Overrides, resolve
from reference import mobilenet_v3 as mv3
from reference import shufflenet_v2 as sv2

from conftest import invoke, model_of, report_of
from reftools import assert_same_as

FAMILIES = ("mobilenet_v3", "shufflenet_v2", "squeezenet")
TABLES = {t.id: t for t in load_tables()}

# --- exact pins -----------------------------------------------------------------------------

# (spec, variant, settings) -> (params, paper mult-adds, fvcore mult-adds, torchinfo mult-adds)
PINNED = {
    ("mobilenet_v3", "large", ()): (5_483_032, 216_589_760, 226_033_824, 216_621_520),
    ("mobilenet_v3", "small", ()): (2_542_856, 56_510_400, 59_649_536, 56_527_424),
    ("shufflenet_v2", "x0_5", ()): (1_365_792, 40_476_448, None, None),
    ("shufflenet_v2", "x1_0", ()): (2_278_760, 145_814_296, None, None),
    ("shufflenet_v2", "x1_5", ()): (3_506_720, 298_970_656, None, None),
    ("shufflenet_v2", "x2_0", ()): (7_402_600, 590_783_000, None, None),
    ("squeezenet", "1_0", ()): (1_248_424, 832_667_936, None, None),  # 227x227, the spec's default
    ("squeezenet", "1_1", ()): (1_235_496, 387_747_520, None, None),
    # at 224 (torchvision's documented 0.819G and 0.349G)
    ("squeezenet", "1_0", (("resolution", 224),)): (1_248_424, 818_924_576, None, None),
    ("squeezenet", "1_1", (("resolution", 224),)): (1_235_496, 349_151_936, None, None),
    # Table 3's width 0.75 with torchvision's rounding (not the paper's 155M / 4.0M and 44M / 2.4M)
    ("mobilenet_v3", "large", (("width", 0.75),)): (3_377_576, 140_033_816, None, None),
    ("mobilenet_v3", "small", (("width", 0.75),)): (1_653_920, 39_115_576, None, None),
    # Small with Table 2's 1280-wide head (no SE on the last convolution): Table 3's 2.9M
    ("mobilenet_v3", "small", (("head", 1280),)): (2_946_568, 56_913_856, None, None),
}


def _report(name, variant, settings, convention="paper"):
    builtin = {k: v for k, v in settings if k in ("width", "resolution")}
    values = {k: v for k, v in settings if k not in builtin}
    return report_of(name, variant, convention, **builtin, **({"values": values} if values else {}))


@pytest.mark.parametrize("key", PINNED, ids=[f"{n}:{v}{''.join(f'@{k}={x}' for k, x in s)}" for n, v, s in PINNED])
def test_exact_counts_are_pinned(key):
    params, paper, fv, ti = PINNED[key]
    totals = _report(*key).totals
    assert (totals.params, totals.trainable_params, totals.mult_adds) == (params, params, paper)
    if fv is not None:
        assert _report(*key, "fvcore").totals.mult_adds == fv
        assert _report(*key, "torchinfo").totals.mult_adds == ti


def test_every_variant_is_pinned_and_named_as_issue_11_lists_them():
    variants = {"mobilenet_v3": ("large", ["large", "small"]), "shufflenet_v2": ("x1_0", ["x0_5", "x1_0", "x1_5", "x2_0"]),
                "squeezenet": ("1_0", ["1_0", "1_1"])}
    for name, (default, names) in variants.items():
        spec = load_bundled(name)
        assert spec.default_variant == default and sorted(spec.variants) == names
        assert {v for n, v, s in PINNED if n == name and not s} == set(names)
        c = spec.citation
        assert {"short", "paper", "url", "table"} <= set(c) and str(c["url"]).startswith("https://arxiv.org/")


def test_params_equal_the_reference_at_the_papers_resolution():
    """The whole reference module (meta device): the same parameter total as the spec."""
    refs = {("mobilenet_v3", v): ("mobilenet_v3", v) for v in ("large", "small")}
    refs.update({("shufflenet_v2", v): ("shufflenet_v2_megvii", v) for v in sv2.STAGE_OUT})
    refs.update({("squeezenet", v): ("squeezenet", v) for v in ("1_0", "1_1")})
    for (name, variant), key in refs.items():
        assert R.param_count(R.build_meta(*key)) == PINNED[(name, variant, ())][0], key


# --- against the reference modules ----------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one thread is faster, and far faster on a busy machine."""


def _eps_1e5(module: nn.Module) -> nn.Module:
    """torchvision's MobileNetV3 batch norm uses eps 0.001, the spec PyTorch's default (no
    count depends on it): the same eps on both sides makes the outputs comparable."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-5
    return module


@pytest.mark.parametrize("variant", ["large", "small"])
def test_mobilenet_v3_is_torchvisions(variant):
    model = model_of("mobilenet_v3", variant, resolution=64)
    counts = assert_same_as(model, _eps_1e5(mv3.MobileNetV3(variant)))
    assert counts["params"] == PINNED[("mobilenet_v3", variant, ())][0]


@pytest.mark.parametrize("variant", ["large", "small"])
def test_mobilenet_v3_width_multiplier_is_torchvisions(variant):
    """width 0.75: every channel count through make_divisible(c x 0.75, 8) (stem, blocks, the
    last convolution as 6 x the last block, the NBN head), the SE width from the rounded exp
    size, the classifier unscaled: torchvision's mobilenet_v3_*(width_mult=0.75)."""

    def adjust(c: int) -> int:
        return mv3._make_divisible(c * 0.75, 8)

    rows, head = mv3.CONFIGS[variant]
    ref = mv3.MobileNetV3(variant)
    blocks = [mv3.InvertedResidual(mv3.BneckConf(adjust(r.cin), r.kernel, adjust(r.expanded), adjust(r.cout), r.use_se,
                                                 r.act, r.stride)) for r in rows]
    last = 6 * adjust(rows[-1].cout)
    ref.features = nn.Sequential(mv3.Conv2dNormActivation(3, adjust(16), 3, 2, act=nn.Hardswish), *blocks,
                                 mv3.Conv2dNormActivation(adjust(rows[-1].cout), last, 1, act=nn.Hardswish))
    ref.classifier = nn.Sequential(nn.Linear(last, adjust(head)), nn.Hardswish(), nn.Dropout(0.2),
                                   nn.Linear(adjust(head), 1000))
    model = model_of("mobilenet_v3", variant, resolution=48, width=0.75)
    assert assert_same_as(model, _eps_1e5(ref))["params"] == PINNED[("mobilenet_v3", variant, (("width", 0.75),))][0]


class PaperShuffleBlock(sv2.ShuffleV2Block):
    """The authors' unit (megvii blocks.py: the same branches, names and widths) with the
    shuffle where Fig. 3 draws it: split in halves, concatenate, shuffle in two groups. The
    authors' code splits even and odd channels at the start of the next unit instead (the
    same counts; the channels come out in another order, so outputs need the same placement).
    ``branch_proj`` is registered first, as the spec's left branch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        main = self.branch_main
        del self.branch_main
        self.branch_main = main

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x_proj, x = x.chunk(2, dim=1)
            out = torch.cat((x_proj, self.branch_main(x)), 1)
        else:
            out = torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        return sv2.channel_shuffle(out, 2)


def _paper_shuffle(variant: str) -> sv2.ShuffleNetV2Megvii:
    """The authors' network (network.py's loop) built from :class:`PaperShuffleBlock`."""
    ref = sv2.ShuffleNetV2Megvii(variant)
    out, blocks, cin = sv2.STAGE_OUT[variant], [], sv2.STAGE_OUT[variant][0]
    for repeats, cout in zip(sv2.REPEATS, out[1:4]):
        for i in range(repeats):
            blocks.append(PaperShuffleBlock(cin if i == 0 else cin // 2, cout, cout // 2, ksize=3, stride=2 if i == 0 else 1))
            cin = cout
    ref.features = nn.Sequential(*blocks)
    return ref


@pytest.mark.parametrize("variant", sorted(sv2.STAGE_OUT))
def test_shufflenet_v2_is_the_authors(variant):
    model = model_of("shufflenet_v2", variant, resolution=64)
    authors = sv2.ShuffleNetV2Megvii(variant)
    counts = assert_same_as(model, _paper_shuffle(variant))
    assert counts["params"] == R.param_count(authors) == PINNED[("shufflenet_v2", variant, ())][0]
    # the authors' own module, shuffle and all: the same parameters in the same shapes
    ours = sorted(tuple(p.shape) for p in _paper_shuffle(variant).parameters())
    assert ours == sorted(tuple(p.shape) for p in authors.parameters())
    assert R.paper_mult_adds(R.build_meta("shufflenet_v2_megvii", variant), 64) == counts["paper"]


@pytest.mark.parametrize("variant", ["1_0", "1_1"])
def test_squeezenet_is_torchvisions(variant):
    model = model_of("squeezenet", variant, resolution=64)
    counts = assert_same_as(model, R.squeezenet.SqueezeNet(variant))
    assert counts["params"] == PINNED[("squeezenet", variant, ())][0]


# --- the papers' tables ---------------------------------------------------------------------

# every value of the families' totals tables: (table, row, metric) -> status
EXPECTED = {
    ("mobilenet_v3.table3", "V3-Large 1.0", "mult_adds"): "erratum",  # 219M vs 216.6M
    ("mobilenet_v3.table3", "V3-Large 1.0", "params"): "erratum",  # 5.48M cut off to 5.4M
    ("mobilenet_v3.table3", "V2 1.0", "mult_adds"): "erratum",  # 300.8M cut off
    ("mobilenet_v3.table3", "V2 1.0", "params"): "erratum",  # 3.50M cut off
    ("mobilenet_v3.table3", "V3-Small 1.0", "mult_adds"): "erratum",  # 66M vs 56.5M
    ("mobilenet_v3.table3", "V3-Small 1.0", "params"): "erratum",  # 2.9M: the 1280-wide head
    ("mobilenet_v3.table3", "V2 0.35", "mult_adds"): "erratum",  # 59.29M cut off
    ("mobilenet_v3.table3", "V2 0.35", "params"): "erratum",  # 1.68M cut off
    ("shufflenet_v2.table5", "ShuffleNet v2 0.5x", "mult_adds"): "erratum",  # 41M vs 40.48M
    ("shufflenet_v2.table5", "ShuffleNet v2 0.5x", "params"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 1x", "mult_adds"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 1x", "params"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 1.5x", "mult_adds"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 1.5x", "params"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 2x", "mult_adds"): "ok",
    ("shufflenet_v2.table5", "ShuffleNet v2 2x", "params"): "ok",
}
# layout tables: id -> the documented errata cells (row, column)
LAYOUTS = {
    "mobilenet_v3.table1": set(),
    "mobilenet_v3.table2": {(13, 5), (15, 4), (16, 1)},  # SE on the last conv; 1280-wide head
    "shufflenet_v2.table5_x0_5": set(),
    "shufflenet_v2.table5_x1_0": set(),
    "shufflenet_v2.table5_x1_5": set(),
    "shufflenet_v2.table5_x2_0": set(),
    "squeezenet.table1": {(1, 2), (12, 2)},  # 224 for 227; 13x12 for 13x13
}


def test_every_table_of_the_families_is_checked():
    ids = {t.id for t in TABLES.values() if t.id.split(".")[0] in FAMILIES}
    assert ids == {k[0] for k in EXPECTED} | set(LAYOUTS)
    listed = {(t.id, r.label, m) for t in TABLES.values() if t.kind == "totals" and t.id in ids
              for r in t.rows for m in r.values}
    assert listed == set(EXPECTED)


@pytest.mark.parametrize("key", EXPECTED, ids=[":".join(k) for k in EXPECTED])
def test_published_totals_within_tolerance_or_pinned_erratum(key):
    tid, label, metric = key
    (row,) = [r for r in TABLES[tid].rows if r.label == label]
    computed = getattr(report_of(row.model, row.variant, **dict(row.settings)).totals, metric)
    check = judge(tid, row, metric, computed)
    assert check.status == EXPECTED[key], check
    value = row.values[metric]
    if check.status == "ok":
        assert abs(computed - value.value) <= value.tolerance()
    else:
        assert abs(computed - value.value) > value.tolerance()
        assert row.errata[metric].computed == computed and row.errata[metric].note


@pytest.mark.parametrize("tid", LAYOUTS)
def test_layout_tables_match_format_paper_row_for_row(tid):
    table = TABLES[tid]
    computed = paper_table(report_of(table.model, table.variant, **table.settings)).rows
    assert len(computed) == len(table.layout_rows)
    differing = {(i, j) for i, (p, c) in enumerate(zip(table.layout_rows, computed), 1)
                 for j, (a, b) in enumerate(zip(p, c), 1) if a != b}
    assert differing == LAYOUTS[tid] == {(e.row, e.column) for e in table.layout_errata}
    assert not any("undocumented" in n for n in layout_differences(table, computed))


def test_reproduce_cli_passes_on_the_families():
    r = invoke("reproduce", *FAMILIES, "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    data = json.loads(r.stdout)
    layouts = ["erratum" if LAYOUTS[t] else "ok" for t in LAYOUTS]
    expected = list(EXPECTED.values()) + layouts
    assert data["counts"] == {"ok": expected.count("ok"), "erratum": expected.count("erratum"), "FAIL": 0}


def test_format_paper_compares_the_variants_own_table():
    """Table 5 is bundled once per width column: each width is compared with its own column,
    and only a model at none of the published settings says so."""
    for variant in sv2.STAGE_OUT:
        out = invoke("summary", f"shufflenet_v2:{variant}", "--format", "paper").stdout
        assert "Matches the published Table 5 row for row." in out and "Not at the settings" not in out
    out = invoke("summary", "shufflenet_v2", "--resolution", "160", "--format", "paper").stdout
    assert out.count("Not at the settings of the published Table 5") == 1
    small = invoke("summary", "mobilenet_v3:small", "--format", "paper").stdout
    assert small.startswith("Table 2. Specification for MobileNetV3-Small") and "erratum" in small
    v11 = invoke("summary", "squeezenet:1_1", "--format", "paper").stdout
    assert v11.startswith("SqueezeNet 1.1") and "published" not in v11


# --- the errata's arithmetic ----------------------------------------------------------------


def _variant_spec(name: str, old: str, new: str):
    text = bundled_path(name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    return spec_from_text(text.replace(old, new), f"{name} (modified)")


def test_mobilenet_v3_small_as_table2_prints_it():
    """Table 2's SE on the last 1x1 convolution and its 1280-wide head: 3,113,176 parameters
    and 57,079,744 mult-adds, neither Table 3's 2.9M and 66M; the head alone gives 2.9M."""
    spec = _variant_spec(
        "mobilenet_v3",
        "    conv: {out: $in * 6, kernel: 1, bn: true, act: hardswish}\n",
        "    sequential:\n      - conv: {out: $in * 6, kernel: 1, bn: true, act: hardswish}\n"
        "      - se: {ratio: 0.25, divisor: 8, gate: hardsigmoid}\n",
    )
    from cnninspect.measure.analysis import analyze

    t = analyze(resolve(spec, "small", Overrides(values={"head": 1280}))).totals
    assert (t.params, t.mult_adds) == (3_113_176, 57_079_744)
    se = (3_113_176 - 2_946_568, 57_079_744 - 56_913_856)
    assert se == (576 * 144 + 144 + 144 * 576 + 576, 2 * 576 * 144) == (166_608, 165_888)
    assert round(PINNED[("mobilenet_v3", "small", (("head", 1280),))][0] / 1e6, 1) == 2.9


def test_shufflenet_v2_torchvision_form_misses_table5():
    """Both downsampling branches at out / 2 and a biased classifier (torchvision's form):
    torchvision's documented parameters, and FLOPs outside Table 5's rounding at 1x-2x."""
    text = bundled_path("shufflenet_v2").read_text(encoding="utf-8")
    text = text.replace("pwconv: {out: $w_in, bn: true, act: relu}", "pwconv: {out: $out // 2, bn: true, act: relu}")
    text = text.replace('"$out - ($w_in if $stride == 2 else $w_in // 2)"', "$out // 2")
    text = text.replace("linear: {out: $num_classes, bias: false}", "linear: {out: $num_classes}")
    spec = spec_from_text(text, "shufflenet_v2 (torchvision's form)")
    from cnninspect.measure.analysis import analyze

    for variant, printed in (("x0_5", 41e6), ("x1_0", 146e6), ("x1_5", 299e6), ("x2_0", 591e6)):
        t = analyze(resolve(spec, variant, Overrides())).totals
        ref = R.build_meta("shufflenet_v2", variant)
        assert (t.params, t.mult_adds) == (R.param_count(ref), R.paper_mult_adds(ref, 224))
        assert abs(t.mult_adds - printed) > 0.5e6


def test_squeezenet_caffe_conv10_and_the_authors_gflops():
    """The authors' Caffe v1.0 pads conv10 (1x1) by 1: 15x15 maps, 861,339,936 mult-adds at 227,
    whose FLOPs (2 per mult-add) are their "1.72 GFLOPS" and MobileNet's "1700M"."""
    spec = _variant_spec("squeezenet", "conv: {out: $num_classes, kernel: 1, bias: true, act: relu}",
                         "conv: {out: $num_classes, kernel: 1, padding: 1, bias: true, act: relu}")
    from cnninspect.measure.analysis import analyze

    caffe = analyze(resolve(spec, "1_0", Overrides())).totals.mult_adds
    assert caffe == 861_339_936 == PINNED[("squeezenet", "1_0", ())][1] + 512 * 1000 * (15 * 15 - 13 * 13)
    assert round(2 * caffe / 1e9, 2) == 1.72
    assert round(2 * PINNED[("squeezenet", "1_1", ())][1] / 1e9, 2) == 0.78  # not the README's 0.72
