"""A Python model's own code cannot spoil cnninspect's output or resources (issue 19, items
2, 5, 6 and 11): what it prints goes to standard error, closing sys.stdout or nesting
modules deeply is handled, a model that fails on the meta device is not rebuilt with
gigabytes of real weights, an installed package's function is called only when it says it
returns an nn.Module, and Python models share one limit on forward passes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

import cnninspect
from conftest import invoke, run_process

NOISY = '''
import os
import sys
import torch
from torch import nn

print("import time")
os.write(1, b"fd 1 at import\\n")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("in __init__")
        os.write(1, b"fd 1 in __init__\\n")
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        print("in forward", tuple(x.shape))
        os.write(1, b"fd 1 in forward\\n")
        sys.stdout.flush()
        return self.conv(x)


class Closer(Net):
    def forward(self, x):
        sys.stdout.close()
        return self.conv(x)
'''


@pytest.fixture
def noisy(tmp_path: Path) -> Path:
    path = tmp_path / "noisy.py"
    path.write_text(NOISY)
    return path


def test_what_a_model_prints_goes_to_stderr(noisy: Path, tmp_path: Path) -> None:
    ref = f"{noisy}:Net"
    checks = tmp_path / "budgets.yaml"
    checks.write_text(f"checks:\n  - model: {ref}\n    settings: {{input: 3x8x8}}\n    budget: {{max_params: 1G}}\n")
    for args in (("summary", ref, "--input", "3x8x8", "-f", "json"),
                 ("compare", f"{ref}@input=3x8x8", f"{noisy}:Closer@input=3x8x8", "-f", "json"),
                 ("check", str(checks), "--allow-python", "-f", "json"),
                 ("sweep", ref, "--input", "3x8x8", "--resolution", "8,16", "-f", "json"),
                 ("fit", ref, "--input", "3x8x8", "--over", "resolution=8:16:8", "--max-mult-adds", "1G", "-f", "json"),
                 ("summary", ref, "--input", "3x8x8", "-f", "csv")):
        r = run_process(*args)
        assert r.returncode == 0, r.stderr
        if "csv" in args:
            rows = list(csv.reader(io.StringIO(r.stdout)))
            assert rows[0][0] == "model" and all(len(row) == len(rows[0]) for row in rows), r.stdout
        else:
            json.loads(r.stdout)  # the document alone: `| python -m json.tool` parses it
        for text in ("import time", "fd 1 at import", "in __init__", "fd 1 in __init__", "in forward",
                     "fd 1 in forward"):
            assert text in r.stderr, (args, text)
    piped = subprocess.run(f"{sys.executable} -m cnninspect summary {ref} --input 3x8x8 --format json "
                           f"| {sys.executable} -m json.tool", shell=True, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and '"schema": "cnninspect.summary/1"' in piped.stdout, piped.stderr


def test_a_model_that_closes_stdout(noisy: Path) -> None:
    r = run_process("summary", f"{noisy}:Closer", "--input", "3x8x8", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["params"] == 112
    assert invoke("summary", f"{noisy}:Closer", "--input", "3x8x8").exit_code == 0


def _nested(levels: int) -> nn.Module:
    m: nn.Module = nn.Linear(4, 4)
    for _ in range(levels):
        m = nn.Sequential(m)
    return m


def test_deeply_nested_models() -> None:
    model = _nested(200)
    model(__import__("torch").zeros(1, 4))  # PyTorch runs it
    assert cnninspect.summary(model, input_size=(1, 4)).totals.params == 20
    with pytest.raises(cnninspect.base.errors.UsageError, match="nest 3,000 levels deep, more than the 400"):
        cnninspect.summary(_nested(3000), input_size=(1, 4))


def test_deeply_nested_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "deep.py"
    path.write_text("from torch import nn\n\ndef make(n: int):\n    m = nn.Linear(4, 4)\n    for _ in range(n):\n"
                    "        m = nn.Sequential(m)\n    return m\n\nd200 = lambda: make(200)\nd3000 = lambda: make(3000)\n")
    r = invoke("summary", f"{path}:d200", "--input", "4", "-f", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["totals"]["params"] == 20, r.stderr
    r = invoke("summary", f"{path}:d3000", "--input", "4")
    assert r.exit_code == 2 and "nest 3,000 levels deep" in r.stderr and "\n" not in r.stderr.strip()


def test_a_meta_failure_is_not_rebuilt_with_gigabytes_of_weights(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text("from torch import nn\n\nclass Big(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.fc = nn.Linear(20000, 20000)\n\n    def forward(self, x):\n"
                    "        return self.fc(x)\n")
    # the process's own peak (VmHWM; ru_maxrss would include the forking pytest process's size)
    measure = ("import runpy, sys\nsys.argv = ['cnninspect', *sys.argv[1:]]\ntry:\n"
               "    runpy.run_module('cnninspect', run_name='__main__')\nfinally:\n"
               "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
               "    print(hwm.split()[1], file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", measure, "summary", f"{path}:Big", "--input", "100"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    err, peak_kb = r.stderr.strip().rsplit("\n", 1)
    assert "the forward pass on a 1x100 input on the meta device raised RuntimeError" in err
    assert "[1, 100] X [20000, 20000]; running it on the CPU instead would need 1.6 GB of weights, over the 1 GB limit" in err
    assert int(peak_kb) < 900_000, peak_kb  # no 1.6 GB of weights was allocated (kilobytes on Linux)


def test_installed_functions_are_called_only_when_they_return_a_module(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    r = subprocess.run([sys.executable, "-m", "cnninspect", "summary", "http.server:test", "--input", "3"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Serving" not in r.stdout + r.stderr
    assert "without a return annotation naming an nn.Module" in r.stderr
    # a class from an installed package, and a function annotated -> nn.Module, are called
    ok = invoke("summary", "torch.nn:Linear(in_features=4, out_features=2)", "--input", "4", "-f", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["totals"]["params"] == 10, ok.stderr
    pkg = tmp_path / "annotated_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text("from torch import nn\n\ndef good() -> nn.Linear:\n    return nn.Linear(4, 2)\n\n"
                                   "def bare():\n    raise SystemExit('called')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok = invoke("summary", "annotated_pkg.models:good", "--input", "4", "-f", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["totals"]["params"] == 10, ok.stderr
    refused = invoke("summary", "annotated_pkg.models:bare", "--input", "4")
    assert refused.exit_code == 2 and "without a return annotation" in refused.stderr


def test_sweep_and_fit_share_one_limit_on_forward_passes(noisy: Path) -> None:
    ref = f"{noisy}:Net"
    fit = invoke("fit", ref, "--input", "3x8x8", "--over", "resolution=3:16384:1", "--max-params", "1G")
    sweep = invoke("sweep", ref, "--input", "3x8x8", "--resolution", "3:16384:1")
    for r in (fit, sweep):
        assert r.exit_code == 2 and "at most 1,000" in r.stderr and "got 16,382" in r.stderr, r.stderr
