"""The spec path grows linearly with the number of layers (issue 22, section 4): what made
it grow faster is tested here, the timings are in docs/benchmarks.md (benchmarks/growth.py).

* JSON is written in pieces (``json_pieces``), byte-identical to the former whole-text
  ``json.dumps(indent=2)`` plus the short-list rewrite, which held the text and millions of
  fragments at once;
* the analysis leaves no reference cycles behind (its recursive closures break theirs), so
  its structures die by reference counting, and the CLI's full garbage collections are rare
  (``cli._collect_rarely``): they walked the whole heap again and again and found nothing.
"""

from __future__ import annotations

import gc
import json
import random
import re
import sys

import pytest

from cnninspect.measure.analysis import analyze
from cnninspect.resolve.catalog import resolve_ref
from cnninspect.render.formats import dumps_json, json_pieces
from cnninspect.render.report import summary_document
from conftest import ROOT, invoke

sys.path.insert(0, str(ROOT / "benchmarks"))
from growth import rows_of, spec_text  # noqa: E402

_OLD = re.compile(r"\[\s+((?:-?[0-9.]+|null|true|false|\"[^\"\n]{0,40}\")(?:,\s+(?:-?[0-9.]+|null|true|false|"
                  r"\"[^\"\n]{0,40}\"))*)\s+\]")


def old_dumps(data):
    """The writer before issue 22, kept here as the reference for the streamed one."""
    text = json.dumps(data, indent=2, sort_keys=False)
    return _OLD.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


SCALARS = [None, True, False, 0, -3, 17, 2**70, 1.5, -0.25, 1e-05, float("inf"), float("nan"), "", "a", "a, b",
           "x [ 1, 2 ] y", "[ ", "q\"uote", "é ü", "t\tab", "  spaced  , x", "x" * 45, "[ 1 ]", (1, 2)]


def random_document(rnd: random.Random, depth: int = 0):
    k = rnd.random()
    if depth > 3 or k < 0.5:
        return rnd.choice(SCALARS)
    if k < 0.75:
        return [random_document(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    keys = ["a", "b", "key [ 1 ]", "c d", "", "n"]
    return {rnd.choice(keys) + str(i): random_document(rnd, depth + 1) for i in range(rnd.randint(0, 4))}


def test_streamed_json_is_byte_identical_on_random_documents():
    rnd = random.Random(22)
    for _ in range(3000):
        doc = random_document(rnd)
        assert dumps_json(doc) == old_dumps(doc), doc
    odd_keys = {1: [1, 2], 2.5: {"a": [1]}, None: "x", True: []}
    assert dumps_json(odd_keys) == old_dumps(odd_keys)
    assert dumps_json([{"a": {3: [1, 2, 3]}}]) == old_dumps([{"a": {3: [1, 2, 3]}}])


@pytest.mark.parametrize("args", [
    ("summary", "inception_v3:aux", "--rf", "--memory"),
    ("compare", "mobilenet_v1", "resnet:50", "--stages", "--rf"),
    ("check", str(ROOT / "docs" / "examples" / "budgets.yaml")),
])
def test_streamed_json_of_commands_is_byte_identical(args):
    text = invoke(*args, "--format", "json").stdout
    assert text == old_dumps(json.loads(text))


def test_pieces_are_small():
    data = summary_document(analyze(resolve_ref("efficientnet:b0")), "macs", None).data
    pieces = list(json_pieces(data))
    assert "".join(pieces) == old_dumps(data)
    assert max(map(len, pieces)) < 2_000 and len(pieces) > 1_000


def test_the_analysis_leaves_no_reference_cycles():
    def work() -> None:
        model = resolve_ref("efficientnet:b0")
        report = analyze(model, "fvcore")
        dumps_json(summary_document(report, "macs", None, show_rf=True, show_memory=True).data)

    work()  # imports and caches first
    gc.collect()
    gc.disable()
    try:
        work()
        assert gc.collect() == 0  # everything died by reference counting
    finally:
        gc.enable()


def test_the_generated_specs_have_the_layers_they_say(tmp_path):
    for n in (100, 1_000):
        path = tmp_path / f"deep{n}.yaml"
        path.write_text(spec_text(n))
        data = json.loads(invoke("summary", str(path), "--format", "json").stdout)
        assert len(data["layers"]) == rows_of(n) and n - 7 < rows_of(n) <= n
