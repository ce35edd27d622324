"""``explain``: formulas that evaluate to the counts, reconciliations that sum exactly and
equal the real tools, the deck's worked example against real torch ops, and the CLI.

The peer tools run on the very modules cnninspect builds, at reduced resolutions (the
identities hold at any resolution). fvcore and torchinfo are held equal to their
conventions on every bundled variant by ``test_conventions.py``; here every variant is
measured with ptflops, thop and FlopCounterMode, and the whole ``explain`` measuring path
(all five tools) runs on models that between them have every op kind and module class.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from cnninspect.measure.analysis import analyze
from cnninspect.resolve.catalog import bundled_names, load_bundled
from cnninspect.ops.conventions import CONVENTIONS
from cnninspect.explore.explain import UNEXPLAINED, explain_model, op_facts, reconcile_tool, version_choices
from cnninspect.ops.kind import OP_CLASS_NAMES
from cnninspect.ops.kinds import KINDS
from cnninspect.build.builder import build_module
from cnninspect.build.peers import TOOLS, installed, run_tool
from cnninspect.render.explain import explain_json
from cnninspect.explore.teach import DECK_FEATURE_MAP, DECK_FILTER, DECK_IMAGE, TEACH_OPS, lesson

from conftest import all_variants, invoke, model_of, reduced_model, variant_id

VARIANTS = all_variants()
IDS = [variant_id(n, v) for n, v in VARIANTS]
BUDGET = 100_000_000


def evaluate(text: str) -> int:
    """The value of a rendered formula: ``3 x 3 x 32 + 64 (bias)`` -> 352 (labels ignored)."""
    text = text.split(" = ")[-1]
    while "(" in text:
        text = re.sub(r"\([^()]*\)", "", text)
    total = 0
    for part in text.split(" + "):
        product = 1
        for factor in part.split(" x "):
            product *= int(factor.strip().replace(",", ""))
        total += product
    return total


# --- registries -------------------------------------------------------------------------------


def test_every_convention_the_explain_tools_use_is_registered():
    assert {"ptflops", "thop", "flopcounter"} <= set(CONVENTIONS)
    assert {t.convention for t in TOOLS.values()} <= set(CONVENTIONS)


def test_op_class_names_are_the_registry_values():
    models = [model_of(n) for n in bundled_names()]
    seen = {KINDS[r.kind].op_class(op.attrs) for m in models for r, op in _rows_and_ops(m)}
    assert seen <= set(OP_CLASS_NAMES)
    assert {"conv", "depthwise conv", "pointwise conv", "linear", "norm", "pooling", "activation"} <= seen


def _rows_and_ops(model):
    from cnninspect.resolve.ir import ops

    by_name = dict(ops(model.root))
    return [(r, by_name[r.name]) for r in analyze(model).layers]


def test_no_bundled_spec_is_named_like_an_op():
    assert not set(TEACH_OPS) & set(bundled_names())
    assert set(TEACH_OPS) <= set(KINDS)


# --- formulas evaluate to the counts ----------------------------------------------------------


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_every_formula_evaluates_to_its_count_in_every_convention(name, variant):
    """Each layer's rendered formula (the JSON ``formula`` text) evaluates to its count, in
    every convention; each parameter formula to the parameters of the op's real module (built
    on the meta device), tensor by tensor."""
    model = reduced_model(name, variant, BUDGET)
    for conv in CONVENTIONS:
        exp = explain_model(model, load_bundled(name), conv, measure=False, choices=False)
        data = explain_json(exp)
        counts = {r.name: r.mult_adds for r in analyze(model, conv).layers}
        assert len(data["layers"]) == len(counts)
        for layer in data["layers"]:
            assert evaluate(layer["formula"]) == layer["mult_adds"] == counts[layer["name"]], (conv, layer)
            assert sum(t["value"] for t in layer["terms"]) == layer["mult_adds"]
        assert data["totals"]["mult_adds"] == sum(counts.values())
    report = analyze(model)
    module = build_module(model, device="meta")
    for row, facts in op_facts(report, report.layers):
        pf = KINDS[facts.kind].param_formula(facts.attrs)
        real = {n: p.numel() for n, p in module.get_submodule(row.name).named_parameters(recurse=False)}
        assert pf.value == sum(real.values()) == row.params, row.name
        assert {t.cause for t in pf.terms} == set(real), row.name


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_reconciliation_terms_sum_exactly_to_each_tools_count(name, variant):
    model = model_of(name, variant)
    exp = explain_model(model, load_bundled(name), measure=False, choices=False)
    paper = analyze(model, "paper").totals.mult_adds
    for r in exp.reconcile:
        tool = TOOLS[r.tool]
        assert r.paper_total == paper
        assert r.paper_total + sum(v for _, v in r.terms) == r.total == r.derived
        assert r.derived == tool.factor * analyze(model, tool.convention).totals.mult_adds
        assert all(v != 0 for _, v in r.terms) and r.source == "derived"
    by_class = sum(c.mult_adds for c in exp.by_op)
    assert by_class == paper and sum(c.params for c in exp.by_op) == analyze(model).totals.params


# --- the real tools -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools_for_every_variant():
    present = [t for t in TOOLS.values() if t.name in ("ptflops", "thop", "FlopCounterMode") and installed(t)]
    if not present:
        pytest.skip("none of ptflops, thop installed")
    return present


@pytest.mark.parametrize("name,variant", VARIANTS, ids=IDS)
def test_ptflops_thop_and_flopcounter_rows_equal_the_tools_on_the_built_module(name, variant, tools_for_every_variant):
    model = reduced_model(name, variant, BUDGET)
    report = analyze(model)
    facts = [f for _, f in op_facts(report, report.layers)]
    for tool in tools_for_every_variant:
        measured = run_tool(tool, model)
        row = reconcile_tool(tool, facts, measured)
        assert row.measured == row.derived, (tool.name, row.terms)


@pytest.mark.parametrize("target,resolution,padding", [
    ("lenet5", None, None),              # connection table, RBF, trainable subsampling, custom activations
    ("googlenet:aux", 224, None),       # LRN, ceil-mode pools, average pool, side branches, softmax
    ("efficientnet:b0", 32, "tf"),      # Conv2dSame, SiLU, SE gates, global pools, drop path
    ("mobilenet_v2", 32, None),         # ReLU6, linear bottlenecks
])
def test_explain_measures_all_five_tools_and_explains_every_difference(target, resolution, padding):
    from cnninspect.resolve.catalog import parse_target
    from cnninspect.resolve.resolver import Overrides, resolve

    t = parse_target(target)
    model = resolve(t.spec, t.variant, Overrides(resolution=resolution, padding=padding))
    exp = explain_model(model, t.spec)
    for r in exp.reconcile:
        if installed(TOOLS[r.tool]):
            assert r.source == "measured", (r.tool, r.note)
        assert r.total == r.derived and all(c != UNEXPLAINED for c, _ in r.terms), (r.tool, r.terms)


def test_a_tool_disagreeing_with_its_rules_shows_as_an_unexplained_term():
    model = model_of("lenet5")
    report = analyze(model)
    facts = [f for _, f in op_facts(report, report.layers)]
    row = reconcile_tool(TOOLS["thop"], facts, measured=12345)
    assert row.total == 12345 == row.paper_total + sum(v for _, v in row.terms)
    assert row.terms[-1] == (UNEXPLAINED, 12345 - row.derived)


def test_efficientnet_b0_reconciliation_names_every_term():
    """The README's table: EfficientNet-B0 at 224, pinned."""
    exp = explain_model(model_of("efficientnet"), load_bundled("efficientnet"), measure=False)
    rows = {r.tool: (r.total, dict(r.terms)) for r in exp.reconcile}
    assert exp.reconcile[0].paper_total == 385_814_752
    assert rows["fvcore"][0] == 401_659_392
    assert rows["fvcore"][1] == {"batch norm, 2 per element": 13_475_392, "pooling, 1 per input element": 2_369_248}
    assert rows["torchinfo"][0] == 385_867_108
    assert rows["ptflops"][0] == 410_196_896
    assert rows["ptflops"][1]["counted twice: nn module hook + patched torch.nn.functional call"] == 2_369_248
    assert rows["thop"][0] == 415_145_024
    assert rows["FlopCounterMode"] == (771_629_504, {"x2: 2 FLOPs per multiply-add": 385_814_752})


