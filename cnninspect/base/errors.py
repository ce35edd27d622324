"""Errors raised for bad user input.

Every user-facing error is a :class:`CnnInspectError`. The CLI turns it into one line on
stderr and exit code 2; nothing else in the package prints. Errors about a spec carry a
:class:`Location` (file, line, column) and a key path such as ``layers[3].conv.kernel`` so a
user can find the offending YAML without reading our code.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple
from collections.abc import Iterable

from .safetext import printable


class Location(NamedTuple):
    """A position in a spec file. ``line`` and ``column`` are 1-based; either may be unknown.

    A named tuple rather than a frozen dataclass: every value of a loaded YAML document
    carries one, and a tuple is several times cheaper to create.
    """

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class CnnInspectError(Exception):
    """Base class of errors caused by user input (exit code 2).

    The message is always one line of visible text: line breaks and control characters that
    come from the user's input (a key holding a newline, a title holding ESC) are shown
    escaped, as ``\\n`` and ``\\x1b`` (:func:`cnninspect.base.safetext.printable`).
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))

    def one_line(self) -> str:
        """The message as a single line, as printed by the CLI."""
        return " ".join(str(self).split())


class SpecError(CnnInspectError):
    """A problem in a spec or expectations file, located by file:line:column and key path."""

    def __init__(self, message: str, loc: Location | None = None, path: str | None = None) -> None:
        self.message = message
        self.loc = loc
        self.path = path
        super().__init__(self._format())

    def _format(self) -> str:
        prefix = f"{self.loc}: " if self.loc is not None else ""
        where = f"{shorten(self.path, 80)}: " if self.path else ""
        return f"{prefix}{where}{self.message}"


class UsageError(CnnInspectError):
    """A bad command-line value: unknown spec, unknown variant, impossible override."""


class OutputError(CnnInspectError):
    """The output cannot be written (disk full, standard output closed)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to about ``limit`` characters, so a hostile value cannot flood the error line."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...{text[-10:]} ({len(text):,} characters)"


def one_of(choices: Iterable[str]) -> str:
    """Format a list of valid names for an error message."""
    names = sorted(set(choices))
    return ", ".join(names)
