"""Running a user's Python code (a model file's import, its constructor, its forward pass)
without letting it reach cnninspect's output.

:func:`guarded` is entered around every call into user code. While it is active:

* standard output goes to standard error: ``print()`` (``sys.stdout`` is a proxy writing to
  ``sys.stderr``) and writes to file descriptor 1 (``os.write(1, ...)``, C extensions;
  descriptor 1 is pointed at descriptor 2), so ``--format json`` and ``csv`` stay
  parseable;
* closing ``sys.stdout`` closes only the proxy, and the real stream is put back afterwards;
* the recursion limit is raised for deeply nested models: the capture's hooks and modes add
  frames to every module call, so a model PyTorch runs at the default limit also runs here.

Guards nest; the outermost one restores everything, on errors and Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

RECURSION_LIMIT = 20_000  # frames while user code runs (the capture adds about 10 per module level)


class _ToStderr(io.TextIOBase):
    """``sys.stdout`` while user code runs: text goes to the current ``sys.stderr``."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        err = sys.stderr
        if err is not None and not err.closed:
            err.write(text)
        return len(text)

    def flush(self) -> None:
        err = sys.stderr
        if err is not None and not err.closed:
            err.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:  # the model's close() ends only this proxy's use
        return None


_depth = 0


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Standard output to standard error, and room for deep recursion, while user code runs."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    saved_stdout = sys.stdout
    with contextlib.suppress(Exception):
        if saved_stdout is not None:
            saved_stdout.flush()
    saved_fd = _redirect_fd1()
    saved_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved_limit, RECURSION_LIMIT))
    sys.stdout = _ToStderr()
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):  # what the code wrote to the real stream goes to 2 too
            if sys.__stdout__ is not None:
                sys.__stdout__.flush()
        sys.stdout = saved_stdout
        sys.setrecursionlimit(saved_limit)
        _restore_fd1(saved_fd)


@contextlib.contextmanager
def room_to_recurse() -> Iterator[None]:
    """The raised recursion limit alone, for walking a deeply nested model's tree."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def nesting_depth(module: object) -> int:
    """How deep submodules nest (the model alone: 0), walked without recursion."""
    deepest = 0
    seen: set[int] = set()
    stack = [(module, 0)]
    while stack:
        m, d = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        deepest = max(deepest, d)
        children = getattr(m, "_modules", None) or {}
        stack.extend((c, d + 1) for c in children.values() if c is not None)
    return deepest


def _redirect_fd1() -> int | None:
    """Point descriptor 1 at descriptor 2; the saved copy of 1, or None when either is shut."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _restore_fd1(saved: int | None) -> None:
    if saved is None:
        return
    with contextlib.suppress(OSError):
        os.dup2(saved, 1)
    with contextlib.suppress(OSError):
        os.close(saved)
