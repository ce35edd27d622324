"""EfficientNet B0-B7 against the paper: Table 1 stages, Table 2 costs, scaling rules.

Tolerances: parameters within half a unit of the printed digit (5.3M -> +-0.05M, 12M ->
+-0.5M); mult-adds (the paper's "FLOPs") within 5%, as the paper warns its FLOPs may differ
from theory. B2's parameters are the one documented erratum (pinned exactly).
"""

from __future__ import annotations

import pytest
import torch

from cnninspect.measure.analysis import analyze
from cnninspect.build.builder import build_module
from cnninspect.resolve.catalog import load_bundled
from cnninspect.resolve.ir import Residual, Seq, ops
from cnninspect.published import judge, load_tables
from cnninspect.render.paper import paper_table
from cnninspect.resolve.resolver import Overrides, resolve
from cnninspect.resolve.scaling import round_channels, scale_repeat
from cnninspect.lang.spec import Rounding
from cnninspect.build.torch_engine import analyze_meta, observe_module

from conftest import invoke, model_of, report_of

TABLES = {t.id: t for t in load_tables()}

# exact computed values (regression pins): params, paper-convention mult-adds
PINNED = {
    "b0": (5_288_548, 385_814_752),
    "b1": (7_794_184, 686_802_832),
    "b2": (9_109_994, 993_561_872),
    "b3": (12_233_232, 1_827_141_392),
    "b4": (19_341_616, 4_393_771_024),
    "b5": (30_389_784, 10_266_384_752),
    "b6": (43_040_704, 19_067_593_536),
    "b7": (66_347_960, 37_745_884_192),
}


def test_b0_paper_table_matches_table1_row_for_row():
    computed = paper_table(report_of("efficientnet", "b0"))
    assert computed.rows == TABLES["efficientnet.table1"].layout_rows
    assert computed.columns == TABLES["efficientnet.table1"].columns


def test_paper_format_cli_for_b0_and_b7():
    out = invoke("summary", "efficientnet:b0", "--format", "paper").stdout
    assert "Matches the published Table 1 row for row." in out
    assert "Conv1x1 & Pooling & FC" in out and "MBConv6, k5x5" in out
    b7 = invoke("summary", "efficientnet:b7", "--format", "paper").stdout
    # the same nine stages, scaled: 600x600 input, 64-channel stem, 2560-channel head
    assert "600x600" in b7 and "2560" in b7 and "Not at the settings of the published Table 1" in b7
    rows = paper_table(report_of("efficientnet", "b7")).rows
    assert [r[4] for r in rows] == ["1", "4", "7", "7", "10", "10", "13", "4", "1"]
    assert [r[3] for r in rows] == ["64", "32", "48", "80", "160", "224", "384", "640", "2560"]


TABLE2 = TABLES["efficientnet.table2"].rows


@pytest.mark.parametrize("row", TABLE2, ids=[r.label for r in TABLE2])
def test_table2_costs(row):
    report = report_of(row.model, row.variant)
    t = report.totals
    params_check = judge("table2", row, "params", t.params)
    macs_check = judge("table2", row, "mult_adds", t.mult_adds)
    assert macs_check.status == "ok", macs_check
    assert abs(t.mult_adds - row.values["mult_adds"].value) <= 0.05 * row.values["mult_adds"].value
    if row.variant == "b2":
        assert params_check.status == "erratum" and t.params == 9_109_994
    else:
        assert params_check.status == "ok", params_check
        assert abs(t.params - row.values["params"].value) <= row.values["params"].tolerance()
    assert (t.params, t.mult_adds) == PINNED[row.variant]


def test_scaling_rules():
    r = Rounding("divisor", 8, 0.9)
    assert [round_channels(c, 1.1, r) for c in (32, 16, 24, 40, 80, 112, 192, 320, 1280)] == [
        32, 16, 24, 48, 88, 120, 208, 352, 1408]
    # never more than 10% below the target
    for c in range(1, 2000, 7):
        for w in (0.35, 0.5, 1.1, 1.4, 1.8):
            assert round_channels(c, w, r) >= 0.9 * c * w and round_channels(c, w, r) % 8 == 0
    assert [scale_repeat(n, 3.1) for n in (1, 2, 2, 3, 3, 4, 1)] == [4, 7, 7, 10, 10, 13, 4]
    assert scale_repeat(3, 1.0) == 3


def test_only_the_first_block_of_a_stage_has_the_stride_and_the_skip_rule():
    model = model_of("efficientnet", "b0")
    stage = next(n for n in model.root.children if n.name == "stage3")
    assert isinstance(stage, Seq) and stage.repeat == 2
    first, second = stage.children
    assert not isinstance(first, Residual)  # stride 2 and 16 -> 24 channels: no skip
    assert isinstance(second, Residual)  # stride 1, 24 -> 24: identity skip
    dw = {q: op for q, op in ops(model.root)}
    assert dw["stage3.0.dw.conv"].attrs["stride"] == (2, 2)
    assert dw["stage3.1.body.dw.conv"].attrs["stride"] == (1, 1)
    assert dw["stage3.1.body.drop_path"].kind == "drop_path"


