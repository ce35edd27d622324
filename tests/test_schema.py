"""``cnninspect schema``: a JSON Schema generated from the field registry, shipped with the
package, that validates every bundled spec and the documentation's examples, and rejects
exactly the malformed specs of the corpus marked ``# schema: reject`` (the others are
errors only evaluation finds: shapes, variants, names used twice).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from cnninspect.base.errors import SpecError
from cnninspect.lang.schema import json_schema, schema_text
from cnninspect.lang.yamlsrc import decode_utf8, parse_yaml

from conftest import ROOT, SPECS, invoke

SHIPPED = ROOT / "cnninspect" / "lang" / "spec.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(json_schema())
CORPUS = sorted((ROOT / "tests" / "bad_specs").glob("*.yaml"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def document(path: Path) -> object:
    """The spec as plain data, read by cnninspect's own safe loader."""
    return parse_yaml(decode_utf8(path.read_bytes(), str(path)), str(path)).to_python()


def test_the_schema_is_valid_and_the_shipped_file_is_current():
    jsonschema.Draft202012Validator.check_schema(json_schema())
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), (
        "cnninspect/lang/spec.schema.json is stale; run: python scripts/update_docs.py"
    )


def test_cnninspect_schema_prints_it_without_torch():
    r = invoke("schema")
    assert r.exit_code == 0 and json.loads(r.stdout) == json_schema()
    code = "import sys\nfrom cnninspect.cli import cli\ntry:\n    cli(['schema'])\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_spec_is_valid(path):
    errors = [e.message for e in VALIDATOR.iter_errors(document(path))]
    assert not errors, errors[:3]


def test_the_documentation_examples_are_valid():
    found = 0
    for path in DOCS:
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            data = parse_yaml(block, path.name).to_python()
            if isinstance(data, dict) and "layers" in data:
                errors = [e.message for e in VALIDATOR.iter_errors(data)]
                assert not errors, (path.name, block[:60], errors[:3])
                found += 1
    assert found >= 7


def _marked(path: Path) -> bool:
    header = []
    for line in path.read_bytes().decode("utf-8", errors="replace").split("\n"):
        if not line.startswith("#"):
            break
        header.append(line)
    return "# schema: reject" in header


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_the_schema_rejects_exactly_the_marked_corpus_entries(path):
    try:
        data = document(path)
    except SpecError:
        assert not _marked(path), "a file YAML itself refuses cannot be checked by the schema"
        return  # a YAML-level error (tags, aliases, syntax): before any schema
    errors = list(VALIDATOR.iter_errors(data))
    assert bool(errors) == _marked(path), (path.name, [e.message for e in errors[:2]])


def test_the_corpus_has_schema_errors():
    assert sum(_marked(p) for p in CORPUS) >= 30


def test_user_defined_blocks_are_accepted_only_where_they_can_exist():
    base = {"name": "t", "input": {"channels": 3, "resolution": 8}, "layers": [{"fire": {"squeeze": 4}}]}
    assert list(VALIDATOR.iter_errors(base))  # no blocks: 'fire' is an unknown type
    with_blocks = {**base, "blocks": {"fire": {"params": ["squeeze"], "layers": [{"conv": {"out": "$squeeze", "kernel": 1}}]}}}
    assert not list(VALIDATOR.iter_errors(with_blocks))
    typo = {**with_blocks, "layers": [{"conv": {"out": 8, "kernal": 3}}]}
    assert list(VALIDATOR.iter_errors(typo))  # built-in types stay strict
