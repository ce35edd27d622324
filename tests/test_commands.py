"""compare, sweep, check, reproduce through the real CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import ROOT, invoke, report_of

EXAMPLE = ROOT / "docs" / "examples" / "budgets.yaml"


# --- compare ----------------------------------------------------------------------------


def test_compare_reproduces_table4_cost_columns():
    r = invoke("compare", "mobilenet_v1:conv", "mobilenet_v1", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    conv, sep = data["models"]
    # Table 4: Conv MobileNet 4866M / 29.3M; MobileNet 569M / 4.2M (mult-adds +-1M except the
    # documented 4866M erratum, +-1.3M; parameters +-0.05M)
    assert abs(conv["mult_adds"] - 4866e6) <= 1.3e6 and abs(conv["params"] - 29.3e6) <= 0.05e6
    assert abs(sep["mult_adds"] - 569e6) <= 1e6 and abs(sep["params"] - 4.2e6) <= 0.05e6
    assert sep["mult_adds_ratio"] == pytest.approx(568_740_352 / 4_867_293_184)
    assert data["convention"]["name"] == "paper"
    text = invoke("compare", "mobilenet_v1:conv", "mobilenet_v1").stdout
    assert "4,867,293,184" in text and "568,740,352" in text and "x0.117" in text


def test_compare_per_model_settings_and_stages():
    r = invoke("compare", "mobilenet_v1@width=0.75", "mobilenet_v1:shallow", "--stages", "--format", "json")
    data = json.loads(r.stdout)
    narrow, shallow = data["models"]
    assert narrow["mult_adds"] == 325_400_448 and shallow["mult_adds"] == 307_323_392  # Table 5
    assert narrow["depth"] == 28 and shallow["depth"] == 18
    sep7 = [s for s in data["stages"] if s["stage"] == "sep7"][0]
    assert sep7["m0"] > 0 and sep7["m1"] is None  # the shallow net has no sep7


def test_compare_errors():
    assert invoke("compare", "mobilenet_v1").exit_code == 2
    r = invoke("compare", "mobilenet_v1", "mobilenet_v1@width=big")
    assert r.exit_code == 2 and "@width: must be a number" in r.stderr


# --- sweep ------------------------------------------------------------------------------


def _sweep(*args: str) -> list[dict[str, str]]:
    r = invoke("sweep", *args, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def test_sweep_width_reproduces_table6():
    rows = _sweep("mobilenet_v1", "--width", "1,0.75,0.5,0.25")
    published = [(569e6, 4.2e6), (325e6, 2.6e6), (149e6, 1.3e6), (41e6, 0.5e6)]
    assert [float(r["width"]) for r in rows] == [1.0, 0.75, 0.5, 0.25]
    for row, (macs, params) in zip(rows, published):
        assert abs(int(row["mult_adds"]) - macs) <= 1e6
        assert abs(int(row["params"]) - params) <= 0.05e6
        assert row["convention"] == "paper"


def test_sweep_resolution_reproduces_table7():
    rows = _sweep("mobilenet_v1", "--resolution", "224,192,160,128")
    for row, macs in zip(rows, (569e6, 418e6, 290e6, 186e6)):
        assert abs(int(row["mult_adds"]) - macs) <= 1e6
        assert int(row["params"]) == 4_231_976


def test_sweep_efficientnet_all_variants_is_the_b0_b7_table():
    rows = _sweep("efficientnet", "--variants", "all")
    assert [r["variant"] for r in rows] == [f"b{i}" for i in range(8)]
    assert [int(r["resolution"]) for r in rows] == [224, 240, 260, 300, 380, 456, 528, 600]
    for r in rows:
        rep = report_of("efficientnet", r["variant"])
        assert int(r["params"]) == rep.totals.params and int(r["mult_adds"]) == rep.totals.mult_adds


def test_sweep_ranges_grid_and_phi():
    rows = _sweep("mobilenet_v1", "--width", "0.25:1.0:0.25", "--resolution", "128:224:32")
    assert len(rows) == 4 * 4
    assert {float(r["width"]) for r in rows} == {0.25, 0.5, 0.75, 1.0}
    assert {int(r["resolution"]) for r in rows} == {128, 160, 192, 224}
    phi = _sweep("efficientnet", "--phi", "0,1,2")
    assert [int(r["resolution"]) for r in phi] == [224, 258, 296]


def test_sweep_thousand_points():
    rows = _sweep("mobilenet_v1", "--width", "0.25:2.2:0.05", "--resolution", "96:480:16")
    assert len(rows) == 40 * 25
    assert len({(r["width"], r["resolution"]) for r in rows}) == 1000


def test_sweep_bad_input():
    r = invoke("sweep", "mobilenet_v1", "--width", "1:0.5:0.1")
    assert r.exit_code == 2 and "stop >= start" in r.stderr
    r = invoke("sweep", "mobilenet_v1", "--resolution", "224,abc")
    assert r.exit_code == 2 and "'abc' is not a number" in r.stderr
    r = invoke("sweep", "efficientnet", "--variants", "b0,b12")
    assert r.exit_code == 2 and "unknown variant 'b12'" in r.stderr


def test_sweep_csv_is_streamed_and_an_impossible_point_still_exits_2():
    r = invoke("sweep", "googlenet", "--resolution", "256,224,200", "--format", "csv")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "at resolution=200: " in r.stderr and "too small" in r.stderr
    lines = r.stdout.splitlines()  # the rows before it were written as they came
    assert lines[0].startswith("model,convention,unit,") and len(lines) == 3


def test_sweep_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sweep.png"
    r = invoke("sweep", "mobilenet_v1", "--width", "0.25,0.5,1", "--resolution", "128,224", "--plot", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = out.read_bytes()
    again = invoke("sweep", "mobilenet_v1", "--width", "0.5,1", "--plot", str(out))
    assert again.exit_code == 2 and "refusing to overwrite" in again.stderr
    assert out.read_bytes() == before  # the user's file is untouched
    assert invoke("sweep", "mobilenet_v1", "--width", "0.5,1", "--plot", str(out), "--force").exit_code == 0
    svg = tmp_path / "v.svg"
    assert invoke("sweep", "efficientnet", "--variants", "all", "--plot", str(svg)).exit_code == 0
    assert svg.read_text().lstrip().startswith("<?xml")


def test_sweep_plot_without_matplotlib(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = invoke("sweep", "mobilenet_v1", "--width", "0.5,1", "--plot", str(tmp_path / "p.png"))
    assert r.exit_code == 2 and "pip install 'cnninspect[plot]'" in r.stderr
    assert not (tmp_path / "p.png").exists()


# --- check ------------------------------------------------------------------------------


def test_check_passes_on_the_shipped_example():
    r = invoke("check", str(EXAMPLE))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "passed: all" in r.stdout and "FAIL" not in r.stdout


def test_check_fails_when_a_budget_is_tightened(tmp_path):
    text = EXAMPLE.read_text().replace("max_mult_adds: 600M", "max_mult_adds: 500M")
    path = tmp_path / "tight.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "max_mult_adds: 500M" in ln)
    r = invoke("check", str(path))
    assert r.exit_code == 1
    assert "FAILED: 1 of" in r.stdout
    assert f"{path}:{line}: MobileNet v1 (Table 4): mult_adds is 568,740,352, rule <= 500M" in r.stdout
    md = invoke("check", str(path), "--format", "markdown")
    assert md.exit_code == 1 and "| FAIL |" in md.stdout and md.stdout.startswith("### cnninspect check: FAILED")
    data = json.loads(invoke("check", str(path), "--format", "json").stdout)
    assert data["passed"] is False
    assert [r["line"] for r in data["results"] if r["status"] == "FAIL"] == [line]


def test_check_expectation_with_percent_tolerance(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("checks:\n  - model: efficientnet:b4\n    expect:\n      mult_adds: {value: 4.2B, tolerance: 4%}\n")
    r = invoke("check", str(path))
    assert r.exit_code == 1 and "+4.61%" in r.stdout  # 4,393,771,024 is 4.61% above 4.2B


@pytest.mark.parametrize(
    "text,fragments",
    [
        ("checks: []\n", ["e.yaml:1:9", "checks", "non-empty list"]),
        ("chekcs:\n  - model: mobilenet_v1\n", ["e.yaml:1:1", "unknown key 'chekcs'", "did you mean 'checks'"]),
        ("checks:\n  - model: mobilenet_v1\n", ["e.yaml:2:5", "checks[0]", "needs 'expect', 'budget', 'fit' and/or 'reference'"]),
        ("checks:\n  - model: mobilenet_v1\n    budget: {max_parms: 5M}\n",
         ["e.yaml:3:14", "checks[0].budget.max_parms", "did you mean 'max_params'"]),
        ("checks:\n  - model: mobilenet_v1\n    budget: {max_params: lots}\n",
         ["e.yaml:3:26", "checks[0].budget.max_params", "must be a count"]),
        ("checks:\n  - model: mobilenet_v2x\n    budget: {max_params: 5M}\n",
         ["e.yaml:2:12", "checks[0].model", "unknown spec 'mobilenet_v2x'"]),
        ("checks:\n  - model: mobilenet_v1\n    settings: {widht: 0.5}\n    budget: {max_params: 5M}\n",
         ["e.yaml:3:16", "checks[0].settings.widht", "no parameter 'widht'"]),  # at the key
        ("checks:\n  - model: mobilenet_v1\n    expect: {params: {value: 4M, tolerance: -2%}}\n",
         ["e.yaml:3:45", "checks[0].expect.params.tolerance", "cannot be negative"]),
        ("checks:\n  - model: mobilenet_v1\n    convention: fvcor\n    budget: {max_params: 5M}\n",
         ["e.yaml:3:17", "did you mean 'fvcore'"]),
        # fit rules (more in tests/test_fit.py)
        ("checks:\n  - model: mobilenet_v1\n    settings: {width: 0.5}\n    fit: {width: [0.5, 1]}\n",
         ["e.yaml:4:10", "checks[0].fit", "needs 'budget:'"]),
        ("checks:\n  - model: mobilenet_v1\n    settings: {width: 0.5}\n    budget: {max_params: 2M}\n"
         "    fit: {width: [0.5, 1], resolution: [128, 160]}\n", ["e.yaml:3:15", "checks[0].settings", "needs its resolution"]),
        ("checks:\n  - model: mobilenet_v1\n    settings: {width: 0.6}\n    budget: {max_params: 2M}\n"
         "    fit: {width: '0.25:1:0.25'}\n", ["e.yaml:5:18", "checks[0].fit.width", "0.6 is not one of the fit's 4 width values"]),
        ("checks:\n  - model: mobilenet_v1\n    settings: {width: 0.5}\n    budget: {max_params: 2M}\n"
         "    fit: {width: '0.5:x:1'}\n", ["e.yaml:5:18", "checks[0].fit.width", "'x' is not a number"]),
        ("checks:\n  - model: mobilenet_v1\n    settings: {widht: 0.5}\n    budget: {max_params: 2M}\n"
         "    fit: {widht: [0.5, 1]}\n", ["e.yaml:3:16", "no parameter 'widht'"]),  # the settings fail first
    ],
)
def test_bad_expectation_files(tmp_path, text, fragments):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    r = invoke("check", str(path))
    assert r.exit_code == 2, r.stdout
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    for frag in fragments:
        assert frag in err, (frag, err)


def test_check_spec_paths_are_relative_to_the_expectations_file(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "tiny.yaml").write_text(
        "name: tiny\ninput: {channels: 1, resolution: 8}\nlayers:\n  - conv: {out: 4, kernel: 3}\n"
    )
    (tmp_path / "e.yaml").write_text("checks:\n  - model: nets/tiny.yaml\n    expect: {params: 40}\n")
    assert invoke("check", str(tmp_path / "e.yaml")).exit_code == 0


# --- reproduce --------------------------------------------------------------------------


def test_reproduce_everything_exits_0():
    r = invoke("reproduce", "--format", "json")
    assert r.exit_code == 0, r.stdout[-2000:]
    data = json.loads(r.stdout)
    assert data["passed"] and data["counts"]["FAIL"] == 0
    ids = {v["table"] for v in data["values"]}
    assert {"mobilenet_v1.table1", "mobilenet_v1.table4", "mobilenet_v1.table7", "efficientnet.table2"} <= ids
    for v in data["values"]:
        if v["status"] == "erratum":
            assert v["note"], v  # every erratum says why


def test_reproduce_selected_tables_and_unknown():
    r = invoke("reproduce", "mobilenet_v1.table6")
    assert r.exit_code == 0 and "0.25 MobileNet-224" in r.stdout and "Table 6" not in r.stdout.split("Published vs")[0]
    r = invoke("reproduce", "mobilenet_v1.table66")
    assert r.exit_code == 2 and "unknown table" in r.stderr


def test_reproduce_exits_1_outside_tolerance(monkeypatch):
    import dataclasses

    import cnninspect.published as pub

    tables = pub.load_tables()
    t6 = next(t for t in tables if t.id == "mobilenet_v1.table6")
    row = t6.rows[0]
    bad = dataclasses.replace(row.values["mult_adds"], text="500M", value=500e6)
    broken = dataclasses.replace(t6, rows=(dataclasses.replace(row, values={**row.values, "mult_adds": bad}),))
    monkeypatch.setattr(pub, "load_tables", lambda: (broken,))
    r = invoke("reproduce")
    assert r.exit_code == 1 and "FAIL" in r.stdout and "1 outside tolerance" in r.stdout