def test_squeeze_excitation_reduces_the_block_input_channels():
    model = model_of("efficientnet", "b0")
    o = {q: op for q, op in ops(model.root)}
    # stage2: MBConv1 on 32 input channels -> 8 squeeze channels, bias on both SE convs
    assert o["stage2.0.se.branch.reduce"].attrs["out_ch"] == 8
    assert o["stage2.0.se.branch.reduce"].attrs["bias"] is True
    assert "stage2.0.expand.conv" not in o  # MBConv1: no expansion convolution
    # stage3 block 0: input 16, expanded 96 -> squeeze 4, excite back to 96
    assert o["stage3.0.se.branch.reduce"].attrs["out_ch"] == 4
    assert o["stage3.0.se.branch.expand"].attrs["out_ch"] == 96


def test_stochastic_depth_is_training_only():
    torch.manual_seed(0)
    model = model_of("efficientnet", "b0", resolution=32)
    module = build_module(model)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        a, b = module(x), module(x)
        assert torch.equal(a, b)  # eval: deterministic
        module.train()
        outs = {tuple(module[1:3](module[0](x)).flatten()[:5].tolist()) for _ in range(6)}
    assert len(outs) > 1  # training: blocks are dropped at random


def test_tf_padding_is_asymmetric_and_shown():
    torch_model = model_of("efficientnet", "b0", resolution=64)
    tf_model = model_of("efficientnet", "b0", resolution=64, padding="tf")
    a, b = analyze(torch_model), analyze(tf_model)
    assert a.totals == b.totals  # same shapes, same costs
    stem = {q: op for q, op in ops(tf_model.root)}["stem.conv"]
    assert stem.attrs["pad"] == (0, 1, 0, 1)
    module = build_module(tf_model)
    assert type(module.get_submodule("stem.conv")).__name__ == "Conv2dSame"
    observed = observe_module(tf_model, module, device="cpu")
    for qual, op in ops(tf_model.root):
        assert observed[qual].out_shape == op.out_shape
    # Conv2dSame pads like TensorFlow: zero row/column after, none before
    conv = module.get_submodule("stem.conv")
    x = torch.randn(1, 3, 64, 64)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, None, 2)
    assert torch.allclose(conv(x), ref)
    text = invoke("summary", "efficientnet:b0", "--padding", "tf", "--resolution", "64").stdout
    assert "padding tf" in text and "pad 0,1,0,1" in text


def test_phi_is_the_idealised_compound_rule():
    assert model_of("efficientnet").settings.resolution == 224
    m0 = resolve(load_bundled("efficientnet"), None, Overrides(phi=0))
    assert analyze(m0).totals == report_of("efficientnet", "b0").totals
    m1 = model_of("efficientnet", phi=1)
    assert m1.settings.width == pytest.approx(1.1) and m1.settings.depth == pytest.approx(1.2)
    assert m1.settings.resolution == round(224 * 1.15)
    m3 = model_of("efficientnet", phi=3)
    assert m3.settings.resolution == round(224 * 1.15**3) and m3.settings.depth == pytest.approx(1.2**3)
    r = invoke("summary", "efficientnet", "--phi", "2", "--width", "1.3")
    assert r.exit_code == 2 and "--phi" in r.stderr


def test_b7_meta_engine_allocates_nothing():
    model = model_of("efficientnet", "b7")
    module = build_module(model, device="meta")
    assert all(p.is_meta for p in module.parameters())
    assert analyze_meta(model).totals == analyze(model).totals


@pytest.mark.parametrize(
    "body,fragments",
    [
        ("mbconv: {out: 16, expand: 6, se: 0}", ["layers[1].mbconv.se", "(0, 1]", "got 0"]),
        ("mbconv: {out: 16, expand: 6, se: -0.25}", ["layers[1].mbconv.se"]),
        ("mbconv: {out: 16, expand: 0.5}", ["layers[1].mbconv.expand", ">= 1"]),
        ("mbconv: {out: 24, expand: 6, stride: 2, skip: identity}", ["layers[1].mbconv.skip", "skip: identity"]),
        ("mbconv: {out: 16, expand: 6, kernel: 4}", ["layers[1]", "even kernel"]),
    ],
)
def test_bad_mbconv_input(tmp_spec, body, fragments):
    path = tmp_spec(
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n"
        "  - conv: {out: 16, kernel: 3, stride: 2, bn: true, act: silu}\n"
        f"  - {body}\n"
    )
    r = invoke("summary", str(path))
    assert r.exit_code == 2, r.stdout
    err = r.stderr.strip()
    assert err.count("\n") == 0 and f"{path}:5:" in err
    for frag in fragments:
        assert frag in err, (frag, err)


def test_unknown_variant_lists_b0_to_b7():
    r = invoke("summary", "efficientnet:b9")
    assert r.exit_code == 2
    assert "unknown variant 'b9' of efficientnet" in r.stderr
    assert "available: b0, b1, b2, b3, b4, b5, b6, b7" in r.stderr
