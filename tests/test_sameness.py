"""A spec against its model (issue 22, section 3): ``check``'s ``reference:`` rule and
``compare A B --equal``, on the bundled specs against the plain-PyTorch reference modules of
tests/reference/ and on deliberately wrong specs, whose differences are located (the spec's
layer and line, the module's path)."""

from __future__ import annotations

import json

import pytest

from cnninspect.explore.sameness import compare, measure_pair
from conftest import ROOT, invoke

REF = ROOT / "tests" / "reference"
PAPER = {  # (parameters, paper mult-adds): test_reference_models.PINNED, the references' own numbers
    "mobilenet_v3:large": (5_483_032, 216_589_760),
    "mobilenet_v3:small": (2_542_856, 56_510_400),
    "densenet:121": (7_978_856, 2_834_161_664),
    "regnet:y_400mf": (4_344_144, 401_842_848),
    "regnet:x_200mf": (2_684_792, 199_039_872),
    "shufflenet_v2:x1_0": (2_278_760, 145_814_296),
    "squeezenet:1_1@resolution=224": (1_235_496, 349_151_936),
    "resnext:50_32x4d": (25_028_904, 4_230_479_872),
    "inception_v3": (23_834_568, 5_713_216_096),
}
EQUAL = [
    ("mobilenet_v3:large", "mobilenet_v3.py:MobileNetV3"),
    ("mobilenet_v3:small", "mobilenet_v3.py:MobileNetV3(variant='small')"),
    ("densenet:121", "densenet.py:DenseNet"),
    ("regnet:y_400mf", "regnet.py:RegNet(variant='y_400mf')"),
    ("regnet:x_200mf", "regnet.py:RegNet(variant='x_200mf')"),
    ("shufflenet_v2:x1_0", "shufflenet_v2.py:ShuffleNetV2Megvii"),
    ("squeezenet:1_0@resolution=224", "squeezenet.py:SqueezeNet"),
    ("squeezenet:1_1@resolution=224", "squeezenet.py:SqueezeNet(variant='1_1')"),
    ("resnext:50_32x4d", "resnext.py:ResNet"),
    ("inception_v3", "inception_v3.py:Inception3(aux_logits=False)"),
]
CONVENTIONS = ["paper", "fvcore", "torchinfo", "flopcounter"]


@pytest.mark.parametrize("spec,ref", EQUAL, ids=[s for s, _ in EQUAL])
def test_bundled_specs_equal_their_reference_modules(spec, ref):
    a, b = measure_pair(spec, f"{REF / ref}")
    v = compare(a, b)
    assert v.equal, v.lines()
    assert list(v.conventions) == CONVENTIONS  # ptflops and thop count by module class: not compared
    assert v.layers > 50 and not v.totals
    if spec in PAPER:
        params, macs = PAPER[spec]
        assert (b.reports["paper"].totals.params, b.reports["paper"].totals.mult_adds) == (params, macs)
    # the module ran at the spec's input (it declares none)
    assert b.first.subject.input_shape == a.first.subject.input_shape


def test_convnext_differs_from_the_authors_code_only_in_fvcore_at_the_hand_written_norms():
    """The authors' channels-first LayerNorm is written out (mean, pow, sqrt), which fvcore does
    not count; the spec's LayerNorm2d is F.layer_norm, which it does: four located layers."""
    v = compare(*measure_pair("convnext:tiny", f"{REF}/convnext.py:ConvNeXt"))
    assert not v.equal
    assert v.totals == ("fvcore mult-adds 4,470,399,744 vs 4,466,260,224 (-4,139,520)",)
    assert [m.text() for m in v.differences] == [
        "stem.norm (specs/convnext.yaml:91) vs downsample_layers.0.1: mult-adds 1,505,280 vs 0 (fvcore)",
        "down2.norm (specs/convnext.yaml:96, block at 85) vs downsample_layers.1.0: mult-adds 1,505,280 vs 0 (fvcore)",
        "down3.norm (specs/convnext.yaml:103, block at 85) vs downsample_layers.2.0: mult-adds 752,640 vs 0 (fvcore)",
        "down4.norm (specs/convnext.yaml:110, block at 85) vs downsample_layers.3.0: mult-adds 376,320 vs 0 (fvcore)",
    ]
    # the four located layers account for the whole difference of the totals
    assert sum(int(m.what[0].split()[1].replace(",", "")) for m in v.differences) == 4_139_520


def _wrong_mobilenet(tmp_path, old: str, new: str):
    text = (ROOT / "specs" / "mobilenet_v3.yaml").read_text()
    at = text.index(old, text.index("Table 2 (Small)"))
    path = tmp_path / "mnv3.yaml"
    path.write_text(text[:at] + new + text[at + len(old):])
    return path