def test_fvcore_drops_the_auxiliary_classifiers_and_ptflops_misses_tf_padded_convolutions():
    exp = explain_model(model_of("googlenet", "aux"), load_bundled("googlenet"), measure=False)
    fv = next(r for r in exp.reconcile if r.tool == "fvcore")
    side = analyze(model_of("googlenet", "aux")).totals.mult_adds - analyze(model_of("googlenet")).totals.mult_adds
    assert dict(fv.terms)["side branches a tracer drops (auxiliary outputs not returned)"] == -side
    exp = explain_model(model_of("mobilenet_v1", padding="tf"), load_bundled("mobilenet_v1"), measure=False)
    pt = dict(next(r for r in exp.reconcile if r.tool == "ptflops").terms)
    dropped = [v for c, v in pt.items() if c.startswith("modules ptflops does not see (Conv2dSame")]
    assert dropped and dropped[0] < 0


# --- version choices ----------------------------------------------------------------------------


def test_version_choices_give_each_alternatives_totals():
    resnet = {c.setting: c for c in version_choices(model_of("resnet"), load_bundled("resnet"))}
    assert resnet["--set stride_on=1x1"].current and resnet["--set stride_on=1x1"].mult_adds == 3_857_973_248
    assert resnet["--set stride_on=3x3"].mult_adds == analyze(model_of("resnet", values={"stride_on": "3x3"})).totals.mult_adds
    assert resnet["--set stride_on=3x3"].mult_adds == 4_089_184_256
    basic = {c.choice for c in version_choices(model_of("resnet", "18"), load_bundled("resnet"))}
    assert "stride" not in basic  # basic blocks: the stride placement changes nothing
    google = {c.setting: c for c in version_choices(model_of("googlenet"), load_bundled("googlenet"))}
    assert google["ceil_mode: true"].current
    assert google["ceil_mode: false"].mult_adds is None and "6x6" in google["ceil_mode: false"].error
    small = {c.setting: c for c in version_choices(model_of("googlenet", resolution=256), load_bundled("googlenet"))}
    assert small["ceil_mode: false"].mult_adds < small["ceil_mode: true"].mult_adds
    assert not [c for c in version_choices(model_of("alexnet"), load_bundled("alexnet")) if c.choice == "pooling"]


