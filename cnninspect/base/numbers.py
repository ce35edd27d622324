"""One number syntax for every place a user writes a number.

Specs (YAML), ``--set KEY=VALUE``, ``@key=value`` settings, check files and sweep axes all
read numbers through this module, so ``1e-1``, ``4.5e6`` and ``1_000`` mean the same thing
everywhere:

* plain numbers: ``224``, ``-3``, ``0.75``, ``.5``; scientific notation ``1e-1``, ``4.5E6``;
  ``_`` between digits (``1_000_000``); never ``nan`` or ``inf``;
* counts (check files, budgets): a number with an optional suffix K (1e3), M (1e6), G or B
  (1e9), T (1e12), and ``,`` or ``_`` digit separators: ``4.2M``, ``0.39B``, ``4,231,976``;
* byte sizes: a number with an optional unit B, KB, MB, GB (powers of 1000) or KiB, MiB,
  GiB (powers of 1024): ``8MB``, ``1.5MiB``.

Integers are required only where an integer is meant (a resolution, a repeat count): there a
number with no fraction is accepted whatever its spelling (``1e3`` is 1000) and ``1.5`` is
refused by the field's kind, not here.

YAML 1.1 (PyYAML's resolver) reads ``1e-1`` and ``1e3`` as strings because it wants a dot in
a float; :func:`yaml_plain_number` is used by the spec loader to read such plain scalars as
the numbers YAML 1.2 says they are.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import UsageError

# a decimal number: digits with optional single '_' between them, optional fraction and exponent
_DIGITS = r"[0-9](?:_?[0-9])*"
_NUMBER = rf"[-+]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][-+]?{_DIGITS})?"
NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_INT_RE = re.compile(rf"^[-+]?{_DIGITS}$")
_COUNT_RE = re.compile(r"^([-+]?(?:[0-9][0-9_,]*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)$")

COUNT_UNITS: dict[str, float] = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}
BYTE_UNITS: dict[str, float] = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


class NumberError(ValueError, UsageError):
    """Text that is not a number of the expected kind; the message is meant for a person.

    A ``ValueError`` for the field kinds that catch one and add where the number was written;
    a :class:`~cnninspect.base.errors.UsageError` too, so one that no caller located still ends as
    a one-line error (exit 2), never as an internal error."""


def parse_number(text: str) -> int | float:
    """A plain or scientific number: ``int`` when written without a fraction or exponent.

    Raises :class:`NumberError` for anything else, ``nan``/``inf`` and values too large to
    represent (``1e400``).
    """
    s = text.strip()
    if not NUMBER_RE.match(s):
        raise NumberError(f"{_show(text)} is not a number")
    if _INT_RE.match(s):
        try:
            return int(s.replace("_", ""))
        except ValueError:  # more than Python's 4,300 digits
            raise NumberError(f"{_show(text)} is too large") from None
    value = float(s.replace("_", ""))
    if not math.isfinite(value):
        raise NumberError(f"{_show(text)} is too large")
    return value


def parse_float(text: str) -> float:
    """:func:`parse_number` as a float; an integer too large for one (``9`` x 400) raises
    :class:`NumberError`."""
    value = parse_number(text)
    try:
        return float(value)
    except OverflowError:
        raise NumberError(f"{_show(text)} is too large") from None


def looks_numeric(text: str) -> bool:
    """True when ``text`` is written as a plain or scientific number."""
    return bool(NUMBER_RE.match(text.strip()))


def yaml_plain_number(text: str) -> int | float | None:
    """The number a plain (unquoted) YAML scalar denotes under YAML 1.2, or None.

    Only spellings PyYAML's YAML 1.1 resolver leaves as strings are handled here
    (``1e-1``, ``1e3``, ``1.5e2``); everything else keeps PyYAML's reading. A number too
    large to represent (``1e400``) raises :class:`NumberError`.
    """
    s = text.strip()
    if not NUMBER_RE.match(s) or _INT_RE.match(s):
        return None
    return parse_number(s)


def parse_scalar(text: str) -> Any:
    """A command-line value (``--set``, ``@key=value``): number, true/false, null or text.

    Numbers follow :func:`parse_number`; ``true``/``false``/``yes``/``no`` (any case) are
    booleans; ``null``/``~`` and the empty string are None; anything else is the text itself.
    """
    s = text.strip()
    low = s.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("null", "~", ""):
        return None
    if looks_numeric(s):
        return parse_number(s)
    return s


def _show(text: str) -> str:
    from .errors import shorten

    return shorten(repr(text))


def _with_unit(text: Any, units: dict[str, float], what: str) -> float:
    if isinstance(text, bool):
        raise NumberError(f"must be {what}, got {str(text).lower()}")
    if isinstance(text, (int, float)):
        try:
            value = float(text)
        except OverflowError:  # an integer of more than 308 digits
            raise NumberError(f"must be {what}, got a number of {len(str(abs(text))):,} digits, too large") from None
    else:
        s = str(text).strip()
        m = _COUNT_RE.match(s)
        if not m or m.group(2).upper() not in units:
            raise NumberError(f"must be {what}, got {_show(s)}")
        digits = m.group(1).replace(",", "").replace("_", "")
        try:
            value = float(digits) * units[m.group(2).upper()]
        except ValueError:
            raise NumberError(f"must be {what}, got {_show(s)}") from None
    if not math.isfinite(value):
        raise NumberError(f"must be {what}, got {_show(str(text))}")
    if value < 0:
        raise NumberError(f"must not be negative, got {_show(str(text))}")
    return value


def parse_count(text: Any) -> float:
    """``569M`` -> 569e6, ``0.39B`` -> 3.9e8, ``4,231,976``, ``4.5e6``; never negative."""
    return _with_unit(text, COUNT_UNITS, "a count like 4.2M, 569M, 0.39B, 4.5e6 or 4231976")


def parse_bytes(text: Any) -> float:
    """``8MB`` -> 8e6, ``1MiB`` -> 1048576, ``4e6`` -> 4e6 bytes; never negative."""
    return _with_unit(text, BYTE_UNITS, "a size like 8MB, 1.5MiB or 8000000")


__all__ = [
    "NumberError",
    "parse_number",
    "parse_scalar",
    "parse_count",
    "parse_bytes",
    "looks_numeric",
    "yaml_plain_number",
    "NUMBER_RE",
    "COUNT_UNITS",
    "BYTE_UNITS",
]