def test_a_wrong_expansion_width_is_located_in_the_spec_and_the_module(tmp_path):
    path = _wrong_mobilenet(tmp_path, "[5, 240, 40, true, HS, 1]", "[5, 200, 40, true, HS, 1]")
    v = compare(*measure_pair(f"{path}:small", f"{REF}/mobilenet_v3.py:MobileNetV3(variant='small')"))
    assert not v.equal
    assert "params 2,542,856" not in " ".join(v.totals) and v.totals[0].startswith("params 2,5")
    first = v.differences[0]
    assert first.a.row.name == "bneck5.body.expand.conv" and first.b.row.name == "features.5.block.0.0"
    # located at the table row that was changed (the call), then the block's entry that made the layer
    assert first.text() == (f"bneck5.body.expand.conv ({path}:125, block at 74) vs features.5.block.0.0: output "
                            "200x14x14 vs 240x14x14; params 8,000 vs 9,600; mult-adds 1,568,000 vs 1,881,600 in "
                            "every convention")
    lines = path.read_text().splitlines()
    assert "[5, 200, 40, true, HS, 1]" in lines[125 - 1] and "name: expand" in lines[74 - 1]
    # only the fifth block differs: the layers before and after it align and agree
    assert {m.a.row.name.split(".")[0] for m in v.differences} == {"bneck5"}


def test_a_missing_layer_is_named_with_its_side(tmp_path):
    # no squeeze-and-excitation in the first block: three layers with parameters only in the reference
    path = _wrong_mobilenet(tmp_path, "[3, 16, 16, true, RE, 2]", "[3, 16, 16, false, RE, 2]")
    v = compare(*measure_pair(f"{path}:small", f"{REF}/mobilenet_v3.py:MobileNetV3(variant='small')"),
                ("the spec", "the reference"))
    only = [m for m in v.differences if m.a is None]
    assert [m.b.row.name for m in only if m.b.row.params] == ["features.1.block.1.fc1", "features.1.block.1.fc2"]
    assert only[0].text().startswith("features.1.block.1.") and "only in the reference" in only[0].text()


def test_the_check_rule_passes_fails_with_located_lines_and_needs_allow_python(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNINSPECT_INCLUDE_PATH", str(REF))  # the references live outside tmp_path
    path = _wrong_mobilenet(tmp_path, "[5, 240, 40, true, HS, 1]", "[5, 200, 40, true, HS, 1]")
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        "checks:\n"
        "  - model: squeezenet:1_1@resolution=224\n"
        f"    reference: {REF}/squeezenet.py:SqueezeNet(variant='1_1')\n"
        "  - name: wrong\n"
        "    model: mnv3.yaml:small\n"
        "    budget: {max_params: 3M}\n"
        f"    reference: {REF}/mobilenet_v3.py:MobileNetV3(variant='small')\n")
    refused = invoke("check", str(checks))
    assert refused.exit_code == 2 and f"{checks}:3:16: checks[0].reference:" in refused.stderr
    assert "--allow-python" in refused.stderr
    r = invoke("check", str(checks), "--allow-python")
    assert r.exit_code == 1, r.stderr
    assert "FAILED: 1 of 3 rules" in r.stdout and "equal: 4 conventions, 56 layers" in r.stdout
    assert f"{checks}:7: wrong: reference: differs: 5 totals, 12 layers" in r.stdout
    assert f"  bneck5.body.expand.conv ({path}:125, block at 74) vs features.5.block.0.0: output 200x14x14" in r.stdout
    assert "... and 4 more layers (--format json lists them all)" in r.stdout
    data = json.loads(invoke("check", str(checks), "--allow-python", "-f", "json").stdout)
    ref = [x for x in data["results"] if x["metric"] == "reference"]
    assert [x["reference"]["equal"] for x in ref] == [True, False]
    assert len(ref[1]["reference"]["differences"]) == 12
    assert ref[1]["reference"]["differences"][0]["a_line"] == f"{path}:74"
    assert ref[1]["reference"]["differences"][0]["a_calls"] == [f"{path}:125"]
    assert ref[0]["reference"]["skipped_conventions"] == ["ptflops", "thop"]


