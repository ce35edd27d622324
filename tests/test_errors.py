"""Bad input gets one located line on stderr, exit 2, no traceback (--debug shows it)."""

from __future__ import annotations

import pytest

from conftest import invoke, run_process

GOOD_HEAD = "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n"

CASES = [
    # (spec text, expected fragments of the one-line error)
    ("name: t\ninput: {channels: 3, resolution: 32\nlayers: []\n", ["spec.yaml:3:", "YAML syntax error"]),
    (GOOD_HEAD + "  - convv: {out: 8, kernel: 3}\n", ["spec.yaml:4:5", "layers[0]", "unknown layer type 'convv'", "did you mean 'conv'"]),
    (GOOD_HEAD + "  - conv: {out: 8}\n", ["spec.yaml:4:5", "layers[0].conv", "missing required field 'kernel'"]),
    (GOOD_HEAD + "  - conv: {out: eight, kernel: 3}\n", ["spec.yaml:4:17", "layers[0].conv.out", "must be a positive integer", "'eight'"]),
    (GOOD_HEAD + "  - conv: {out: 0, kernel: 3}\n", ["spec.yaml:4:17", "layers[0].conv.out", "got 0"]),
    (GOOD_HEAD + "  - conv: {out: -4, kernel: 3}\n", ["layers[0].conv.out", "got -4"]),
    (GOOD_HEAD + "  - conv: {out: 8, kernel: 0}\n", ["layers[0].conv.kernel", "got 0"]),
    (GOOD_HEAD + "  - conv: {out: 8, kernel: 3, stride: 0}\n", ["layers[0].conv.stride", "got 0"]),
    (GOOD_HEAD + "  - conv: {out: 8, kernel: 3, stirde: 2}\n", ["layers[0].conv.stirde", "did you mean 'stride'"]),
    (GOOD_HEAD + "  - conv: {out: 8, kernel: 7, padding: valid}\n  - conv: {out: 8, kernel: 30, padding: valid}\n",
     ["spec.yaml:5:5", "layers[1]", "does not fit", "too small"]),
    ("name: t\nlayers: []\n", ["spec.yaml:1:1", "missing required key 'input'"]),
    ("name: t\ninput: {channels: 3, resolution: 32}\nlayer: []\n", ["spec.yaml:3:1", "unknown key 'layer'", "did you mean 'layers'"]),
    (GOOD_HEAD + "  - conv: {out: $missing, kernel: 3}\n", ["spec.yaml:4:17", "unknown parameter '$missing'"]),
]


@pytest.mark.parametrize("text,fragments", CASES)
def test_bad_spec_one_located_line(tmp_spec, text, fragments):
    path = tmp_spec(text)
    r = invoke("summary", str(path))
    assert r.exit_code == 2
    assert r.stdout == ""
    err = r.stderr.strip()
    assert "\n" not in err and err.startswith("error: ")
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in err, (frag, err)


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["summary", "mobilenet_v9"], ["unknown spec 'mobilenet_v9'", "did you mean 'mobilenet_v", "bundled specs:"]),
        (["summary", "mobilenet_v1:deep"], ["unknown variant 'deep'", "available: conv, shallow"]),
        (["summary", "mobilenet_v1", "--variant", "deep"], ["unknown variant 'deep'"]),
        (["summary", "mobilenet_v1", "--width", "0"], ["--width", "got 0"]),
        (["summary", "mobilenet_v1", "--resolution", "-3"], ["--resolution"]),
        (["summary", "mobilenet_v1", "--set", "num_clases=3"], ["no parameter 'num_clases'", "did you mean 'num_classes'"]),
        (["summary", "mobilenet_v1", "--set", "num_classes=0"], ["num_classes"]),
        (["summary", "missing.yaml"], ["missing.yaml: no such file"]),
    ],
)
def test_bad_command_line_values(args, fragments):
    r = invoke(*args)
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    for frag in fragments:
        assert frag in err, (frag, err)


def test_directory_instead_of_file(tmp_path):
    r = invoke("summary", str(tmp_path))
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_debug_shows_the_traceback(tmp_spec):
    path = tmp_spec(GOOD_HEAD + "  - conv: {out: 0, kernel: 3}\n")
    quiet = run_process("summary", str(path))
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    loud = run_process("--debug", "summary", str(path))
    assert loud.returncode == 2 and "Traceback" in loud.stderr and "error:" in loud.stderr


def test_nothing_is_written(tmp_path, tmp_spec):
    path = tmp_spec(GOOD_HEAD + "  - conv: {out: 0, kernel: 3}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    invoke("summary", str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
