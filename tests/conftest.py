"""Shared test helpers: run the real CLI, load bundled specs, build real modules."""

from __future__ import annotations

import os

# torch on one thread: the tests' tensors are small, and on a 2-core machine two intra-op
# threads per process contend with each other and with anything else running (a forward
# pass that takes 0.1 s on one thread took seconds on two under load). Set before any test
# imports torch; CLI subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import subprocess  # noqa: E402
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cnninspect.analysis import Report, analyze
from cnninspect.catalog import load_bundled
from cnninspect.cli import cli
from cnninspect.ir import Model
from cnninspect.resolve import Overrides, resolve

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def invoke(*args: str, input: str | None = None) -> Result:
    """Run the real click CLI in-process, under its real name (as help text shows it);
    stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False, prog_name="cnninspect")


def run_process(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cnninspect ...`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "cnninspect", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def model_of(name: str, variant: str | None = None, **overrides: Any) -> Model:
    return resolve(load_bundled(name), variant, Overrides(**overrides))


def report_of(name: str, variant: str | None = None, convention: str = "paper", **overrides: Any) -> Report:
    return analyze(model_of(name, variant, **overrides), convention)


@pytest.fixture
def one_thread():
    """Small tensors: one torch thread is faster, and much faster on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tmp_spec(tmp_path: Path):
    """Write a spec file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return write


def all_variants() -> list[tuple[str, str | None]]:
    """Every bundled spec with each of its variants (None = the spec's default)."""
    from cnninspect.catalog import bundled_names

    out: list[tuple[str, str | None]] = []
    for name in bundled_names():
        spec = load_bundled(name)
        out.append((name, None))
        out += [(name, v) for v in spec.variants if v != spec.default_variant]
    return out


def variant_id(name: str, variant: str | None) -> str:
    return f"{name}:{variant}" if variant else name


def reduced_model(name: str, variant: str | None, budget: int = 1_000_000_000, **overrides: Any) -> Model:
    """The model at its default resolution, or halved until a real forward pass is cheap.

    Halving stops before a resolution the network cannot take (valid-padding nets such as
    AlexNet have a minimum input size).
    """
    from cnninspect.errors import SpecError

    model = model_of(name, variant, **overrides)
    res = model.settings.resolution
    while analyze(model).totals.mult_adds > budget and res // 2 >= 16:
        try:
            smaller = model_of(name, variant, **{**overrides, "resolution": res // 2})
        except SpecError:
            break
        model, res = smaller, res // 2
    return model
