"""Writing a user's file without ever losing one, and naming why a file operation failed.

One writer for every file cnninspect writes (``--output``, ``--plot``, ``device calibrate``):
a new file is created exclusively, so a file that appeared since the command checked the path
(another run) is never overwritten; with ``replace`` (``--force``) the content is written to a
temporary file beside the path and renamed over it, so the old file is replaced whole or not
at all, keeping its permissions. Nothing half-written is ever left behind. Pure Python.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from typing import IO

from .errors import UsageError, shorten

_OS_ERRORS = {
    errno.ENOENT: "no such file",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.ENAMETOOLONG: "file name too long",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def describe_os_error(exc: OSError) -> str:
    """A short cause for an ``OSError`` without repeating the (possibly huge) file name."""
    return _OS_ERRORS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()


def _new_file_mode(path: str) -> int:
    """The mode an ordinary ``open(path, "w")`` would give: the old file's, or 0666 - umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_file(path: str, write: Callable[[IO[bytes]], None], *, replace: bool, option: str) -> None:
    """Create ``path`` with what ``write`` writes to a binary file object (see the module
    docstring); ``option`` names the file in errors (``--output``, ``--plot``). A one-line
    :class:`UsageError` when the file appeared meanwhile or cannot be written."""
    shown = shorten(path, 100)
    tmp = None
    try:
        if not replace:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                raise UsageError(f"{option} {shown} was created meanwhile (by another run?); refusing to overwrite "
                                 "it (use --force)") from None
            tmp = path  # removed if writing fails
        else:
            suffix = os.path.splitext(path)[1] or ".tmp"
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".cnninspect-", suffix=suffix)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        if replace:
            os.chmod(tmp, _new_file_mode(path))
            os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"{option} {shown}: cannot write it: {describe_os_error(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