# --- the deck's worked example --------------------------------------------------------------------


def _tensor(rows):
    return torch.tensor(rows, dtype=torch.float64).view(1, 1, len(rows), len(rows[0]))


def _as_floats(output):
    return [[float(v) for v in row] for row in output]


def test_the_decks_convolution_reproduces_its_feature_map_and_f_conv2d():
    ex = lesson("conv2d", input="5x5", kernel="3", stride="1", padding="valid", example=True).example
    assert ex.output == tuple(tuple(Fraction(v) for v in row) for row in DECK_FEATURE_MAP)
    real = F.conv2d(_tensor(DECK_IMAGE), _tensor(DECK_FILTER))[0, 0].tolist()
    assert real == _as_floats(ex.output) == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert ex.cells[0].computation == "1x1 + 1x0 + 1x1 + 0x0 + 1x1 + 1x0 + 0x1 + 0x0 + 1x1"


@pytest.mark.parametrize("stride,padding,torch_pad", [(2, "valid", 0), (1, "same", 1), (2, "same", 1), (1, "2", 2),
                                                      (2, "same-tf", 1)])
def test_the_decks_convolution_with_strides_and_padding_equals_f_conv2d(stride, padding, torch_pad):
    les = lesson("conv2d", input=None, kernel=None, stride=str(stride), padding=padding, example=True)
    real = F.conv2d(_tensor(DECK_IMAGE), _tensor(DECK_FILTER), stride=stride, padding=torch_pad)
    assert les.out_shape == tuple(real.shape[1:])
    assert _as_floats(les.example.output) == real[0, 0].tolist()


@pytest.mark.parametrize("op,fn", [("maxpool2d", F.max_pool2d), ("avgpool2d", F.avg_pool2d)])
@pytest.mark.parametrize("kernel,stride,padding,ceil", [(2, 2, 0, False), (3, 1, 0, False), (3, 2, 1, False),
                                                        (2, 2, 0, True), (3, 2, 1, True)])
def test_the_decks_image_pooled_equals_torch(op, fn, kernel, stride, padding, ceil):
    les = lesson(op, input="5x5", kernel=str(kernel), stride=str(stride), padding=str(padding), ceil_mode=ceil,
                 example=True)
    real = fn(_tensor(DECK_IMAGE), kernel, stride, padding, ceil_mode=ceil)
    assert les.out_shape == tuple(real.shape[1:])
    flat = [v for row in _as_floats(les.example.output) for v in row]
    assert flat == pytest.approx(real[0, 0].flatten().tolist(), abs=1e-12)


