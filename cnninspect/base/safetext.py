"""Text that is safe to show in a terminal, and its width in terminal cells.

Specs and check files are user input: a ``title`` may hold terminal control sequences
(``ESC ] 0;... BEL`` sets the window title, OSC 52 writes the clipboard) or invisible
characters. :func:`printable` escapes every character that is not plainly visible text:
C0 controls (newline and tab included: a table cell is one line), DEL, C1 controls, and
Unicode format and separator characters such as the zero-width space (``\\u200b``) and the
bidi overrides. The escaped form is Python's (``\\x1b``, ``\\u200b``), so a reader sees what
was there and nothing is executed.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from rich.cells import cell_len

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@lru_cache(maxsize=4096)
def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format and separator character shown escaped."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def display_width(text: str) -> int:
    """Terminal cells ``text`` occupies, measured by rich (:func:`rich.cells.cell_len`, the
    width rich itself lays tables out with): wide East Asian characters take two, combining
    marks none, and an emoji sequence (a variation selector, a skin-tone modifier, a
    zero-width-joiner family) the cells of the one glyph a terminal shows. Meant for text
    that has been through :func:`printable` (which keeps the characters rich measures)."""
    if text.isascii():
        return len(text)
    return cell_len(text)
