"""Pinned outputs: what the CLI prints must not change when the code is reorganised.

Every bundled variant's JSON in every counting convention (JSON carries every field,
receptive fields and memory included) is pinned by its SHA-256 digest in ``tests/golden/digests.json``; a few
outputs are kept as full text in ``tests/golden/*.txt`` so a failure shows the difference.
Every format (table at a fixed width, paper, markdown, csv, json, html) of a few specs and
the other commands' outputs are pinned too. The README's and docs' pasted outputs are
compared by ``tests/test_docs.py``.

After an intended change of output (a bug fixed and said so in the commit):

    python -m pytest tests/test_golden.py --update-golden

Runs in-process through the real CLI (:func:`conftest.invoke`'s runner).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnninspect.cli import cli
from cnninspect.ops.conventions import CONVENTIONS

from conftest import ROOT, all_variants, variant_id

GOLDEN = Path(__file__).resolve().parent / "golden"
DIGESTS = GOLDEN / "digests.json"
WIDTH = "100"

# outputs kept whole (a failure shows the lines that changed)
FULL_TEXT = {
    "summary mobilenet_v1 -f json -c paper",
    "compare mobilenet_v1 mobilenet_v2 mobilenet_v3",
    "explain conv2d --input 5x5 --kernel 3 --stride 1 --padding valid",
    "summary mobilenet_v1",
    "summary resnet:50 -f paper",
}

FORMAT_SPECS = ["mobilenet_v1", "efficientnet:b3", "resnet:50", "densenet"]
FORMATS = ["table", "paper", "markdown", "csv", "html"]  # and json, above for every variant

OTHER_COMMANDS = [
    "list",
    "list -f json",
    "conventions",
    "layer-types",
    "schema",
    "summary mobilenet_v1 --rf --memory --batch 32 --optimizer adam",
    "summary mobilenet_v2 --levels 2 -c thop --unit flops",
    "summary efficientnet --phi 2 --padding tf -c ptflops",
    "summary resnet --width 0.5 -r 160 --set num_classes=10 -f json",
    "summary mobilenet_v1 --dtype int8,fp16 --memory -f json",
    "compare mobilenet_v1 mobilenet_v2 mobilenet_v3",
    "compare mobilenet_v1 mobilenet_v2 --layers",
    "compare resnet:18 resnet:34 -f json --memory",
    "sweep mobilenet_v1 --width 0.25,0.5,0.75,1 --resolution 128,160,192,224",
    "sweep efficientnet --phi 0:3:1 -f csv",
    "fit mobilenet_v1 --over width=0.25:1.0:0.25 --over resolution=128:224:32 --max-mult-adds 300e6",
    "fit efficientnet --over phi=0:4:1 --max-params 12e6 -f json",
    "explain mobilenet_v1",
    "explain resnet:18 -c torchinfo -f json",
    "explain efficientnet:b0 --layer stage2",
    "explain conv2d --input 5x5 --kernel 3 --stride 1 --padding valid",
    "explain maxpool2d --example",
    "reproduce",
]


def _cases() -> list[str]:
    cases: list[str] = []
    for name, variant in all_variants():
        ref = variant_id(name, variant)
        cases += [f"summary {ref} -f json -c {c}" for c in CONVENTIONS]  # JSON has every field
    for ref in FORMAT_SPECS:
        cases += [f"summary {ref}" if f == "table" else f"summary {ref} -f {f}" for f in FORMATS]
        cases.append(f"summary {ref} --rf --memory")
    cases += OTHER_COMMANDS
    for c in FULL_TEXT:
        assert c in cases, c
    return cases


CASES = _cases()


def run(command: str) -> str:
    """The command's exit code, standard output and standard error, as one text."""
    env = {"COLUMNS": WIDTH, "LINES": "50", "NO_COLOR": "1"}
    old = os.getcwd()
    os.chdir(ROOT)  # paths printed relative to the repository
    try:
        r = CliRunner().invoke(cli, command.split(), catch_exceptions=False, prog_name="cnninspect", env=env)
    finally:
        os.chdir(old)
    return _installed_versions(f"exit {r.exit_code}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}")


def _installed_versions(text: str) -> str:
    """The text with each peer tool's installed version (``explain``'s measured tools name it)
    as ``<installed>``: the pins are cnninspect's output, not the machine's packages (a CPU
    wheel says ``2.13.0+cpu``, PyPI's ``2.13.0``)."""
    from cnninspect.build.peers import TOOLS, version

    for tool in TOOLS.values():
        v = version(tool)
        if v:
            text = text.replace(f'"version": "{v}"', '"version": "<installed>"')
    return text


def _file(command: str) -> Path:
    return GOLDEN / (command.replace(" ", "_").replace(":", "-").replace("/", "-") + ".txt")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_golden_outputs(request):
    update = request.config.getoption("--update-golden")
    stored = {} if update or not DIGESTS.exists() else json.loads(DIGESTS.read_text(encoding="utf-8"))
    GOLDEN.mkdir(exist_ok=True)
    got: dict[str, str] = {}
    changed: list[str] = []
    for command in CASES:
        text = run(command)
        assert text.startswith(("exit 0\n", "exit 1\n")), (command, text[-800:])
        got[command] = _digest(text)
        if update:
            if command in FULL_TEXT:
                _file(command).write_text(text, encoding="utf-8")
            continue
        if command in FULL_TEXT:
            assert text == _file(command).read_text(encoding="utf-8"), command
        if stored.get(command) != got[command]:
            changed.append(command)
    if update:
        DIGESTS.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert not changed, f"{len(changed)} outputs changed (first: {changed[:5]}); see tests/test_golden.py"
    assert set(stored) == set(got), "the golden cases changed; run with --update-golden"


def test_the_golden_set_covers_every_variant_and_convention():
    stored = json.loads(DIGESTS.read_text(encoding="utf-8"))
    assert len(all_variants()) >= 50 and len(CONVENTIONS) == 6
    for name, variant in all_variants():
        for c in CONVENTIONS:
            assert f"summary {variant_id(name, variant)} -f json -c {c}" in stored
    # distinct outputs: a runner that printed nothing would give one digest for all
    assert len(set(stored.values())) == len(stored)
