"""Terminal output fits the terminal without splitting a number; piped output is full width.

Each command runs in a real pseudo-terminal of 80 and 100 columns (the size set with
TIOCSWINSZ, as a terminal emulator does), and the renderer is tested with given widths."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

from cnninspect.render.document import ESSENTIAL, Column, Document, Table
from cnninspect.render.formats import FORMATS

from conftest import ROOT, invoke

COMMANDS = [
    ("summary", "mobilenet_v1"),
    ("summary", "mobilenet_v1", "--levels", "1"),
    ("summary", "efficientnet:b0"),
    ("summary", "googlenet", "--levels", "2"),
    ("summary", "mobilenet_v1", "--format", "paper"),
    ("summary", "efficientnet:b0", "--format", "paper"),
    ("list",),
    ("compare", "mobilenet_v1:conv", "mobilenet_v1", "resnet:50", "--stages"),
    ("sweep", "efficientnet", "--variants", "all"),
    ("check", str(ROOT / "docs" / "examples" / "budgets.yaml")),
    ("reproduce",),
    ("layer-types",),
    ("layer-types", "mbconv"),
    ("conventions",),
    ("summary", "mobilenet_v1", "--rf", "--levels", "1"),
    ("summary", "resnet:50", "--memory", "--optimizer", "adam", "--levels", "1"),
    ("compare", "mobilenet_v1", "resnet:50", "--rf", "--memory"),
    ("sweep", "mobilenet_v1", "--width", "1,0.5", "--dtype", "fp16", "--batch", "32"),
    ("explain", "mobilenet_v1", "--layer", "conv1"),
    ("explain", "lenet5", "--no-measure"),
    ("explain", "conv2d", "--input", "5x5", "--kernel", "3", "--example"),
    ("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--optimizer", "adam", "--training-step",
     "--levels", "1"),
    ("explain", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--no-measure"),
    ("summary", "lenet5", "--training-step", "--levels", "1"),
    ("--help",),
    ("sweep", "--help"),
    ("fit", "--help"),
    ("explain", "--help"),
]


def run_in_terminal(args: tuple[str, ...], columns: int) -> str:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "cnninspect", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


NUMBER = re.compile(r"(?<![\w.,])\d[\d,]*(?:\.\d+)?[KMGT]?(?![\w,])")


@pytest.fixture(scope="module")
def piped() -> dict[tuple[str, ...], str]:
    return {}


def in_terminal(monkeypatch, args: tuple[str, ...], columns: int) -> str:
    """The command's output as a terminal of ``columns`` gets it (in-process: the width the CLI
    would read from the terminal is given)."""
    from cnninspect.commands import common

    monkeypatch.setattr(common, "terminal_width", lambda: columns)
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_fits_the_terminal_and_never_splits_a_number(monkeypatch, args, columns, piped):
    if args[-1] == "--help":
        text = run_in_terminal(args, columns)  # click formats help itself
    else:
        text = in_terminal(monkeypatch, args, columns)
    check_fits(args, columns, text, piped)


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("args", [("summary", "mobilenet_v1"), ("reproduce", "mobilenet_v1")])
def test_a_real_terminal(args, columns, piped):
    check_fits(args, columns, run_in_terminal(args, columns), piped)


def check_fits(args: tuple[str, ...], columns: int, text: str, piped: dict) -> None:
    widest = max(len(line) for line in text.splitlines())
    assert widest <= columns, next(line for line in text.splitlines() if len(line) == widest)
    if args[-1] == "--help":
        return
    if args not in piped:
        from cnninspect.commands import common

        saved, common.terminal_width = common.terminal_width, lambda: None
        try:
            piped[args] = invoke(*args).stdout
        finally:
            common.terminal_width = saved
    full = piped[args]
    full_numbers = set(NUMBER.findall(full)) | {n for n in NUMBER.findall(full.replace(",", ""))}
    # every number shown in the terminal is a whole number of the full output, or its compact form
    shown = re.sub(r"\((?:hidden|rounded):.*?exact\)", "", text, flags=re.S)
    for number in NUMBER.findall(shown):
        assert number in full_numbers or number[-1] in "KMGT", (number, args, columns)


def test_piped_output_is_full_width():
    out = invoke("reproduce", "mobilenet_v1.table4").stdout
    assert max(len(line) for line in out.splitlines()) > 100
    assert "hidden:" not in out


def doc_with(columns: tuple[Column, ...], rows: tuple[dict, ...]) -> Document:
    return Document("T", (("convention", "a long line " * 12),), (Table(columns, rows),), notes=("note " * 30,))


def render(doc: Document, width: int | None) -> str:
    return FORMATS["table"].render(doc, False, width)


def test_columns_are_reduced_by_priority_and_essentials_kept():
    cols = (Column("name", "Name", priority=ESSENTIAL), Column("extra", "Extra detail", priority=10),
            Column("big", "Big", "int", priority=60), Column("shape", "Shape", "shape", priority=40),
            Column("cost", "Cost", "int", priority=90))
    rows = tuple({"name": f"layer{i}", "extra": "x" * 30, "big": 10**12 + i, "shape": (512, 14, 14),
                  "cost": 123_456_789_012 + i} for i in range(5))
    full = render(doc_with(cols, rows), None)
    assert "Extra detail" in full and "1,000,000,000,004" in full
    narrow = render(doc_with(cols, rows), 60)
    assert max(map(len, narrow.splitlines())) <= 60
    header = next(line for line in narrow.splitlines() if line.startswith(" Name"))
    assert "Extra detail" not in header and "Name" in header and "123,456,789,012" in narrow
    assert "(hidden: Extra detail" in narrow
    tiny = render(doc_with(cols, rows), 40)
    assert "Name" in tiny and max(map(len, tiny.splitlines())) <= 40
    assert "1.00T" in tiny and "rounded: Big" in " ".join(tiny.split()) and "123,456,789,012" in tiny


def test_text_wraps_at_spaces_before_columns_are_hidden():
    cols = (Column("name", "Name", priority=ESSENTIAL), Column("type", "Type", priority=70),
            Column("cost", "Cost", "int", priority=90))
    rows = ({"name": "conv", "type": "Conv2d (depthwise, pad 0,1,0,1)", "cost": 231_211_008},)
    out = render(doc_with(cols, rows), 40)
    assert "Type" in out and "231,211,008" in out and "(depthwise," in out
    assert max(map(len, out.splitlines())) <= 40


def test_meta_and_notes_wrap_at_word_boundaries():
    out = render(doc_with((Column("a", "A"),), ({"a": 1},)), 50)
    lines = out.splitlines()
    assert all(len(line) <= 50 for line in lines)
    assert lines[1].startswith("convention: a long line") and re.match(r"^ {12}\S", lines[2])


# --- display width of emoji sequences (rich's cell width) ------------------------------------


@pytest.mark.parametrize("text, cells", [
    ("\u2764\ufe0f", 2),  # heart + VS16 (emoji presentation): one wide glyph
    ("x\ufe0e", 1),  # a variation selector adds no cell
    ("\U0001f44d\U0001f3fd", 2),  # thumbs up + skin-tone modifier: one glyph, not two
    ("\u4e2d\u6587", 4),  # wide East Asian characters
    ("e\u0301", 1),  # a combining accent
    ("plain", 5),
])
def test_display_width_measures_emoji_sequences_as_one_glyph(text, cells):
    from rich.cells import cell_len

    from cnninspect.base.safetext import display_width, printable

    assert display_width(text) == cells == cell_len(text)
    assert printable(text) == text, "visible characters are shown as they are"


def test_escaping_is_kept_and_measured_as_shown():
    from cnninspect.base.safetext import display_width, printable

    shown = printable("a\x1b]0;x\x07\u200b\U0001f44d\U0001f3fd")
    assert shown == "a\\x1b]0;x\\x07\\u200b\U0001f44d\U0001f3fd"
    assert display_width(shown) == len("a\\x1b]0;x\\x07\\u200b") + 2
    # a zero-width joiner is a format character: shown escaped, so a spec cannot hide text in it
    family = printable("\U0001f468\u200d\U0001f469")
    assert family == "\U0001f468\\u200d\U0001f469" and display_width(family) == 2 + 6 + 2


def test_a_table_with_emoji_sequences_lines_up():
    from rich.cells import cell_len

    cols = (Column("name", "Name", priority=ESSENTIAL), Column("cost", "Cost", "int", priority=90))
    rows = ({"name": "\U0001f44d\U0001f3fd block", "cost": 1_000}, {"name": "\u2764\ufe0f x", "cost": 22},
            {"name": "plain", "cost": 333})
    out = render(Document("T", (), (Table(cols, rows),)), None)
    lines = [ln for ln in out.splitlines() if ln.startswith(" ") and ln.strip()]
    assert len(lines) >= 4
    # every row ends in the same cell: the numbers right-aligned under each other
    assert len({cell_len(ln.rstrip()) for ln in lines if ln.strip()[-1].isdigit()}) == 1