def test_compare_equal_exit_codes_and_json():
    r = invoke("compare", "resnext", f"{REF}/resnext.py:ResNet", "--equal", "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["equal"]["equal"] and data["equal"]["layers_compared"] == 158
    assert [m["params"] for m in data["models"]] == [25_028_904] * 2  # the module ran at the spec's input
    r = invoke("compare", "shufflenet_v2:x1_0", f"{REF}/shufflenet_v2.py:ShuffleNetV2", "--equal")
    assert r.exit_code == 1
    assert "params 2,278,760 vs 2,278,604 (-156)" in r.stdout  # the Megvii head vs torchvision's
    assert "stage2.0.branches.branch0.pw.conv (specs/shufflenet_v2.yaml:" in r.stdout


@pytest.mark.parametrize("hub", ["torchvision:resnet50", "timm:resnet50"])
def test_hub_references_say_they_are_not_installed(hub, tmp_path):
    name = hub.split(":")[0]
    try:
        __import__(name)
        pytest.skip(f"{name} is installed here")
    except ImportError:
        pass
    r = invoke("compare", "resnet:50", hub, "--equal")
    assert r.exit_code == 2 and f"{name} is not installed; install it next to torch" in r.stderr
    checks = tmp_path / "c.yaml"
    checks.write_text(f"checks:\n  - model: resnet:50\n    reference: {hub}\n")
    r = invoke("check", str(checks), "--allow-python")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {checks}:3:16: checks[0].reference: {hub}: {name} is not")


def test_bad_uses():
    assert "--equal compares two models; 3 were given" in invoke("compare", "lenet5", "lenet5", "lenet5",
                                                                 "--equal").stderr
    r = invoke("compare", "lenet5", "lenet5", "--equal", "--engine", "meta")
    assert r.exit_code == 2 and "--equal counts specs with the spec engine" in r.stderr
    r = invoke("compare", "lenet5", "lenet5:modern", "--equal")  # two specs: ptflops and thop compared too
    assert r.exit_code == 1 and "mult-adds in paper, fvcore, torchinfo, ptflops, thop, flopcounter" in r.stdout


def test_the_benchmarks_plain_pytorch_efficientnet_b7_is_the_specs_model():
    """benchmarks/models.py:efficientnet_b7 is what the module path is measured on; it must be
    the spec's EfficientNet-B7 (and not the module cnninspect builds from it)."""
    import ast

    source = (ROOT / "benchmarks" / "models.py").read_text()
    assert "cnninspect" not in {n.module.split(".")[0] for n in ast.walk(ast.parse(source))
                               if isinstance(n, ast.ImportFrom) and n.module}
    v = compare(*measure_pair("efficientnet:b7", f"{ROOT}/benchmarks/models.py:efficientnet_b7"))
    assert v.equal, v.lines()
    assert v.b.reports["paper"].totals.params == 66_347_960 and v.layers == 711


# --- compare --layers uses the same structural alignment ------------------------------------


def _layer_marks(*args: str) -> list[dict]:
    r = invoke("compare", *args, "--layers", "-f", "json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["layers"]


def test_compare_layers_aligns_a_spec_with_its_module_one_to_one():
    """RegNet against its reference: every layer paired and the same (the names/types alignment
    gave 229 same, 21 only A, 8 only B: the reference runs its projection before its body)."""
    layers = _layer_marks("regnet@resolution=64", f"{REF}/regnet.py:RegNet", "--input", "3x64x64")
    assert {x["match"] for x in layers} == {"same"} and len(layers) == 237
    # a layer run in another order is paired with its counterpart, not left on both sides
    assert [x["b"] for x in layers if x["a"] == "s1.0.shortcut.conv"] == ["s1.b1.proj"]


def test_compare_layers_on_a_mismatched_pair_names_only_the_mismatch():
    """The spec's ResNet-50 strides on the first 1x1 convolution of a stage (the paper), the
    torchvision-style module on the 3x3 (v1.5): twelve layers differ, nothing else is unpaired
    but the spec's softmax (a function call in neither)."""
    layers = _layer_marks("resnet:50@resolution=64", "benchmarks/models.py:resnet50", "--input", "3x64x64")
    marks = [x["match"] for x in layers]
    assert (marks.count("same"), marks.count("differs"), marks.count("only A"), marks.count("only B")) == (146, 12, 1, 0)
    differs = [(x["a"], x["b"]) for x in layers if x["match"] == "differs"]
    assert differs[:4] == [("conv3_x.0.body.conv1.conv", "layer2.0.conv1"), ("conv3_x.0.body.conv1.bn", "layer2.0.bn1"),
                           ("conv3_x.0.body.conv1.act", "layer2.0.relu"), ("conv3_x.0.body.conv2.conv", "layer2.0.conv2")]
    assert [x["a"] for x in layers if x["match"] == "only A"] == ["softmax13"]
