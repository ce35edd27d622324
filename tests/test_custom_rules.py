"""Custom counting rules (``custom_rules=`` from Python, ``--rules FILE.py`` from the CLI) on
real operators cnninspect does not count: aten's ``_fft_r2c`` (``torch.fft.rfft2``) and a
``torch.library`` custom operator with a fake kernel (docs/examples/spectral.py). A rule
changes that operator's count alone, in every operator convention; operators without a rule
stay listed as uncounted; a rules file is user code, run with the same care as a model file."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

import cnninspect
from cnninspect.base.errors import UsageError
from conftest import invoke

ROOT = Path(__file__).resolve().parents[1]
MODEL = "docs/examples/spectral.py:SpectralNet"
RULES = "docs/examples/rules.py"


@pytest.fixture(scope="module")
def spectral():
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        import spectral
    finally:
        sys.path.pop(0)
    return spectral


def _rows(s: cnninspect.api.Summary) -> dict[str, int]:
    return {r.name: r.mult_adds for r in s.rows}


@pytest.mark.parametrize("convention", ["paper", "fvcore", "torchinfo", "flopcounter"])
def test_a_rule_changes_that_operator_alone(spectral, convention: str) -> None:
    fft = 16 * 32 * 32 * 10  # the rule below: input elements x log2(32 x 32)
    calls = []

    def fft_rule(call):
        calls.append(call)
        x = call.tensor(0)
        return x.numel * math.ceil(math.log2(x.shape[-1] * x.shape[-2]))

    x = torch.randn(2, 3, 32, 32)
    plain = cnninspect.summary(spectral.SpectralNet(), input_data=[x], convention=convention)
    ruled = cnninspect.summary(spectral.SpectralNet(), input_data=[x], convention=convention,
                               custom_rules={"aten::_fft_r2c": fft_rule})
    assert [c.op for c in calls] == ["_fft_r2c"] and calls[0].tensor(0).shape == (2, 16, 32, 32)
    before, after = _rows(plain), _rows(ruled)
    assert after["mix"] == before["mix"] + 2 * fft  # the batch of two
    assert {k: v for k, v in after.items() if k != "mix"} == {k: v for k, v in before.items() if k != "mix"}
    assert ruled.total_mult_adds == plain.total_mult_adds + 2 * fft
    assert "aten._fft_r2c" not in dict(ruled.uncounted)
    if convention != "torchinfo":  # torchinfo counts leaf modules: inside one, an operator counts 0, not uncounted
        assert dict(plain.uncounted) == {"aten._fft_r2c": 1, "docs_demo.gate": 1}
        assert dict(ruled.uncounted) == {"docs_demo.gate": 1}  # no rule for it: still listed
    assert "custom rule: aten._fft_r2c" in str(ruled)


def test_a_custom_operator_with_a_rule(spectral) -> None:
    s = cnninspect.summary(spectral.SpectralNet(), input_size=(1, 3, 16, 16),
                           custom_rules={"docs_demo.gate": lambda call: call.out().numel})
    assert _rows(s)["gate"] == 16 * 16 * 16 and dict(s.uncounted) == {"aten._fft_r2c": 1}
    assert "note: custom rules counted docs_demo.gate (1 call) in the paper convention" in str(s)


@pytest.mark.parametrize("rules,message", [
    ({"fft": lambda c: 1}, "'fft' is not an operator name; write namespace::name"),
    ({"aten::_fft_r2c": 3}, "the rule for aten._fft_r2c is int, not a function"),
    ({"aten::_fft_r2c": lambda c: 1.5}, "the rule for aten._fft_r2c returned 1.5; a rule returns"),
    ({"aten::_fft_r2c": lambda c: c.tensor(5)}, "the rule for aten._fft_r2c raised IndexError"),
])
def test_bad_rules_are_the_callers_error(spectral, rules, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        cnninspect.summary(spectral.SpectralNet(), input_size=(1, 3, 16, 16), custom_rules=rules)


def test_module_class_conventions_take_no_operator_rules(spectral) -> None:
    with pytest.raises(UsageError, match="the ptflops convention counts module classes"):
        cnninspect.summary(spectral.SpectralNet(), input_size=(1, 3, 16, 16), convention="ptflops",
                           custom_rules={"aten::_fft_r2c": lambda c: 1})


def test_cli_rules_file() -> None:
    plain = invoke("summary", MODEL, "--input", "3x32x32", "--format", "json")
    ruled = invoke("summary", MODEL, "--input", "3x32x32", "--rules", RULES, "--format", "json")
    assert plain.exit_code == ruled.exit_code == 0, ruled.stderr
    a, b = json.loads(plain.stdout), json.loads(ruled.stdout)
    assert b["totals"]["mult_adds"] == a["totals"]["mult_adds"] + 16 * 32 * 32 * 10 + 16 * 32 * 32
    assert a["uncounted"] == [{"op": "aten._fft_r2c", "calls": 1}, {"op": "docs_demo.gate", "calls": 1}]
    assert b["uncounted"] == []


@pytest.mark.parametrize("text,message", [
    ("print('hello from the rules file')\nRULES = {}\n", None),
    ("RULES = {'aten::_fft_r2c': lambda c: print('in the rule') or 1}\n", None),
    ("x = 1\n", "defines no RULES"),
    ("RULES = [1]\n", "RULES is list, not a dict"),
    ("raise ValueError('broken')\n", "raised ValueError: broken"),
    ("RULES = {'aten::_fft_r2c': lambda c: 1 / 0}\n", "the rule for aten._fft_r2c raised ZeroDivisionError"),
    ("def f(:\n", "syntax error in"),
])
def test_cli_rules_files_run_as_user_code(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "my_rules.py"
    path.write_text(text)
    r = invoke("summary", MODEL, "--input", "3x32x32", "--rules", str(path), "--format", "json")
    if message is None:  # what the file prints goes to standard error; the document stays parseable
        assert r.exit_code == 0, r.stderr
        json.loads(r.stdout)
        assert ("hello from the rules file" in r.stderr) or ("in the rule" in r.stderr)
        return
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and str(path.name) in r.stderr


def test_cli_rules_refused_for_specs_and_module_class_conventions() -> None:
    r = invoke("summary", "mobilenet_v1", "--rules", RULES)
    assert r.exit_code == 2 and "--rules applies to Python models" in r.stderr
    r = invoke("summary", MODEL, "--input", "3x32x32", "--rules", RULES, "--convention", "thop")
    assert r.exit_code == 2 and "the thop convention counts module classes" in r.stderr


def test_explain_shows_the_rule() -> None:
    """``explain --rules``: the operator's count in its layer and in the totals by operator,
    marked as a custom rule; an operator without one stays uncounted."""
    r = invoke("explain", MODEL, "--input", "3x32x32", "--rules", RULES, "--no-measure")
    assert r.exit_code == 0, r.stderr
    assert "mult-adds 163,840 (aten._fft_r2c (custom rule))" in r.stdout
    assert re.search(r"aten\._fft_r2c \(custom rule\) +1 +0 +0\.0% +163,840", r.stdout)
    plain = invoke("explain", MODEL, "--input", "3x32x32", "--no-measure")
    assert plain.exit_code == 0 and "custom rule" not in plain.stdout
    r = invoke("explain", "mobilenet_v1", "--rules", RULES, "--no-measure")
    assert r.exit_code == 2 and "--rules applies to Python models" in r.stderr


# --- compare, sweep, fit and check take the rules too --------------------------------------------

# the rules of docs/examples/rules.py at an input of 16 channels x R x R, batch 1: the FFT's
# elements x log2(R x R) stages, and the gate's one multiply per output element
def _custom(r: int) -> int:
    return 16 * r * r * math.ceil(math.log2(r * r)) + 16 * r * r


def _json(*args: str) -> dict:
    r = invoke(*args, "--format", "json")
    assert r.exit_code in (0, 1), r.stderr
    return json.loads(r.stdout)


def _check_file(tmp_path: Path, expected: int) -> str:
    """A check file (beside a copy of the model's file) expecting ``expected`` mult-adds."""
    (tmp_path / "spectral.py").write_text((ROOT / "docs" / "examples" / "spectral.py").read_text())
    path = tmp_path / "checks.yaml"
    path.write_text(f"checks:\n  - model: spectral.py:SpectralNet\n    settings: {{input: 3x32x32}}\n"
                    f"    expect:\n      mult_adds: {expected}\n  - model: mobilenet_v1\n"
                    "    budget:\n      max_mult_adds: 600M\n")
    return str(path)


def test_compare_sweep_fit_and_check_count_with_the_rules(tmp_path: Path) -> None:
    """``--rules FILE.py`` in compare, sweep, fit and check: each Python model's count gains
    exactly the rules' counts (uncounted without them), a spec beside it is unchanged."""
    summary = {r: _json("summary", MODEL, "--input", f"3x{r}x{r}")["totals"]["mult_adds"] for r in (16, 32)}
    rules = ("--rules", RULES)

    args = ("compare", MODEL, "mobilenet_v1", "--input", "3x32x32")
    plain, ruled = _json(*args)["models"], _json(*args, *rules)["models"]
    assert plain[0]["mult_adds"] == summary[32] and ruled[0]["mult_adds"] == summary[32] + _custom(32)
    assert plain[0]["uncounted"] == [{"op": "aten._fft_r2c", "calls": 1}, {"op": "docs_demo.gate", "calls": 1}]
    assert ruled[0]["uncounted"] == []
    same = {k for k in plain[1] if k != "mult_adds_ratio"}  # the spec: as it was (its ratio is to the first)
    assert {k: ruled[1][k] for k in same} == {k: plain[1][k] for k in same}
    assert ruled[1]["mult_adds_ratio"] == plain[1]["mult_adds"] / (summary[32] + _custom(32))

    args = ("sweep", MODEL, "--input", "3x32x32", "--resolution", "16,32")
    plain, ruled = _json(*args)["points"], _json(*args, *rules)["points"]
    assert [p["mult_adds"] for p in plain] == [summary[16], summary[32]]
    assert [p["mult_adds"] for p in ruled] == [summary[16] + _custom(16), summary[32] + _custom(32)]
    assert {p["uncounted"] for p in plain} == {"aten._fft_r2c x1; docs_demo.gate x1"}
    assert {p["uncounted"] for p in ruled} == {""}
    note = f"custom rules from {RULES} in the Python models' counts: aten._fft_r2c, docs_demo.gate"
    for command in (("compare", MODEL, "mobilenet_v1", "--input", "3x32x32"), args,
                    ("fit", MODEL, "--input", "3x32x32", "--over", "resolution=16,32", "--max-mult-adds", "1M")):
        assert note in invoke(*command, *rules).stdout and note not in invoke(*command).stdout

    budget = summary[32] + _custom(16)  # both points fit without the rules, only 16 with them
    args = ("fit", MODEL, "--input", "3x32x32", "--over", "resolution=16,32", "--max-mult-adds", str(budget))
    plain, ruled = _json(*args), _json(*args, *rules)
    assert (plain["best"]["settings"], plain["best"]["mult_adds"]) == ({"resolution": 32}, summary[32])
    assert (ruled["best"]["settings"], ruled["best"]["mult_adds"]) == ({"resolution": 16}, summary[16] + _custom(16))

    path = _check_file(tmp_path, summary[32] + _custom(32))
    plain, ruled = _json("check", path, "--allow-python"), _json("check", path, "--allow-python", *rules)
    assert [(r["actual"], r["status"]) for r in plain["results"]][0] == (summary[32], "FAIL")
    assert [(r["actual"], r["status"]) for r in ruled["results"]] == [(summary[32] + _custom(32), "PASS"),
                                                                      (568_740_352, "PASS")]


@pytest.mark.parametrize("args", [
    ("compare", "mobilenet_v1", "mobilenet_v2"),
    ("sweep", "mobilenet_v1", "--resolution", "96,128"),
    ("fit", "mobilenet_v1", "--over", "resolution=96,128", "--max-mult-adds", "1G"),
    ("check", "docs/examples/budgets.yaml"),
])
def test_rules_for_specs_only_are_refused_as_in_summary(args: tuple[str, ...]) -> None:
    summary = invoke("summary", "mobilenet_v1", "--rules", RULES)
    r = invoke(*args, "--rules", RULES)
    assert r.exit_code == summary.exit_code == 2 and r.stdout == ""
    assert r.stderr == summary.stderr and len(r.stderr.strip().splitlines()) == 1


def test_compare_equal_takes_no_rules() -> None:
    r = invoke("compare", MODEL, "mobilenet_v1", "--input", "3x32x32", "--equal", "--rules", RULES)
    assert r.exit_code == 2 and "ptflops and thop included" in r.stderr


def test_compare_sweep_fit_and_check_from_python_take_custom_rules(spectral) -> None:
    net = spectral.SpectralNet()
    rules = {"aten::_fft_r2c": lambda call: call.tensor(0).numel * math.ceil(math.log2(call.tensor(0).shape[-1] ** 2)),
             "docs_demo::gate": lambda call: call.out().numel}
    plain = cnninspect.summary(net, input_size=(1, 3, 32, 32)).total_mult_adds
    c = cnninspect.compare({"net": net, "mobilenet": "mobilenet_v1"}, (1, 3, 32, 32), custom_rules=rules)
    assert [r["mult_adds"] for r in c.rows] == [plain + _custom(32), 568_740_352]
    s = cnninspect.sweep(net, (1, 3, 32, 32), resolutions=[16, 32], custom_rules=rules)
    small = cnninspect.summary(net, input_size=(1, 3, 16, 16)).total_mult_adds
    assert [p.mult_adds for p in s.points] == [small + _custom(16), plain + _custom(32)]
    f = cnninspect.fit(net, (1, 3, 32, 32), over={"resolution": [16, 32]}, budgets={"max_mult_adds": plain},
                       custom_rules=rules)
    assert f.best.settings == (("resolution", 16),) and f.best.metrics["mult_adds"] == small + _custom(16)
    r = cnninspect.check(net, (1, 3, 32, 32), expect={"mult_adds": plain + _custom(32)}, custom_rules=rules)
    assert r.ok and not cnninspect.check(net, (1, 3, 32, 32), expect={"mult_adds": plain + _custom(32)})
    for call in (lambda: cnninspect.compare(["mobilenet_v1", "mobilenet_v2"], custom_rules=rules),
                 lambda: cnninspect.sweep("mobilenet_v1", resolutions=[96], custom_rules=rules),
                 lambda: cnninspect.fit("mobilenet_v1", over={"resolution": [96]}, budgets={"max_params": "5M"},
                                        custom_rules=rules),
                 lambda: cnninspect.check("mobilenet_v1", expect={"params": 1}, custom_rules=rules)):
        with pytest.raises(UsageError, match="custom_rules apply to Python models; every op kind of the spec"):
            call()
