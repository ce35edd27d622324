"""Fuzz the command line: argument lists built from every command's own click parameters,
with valid, odd and hostile values. Whatever the input, the exit code is 0, 1 or 2 - never 3
(an internal error) - no traceback is printed and nothing is written outside the paths given.

``CNNINSPECT_PROPERTY_SCALE=10`` runs ten times as many examples."""

from __future__ import annotations

import json
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


# --verify runs real forward passes (tested in test_verify.py), and so do profile and guidelines
# (tested in test_latency.py, each run bounded by --max-seconds); everything else is fair game
SKIP = {"verify", "help"}
REAL_RUNS = {"profile", "guidelines"}


@st.composite
def argument_lists(draw: st.DrawFn, tmp: Path) -> list[str]:
    name = draw(st.sampled_from(sorted(set(COMMANDS) - REAL_RUNS)))
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


# --- specs written by the fuzzer: expressions, includes, block graphs --------------------------

SECRET = "ghp_FUZZ_SECRET_42"
NUMS = st.sampled_from(["0", "1", "3", "-2", "0.5", "1e15", "1e16", "10**9", "1e300", "99999999999999999999",
                        "-10**9", "64", "65", "$c", "$in", "$index", "$big"])
FUNCS = ["min", "max", "round", "floor", "ceil", "int", "abs", "round_to", "make_divisible", "nope", "lambda"]


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "<", "and"]), inner)
        call = st.tuples(st.sampled_from(FUNCS), st.lists(inner, min_size=0, max_size=3))
        return st.one_of(
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            call.map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            inner.map(lambda x: f"-{x}"),
        )

    return st.recursive(NUMS, extend, max_leaves=12).map(lambda e: e if "$" in e else e + " + $c")


INCLUDE_TARGETS = ["lib.yaml", "./lib.yaml", "sub/lib.yaml", "../outside.yaml", "/etc/passwd", "secret",
                   "secret.yaml", "link.yaml", "/dev/zero", "nope.yaml", "a\x00b.yaml", "sub", "http://x/y.yaml",
                   "loop.yaml", "s.yaml", "", "~/x.yaml"]


def _tree(tmp: Path) -> Path:
    """A directory with a block library, a spec-less secret, a symlink out and a cycle."""
    tree = tmp / "tree"
    (tree / "sub").mkdir(parents=True, exist_ok=True)
    (tmp / "outside.yaml").write_text(f"blocks:\n  x: {{layers: [identity]}}\nnote: {SECRET}\n")
    lib = "blocks:\n  b: {params: {k: 1}, layers: [{conv: {out: 4, kernel: $k}}]}\n"
    (tree / "lib.yaml").write_text(lib)
    (tree / "sub" / "lib.yaml").write_text(lib)
    (tree / "secret").write_text(f"token: {SECRET}\n")
    (tree / "secret.yaml").write_text(f"{SECRET}: 1\n")
    (tree / "loop.yaml").write_text("include: [loop.yaml]\nblocks: {}\n")
    if not (tree / "link.yaml").exists():
        (tree / "link.yaml").symlink_to(tmp / "outside.yaml")
    return tree


@st.composite
def spec_texts(draw: st.DrawFn) -> str:
    expr = draw(_expressions()).replace("'", "")
    where = draw(st.sampled_from(["out", "when", "repeat", "kernel", "param"]))
    lines = ["name: fz", "params: {c: 8, big: 100000000000000000000}", "input: {channels: 3, resolution: 16}"]
    include = draw(st.lists(st.sampled_from(INCLUDE_TARGETS), max_size=2))
    if include:
        lines.append(f"include: {json.dumps(include)}")
    levels = draw(st.integers(0, 40))
    fan = draw(st.integers(1, 3))
    lines += ["blocks:", "  d0:", "    layers: [{conv: {out: 4, kernel: 1}}]"]
    lines += [f"  d{i}:\n    layers: [{', '.join([f'd{i - 1}'] * fan)}]" for i in range(1, levels + 1)]
    layer = {"out": f"{{conv: {{out: '{expr}', kernel: 1}}}}",
             "when": f"{{conv: {{out: 4, kernel: 1}}, when: '{expr} == 1'}}",
             "repeat": f"{{conv: {{out: 4, kernel: 1}}, repeat: '{expr}'}}",
             "kernel": f"{{conv: {{out: 4, kernel: '{expr}'}}}}",
             "param": f"{{b: {{k: '{expr}'}}}}" if include else f"{{conv: {{out: '{expr}', kernel: 1}}}}"}[where]
    lines.append(f"layers: [{layer}, d{levels}, flatten]")
    return "\n".join(lines) + "\n"


def test_fuzzed_specs_are_bounded_and_never_quote_a_file_that_is_not_a_spec(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Random expressions (huge numbers, every function, hostile calls), includes (out of the
    tree, symlinks, devices, cycles, secrets) and block graphs (up to 3**40 calls): exit 0 or
    2, one line, nothing of a file that is not a spec, and each run within a bound."""
    import time

    tree = _tree(tmp_path)
    monkeypatch.chdir(tree)
    monkeypatch.delenv("CNNINSPECT_INCLUDE_PATH", raising=False)

    @settings(max_examples=120 * SCALE, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(spec_texts(), st.sampled_from(["summary", "check"]))
    def run(text: str, command: str) -> None:
        (tree / "s.yaml").write_text(text)
        args = ["summary", "s.yaml", "--levels", "1"] if command == "summary" else ["check", "c.yaml"]
        (tree / "c.yaml").write_text("checks:\n  - model: s.yaml\n    budget: {max_params: 1G}\n")
        start = time.perf_counter()
        r = invoke(*args)
        elapsed = time.perf_counter() - start
        assert r.exit_code in (0, 1, 2), (text, r.stderr[-800:])
        assert "Traceback" not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr, (text, r.stderr)
        if r.exit_code == 2:
            assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, (text, r.stderr)
        assert elapsed < 10, (text, elapsed)  # the hang was unbounded; a spec here takes well under 1 s

    run()
