"""Regenerate the command outputs pasted into the README and docs.

A block in a Markdown file that reads

    <!-- output: cnninspect summary mobilenet_v1 --levels 1 -->
    ```text
    ...
    ```

is replaced by the real output of that command (run in-process through the CLI, no
colour; for a command that exits 2, its one-line error). A region between
`<!-- output-raw: COMMAND -->` and `<!-- end output -->` receives the output unfenced (for
Markdown tables). `tests/test_docs.py` fails when a block is stale, so the documentation
always shows what the current code prints.

    python scripts/update_docs.py          # rewrite the blocks in place
    python scripts/update_docs.py --check  # exit 1 if any block is stale

It also rewrites the files generated whole from the code (the spec format's JSON Schema,
``cnninspect/lang/spec.schema.json``).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- output: (?P<cmd>[^>]+?) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```)", re.S)
RAW = re.compile(r"(<!-- output-raw: (?P<cmd>[^>]+?) -->\n)(?P<body>.*?)(<!-- end output -->)", re.S)


def run(command: str) -> str:
    from click.testing import CliRunner

    from cnninspect.cli import cli

    argv = shlex.split(command)
    if argv[0] != "cnninspect":
        raise SystemExit(f"only cnninspect commands can be pasted, got {command!r}")
    result = CliRunner().invoke(cli, argv[1:], catch_exceptions=False, prog_name="cnninspect")
    if result.exit_code == 2:
        text = f"$ {command}\n{result.stderr}"
    elif result.exit_code in (0, 1):
        text = result.stdout
    else:
        raise SystemExit(f"{command!r} failed with exit {result.exit_code}: {result.stderr}")
    return text if text.endswith("\n") else text + "\n"


def render(text: str) -> str:
    text = BLOCK.sub(lambda m: m.group(1) + run(m.group("cmd")) + m.group(5), text)
    return RAW.sub(lambda m: m.group(1) + "\n" + run(m.group("cmd")) + "\n" + m.group(4), text)


def generated_files() -> list[tuple[Path, str]]:
    """Files generated whole from the code: the spec format's JSON Schema."""
    from cnninspect.lang.schema import schema_text

    return [(ROOT / "cnninspect" / "lang" / "spec.schema.json", schema_text())]


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for path, text in generated_files():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    for path in FILES:
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            stale.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
