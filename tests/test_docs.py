"""The documentation tells the truth: pasted outputs are current, examples load, the
README's quickstart and CI run the same test command."""

from __future__ import annotations

import importlib.util
import re

import pytest

from cnninspect.analysis import analyze
from cnninspect.catalog import parse_target
from cnninspect.resolve import resolve
from cnninspect.lang.spec import spec_from_text

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _update_docs():
    spec = importlib.util.spec_from_file_location("update_docs", ROOT / "scripts" / "update_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_pasted_outputs_are_current(path):
    text = path.read_text(encoding="utf-8")
    assert _update_docs().render(text) == text, (
        f"{path.name} shows stale output; run: python scripts/update_docs.py"
    )


def test_readme_has_two_quickstart_commands_and_ci_runs_the_same_tests():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick)
    assert len(commands) == 2
    install_run, install_test = commands
    # CPU torch first, so the package's torch requirement cannot pull a CUDA build
    assert install_run.index("pip install torch==2.13.0") < install_run.index("pip install .")
    assert install_run.endswith("cnninspect summary mobilenet_v1")
    assert install_test.index("pip install torch==2.13.0") < install_test.index('pip install ".[test]"')
    assert install_test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install torch==2.13.0" in ci
    assert ci.index("pip install torch==2.13.0") < ci.index('pip install ".[test]"')
    assert "\npython -m pytest\n" in ci


def _yaml_blocks(path):
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_spec_examples_in_the_docs_load_and_resolve():
    found = 0
    for path in DOCS:
        for block in _yaml_blocks(path):
            if "layers:" not in block or "name:" not in block:
                continue
            spec = spec_from_text(block, f"{path.name} example")
            for variant in [None, *spec.variants]:
                assert analyze(resolve(spec, variant)).totals.params > 0
            found += 1
    assert found >= 2


def test_the_spec_format_example_is_the_example_file():
    block = _yaml_blocks(ROOT / "docs" / "spec-format.md")[0]
    inline = spec_from_text(block, "spec-format.md")
    target = parse_target(str(ROOT / "docs" / "examples" / "tiny_net.yaml"))
    for variant in target.spec.variants:
        a = analyze(resolve(inline, variant)).rows
        b = analyze(resolve(target.spec, variant)).rows
        assert [(r.name, r.output_shape, r.params, r.mult_adds) for r in a] == [
            (r.name, r.output_shape, r.params, r.mult_adds) for r in b
        ]
