"""Python model references through the real CLI: file.py:NAME(...), package.module:NAME,
torchvision:/timm: names; their input; compare, sweep and check; and every bad reference
as one line on stderr with exit 2."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys

import pytest

from conftest import ROOT, invoke

ZOO = str(ROOT / "tests" / "zoo.py")
EXAMPLE = "docs/examples/my_model.py:Net"


def ok(*args: str) -> str:
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def bad(*args: str) -> str:
    r = invoke(*args)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_summary_of_the_example_file(monkeypatch):
    monkeypatch.chdir(ROOT)
    out = ok("summary", EXAMPLE, "--input", "3x32x32")
    assert out.startswith(f"{EXAMPLE} - Net\nmodule: {EXAMPLE} (class Net)\ninput: 3x32x32 (batch 1)\n")
    assert "engine: module on PyTorch's meta device" in out
    assert "Total params: 112,618" in out and "Mult-adds (paper): 43,352,704" in out
    assert "block1.conv1" not in out and "├─ conv1" in out
    # batch dimension accepted and dropped; constructor arguments; --levels
    data = json.loads(ok("summary", f"{EXAMPLE}(num_classes=100, width=16)", "--input", "1x3x32x32", "-f", "json"))
    assert data["source"] == "python" and data["device"] == "meta" and data["fallback"] is None
    assert data["settings"]["kwargs"] == {"num_classes": 100, "width": 16} and data["output"] == [100]
    assert data["input"] == [3, 32, 32] and data["uncounted"] == []
    assert sum(x["params"] for x in data["layers"]) == data["totals"]["params"]
    assert all(x["spec"] is None for x in data["layers"])
    folded = ok("summary", EXAMPLE, "--input", "3x32x32", "--levels", "1", "-f", "csv")
    assert len(list(csv.DictReader(io.StringIO(folded)))) == 6  # stem, block1, down, block2, pool, fc


def test_resolution_and_the_declared_input():
    r128 = json.loads(ok("summary", f"{ZOO}:ShapeIfNet", "--input", "3x32x32", "--resolution", "128", "-f", "json"))
    assert r128["input"] == [3, 128, 128] and r128["settings"]["resolution"] == 128
    declared = json.loads(ok("summary", f"{ZOO}:Declared", "-f", "json"))
    assert declared["input"] == [3, 40, 40]
    assert json.loads(ok("summary", f"{ZOO}:Declared", "-r", "64", "-f", "json"))["input"] == [3, 64, 64]


def test_functions_instances_and_modules(monkeypatch, tmp_path):
    a = json.loads(ok("summary", f"{ZOO}:plain_cnn(num_classes=4)", "--input", "3x32x32", "-f", "json"))
    b = json.loads(ok("summary", f"{ZOO}:instance", "--input", "3x32x32", "-f", "json"))
    assert a["totals"] == b["totals"]
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    # from an installed package a function is called only when annotated to return a module
    (pkg / "nets.py").write_text("from torch import nn\n\ndef tiny(c=4) -> nn.Conv2d:\n    return nn.Conv2d(3, c, 3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = json.loads(ok("summary", "mypkg.nets:tiny(c=2)", "--input", "3x8x8", "-f", "json"))
    assert out["totals"]["params"] == 2 * 27 + 2 and out["layers"][0]["name"] == "Conv2d"


def test_a_constructor_refusing_the_meta_device_builds_on_the_cpu():
    data = json.loads(ok("summary", f"{ZOO}:ItemInInit", "--input", "3x8x8", "-f", "json"))
    assert data["totals"]["params"] == 8 * 27 + 8
    assert "built on the CPU" in data["fallback"] and data["device"] == "meta"


def test_uncounted_operators_in_every_format():
    args = ("summary", f"{ZOO}:AttentionNet", "--input", "3x32x32")
    assert "Uncounted operators: aten.bmm x2 (no rule in the paper convention" in ok(*args)
    assert "- **Uncounted operators**: aten.bmm x2" in ok(*args, "-f", "markdown")
    rows = list(csv.DictReader(io.StringIO(ok(*args, "-f", "csv"))))
    assert {r["uncounted"] for r in rows} == {"aten.bmm x2"}
    assert json.loads(ok(*args, "-f", "json"))["uncounted"] == [{"op": "aten.bmm", "calls": 2}]
    assert "aten.bmm" in ok(*args, "-f", "html")
    assert "Uncounted" not in ok(*args, "-c", "fvcore")


def test_compare_a_spec_with_a_module_layer_by_layer():
    data = json.loads(ok("compare", "lenet5:modern", f"{ZOO}:PlainCNN", "--input", "3x32x32", "--layers",
                         "-f", "json"))
    assert [m["source"] for m in data["models"]] == ["spec", "python"]
    marks = {x["match"] for x in data["layers"]}
    assert marks <= {"same", "differs", "only A", "only B"} and "differs" in marks
    # a model against itself: every layer the same
    same = json.loads(ok("compare", f"{ZOO}:SENet@input=3x32x32", f"{ZOO}:SENet@input=3x32x32", "--layers",
                         "-f", "json"))
    assert {x["match"] for x in same["layers"]} == {"same"}
    text = ok("compare", "mobilenet_v1@resolution=64", f"{EXAMPLE}@input=3x64x64", "--layers")
    assert "Layers: A = mobilenet_v1@resolution=64, B = docs/examples/my_model.py:Net@input=3x64x64" in text
    assert "compare needs" in bad("compare", f"{ZOO}:SENet")
    assert "two models" in bad("compare", "lenet5", "lenet5", "lenet5", "--layers")
    assert "@width applies to YAML specs" in bad("compare", "lenet5", f"{ZOO}:SENet@width=2")


def test_sweep_a_module_over_resolutions():
    rows = list(csv.DictReader(io.StringIO(ok("sweep", f"{ZOO}:PlainCNN", "--input", "3x32x32", "--resolution",
                                               "32,64", "-f", "csv"))))
    assert [int(r["resolution"]) for r in rows] == [32, 64]
    assert int(rows[1]["mult_adds"]) == 4 * int(rows[0]["mult_adds"]) - 4 * 160 + 160  # convs x4, the FC once
    assert "--width applies to YAML specs" in bad("sweep", f"{ZOO}:PlainCNN", "--width", "1,2")
    assert "sweep it over --resolution" in bad("sweep", f"{ZOO}:PlainCNN", "--input", "3x32x32")


def test_check_runs_python_models_only_when_allowed(tmp_path):
    marker = tmp_path / "ran.txt"
    model = tmp_path / "model.py"
    model.write_text(f"open({str(marker)!r}, 'w').write('ran')\nfrom torch import nn\nNet = lambda: nn.Conv2d(3, 4, 3)\n")
    checks = tmp_path / "budgets.yaml"
    checks.write_text("checks:\n  - model: model.py:Net\n    settings: {input: 3x16x16}\n"
                      "    budget: {max_params: 200}\n    expect: {depth: 1}\n")
    err = bad("check", str(checks))
    assert f"{checks}:2:12: checks[0].model: model.py:Net is a Python model" in err and "--allow-python" in err
    assert not marker.exists()  # nothing was run
    out = ok("check", str(checks), "--allow-python")
    assert "passed: all 2 rules" in out and marker.exists()
    checks.write_text("checks:\n  - model: model.py:Net\n    settings: {width: 2}\n    budget: {max_params: 200}\n")
    assert "a Python model takes the settings resolution and input" in bad("check", str(checks), "--allow-python")


def test_a_yaml_spec_never_runs_python():
    from cnninspect.resolve.catalog import parse_target
    from cnninspect.base.errors import UsageError

    with pytest.raises(UsageError, match="is a Python model reference; this command reads YAML specs"):
        parse_target(f"{ZOO}:PlainCNN")


@pytest.mark.parametrize("hub,name", [("torchvision", "resnet18"), ("timm", "resnet18")])
def test_hub_references(hub, name):
    try:
        available = importlib.util.find_spec(hub) is not None and importlib.import_module(hub) is not None
    except Exception:  # installed but broken next to this torch build
        available = False
    if not available:
        err = bad("summary", f"{hub}:{name}", "--input", "3x64x64")
        assert f"{hub}:{name}" in err and hub in err and ("pip install" in err or "cannot be imported" in err)
        return
    data = json.loads(ok("summary", f"{hub}:{name}", "--input", "3x64x64", "-f", "json"))
    assert data["totals"]["params"] == 11_689_512  # ResNet-18, 1000 classes, in both libraries


BAD = [
    (["summary", "no_such_file.py:Net", "--input", "3x8x8"], "no such file"),
    (["summary", f"{ZOO}:Nope", "--input", "3x8x8"], "has no 'Nope'"),
    (["summary", f"{ZOO}:CONSTANT", "--input", "3x8x8"], "CONSTANT is an int, not an nn.Module"),
    (["summary", f"{ZOO}:not_a_model", "--input", "3x8x8"], "returned an int, not an nn.Module"),
    (["summary", f"{ZOO}:NeedsArgs", "--input", "3x8x8"], "NeedsArgs needs arguments"),
    (["summary", f"{ZOO}:Broken", "--input", "3x8x8"], "raised ValueError: this model is broken on purpose"),
    (["summary", f"{ZOO}:PlainCNN", "--input", "1x32x32"], "the forward pass on a 1x1x32x32 input raised RuntimeError"),
    (["summary", f"{ZOO}:PlainCNN", "--input", "3xabc"], "--input: expected a shape such as 3x224x224"),
    (["summary", f"{ZOO}:PlainCNN", "--input", "3x0x32"], "every dimension must be at least 1"),
    (["summary", f"{ZOO}:PlainCNN"], "declares no input size; give one with --input"),
    (["summary", f"{ZOO}:PlainCNN(3)", "--input", "3x8x8"], "arguments must be given by keyword"),
    (["summary", f"{ZOO}:PlainCNN(n=len('ab'))", "--input", "3x8x8"], "Python expressions are not evaluated"),
    (["summary", f"{ZOO}:PlainCNN(", "--input", "3x8x8"], "cannot read"),
    (["summary", f"{ZOO}:", "--input", "3x8x8"], "name the model after the colon"),
    (["summary", f"{ZOO}:instance(k=1)", "--input", "3x8x8"], "is a module instance, which takes no arguments"),
    (["summary", "no_such_pkg.nets:Net", "--input", "3x8x8"], "no module named 'no_such_pkg'"),
    (["summary", f"{ZOO}:PlainCNN", "--input", "3x8x8", "--width", "2"], "--width applies to YAML specs"),
    (["summary", f"{ZOO}:PlainCNN", "--input", "3x8x8", "--format", "paper"], "--format paper needs a spec"),
    (["summary", "mobilenet_v1", "--input", "3x8x8"], "--input applies to Python models"),
]


@pytest.mark.parametrize("args,cause", BAD, ids=[a[1].rsplit("/", 1)[-1] + "-" + c[:20] for a, c in BAD])
def test_bad_references_are_one_line_exit_2(args, cause):
    err = bad(*args)
    assert cause in err
    if "zoo.py" in args[1] or args[1].endswith(":Net"):
        assert args[1].split("(")[0].rstrip(":") in err  # the line names the reference


def test_a_syntax_error_in_the_users_file(tmp_path):
    f = tmp_path / "broken.py"
    f.write_text("import torch\n\nclass Net(torch.nn.Module:\n    pass\n")
    err = bad("summary", f"{f}:Net", "--input", "3x8x8")
    assert f"syntax error in {f}:3" in err


def test_help_and_import_stay_torch_free():
    import subprocess

    code = ("import sys, cnninspect\nr = cnninspect.summary('lenet5')\n"
            "import cnninspect.capture.module_analysis, cnninspect.ops.aten_rules, cnninspect.capture.pymodels, cnninspect.explore.align\n"
            "assert 'torch' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_readme_python_api_example_runs_as_shown(capsys):
    """The README's example of cnninspect.summary runs and prints the numbers it shows."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Any PyTorch model", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    shown = re.search(r"# (\d+) (\d+)\n", code)
    exec(compile(code, "README.md", "exec"), {})
    assert f"{shown.group(1)} {shown.group(2)}\n" in capsys.readouterr().out
