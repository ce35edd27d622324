"""Regenerate the command outputs pasted into the README and docs.

A block in a Markdown file that reads

    <!-- output: cnninspect summary mobilenet_v1 --levels 1 -->
    ```text
    ...
    ```

is replaced by the real output of that command (run in-process through the CLI, no
colour; for a command that exits 2, its one-line error). A region between
`<!-- output-raw: COMMAND -->` and `<!-- end output -->` receives the output unfenced (for
Markdown tables); one between `<!-- index: docs/README.md -->` and `<!-- end index -->` the
page list of that index page; one between `<!-- settings -->` and `<!-- end settings -->` the table of
``[tool.cnninspect]`` settings (cnninspect.config.SETTINGS). `tests/test_docs.py` fails when a block is stale, so the documentation
always shows what the current code prints.

    python scripts/update_docs.py          # rewrite the blocks in place
    python scripts/update_docs.py --check  # exit 1 if any block is stale
    python scripts/update_docs.py --plots  # also redraw the images of `<!-- plot: COMMAND -->`

It also rewrites the files generated whole from the code (the spec format's JSON Schema,
``cnninspect/lang/spec.schema.json``).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # docs/README.md, the index, included
BLOCK = re.compile(r"(<!-- output: (?P<cmd>[^>]+?) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```)", re.S)
RAW = re.compile(r"(<!-- output-raw: (?P<cmd>[^>]+?) -->\n)(?P<body>.*?)(<!-- end output -->)", re.S)
INDEX = re.compile(r"(<!-- index: (?P<src>[^>]+?) -->\n)(?P<body>.*?)(<!-- end index -->)", re.S)
PLOT = re.compile(r"<!-- plot: (?P<cmd>[^>]+?) -->")
SETTINGS = re.compile(r"(<!-- settings -->\n)(?P<body>.*?)(<!-- end settings -->)", re.S)


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


def settings_table() -> str:
    """The ``[tool.cnninspect]`` keys and what they set, from the registry."""
    from cnninspect.config import SETTINGS

    rows = "".join(f"| `{s.key}` | {s.help} |\n" for s in SETTINGS.values())
    return "| Key | Sets |\n| :--- | :--- |\n" + rows


def index_of(source: str) -> str:
    """The page list of an index page (between ``<!-- index -->`` and ``<!-- end index -->``),
    its links made relative to the repository root."""
    path = ROOT / source
    body = path.read_text(encoding="utf-8").split("<!-- index -->\n", 1)[1].split("<!-- end index -->", 1)[0]
    folder = path.parent.relative_to(ROOT).as_posix()
    return re.sub(r"\]\((?!https?:)([^)]+)\)", lambda m: f"]({folder}/{m.group(1)})", body)


def render(text: str) -> str:
    text = INDEX.sub(lambda m: m.group(1) + index_of(m.group("src")) + m.group(4), text)
    text = BLOCK.sub(lambda m: m.group(1) + run(m.group("cmd")) + m.group(5), text)
    text = SETTINGS.sub(lambda m: m.group(1) + "\n" + settings_table() + "\n" + m.group(3), text)
    return RAW.sub(lambda m: m.group(1) + "\n" + run(m.group("cmd")) + "\n" + m.group(4), text)


def generated_files() -> list[tuple[Path, str]]:
    """Files generated whole from the code: the spec format's JSON Schema."""
    from cnninspect.lang.schema import schema_text

    return [(ROOT / "cnninspect" / "lang" / "spec.schema.json", schema_text())]


def plot_commands() -> list[str]:
    """The commands that draw the images the docs show (``<!-- plot: COMMAND -->``)."""
    return [m.group("cmd") for path in FILES for m in PLOT.finditer(path.read_text(encoding="utf-8"))]


def main() -> int:
    check = "--check" in sys.argv
    if "--plots" in sys.argv:
        import os

        os.chdir(ROOT)
        for command in plot_commands():
            run(command)
            print(f"drew: {shlex.split(command)[shlex.split(command).index('--plot') + 1]}")
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
