"""Fuzz the command line: argument lists built from every command's own click parameters,
with valid, odd and hostile values. Whatever the input, the exit code is 0, 1 or 2 - never 3
(an internal error) - no traceback is printed and nothing is written outside the paths given.

``CNNINSPECT_PROPERTY_SCALE=10`` runs ten times as many examples."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnninspect.cli import COMMANDS, cli

from conftest import ROOT, invoke

SCALE = int(os.environ.get("CNNINSPECT_PROPERTY_SCALE", "1"))

MODELS = [
    "mobilenet_v1", "mobilenet_v1:conv", "efficientnet:b0", "efficientnet:b9", "lenet5", "resnet:18", "googlenet:aux",
    "mobilenet_v1@width=0.5", "mobilenet_v1@width=nan", "lenet5@resolution=1e3", "mobilenet_v1@", "efficientnet@phi=1",
    "nope", "x.yaml", "x.yaml:v", "-", "/dev/zero", "/dev/null", "/proc", "https://example.org/a.yaml", "file.py:Net",
    "pkg.mod:Net", "torchvision:resnet50", "\x1b]0;t\x07", "a" * 300, str(ROOT / "docs" / "examples" / "tiny_net.yaml"),
    str(ROOT / "tests" / "bad_specs" / "alias_bomb.yaml"), str(ROOT / "tests" / "bad_specs" / "shape_even_kernel_same.yaml"),
]
NUMBERS = ["0", "-1", "1", "2", "0.5", "1e-9", "nan", "inf", "-inf", "1e400", "1e-320", "64", "224", "16385", "3.5",
           "", ",", "abc", "1:2:0.5", "0:1:0", "1,2", "0.25:1:0.25", "nan:1:0.1", "96:128:32", "1e3", "0x10"]
TEXTS = ["x", "", "\x1b]0;t\x07", "width=0.5", "num_classes=10", "=1", "dropout=1e-1", "a=b=c", "resolution=1e2",
         "width=", "\u200b", "b0,b1", "all", ",", "mobilenet_v1.table4", "mobile", "conv", "mbconv"]
# valid values, drawn more often so that most runs get past argument checking
GOOD_MODELS = ["mobilenet_v1", "efficientnet:b0", "lenet5", "resnet:18", "mobilenet_v1@width=0.5", "googlenet:aux"]
GOOD_NUMBERS = ["1", "0.5", "64", "96", "1,0.75", "96:128:32", "0.5:1:0.25", "2"]
GOOD_TEXTS = ["num_classes=10", "dropout=1e-1", "b0,b1", "all", "mobilenet_v1.table4", "mbconv", "conv"]
CHECK_FILES = [str(ROOT / "docs" / "examples" / "budgets.yaml"), str(ROOT / "tests" / "bad_specs" / "tag_set.yaml"),
               "/dev/zero", "nope.yaml", str(ROOT)]


def _values_for(param: click.Parameter, tmp: Path) -> st.SearchStrategy[str]:
    t = param.type
    if isinstance(t, click.Choice):
        return st.sampled_from([*map(str, t.choices), "nope"])
    if isinstance(t, (click.types.IntParamType, click.types.FloatParamType)):
        return st.sampled_from(GOOD_NUMBERS * 3 + NUMBERS)
    if isinstance(t, click.Path) or param.name in ("plot_path",):
        return st.sampled_from([str(tmp / "out.png"), str(tmp / "out.SVG"), str(tmp / "x.jpg"), "/sys/x.png",
                                "/proc/x.png", str(tmp / ("y" * 300)) + ".png", str(tmp)] + CHECK_FILES)
    if param.name in ("spec", "models", "model"):
        return st.sampled_from(GOOD_MODELS * 4 + MODELS)
    if param.name in ("expectations",):
        return st.sampled_from(CHECK_FILES)
    return st.sampled_from(GOOD_NUMBERS * 2 + GOOD_TEXTS * 2 + NUMBERS + TEXTS)


# --verify runs real forward passes (tested in test_verify.py); everything else is fair game
SKIP = {"verify", "help"}


@st.composite
def argument_lists(draw: st.DrawFn, tmp: Path) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    args = [name]
    for param in command.params:
        if param.name in SKIP:
            continue
        if isinstance(param, click.Argument):
            count = draw(st.integers(0, 3)) if param.nargs == -1 else draw(st.sampled_from([1, 1, 1, 0]))
            args += [draw(_values_for(param, tmp)) for _ in range(count)]
        elif draw(st.integers(0, 3)) == 0:
            opt = draw(st.sampled_from(param.opts))
            if param.is_flag:
                args.append(opt)
            else:
                args += [opt, draw(_values_for(param, tmp))]
    return args


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_cli_fuzz_never_exits_3(fuzz_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(fuzz_dir)
    allowed = {"out.png", "out.SVG"}

    @settings(max_examples=300 * SCALE, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(argument_lists(fuzz_dir))
    def run(args: list[str]) -> None:
        r = invoke(*args, input="name: t\n")
        assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.stderr[-800:])
        assert "Traceback" not in r.stdout + r.stderr, args
        if r.exit_code == 2 and r.stderr.startswith("error: "):
            assert r.stderr.count("\n") == 1, (args, r.stderr)
        assert {p.name for p in fuzz_dir.iterdir()} <= allowed, args

    run()
