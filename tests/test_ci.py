"""cnninspect in CI: ``check --format github`` and ``--format junit`` report what
``--format json`` reports, located at the check file's lines; the reusable GitHub Action and
the pre-commit hook run for real."""

from __future__ import annotations

import json
import sys
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cnninspect.base.safetext import printable

from conftest import invoke

CHECKS = """\
checks:
  - name: "tiny, budget: 1% of 100%"
    model: mobilenet_v1
    budget:
      max_params: 1M
      max_mult_adds: 1G
  - name: "a\\x1b]0;pwned\\x07 b"
    model: lenet5
    expect: {params: 1}
  - model: resnet:18
    expect: {params: {value: 11.7M, tolerance: 1%}}
"""


def unescape_data(text: str) -> str:
    """What GitHub's runner does to a workflow command's message."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


COMMAND = re.compile(r"^::(\w+) (.*?)::(.*)$")


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command as the runner parses it: properties split at ``,`` then ``=``."""
    m = COMMAND.match(line)
    assert m, line
    props = dict(p.split("=", 1) for p in m.group(2).split(","))
    return m.group(1), {k: unescape_property(v) for k, v in props.items()}, unescape_data(m.group(3))


def run_check(tmp_path: Path, monkeypatch, fmt: str):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "budgets.yaml").write_text(CHECKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    r = invoke("check", "ci/budgets.yaml", "--format", fmt)
    expected = json.loads(invoke("check", "ci/budgets.yaml", "--format", "json").stdout)
    return r, expected


def test_github_annotations_are_the_failed_rules_at_their_lines(tmp_path, monkeypatch):
    r, expected = run_check(tmp_path, monkeypatch, "github")
    assert r.exit_code == 1 and r.stderr == ""
    lines = r.stdout.splitlines()
    failed = [x for x in expected["results"] if x["status"] == "FAIL"]
    assert len(failed) == 2
    errors = [parse_command(ln) for ln in lines if ln.startswith("::error ")]
    assert len(errors) == len(failed)
    for (_kind, props, message), result in zip(errors, failed):
        assert props["file"] == "ci/budgets.yaml" and props["line"] == str(result["line"])
        # the title survives the runner's unescaping, commas, colons and percent signs included
        assert props["title"] == f"cnninspect check: {printable(result['check'])}"
        assert message.startswith(f"{result['metric']} is {result['actual']:,}, rule {result['rule']}")
    # the lines are the check file's: the first check's max_params, the second's expectation
    text = CHECKS.splitlines()
    assert "max_params" in text[int(errors[0][1]["line"]) - 1] and "expect" in text[int(errors[1][1]["line"]) - 1]
    assert errors[0][1]["title"] == "cnninspect check: tiny, budget: 1% of 100%"
    # text from the check file is escaped: no raw ESC or BEL reaches the log
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\\x1b" in errors[1][1]["title"]
    kind, props, message = parse_command(lines[-1])
    assert kind == "notice" and message == "2 of 4 rules failed"


def test_github_paths_are_relative_to_the_workspace(tmp_path, monkeypatch):
    (tmp_path / "b.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1}\n")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    r = invoke("check", str(tmp_path / "b.yaml"), "-f", "github")
    assert parse_command(r.stdout.splitlines()[0])[1]["file"] == "b.yaml"


def test_github_escaping_follows_the_runner():
    from cnninspect.render.ci import escape_data, escape_property

    assert escape_data("50% a\r\nb: c, d") == "50%25 a%0D%0Ab: c, d"
    assert escape_property("50% a\r\nb: c, d") == "50%25 a%0D%0Ab%3A c%2C d"
    for text in ("%0A literally", "a:b,c%", "x\ny"):
        assert unescape_property(escape_property(text)) == text and unescape_data(escape_data(text)) == text


def test_github_format_when_everything_passes(tmp_path, monkeypatch):
    (tmp_path / "b.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1M}\n")
    monkeypatch.chdir(tmp_path)
    r = invoke("check", "b.yaml", "-f", "github")
    assert r.exit_code == 0 and r.stdout == "::notice file=b.yaml,title=cnninspect check::all 1 rule passed\n"


def test_junit_xml_has_a_case_per_rule_and_a_failure_per_failed_rule(tmp_path, monkeypatch):
    r, expected = run_check(tmp_path, monkeypatch, "junit")
    assert r.exit_code == 1
    root = ET.fromstring(r.stdout.encode())
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "ci/budgets.yaml" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert len(cases) == len(expected["results"])
    for case, result in zip(cases, expected["results"]):
        assert case.get("classname") == printable(result["check"])
        assert case.get("name") == f"{result['metric']} {result['rule']}"
        assert case.get("file") == "ci/budgets.yaml" and case.get("line") == str(result["line"])
        failure = case.find("failure")
        assert (failure is not None) == (result["status"] == "FAIL")
        if failure is not None:
            assert failure.get("message") == f"{result['metric']} is {result['actual']:,}, rule {result['rule']}"
            assert failure.text.startswith(f"ci/budgets.yaml:{result['line']}: ")
    # the ESC in a check's name is shown escaped: the XML stays well-formed
    assert cases[2].get("classname") == "a\\x1b]0;pwned\\x07 b"


def test_the_ci_formats_are_offered_by_check_only():
    assert "github" in invoke("check", "--help").stdout
    r = invoke("summary", "mobilenet_v1", "--format", "github")
    assert r.exit_code == 2


# --- the GitHub Action, run as the runner runs it ---------------------------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from conftest import ROOT  # noqa: E402

EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


def action_steps(inputs: dict[str, str], context: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The action's steps as (script, env), ``${{ }}`` expressions evaluated as GitHub does:
    inputs with their defaults, the github context from ``context``."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    unknown = set(inputs) - set(defaults)
    assert not unknown, unknown

    def evaluate(text: str) -> str:
        def value(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("inputs."):
                key = name.removeprefix("inputs.")
                return EXPRESSION.sub(value, inputs.get(key, defaults[key]))
            return context[name]

        return EXPRESSION.sub(value, text)

    steps = []
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], "expressions go through env, never into the script"
        steps.append((step["run"], {k: evaluate(str(v)) for k, v in step.get("env", {}).items()}))
    return steps


def run_step(script: str, env: dict[str, str], cwd: Path, runner: dict[str, str]) -> subprocess.CompletedProcess:
    # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, **runner, **env}, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed_action(tmp_path_factory):
    """The action's install step, run for real: a light venv in RUNNER_TEMP."""
    temp = tmp_path_factory.mktemp("runner-temp")
    (install, env), _check = action_steps({}, {"github.action_path": str(ROOT), "github.token": "t",
                                                "github.event.pull_request.number": ""})
    proc = run_step(install, env, temp, {"RUNNER_TEMP": str(temp)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    python = temp / "cnninspect-venv" / "bin" / "python"
    # the light install: no torch
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "None"
    return temp


def test_the_action_annotates_reports_and_fails(installed_action, tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "ci").mkdir(parents=True)
    (workspace / "ci" / "budgets.yaml").write_text(CHECKS)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.touch()
    output.touch()
    runner = {"RUNNER_TEMP": str(installed_action), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
              "GITHUB_WORKSPACE": str(workspace)}
    context = {"github.action_path": str(ROOT), "github.token": "t", "github.event.pull_request.number": ""}

    _install, (check, env) = action_steps({"check-file": "ci/budgets.yaml"}, context)
    proc = run_step(check, env, workspace, runner)
    assert proc.returncode == 1, proc.stderr
    errors = [parse_command(ln) for ln in proc.stdout.splitlines() if ln.startswith("::error ")]
    assert [(p["file"], p["line"]) for _, p, _ in errors] == [("ci/budgets.yaml", "5"), ("ci/budgets.yaml", "9")]
    report = Path(output.read_text().strip().removeprefix("report="))
    assert "| FAIL |" in report.read_text() and summary.read_text() == report.read_text()

    # the convention input, no comment: a passing file leaves the summary alone
    (workspace / "ok.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1M}\n")
    _install, (check, env) = action_steps({"check-file": "ok.yaml", "convention": "fvcore", "comment": "none"},
                                          context)
    before = summary.read_text()
    proc = run_step(check, env, workspace, runner)
    assert proc.returncode == 0 and "all 1 rule passed" in proc.stdout and summary.read_text() == before
    assert "| fvcore |" in report.read_text()

    # an invalid file: exit 2 with its located error, no report
    (workspace / "bad.yaml").write_text("checks: 3\n")
    _install, (check, env) = action_steps({"check-file": "bad.yaml"}, context)
    proc = run_step(check, env, workspace, runner)
    assert proc.returncode == 2 and "bad.yaml:1" in proc.stderr

    # a comment mode the action does not know
    _install, (check, env) = action_steps({"check-file": "ok.yaml", "comment": "email"}, context)
    proc = run_step(check, env, workspace, runner)
    assert proc.returncode == 2 and "comment must be summary, pull-request or none" in proc.stdout


def test_the_action_comments_on_the_pull_request(installed_action, tmp_path):
    """comment: pull-request edits the last comment, or creates one (gh recorded, not run)."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "ok.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1M}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls"
    # a gh whose --edit-last finds no earlier comment, as on a pull request's first run
    (bin_dir / "gh").write_text(f'#!/bin/sh\necho "$GH_TOKEN $*" >> {calls}\ncase "$*" in *--edit-last*) exit 1;; esac\n')
    (bin_dir / "gh").chmod(0o755)
    runner = {"RUNNER_TEMP": str(installed_action), "GITHUB_STEP_SUMMARY": str(tmp_path / "s"),
              "GITHUB_OUTPUT": str(tmp_path / "o"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    context = {"github.action_path": str(ROOT), "github.token": "tok", "github.event.pull_request.number": "7"}
    _install, (check, env) = action_steps({"check-file": "ok.yaml", "comment": "pull-request"}, context)
    proc = run_step(check, env, workspace, runner)
    assert proc.returncode == 0, proc.stderr
    report = installed_action / "cnninspect-report.md"
    assert calls.read_text().splitlines() == [f"tok pr comment 7 --edit-last --body-file {report}",
                                              f"tok pr comment 7 --body-file {report}"]
    assert not (tmp_path / "s").exists()


# --- the pre-commit hook -----------------------------------------------------------------------


def test_the_pre_commit_hook_checks_the_budgets(tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "cnninspect-check" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("specs/my_net.yaml") and files.search("ci/budgets.yml") and files.search("pyproject.toml")
    assert not files.search("model.py")
    pre_commit = shutil.which("pre-commit", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert pre_commit, "pre-commit is in the test extra"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "budgets.yaml").write_text("checks:\n  - model: lenet5\n    budget: {max_params: 1K}\n")
    (repo / "pyproject.toml").write_text('[tool.cnninspect]\ncheck-file = "budgets.yaml"\n')
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "budgets"], cwd=repo, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    proc = subprocess.run([pre_commit, "try-repo", str(ROOT), hook["id"], "--all-files"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "cnninspect budgets" in out and "Failed" in out and "exit code: 1" in out
    assert "budgets.yaml:3: lenet5: params is 60,840, rule <= 1K" in out


# --- shell completion --------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_generates(shell):
    script = shutil.which("cnninspect", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert script
    env = {**os.environ, "_CNNINSPECT_COMPLETE": f"{shell}_source"}
    proc = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "_CNNINSPECT_COMPLETE" in proc.stdout
    assert f"{shell}_complete" in proc.stdout
    doc = (ROOT / "docs" / "config.md").read_text()
    assert f"_CNNINSPECT_COMPLETE={shell}_source cnninspect" in doc


def test_completion_completes_commands_and_choices():
    script = shutil.which("cnninspect", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_CNNINSPECT_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        proc = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
        return [ln.split(",", 1)[1] for ln in proc.stdout.splitlines()]

    assert "summary" in complete("cnninspect su")
    assert complete("cnninspect check --format ") == ["table", "github", "junit", "markdown", "csv", "json", "html"]
