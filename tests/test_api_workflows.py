"""compare, sweep, fit and check from Python: nn.Module objects and references alike, each
number equal to the summary (or the command) that computes it independently."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import cnninspect
import zoo
from conftest import invoke
from test_module_training import EXAMPLE, ConvNet, saved_on_cpu


def test_compare_modules_and_specs_side_by_side() -> None:
    plain, res = zoo.PlainCNN(), zoo.ResidualNet()
    c = cnninspect.compare({"plain": plain, "res": res, "spec": "mobilenet_v1"}, (2, 3, 32, 32))
    rows = {r["model"]: r for r in c.rows}
    for name, model in (("plain", plain), ("res", res)):
        s = cnninspect.summary(model, input_size=(2, 3, 32, 32))
        assert (rows[name]["params"], rows[name]["mult_adds"], rows[name]["batch"]) == (
            s.total_params, s.total_mult_adds, 2)
        assert rows[name]["mult_adds_per_sample"] * 2 == s.total_mult_adds
    spec = cnninspect.summary("mobilenet_v1")
    assert rows["spec"]["mult_adds"] == spec.total_mult_adds and rows["spec"]["input"] == [3, 224, 224]
    assert rows["res"]["params_ratio"] == rows["res"]["params"] / rows["plain"]["params"]
    assert rows["spec"]["mult_adds_ratio"] == spec.total_mult_adds / rows["plain"]["mult_adds_per_sample"]
    assert json.loads(c.render("json"))["models"][0]["model"] == "plain"
    assert "Mult-adds/sample vs 1st" in str(c)
    with pytest.raises(cnninspect.base.errors.CnnInspectError, match="at least two"):
        cnninspect.compare([plain], (1, 3, 32, 32))


def test_compare_specs_equals_the_cli() -> None:
    c = cnninspect.compare(["mobilenet_v1", "mobilenet_v1@width=0.5"], convention="fvcore")
    r = invoke("compare", "mobilenet_v1", "mobilenet_v1@width=0.5", "--convention", "fvcore", "-f", "json")
    assert r.exit_code == 0, r.stderr
    cli = json.loads(r.stdout)["models"]
    assert [(m["params"], m["mult_adds"]) for m in cli] == [(m["params"], m["mult_adds"]) for m in c.rows]


def test_compare_with_memory_measures_each_module() -> None:
    model = ConvNet()
    c = cnninspect.compare([model, ConvNet()], (4, 3, 16, 16), optimizer="adam")
    row = c.rows[0]
    mem = cnninspect.summary(model, input_size=(4, 3, 16, 16), optimizer="adam").memory
    assert row["training_bytes"] == mem.training.total_bytes
    assert mem.training.saved_activation_bytes == saved_on_cpu(model, (4, 3, 16, 16))
    assert [r["model"] for r in c.rows] == ["ConvNet", "ConvNet#2"]


def test_sweep_a_module_over_resolution_and_batch() -> None:
    model = zoo.PlainCNN()
    s = cnninspect.sweep(model, (1, 3, 32, 32), resolutions=[16, 32], batches=[1, 3])
    assert [(p.resolution, p.batch) for p in s.points] == [(16, 1), (16, 3), (32, 1), (32, 3)]
    for p in s.points:
        one = cnninspect.summary(model, input_size=(p.batch, 3, p.resolution, p.resolution))
        assert (p.params, p.mult_adds, p.peak_activation_bytes) == (
            one.total_params, one.total_mult_adds, one.totals.peak_activation_bytes)
        assert p.mult_adds_per_sample * p.batch == p.mult_adds
    assert len(s.to_dict()["points"]) == 4


def test_sweep_a_spec_scales_per_sample_counts_by_the_batch() -> None:
    s = cnninspect.sweep("mobilenet_v1", resolutions=[128, 160], batches=[1, 2], memory=True)
    for p in s.points:
        one = cnninspect.summary("mobilenet_v1", resolution=p.resolution, memory=True)
        assert p.mult_adds == p.batch * one.total_mult_adds
        assert p.peak_activation_bytes == p.batch * one.totals.peak_activation_bytes
        assert p.memory.settings.batch == p.batch
        assert p.memory.inference.peak_activation_bytes == p.batch * one.memory.inference.peak_activation_bytes


def test_sweep_a_python_reference_and_its_errors() -> None:
    s = cnninspect.sweep(f"{EXAMPLE}:Net", (1, 3, 32, 32), batches=[2])
    assert s.points[0].mult_adds == cnninspect.summary(f"{EXAMPLE}:Net", (2, 3, 32, 32)).total_mult_adds
    for kwargs, says in (({}, "resolutions=, batches= or both"), ({"batches": [0]}, "at least 1")):
        with pytest.raises(cnninspect.base.errors.CnnInspectError, match=says):
            cnninspect.sweep(zoo.PlainCNN(), (1, 3, 32, 32), **kwargs)


def test_fit_a_module_finds_what_brute_force_finds() -> None:
    model = zoo.PlainCNN()
    resolutions = [16, 24, 32, 48, 64, 96]
    f = cnninspect.fit(model, (1, 3, 32, 32), over={"resolution": resolutions},
                       budgets={"max_mult_adds": "3M", "max_peak_activation": "300KB"})
    feasible = []
    for r in resolutions:
        s = cnninspect.summary(model, input_size=(1, 3, r, r))
        if s.total_mult_adds <= 3e6 and s.totals.peak_activation_elements * 4 <= 300e3:
            feasible.append(r)
    assert f.result.feasible == len(feasible) > 0
    assert f.best.value("resolution") == max(feasible)
    assert "Frontier" in str(f)


def test_fit_a_module_on_training_memory() -> None:
    model = ConvNet()
    f = cnninspect.fit(model, (2, 3, 16, 16), over={"resolution": [8, 16, 32]},
                       budgets={"max_training_bytes": "200KB"}, optimizer="adam")
    fits = [r for r in (8, 16, 32) if cnninspect.summary(model, input_size=(2, 3, r, r), optimizer="adam")
            .memory.training.total_bytes <= 200e3]
    assert f.best.value("resolution") == max(fits)


def test_fit_a_spec_equals_the_cli() -> None:
    f = cnninspect.fit("mobilenet_v1", over={"width": [0.5, 0.75, 1.0], "resolution": [128, 160, 192]},
                       budgets={"max_mult_adds": "150M"})
    r = invoke("fit", "mobilenet_v1", "--over", "width=0.5,0.75,1", "--over", "resolution=128,160,192",
               "--max-mult-adds", "150M", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert f.to_dict() == json.loads(r.stdout)
    with pytest.raises(cnninspect.base.errors.CnnInspectError, match="resolution only"):
        cnninspect.fit(zoo.PlainCNN(), (1, 3, 32, 32), over={"width": [1.0]}, budgets={"max_params": "1M"})


def test_check_a_module_against_expectations_and_budgets() -> None:
    model = ConvNet()
    s = cnninspect.summary(model, input_size=(4, 3, 16, 16), optimizer="adam")
    ok = cnninspect.check(model, (4, 3, 16, 16), expect={"params": s.total_params,
                                                          "mult_adds": (s.total_mult_adds * 1.01, "2%")},
                          budgets={"max_training_bytes": s.memory.training.total_bytes}, optimizer="adam")
    assert ok.ok and bool(ok)
    assert [o.actual for o in ok.outcomes] == [s.total_params, s.total_mult_adds, s.memory.training.total_bytes]
    bad = cnninspect.check(model, (4, 3, 16, 16), budgets={"max_params": s.total_params - 1})
    assert not bad.ok and "FAIL" in str(bad)
    with pytest.raises(cnninspect.base.errors.CnnInspectError, match="unknown budget"):
        cnninspect.check(model, (4, 3, 16, 16), budgets={"max_parms": "1M"})


def test_check_a_spec_equals_a_check_file(tmp_path) -> None:
    result = cnninspect.check("mobilenet_v1", expect={"params": 4_231_976}, budgets={"max_mult_adds": "600M"})
    path = tmp_path / "c.yaml"
    path.write_text("checks:\n  - model: mobilenet_v1\n    expect: {params: 4231976}\n    budget: {max_mult_adds: 600M}\n")
    r = invoke("check", str(path), "-f", "json")
    assert r.exit_code == 0 and result.ok
    cli = json.loads(r.stdout)["results"]
    assert [(o["metric"], o["kind"], o["limit"], o["actual"]) for o in cli] == [
        (o.metric, o.kind, o.limit, o.actual) for o in result.outcomes]


def test_the_functions_are_exported_with_their_signatures() -> None:
    import inspect

    for name in ("summary", "compare", "sweep", "fit", "check"):
        fn = getattr(cnninspect, name)
        assert fn.__doc__ and inspect.signature(fn).parameters
    assert torch.is_tensor(torch.zeros(1)) and isinstance(zoo.PlainCNN(), nn.Module)


def test_the_documented_example_runs_as_shown(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "python-models.md").read_text(encoding="utf-8")
    block = text.split("<!-- python-example: workflows -->\n```python\n", 1)[1]
    code, rest = block.split("```\n", 1)
    shown = rest.split("```text\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/python-models.md", "exec"), {})
    assert capsys.readouterr().out == shown
