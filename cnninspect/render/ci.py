"""``check``'s formats for CI systems: GitHub workflow commands and JUnit XML.

Both read the check document's JSON contract (``cnninspect.check/1``, ``Document.data``), so
they report exactly what ``--format json`` does: every rule with the line of the check file it
was written on.

* ``github``: one workflow command per failed rule,
  ``::error file=F,line=L,title=T::MESSAGE``, which GitHub Actions shows on the pull request's
  diff at that line, and a ``::notice`` with the verdict. Values are escaped as GitHub's
  runner unescapes them: ``%`` ``\\r`` ``\\n`` in the message; those and ``:`` ``,`` in
  properties.
* ``junit``: JUnit XML, one ``<testcase>`` per rule (``classname`` the check, ``name`` the
  metric and rule, ``file`` and ``line`` attributes), a ``<failure>`` for a failed rule; the
  form CI test tabs (GitLab, Jenkins, Azure, GitHub test reporters) read.

Text from the check file is shown escaped (:func:`cnninspect.base.safetext.printable`) before
either encoding, so no control character reaches a log or an XML parser.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

from ..base.safetext import printable
from .document import Document
from .formats import Format


def finding(result: dict[str, Any]) -> str:
    """One rule's result in words: ``params is 4,231,976, rule <= 1M``."""
    actual = result["actual"]
    shown = f"{result['metric']} is {actual:,}" if isinstance(actual, int) else f"{result['metric']}: {actual}"
    return f"{shown}, rule {result['rule']}"


def annotation_path(path: str) -> str:
    """The check file as GitHub wants it: relative to the workspace (``GITHUB_WORKSPACE``,
    else the working directory) when it lies inside it, with ``/`` separators."""
    root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    full = os.path.abspath(path)
    try:
        inside = os.path.commonpath([full, os.path.abspath(root)]) == os.path.abspath(root)
    except ValueError:  # another drive on Windows
        inside = False
    shown = os.path.relpath(full, root) if inside else os.path.normpath(path)
    return shown.replace(os.sep, "/")


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (file, title): also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(doc: Document, color: bool = False, width: int | None = None) -> str:
    data = doc.data
    path = annotation_path(data["file"])
    lines = []
    failed = [r for r in data["results"] if r["status"] != "PASS"]
    for r in failed:
        props = {"file": path, "line": str(r["line"]), "title": f"cnninspect check: {printable(r['check'])}"}
        head = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
        message = f"{printable(finding(r))} ({r['convention']} convention)"
        lines.append(f"::error {head}::{escape_data(message)}")
    total = len(data["results"])
    rules = "rule" if total == 1 else "rules"
    verdict = f"{len(failed)} of {total} {rules} failed" if failed else f"all {total} {rules} passed"
    lines.append(f"::notice file={escape_property(path)},title=cnninspect check::{escape_data(verdict)}")
    return "\n".join(lines) + "\n"


def _junit(doc: Document, color: bool = False, width: int | None = None) -> str:
    data = doc.data
    path = printable(data["file"])
    results = data["results"]
    failures = sum(r["status"] != "PASS" for r in results)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0", "skipped": "0"}
    suites = ET.Element("testsuites", {"name": "cnninspect check", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": path, **counts, "time": "0"})
    for r in results:
        case = ET.SubElement(suite, "testcase", {
            "classname": printable(r["check"]),
            "name": printable(f"{r['metric']} {r['rule']}"),
            "file": path,
            "line": str(r["line"]),
            "time": "0",
        })
        text = printable(finding(r))
        if r["status"] != "PASS":
            failure = ET.SubElement(case, "failure", {"message": text, "type": r["kind"]})
            failure.text = f"{path}:{r['line']}: {printable(r['check'])}: {text} ({r['convention']} convention)"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


CHECK_FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("github", "GitHub Actions workflow commands: an error annotation per failed rule", _github),
        Format("junit", "JUnit XML: a test case per rule, for CI test tabs", _junit),
    )
}
