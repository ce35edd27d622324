"""Every malformed spec in ``tests/bad_specs/`` is refused with one located line, exit 2.

Each corpus file starts with a comment header:

* ``# expect: <fragment>`` (one or more): text the one-line error must contain, usually the
  key path and a word or two of the message;
* ``# at: LINE:COLUMN`` (optional): the exact location the error must name.

The corpus is globbed, so adding a file adds a test. Cases that cannot be committed as
files (bytes that are not UTF-8, an empty file, a directory, a 50 MB file) are generated
here in ``tmp_path``. Every case runs through the real CLI (``cnninspect summary FILE``), a
few of them in a fresh interpreter too, and must leave the disk untouched.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from conftest import invoke, run_process

CORPUS = Path(__file__).resolve().parent / "bad_specs"
FILES = sorted(CORPUS.glob("*.yaml"))


def header(path: Path) -> tuple[list[str], str | None]:
    """The ``# expect:`` fragments and the ``# at:`` location of a corpus file."""
    expect: list[str] = []
    at = None
    for line in path.read_bytes().decode("utf-8").split("\n"):
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        if key.strip() == "expect":
            expect.append(value.strip())
        elif key.strip() == "at":
            at = value.strip()
    return expect, at


def snapshot(directory: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir())


def check_error(stdout: str, stderr: str, exit_code: int, file: str, fragments: list[str],
                at: str | None = None, located: bool = True) -> str:
    """Assert the CLI's contract for bad input; returns the error line."""
    assert exit_code == 2, (exit_code, stderr)
    assert stdout == ""
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, f"not exactly one line: {stderr!r}"
    line = stderr.rstrip("\n")
    assert line.startswith("error: "), line
    if at is not None:
        assert line.startswith(f"error: {file}:{at}: "), (at, line)
    elif located:
        assert re.match(rf"error: {re.escape(file)}:\d+:\d+: ", line), line
    else:
        assert line.startswith(f"error: {file}: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def test_the_corpus_is_big_enough():
    assert len(FILES) >= 30, f"only {len(FILES)} files in {CORPUS}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file_is_refused_with_one_located_line(path, tmp_path, monkeypatch):
    expect, at = header(path)
    assert expect, f"{path.name} has no '# expect:' header"
    monkeypatch.chdir(tmp_path)  # an empty working directory: nothing may appear in it
    before = snapshot(CORPUS)
    r = invoke("summary", str(path))
    check_error(r.stdout, r.stderr, r.exit_code, str(path), expect, at)
    assert snapshot(CORPUS) == before
    assert list(tmp_path.iterdir()) == []


PWNED = Path("/tmp/cnninspect_pwned")  # what tag_python_apply.yaml would create if it ran


def test_object_constructing_tags_run_nothing():
    existed = PWNED.exists()
    for name in ("tag_python_apply.yaml", "tag_python_object.yaml"):
        r = invoke("summary", str(CORPUS / name))
        assert r.exit_code == 2
    assert PWNED.exists() == existed


def test_alias_bomb_is_refused_quickly():
    start = time.perf_counter()
    r = invoke("summary", str(CORPUS / "alias_bomb.yaml"))
    assert r.exit_code == 2 and "refusing to load" in r.stderr
    assert time.perf_counter() - start < 10.0  # a hang guard (expanding it would never end), not a speed target


# --- generated cases ---------------------------------------------------------------------

GOOD = "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n  - conv: {out: 8, kernel: 3}\n"


def generated(tmp_path: Path) -> list[tuple[Path, list[str], str | None, bool]]:
    """(path, fragments, location, located) of the cases written at run time."""
    cases = []
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(GOOD.replace("kernel: 3}", "kernel: 3, act: r\xe9lu}").encode("latin-1"))
    cases.append((latin1, ["not valid UTF-8", "0xe9", "save the file as UTF-8"], "4:37", True))
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    cases.append((empty, ["file is empty"], "1:1", True))
    comments = tmp_path / "comments.yaml"
    comments.write_text("# a spec\n\n   # nothing but comments\n", encoding="utf-8")
    cases.append((comments, ["file is empty"], "1:1", True))
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    cases.append((directory, ["is a directory"], None, False))
    return cases


def big_file(tmp_path: Path) -> Path:
    """A 50 MB file, written sparsely (no data is actually written)."""
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.write(b"name: t\n")
        f.truncate(50 * 1024 * 1024)
    return path


def test_generated_cases(tmp_path):
    cases = generated(tmp_path)
    before = snapshot(tmp_path)
    for path, fragments, at, located in cases:
        r = invoke("summary", str(path))
        check_error(r.stdout, r.stderr, r.exit_code, str(path), fragments, at, located)
    assert snapshot(tmp_path) == before


def test_huge_file_is_refused_by_size_before_reading(tmp_path, monkeypatch):
    path = big_file(tmp_path)
    real_read_bytes = Path.read_bytes
    real_open = open

    def read_bytes(self: Path) -> bytes:
        assert os.path.abspath(self) != str(path), "the huge file was read"
        return real_read_bytes(self)

    def guarded_open(file, *args, **kwargs):
        assert os.path.abspath(str(file)) != str(path), "the huge file was opened"
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr("builtins.open", guarded_open)
    before = snapshot(tmp_path)
    start = time.perf_counter()
    r = invoke("summary", str(path))
    assert time.perf_counter() - start < 10.0  # a hang guard (expanding it would never end), not a speed target
    check_error(r.stdout, r.stderr, r.exit_code, str(path), ["52.4 MB", "limited to 1.0 MB"], located=False)
    assert snapshot(tmp_path) == before


SUBPROCESS_CASES = [
    "yaml_tab_indent.yaml",
    "tag_python_apply.yaml",
    "alias_bomb.yaml",
    "shape_residual_identity_channels.yaml",
    "value_tensor_too_large.yaml",
]


def test_real_process(tmp_path):
    """A fresh interpreter (``python -m cnninspect``) behaves like the in-process runner."""
    huge = big_file(tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("CNNINSPECT_DEBUG", None)
    for name in SUBPROCESS_CASES:
        path = CORPUS / name
        expect, at = header(path)
        r = run_process("summary", str(path), cwd=work, env=env)
        check_error(r.stdout, r.stderr, r.returncode, str(path), expect, at)
    r = run_process("summary", str(huge), cwd=work, env=env)
    check_error(r.stdout, r.stderr, r.returncode, str(huge), ["limited to"], located=False)
    assert list(work.iterdir()) == []


def test_debug_shows_the_traceback():
    path = CORPUS / "shape_mbconv_identity_stride2.yaml"
    r = invoke("--debug", "summary", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert "Traceback" in r.stderr and "SpecError" in r.stderr
    assert r.stderr.rstrip("\n").splitlines()[-1].startswith(f"error: {path}:")


def test_reserved_layer_names_cover_torch():
    """Layer names the builder cannot register are refused when the spec is loaded."""
    from torch import nn

    from cnninspect.lang.spec import NAME_RE, RESERVED_LAYER_NAMES

    module = nn.Sequential()
    attrs = {n for n in set(dir(module)) | set(vars(module)) if NAME_RE.match(n) and not n.startswith("_")}
    assert attrs <= RESERVED_LAYER_NAMES, sorted(attrs - RESERVED_LAYER_NAMES)
