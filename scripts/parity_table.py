"""Print (or write into docs/conventions.md) the tool-parity suite's results.

Runs fvcore, torchinfo, FlopCounterMode, ptflops and thop on every model of ``tests/parity_models.py`` as
``tests/test_tool_parity.py`` does, compares each with cnninspect's convention of the same
name, and prints a Markdown table of the counts and every exception with its reason. The
region between ``<!-- parity: scripts/parity_table.py -->`` and ``<!-- end parity -->`` of
``docs/conventions.md`` is this output; ``tests/test_tool_parity.py`` (``-m zoo``) fails when it
is stale.

    python scripts/parity_table.py           # print the section
    python scripts/parity_table.py --write   # rewrite it in docs/conventions.md
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "conventions.md"
START = "<!-- parity: scripts/parity_table.py -->"
END = "<!-- end parity -->"
TOOL_NAMES = {"fvcore": "fvcore", "torchinfo": "torchinfo", "flopcounter": "FlopCounterMode", "ptflops": "ptflops",
              "thop": "thop"}


@functools.cache
def section() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from parity_models import CASES, EXCEPTIONS, TOOL_FAILS
    from parity_tools import TOOLS, run_all

    results = run_all(CASES)
    sources = Counter(c.source for c in CASES.values())
    lines = [
        f"{len(CASES)} models: " + ", ".join(f"{n} from {s}" for s, n in sorted(sources.items(), reverse=True)) + ".",
        "",
        "| convention = tool | models | the tool runs | equal | differs | cnninspect refuses |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tool in TOOLS:
        status = Counter(results[(name, tool)][0] for name in CASES)
        runs = len(CASES) - status["tool fails"]
        lines.append(f"| `{tool}` = {TOOL_NAMES[tool]} | {len(CASES)} | {runs} | {status['equal']} | "
                     f"{status['differs']} | {status['cnninspect fails']} |")
    lines += ["", "Models a tool cannot run (the tool is skipped for them):", ""]
    for (name, tool), (status, *_rest) in results.items():
        if status == "tool fails":
            lines.append(f"* `{name}`, {TOOL_NAMES[tool]}: {TOOL_FAILS.get((name, tool), 'not explained')}")
    lines += ["", "Models where the convention is not the tool's number or cnninspect refuses the model:", ""]
    for (name, tool), (status, theirs, mine, _detail) in results.items():
        if status in ("differs", "cnninspect fails"):
            numbers = f" ({TOOL_NAMES[tool]} {theirs:,}, cnninspect {mine:,})" if mine is not None else ""
            lines.append(f"* `{name}`, {TOOL_NAMES[tool]}{numbers}: {EXCEPTIONS.get((name, tool), 'not explained')}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = section()
    if "--write" not in argv:
        print(text, end="")
        return 0
    doc = DOC.read_text()
    pattern = re.compile(re.escape(START) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        print(f"{DOC}: no {START} ... {END} region", file=sys.stderr)
        return 1
    DOC.write_text(pattern.sub(lambda _m: f"{START}\n{text}{END}", doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
