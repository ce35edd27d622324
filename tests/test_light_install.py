"""The light install: the spec path runs in an environment without torch, and every feature
that needs an extra names it (exit 2).

The environment is real, not a mock: a directory holding only cnninspect and the
distributions pyproject.toml's ``dependencies`` require (recursively, from their installed
metadata), run by ``python -S`` (no site-packages) with that directory as the whole of
``PYTHONPATH``. ``import torch`` fails there as it does after ``pip install .``, and
``importlib.util.find_spec("torch")`` is None. (``.ci/run`` also makes a real light venv with
``pip install .`` and runs the README's first command in it.)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cnninspect.base.extras import EXTRAS

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    return Requirement(requirement).name


def _needed(requirement: str) -> bool:
    """A requirement of this interpreter, not of an extra (``; extra == "x"``) or of another
    Python (``; python_version < "3.11"``)."""
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate({"extra": ""})


def _closure(requirements: list[str]) -> set[str]:
    """Distributions needed by ``requirements`` and theirs, extras' requirements left out."""
    seen: set[str] = set()
    todo = [_name(r) for r in requirements if _needed(r)]
    while todo:
        dist = todo.pop()
        if dist.lower() in seen:
            continue
        seen.add(dist.lower())
        todo += [_name(req) for req in importlib.metadata.requires(dist) or [] if _needed(req)]
    return seen


def _top_level(dist: str) -> set[str]:
    names = set()
    for f in importlib.metadata.distribution(dist).files or []:
        first = f.parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        names.add(first)
    return names


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that is the whole import path of a light install."""
    site = tmp_path_factory.mktemp("light-site")
    dists = _closure(PYPROJECT["project"]["dependencies"])
    for dist in sorted(dists):
        for top in _top_level(dist):
            source = Path(importlib.metadata.distribution(dist).locate_file(top))
            (site / top).symlink_to(source)
    # the checkout's package (its bundled specs are found beside it)
    (site / "cnninspect").symlink_to(ROOT / "cnninspect")
    return site


DRIVER = r"""
import importlib.util, json, sys
from click.testing import CliRunner
from cnninspect.cli import cli
out = {"torch_found": importlib.util.find_spec("torch") is not None, "runs": []}
for argv in json.loads(sys.argv[1]):
    r = CliRunner().invoke(cli, argv)
    out["runs"].append({"argv": argv, "code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr})
import cnninspect
out["api_params"] = cnninspect.summary("mobilenet_v1").totals.params
out["torch_imported"] = "torch" in sys.modules
print(json.dumps(out))
"""


def run_light(light: Path, tmp_path: Path, *argvs: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(light)
    proc = subprocess.run([sys.executable, "-S", "-c", DRIVER, json.dumps(argvs)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


SPEC_PATH = [
    ["summary", "mobilenet_v1"],
    ["list"],
    ["compare", "mobilenet_v1", "resnet:50"],
    ["sweep", "mobilenet_v1", "--width", "0.5,1"],
    ["fit", "mobilenet_v1", "--over", "width=0.25:1:0.25", "--max-mult-adds", "300M"],
    ["check", str(ROOT / "docs" / "examples" / "budgets.yaml")],
    ["reproduce", "mobilenet_v1.table4"],
    ["explain", "mobilenet_v1"],
    ["schema"],
    ["summary", "mobilenet_v1", "--device", "rtx-4090", "--format", "json"],
    ["device", "list"],
    ["fit", "mobilenet_v1", "--over", "width=0.25:1:0.25", "--max-latency", "0.001", "--device", "rtx-4090"],
]

NEEDS_TORCH = [
    (["summary", "mobilenet_v1", "--verify"], "--verify needs torch"),
    (["summary", "mobilenet_v1", "--engine", "meta"], "--engine meta needs torch"),
    (["summary", str(ROOT / "docs" / "examples" / "my_model.py") + ":Net", "--input", "3x32x32"],
     "my_model.py:Net needs torch"),
    (["compare", "mobilenet_v1", "lenet5", "--engine", "meta"], "--engine meta needs torch"),
    (["check", "python.yaml", "--allow-python"], "my_model.py:Net needs torch"),
    (["sweep", "mobilenet_v1", "--width", "0.5,1", "--plot", "sweep.png"], "needs matplotlib"),
    (["profile", "lenet5"], "profile needs torch"),
    (["guidelines"], "guidelines needs torch"),
    (["device", "calibrate"], "device calibrate needs torch"),
]


def test_the_spec_path_runs_without_torch(light, tmp_path):
    from conftest import invoke

    # a check file's models lie in its directory tree
    (tmp_path / "my_model.py").write_text((ROOT / "docs" / "examples" / "my_model.py").read_text())
    (tmp_path / "python.yaml").write_text("checks:\n  - model: my_model.py:Net\n"
                                          "    settings: {input: 3x32x32}\n    budget: {max_params: 1M}\n")
    out = run_light(light, tmp_path, *SPEC_PATH, *[argv for argv, _ in NEEDS_TORCH])
    assert out["torch_found"] is False and out["torch_imported"] is False
    runs = out["runs"]
    for run in runs[: len(SPEC_PATH)]:
        assert run["code"] == 0, (run["argv"], run["stderr"][-500:])
        # the same document as with torch installed
        if run["argv"][0] != "explain":
            assert run["stdout"] == invoke(*run["argv"]).stdout, run["argv"]
    # explain derives every tool's total and says how to get them measured
    explain = " ".join(runs[SPEC_PATH.index(["explain", "mobilenet_v1"])]["stdout"].split())
    assert explain.count("not installed (pip install 'cnninspect[torch]')") == 5
    assert out["api_params"] == 4_231_976
    for run, (argv, message) in zip(runs[len(SPEC_PATH):], NEEDS_TORCH):
        assert run["code"] == 2, (argv, run["stderr"])
        assert message in run["stderr"] and "pip install 'cnninspect[" in run["stderr"], run["stderr"]
        assert run["stderr"].count("\n") == 1 and "internal error" not in run["stderr"]


def test_the_extras_registry_is_pyprojects():
    extras = PYPROJECT["project"]["optional-dependencies"]
    for module, (extra, dist) in EXTRAS.items():
        assert any(_name(r) == dist for r in extras[extra]), (module, extra)
    # torch is not a core dependency, and the test extra brings the torch extra
    assert not {"torch", "fvcore"} & {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "cnninspect[torch]" in extras["test"]


def test_the_cli_backstop_names_the_extra(monkeypatch):
    """An import of an extra's module that no ``require`` guards still names the extra."""
    from conftest import invoke

    import cnninspect.measure.analysis

    def analyze(model, convention):
        raise ModuleNotFoundError("No module named 'fvcore'", name="fvcore")

    monkeypatch.setattr(cnninspect.measure.analysis, "analyze", analyze)
    r = invoke("summary", "mobilenet_v1")
    assert r.exit_code == 2
    assert r.stderr == "error: cnninspect summary needs fvcore, which is not installed: pip install 'cnninspect[torch]'\n"


def test_other_missing_modules_are_still_bugs(monkeypatch):
    from conftest import invoke

    import cnninspect.measure.analysis

    def analyze(model, convention):
        raise ModuleNotFoundError("No module named 'nonesuch'", name="nonesuch")

    monkeypatch.setattr(cnninspect.measure.analysis, "analyze", analyze)
    r = invoke("summary", "mobilenet_v1")
    assert r.exit_code == 3 and "internal error" in r.stderr


def test_the_license_is_the_one_pyproject_names():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
