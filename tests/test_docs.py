"""The documentation tells the truth: pasted outputs are current, examples load, the
README's quickstart and CI run the same test command."""

from __future__ import annotations

import importlib.util
import re

import pytest

from cnninspect.measure.analysis import analyze
from cnninspect.resolve.catalog import parse_target
from cnninspect.resolve.resolver import resolve
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
    # the first is the light install: no torch
    assert "torch" not in install_run and "pip install . &&" in install_run
    assert install_run.endswith("cnninspect summary mobilenet_v1")
    # CPU torch first, so the torch extra's requirement cannot pull a CUDA build
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


# Placeholders the README uses in command synopses, and what the test runs in their place.
PLACEHOLDERS = {
    "SPEC": "mobilenet_v1",
    "AXIS=VALUES": "width=0.5:1:0.25",
    "--max-METRIC LIMIT": "--max-params 3M",
    "MODEL": "lenet5",
    "A B ...": "mobilenet_v1 lenet5",
    "FILE": "budgets.yaml",
    "[TABLE...]": "mobilenet_v1.table4",
    "[TYPE]": "mbconv",
    "...": "list",
}


# The pages that hold the README's former sections (the README is the short guide; its
# details moved here verbatim): their commands are run as the README's are.
GUIDE = ["README.md", *(f"docs/{p}" for p in ("commands.md", "counting.md", "papers.md", "rf-and-memory.md",
                                              "largest-model.md", "pytorch.md", "writing-specs.md", "testing.md"))]


def readme_commands() -> list[str]:
    """Every cnninspect command the README and its moved pages show: in code spans, in ``sh``
    blocks and in the pasted-output markers (those are also compared with their output elsewhere)."""
    found: list[str] = []
    for page in GUIDE:
        text = (ROOT / page).read_text(encoding="utf-8")
        found += re.findall(r"`(cnninspect [^`]+)`", text)
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            found += [ln.strip() for ln in block.splitlines() if ln.strip().startswith("cnninspect ")]
        found += re.findall(r"<!-- output(?:-raw)?: (cnninspect [^>]+?) -->", text)
    return list(dict.fromkeys(found))


def test_every_command_the_readme_shows_runs(tmp_path, monkeypatch):
    blocks = _yaml_blocks(ROOT / "README.md")
    # the files the README's own examples name: its spec example and its budgets example
    (tmp_path / "my_net.yaml").write_text(next(b for b in blocks if "name: my_net" in b))
    (tmp_path / "budgets.yaml").write_text(next(b for b in blocks if b.startswith("# budgets.yaml")))
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert len(commands) >= 15 and "cnninspect summary my_net.yaml:small" in commands
    import shlex

    from conftest import invoke

    guide = "".join((ROOT / page).read_text(encoding="utf-8") for page in GUIDE)
    for command in commands:
        for placeholder, value in sorted(PLACEHOLDERS.items(), key=lambda kv: -len(kv[0])):
            command = command.replace(placeholder, value)
        argv = shlex.split(command)[1:]
        assert not [a for a in argv if a.isupper() and a.isalpha() and len(a) > 1], f"unknown placeholder in {command!r}"
        r = invoke(*argv)
        shown_as_error = f"$ {command}\nerror:" in guide
        assert r.exit_code == (2 if shown_as_error else 0), (command, r.stderr[-500:])


def test_the_readme_is_a_short_guide_and_docs_has_an_index():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count("\n") <= 400
    sections = re.findall(r"^## (.+)$", readme, re.M)
    assert sections == ["Quickstart", "What it prints", "Any PyTorch model", "Writing a spec", "Budgets in CI",
                        "Documentation"]
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- \[([\w.-]+\.md)\]\(\1\)", index, re.M)
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md")
    assert sorted(listed) == pages, "docs/README.md lists every page once"


def test_relative_links_resolve():
    """Every relative link in the README and docs points to a file that exists (the README's
    sections moved into docs/ with their links rewritten)."""
    broken = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            file = target.split("#", 1)[0]
            if not (path.parent / file).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken
