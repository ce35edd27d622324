"""The CLI through its real entry points: formats, the JSON contract, lazy torch import."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import pytest

from conftest import ROOT, invoke, report_of, run_process


def test_summary_table_names_convention_and_totals():
    r = invoke("summary", "mobilenet_v1")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "convention: paper" in out
    assert "Total params: 4,231,976" in out
    assert "Mult-adds (paper): 568,740,352" in out
    assert "sep7" in out and "Conv2d (depthwise)" in out


def test_json_contract():
    r = invoke("summary", "mobilenet_v1:shallow", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["model"] == "mobilenet_v1" and data["variant"] == "shallow"
    assert data["input"] == [3, 224, 224]
    assert data["convention"]["name"] == "paper"
    totals = data["totals"]
    assert {"params", "trainable_params", "mult_adds"} <= set(totals)
    assert all(isinstance(totals[k], int) for k in ("params", "trainable_params", "mult_adds"))
    report = report_of("mobilenet_v1", "shallow")
    assert totals["mult_adds"] == report.totals.mult_adds
    assert totals["params"] == report.totals.params
    layer = data["layers"][0]
    assert {"name", "type", "input_shape", "output_shape", "params", "mult_adds"} <= set(layer)
    assert sum(layer["mult_adds"] for layer in data["layers"]) == totals["mult_adds"]
    assert sum(layer["params"] for layer in data["layers"]) == totals["params"]
    assert data["layers"][0]["spec"].startswith("specs/mobilenet_v1.yaml:")


def test_csv_and_markdown():
    r = invoke("summary", "mobilenet_v1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["convention"] == "paper" and rows[0]["model"] == "mobilenet_v1"
    leaf = [row for row in rows if row["name"] == "fc"][0]
    assert leaf["mult_adds"] == "1024000" and leaf["input_shape"] == "1024"
    # leaves sum to the totals; blocks are marked so a spreadsheet can filter them out
    assert sum(int(r["mult_adds"]) for r in rows if r["leaf"] == "True") == 568_740_352
    assert sum(int(r["trainable_params"]) for r in rows if r["leaf"] == "True") == 4_231_976
    md = invoke("summary", "mobilenet_v1", "--format", "markdown", "--levels", "1").stdout
    assert md.startswith("### mobilenet_v1")
    assert "| Layer | Type |" in md and "**convention**: paper" in md


def test_flops_unit_doubles_and_says_so():
    r = invoke("summary", "mobilenet_v1", "--unit", "flops", "--format", "json")
    data = json.loads(r.stdout)
    assert data["convention"]["unit"] == "flops"
    assert data["totals"]["flops"] == 2 * data["totals"]["mult_adds"]
    text = invoke("summary", "mobilenet_v1", "--unit", "flops").stdout
    assert "FLOPs (paper): 1,137,480,704" in text and "2 x mult-adds" in text


def test_overrides_and_shorthand():
    a = json.loads(invoke("summary", "mobilenet_v1:conv", "-f", "json").stdout)
    b = json.loads(invoke("summary", "mobilenet_v1", "--variant", "conv", "-f", "json").stdout)
    assert a["totals"] == b["totals"]
    c = json.loads(invoke("summary", "mobilenet_v1", "--width", "0.5", "--resolution", "160", "-f", "json").stdout)
    assert c["settings"]["width"] == 0.5 and c["input"] == [3, 160, 160]
    d = json.loads(invoke("summary", "mobilenet_v1", "--set", "num_classes=10", "-f", "json").stdout)
    assert d["output"] == [10]


def test_levels_fold_blocks():
    full = invoke("summary", "mobilenet_v1", "--format", "csv").stdout.splitlines()
    folded = invoke("summary", "mobilenet_v1", "--format", "csv", "--levels", "1").stdout.splitlines()
    assert len(folded) == 1 + 14 < len(full)


def test_meta_engine_prints_the_same_numbers():
    a = json.loads(invoke("summary", "mobilenet_v1", "-f", "json").stdout)
    b = json.loads(invoke("summary", "mobilenet_v1", "-f", "json", "--engine", "meta").stdout)
    assert a["engine"] == "spec" and b["engine"] == "meta"
    a.pop("engine"), b.pop("engine")
    assert a == b


def test_list_shows_bundled_specs():
    r = invoke("list")
    assert r.exit_code == 0
    assert "mobilenet_v1" in r.stdout and "4.23M" in r.stdout and "Howard et al. 2017" in r.stdout
    data = json.loads(invoke("list", "--format", "json").stdout)
    mob = [s for s in data["specs"] if s["spec"] == "mobilenet_v1"][0]
    assert mob["params"] == 4_231_976 and mob["variants"] == ["conv", "shallow"]


@pytest.mark.parametrize(
    "args", [["--help"], ["list"], ["summary", "--help"], ["summary", "efficientnet:b7"], ["layer-types"], ["conventions"],
             ["fit", "--help"], ["fit", "mobilenet_v1", "--over", "resolution=128:224:32", "--max-mult-adds", "300M"]]
)
def test_help_list_and_default_summary_do_not_import_torch(args):
    code = (
        "import sys\n"
        "from cnninspect.cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='cnninspect')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_python_dash_m_and_version():
    proc = run_process("--version")
    assert proc.returncode == 0 and "cnninspect" in proc.stdout


def test_layer_types_and_conventions_docs():
    r = invoke("layer-types")
    assert "mbconv" in r.stdout and "dwsep" in r.stdout
    assert "identity skip" in invoke("layer-types", "mbconv").stdout
    assert "fvcore" in invoke("conventions").stdout
    bad = invoke("layer-types", "mbcnv")
    assert bad.exit_code == 2 and "did you mean 'mbconv'" in bad.stderr


def test_bundled_specs_ship_with_the_installed_package(tmp_path):
    """Run from a directory that is not the checkout: specs must come from the package."""
    env = dict(os.environ)
    proc = run_process("summary", "mobilenet_v1", "--levels", "1", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "568,740,352" in proc.stdout
    assert not (tmp_path / "specs").exists()
    assert ROOT.exists()
