"""Ctrl-C while a slow library is imported.

A ``KeyboardInterrupt`` raised in the middle of ``import torch`` can be swallowed by code
inside the import (a broad ``except``) and the command then finishes and exits 0 as if never
interrupted. So the CLI defers SIGINT while torch is imported (:func:`defer_during_import`)
and raises the ``KeyboardInterrupt`` as soon as the import has finished: an interrupted run
ends with exit 130, never with a success.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import Any

SLOW_IMPORTS = ("torch",)


@contextmanager
def deferred_sigint() -> Iterator[None]:
    """SIGINT received inside the block is held and raised as ``KeyboardInterrupt`` when the
    block ends (the previous handler is restored first). Outside the main thread, where no
    handler can be set, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class _DeferringLoader(importlib.abc.Loader):
    """The real loader, with SIGINT deferred while the module's code runs."""

    def __init__(self, loader: importlib.abc.Loader, pending: set[str]) -> None:
        self.loader = loader
        self.pending = pending

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.pending.discard(module.__name__)  # once: the real finders answer from here on
        with deferred_sigint():
            self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader and the like
        return getattr(self.loader, name)


class _DeferringFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = set(names)
        self.asking = False

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        # a name stays pending until its import runs: a look-up alone (``importlib.util.find_spec``,
        # as the extras check does) must not use up the deferral
        if fullname not in self.names or self.asking:
            return None
        self.asking = True  # the real finders answer the look-up below
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.asking = False
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _DeferringLoader(spec.loader, self.names)
        return spec


def defer_during_import(names: Sequence[str] = SLOW_IMPORTS) -> None:
    """Defer SIGINT while each of ``names`` (top-level packages) is first imported."""
    pending = [n for n in names if n not in sys.modules]
    if pending:
        sys.meta_path.insert(0, _DeferringFinder(pending))