def test_parameters_of_a_conv_layer_with_filters():
    les = lesson("conv2d", input="3x32x32", kernel="5", stride=None, padding=None, filters=6)
    assert les.params.value == (5 * 5 * 3 + 1) * 6 == sum(p.numel() for p in torch.nn.Conv2d(3, 6, 5).parameters())
    assert les.mult_adds.value == 5 * 5 * 3 * 6 * 28 * 28
    assert lesson("conv2d", input="3x32x32", kernel="5", stride=None, padding=None, filters=6, bias=False).params.value == 450


# --- the command ---------------------------------------------------------------------------------


def _fits_80(text: str) -> None:
    for line in text.splitlines():
        if ":" in line.split(" ")[0]:  # metadata lines (paper:, convention:) are not tables
            continue
        assert len(line) <= 80, line


def test_cli_teaching_mode_works_the_deck_example():
    r = invoke("explain", "conv2d", "--input", "5x5", "--kernel", "3", "--stride", "1", "--padding", "valid", "--example")
    assert r.exit_code == 0, r.stderr
    assert "result: [[4, 3, 4], [2, 4, 3], [2, 3, 4]]" in r.stdout
    _fits_80(r.stdout)
    data = json.loads(invoke("explain", "conv2d", "--example", "--format", "json").stdout)
    assert data["formula"] == "k_h x k_w x C_in x C_out x H_out x W_out = 3 x 3 x 1 x 1 x 3 x 3"
    assert data["mult_adds"] == 81 and data["params"] == 10 and data["example"]["output"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    data = json.loads(invoke("explain", "avgpool2d", "--example", "--format", "json").stdout)
    assert data["schema"] == "cnninspect.explain-op/1" and data["output"] == [1, 2, 2]


def test_cli_layer_selection_json_contract():
    r = invoke("explain", "mobilenet_v1", "--layer", "conv1", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["schema"] == "cnninspect.explain/1" and data["layer"] == "conv1"
    assert [x["name"] for x in data["layers"]] == ["conv1.conv", "conv1.bn", "conv1.act"]
    conv = data["layers"][0]
    assert conv["formula"] == "k_h x k_w x C_in x C_out x H_out x W_out = 3 x 3 x 3 x 32 x 112 x 112"
    assert conv["mult_adds"] == 10_838_016 and conv["params_formula"].endswith("= 3 x 3 x 3 x 32")
    assert data["totals"] == {"mult_adds": 10_838_016, "params": 928}
    for row in data["reconcile"]:
        assert set(row) >= {"tool", "total", "terms", "source"}
        assert row["paper_total"] + sum(t["mult_adds"] for t in row["terms"]) == row["total"]
    assert {row["tool"] for row in data["reconcile"]} == {"fvcore", "torchinfo", "ptflops", "thop", "FlopCounterMode"}


def test_cli_model_table_fits_80_columns_and_states_its_convention():
    r = invoke("explain", "resnet:18", "--no-measure", "--convention", "fvcore")
    assert r.exit_code == 0, r.stderr
    assert "convention: fvcore" in r.stdout and "Reconciliation with other tools" in r.stdout
    _fits_80(r.stdout)
    csv = invoke("explain", "resnet:18", "--no-measure", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("model,convention,name,type,op_class,formula,mult_adds")


@pytest.mark.parametrize("args,message", [
    (("mobilenet_v1", "--layer", "nope"), "has no layer or block 'nope'"),
    (("mobilenet_v1", "--kernel", "3"), "--kernel applies to the ops"),
    (("conv2d", "--width", "0.5"), "--width applies to models"),
    (("conv2d", "--padding", "wide"), "--padding: expected valid"),
    (("mobilenet_v1", "--padding", "valid"), "--padding for a model is torch or tf"),
    (("conv2d", "--input", "5x5x5x5"), "expected HxW or CxHxW"),
    (("conv2d", "--input", "3x3", "--kernel", "5"), "does not fit"),
    (("maxpool2d", "--example", "--input", "6x6"), "the deck's 5x5 image"),
    (("conv2d", "--ceil-mode"), "applies to pooling"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    r = invoke("explain", *args)
    assert r.exit_code == 2, r.stdout
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
