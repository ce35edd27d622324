"""``[tool.cnninspect]`` in pyproject.toml: defaults found from the working directory upward,
overridden by flags; bad keys and values are errors located at their line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, invoke

CHECKS = "checks:\n  - model: tiny_net\n    budget: {max_params: 1M}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny_net.yaml").write_text((ROOT / "docs" / "examples" / "tiny_net.yaml").read_text())
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "budgets.yaml").write_text(CHECKS)
    (tmp_path / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "src" / "deep")  # found from below, as from anywhere in the project
    return tmp_path


def write(project: Path, body: str) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.cnninspect]\n' + textwrap.dedent(body))


def test_settings_are_defaults(project):
    write(project, """\
        convention = "fvcore"
        format = "json"
        check-file = "ci/budgets.yaml"
        spec-paths = ["models"]
    """)
    doc = json.loads(invoke("summary", "tiny_net").stdout)  # spec-paths and format
    assert doc["convention"]["name"] == "fvcore" and doc["model"] == "tiny_net"
    r = invoke("check")  # check-file, and the convention for checks that name none
    assert r.exit_code == 0
    result = json.loads(r.stdout)
    assert result["file"].endswith("ci/budgets.yaml") and result["results"][0]["convention"] == "fvcore"
    # flags override every setting
    table = invoke("summary", "tiny_net", "--convention", "paper", "--format", "table").stdout
    assert table.startswith("tiny_net") and "convention: paper" in table
    assert "default: fvcore" in " ".join(invoke("summary", "--help").stdout.split())


def test_a_format_applies_to_the_commands_that_offer_it(project):
    write(project, 'format = "github"\n')
    (project / "b.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1M}\n")
    assert invoke("check", str(project / "b.yaml")).stdout.startswith("::notice ")
    assert invoke("summary", "lenet5").stdout.startswith("lenet5 - LeNet-5")  # summary has no github format


def test_the_files_own_convention_wins_over_the_setting_and_a_conflicting_flag_is_refused(project):
    write(project, 'convention = "fvcore"\n')
    (project / "b.yaml").write_text("convention: torchinfo\n" + CHECKS.replace("tiny_net", "lenet5"))
    r = invoke("check", str(project / "b.yaml"), "-f", "json")
    assert json.loads(r.stdout)["results"][0]["convention"] == "torchinfo"
    r = invoke("check", str(project / "b.yaml"), "--convention", "thop")
    assert r.exit_code == 2
    assert r.stderr == (f"error: {project / 'b.yaml'}:1:13: convention: the file says convention torchinfo but "
                        "--convention says thop; give one\n")


@pytest.mark.parametrize("body, line, message", [
    ('convention = "fvcor"\n', 5, "tool.cnninspect.convention: unknown convention 'fvcor' (did you mean 'fvcore'?)"),
    ('format = "html"\nformt = "json"\n', 6, "tool.cnninspect.formt: unknown setting 'formt' (did you mean 'format'?)"),
    ('spec-paths = "models"\n', 5, "tool.cnninspect.spec-paths: must be a list of directories"),
    ('spec-paths = ["nowhere"]\n', 5, "tool.cnninspect.spec-paths: 'nowhere' is not a directory"),
    ('check-file = 3\n', 5, "tool.cnninspect.check-file: must be a path"),
    ('format = "pdf"\n', 5, "tool.cnninspect.format: unknown format 'pdf'"),
    ('convention = \n', 5, "not valid TOML"),
])
def test_bad_settings_are_located(project, body, line, message):
    write(project, body)
    r = invoke("list")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"error: {project / 'pyproject.toml'}:{line}") and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1


def test_without_settings_nothing_changes(project):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.other]\nconvention = "fvcore"\n')
    assert "convention: paper" in invoke("summary", "lenet5").stdout
    r = invoke("summary", "tiny_net")
    assert r.exit_code == 2 and "unknown spec 'tiny_net'" in r.stderr
    r = invoke("check")
    assert r.exit_code == 2 and "set check-file under [tool.cnninspect]" in r.stderr


def test_a_spec_path_never_shadows_a_bundled_spec(project):
    write(project, 'spec-paths = ["models"]\n')
    (project / "models" / "lenet5.yaml").write_text((ROOT / "docs" / "examples" / "tiny_net.yaml").read_text())
    r = invoke("summary", "lenet5")
    assert r.exit_code == 2 and "'lenet5' is both a bundled spec and" in r.stderr
    # and the setting does not outlive the project: elsewhere the bundled name works
    (project / "pyproject.toml").unlink()
    assert invoke("summary", "lenet5").exit_code == 0


def test_the_settings_are_documented():
    from cnninspect.config import SETTINGS

    doc = (ROOT / "docs" / "config.md").read_text()
    for key, setting in SETTINGS.items():
        assert f"`{key}`" in doc and setting.help in " ".join(doc.split())
