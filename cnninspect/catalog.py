"""Finding specs: bundled names, ``NAME:VARIANT`` shorthand and YAML paths.

Bundled specs live in ``specs/`` at the repository root and are installed as the
``cnninspect.specs`` package data, so ``cnninspect summary mobilenet_v1`` works from any
directory after ``pip install``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from functools import cache
from importlib import resources
from pathlib import Path

from .errors import SpecError, UsageError, did_you_mean, shorten
from .numbers import NumberError, parse_scalar
from .lang.spec import Spec, load_spec, spec_from_node
from .lang.yamlsrc import parse_yaml, read_stream

if TYPE_CHECKING:
    from .ir import Model
    from .resolve import Overrides


def _specs_dir() -> Path:
    try:
        return Path(str(resources.files("cnninspect.specs")))
    except ModuleNotFoundError:
        # imported from a source checkout (e.g. `python -m pytest` at the repository root
        # puts the checkout first on sys.path): the specs sit beside the package
        return Path(__file__).resolve().parent.parent / "specs"


# directories where a bare NAME that is not bundled finds NAME.yaml ([tool.cnninspect]
# spec-paths, set by the CLI; empty for the Python API)
_spec_paths: tuple[str, ...] = ()


def set_spec_paths(paths: tuple[str, ...] | list[str]) -> None:
    global _spec_paths
    _spec_paths = tuple(paths)


def spec_path_file(name: str) -> Path | None:
    """``NAME.yaml`` (or ``.yml``) in the first spec path that has it."""
    for directory in _spec_paths:
        for suffix in (".yaml", ".yml"):
            candidate = Path(directory) / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def bundled_names() -> list[str]:
    """Names of the bundled specs (file stems), sorted."""
    return sorted(p.stem for p in _specs_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path:
    return _specs_dir() / f"{name}.yaml"


@cache
def load_bundled(name: str) -> Spec:
    names = bundled_names()
    if name not in names:
        raise UsageError(
            f"unknown spec '{shorten(name)}'{did_you_mean(name, names)}; bundled specs: {', '.join(names)} "
            "(or give a path to a .yaml file)"
        )
    return load_spec(bundled_path(name), label=f"specs/{name}.yaml")


@dataclass(frozen=True)
class Target:
    """A spec to analyse and the variant asked for by ``NAME:VARIANT`` (if any)."""

    spec: Spec
    variant: str | None
    text: str


# the part before ':VARIANT' names a YAML file when it ends like one
_YAML_REF = re.compile(r"^(?P<path>.+\.ya?ml)(?::(?P<variant>[^:/\\]*))?$", re.IGNORECASE)
# the file is the shortest prefix ending in .py (arguments after NAME may hold ".py" or ":")
_PY_REF = re.compile(r"^(?P<path>[^()]+?\.py)(?::(?P<name>.*))?$", re.IGNORECASE)
HUBS = ("torchvision", "timm")


@dataclass(frozen=True)
class RefKind:
    """How a model reference is read (see :func:`classify`)."""

    kind: str  # bundled | yaml | stdin | python-file | python-module | hub
    base: str  # the bundled name, the file path, the module path or the hub
    variant: str | None  # :VARIANT of a spec, or the NAME of a Python reference


def classify(text: str) -> RefKind:
    """The one rule that decides what a model reference means.

    * ``-``: a YAML spec on standard input;
    * text containing ``://`` is refused (URLs are not fetched);
    * ``FILE.yaml[:VARIANT]`` / ``FILE.yml[:VARIANT]``, or any text containing ``/`` or ``\\``
      or starting with ``.`` or ``~``: a YAML file;
    * ``FILE.py:NAME``, ``package.module:NAME``, ``torchvision:NAME``, ``timm:NAME``: Python
      models;
    * anything else, ``NAME[:VARIANT]``, is always a bundled spec: a file or directory of the
      same name in the working directory never shadows it (write ``./NAME`` for the file).
    """
    t = text.strip()
    if not t:
        raise UsageError("empty model name")
    if t == "-":
        return RefKind("stdin", "-", None)
    if "://" in t:
        raise UsageError(
            f"{shorten(t, 80)}: URLs are not fetched; download the spec and give its path"
        )
    m = _YAML_REF.match(t)
    if m:
        return RefKind("yaml", m.group("path"), m.group("variant") or None)
    m = _PY_REF.match(t)
    if m:
        return RefKind("python-file", m.group("path"), m.group("name"))
    head, colon, rest = t.partition(":")
    if colon and head in HUBS:
        return RefKind("hub", head, rest)
    before_args = t.split("(", 1)[0]  # NAME(path='a/b') is not a path
    if "/" in before_args or "\\" in before_args or t.startswith((".", "~")):
        return _path_with_variant(t)
    if colon and "." in head:
        return RefKind("python-module", head, rest)
    return RefKind("bundled", head, rest if colon else None)


def _path_with_variant(text: str) -> RefKind:
    """``dir/spec`` or ``dir/spec:VARIANT`` (a path without a YAML extension)."""
    path = os.path.expanduser(text)
    if os.path.lexists(path) or ":" not in text:
        return RefKind("yaml", path, None)
    base, _, variant = text.rpartition(":")
    return RefKind("yaml", os.path.expanduser(base), variant or None)


def shadow_note(text: str) -> str | None:
    """A note when a bundled name is also a file or directory in the working directory."""
    ref = classify(text.partition("@")[0])
    if ref.kind == "bundled" and os.path.lexists(ref.base) and ref.base in bundled_names():
        return (
            f"note: '{ref.base}' is the bundled spec; a file or directory of that name here is "
            f"not used (write ./{ref.base} to use it)"
        )
    return None


def parse_target(text: str, *, stdin: BinaryIO | None = None) -> Target:
    """Read a YAML-spec reference: a bundled ``NAME[:VARIANT]``, a file ``PATH[:VARIANT]``,
    or ``-`` for standard input (see :func:`classify`)."""
    ref = classify(text)
    if ref.kind == "bundled":
        local = spec_path_file(ref.base) if _spec_paths else None
        if local is not None:
            if ref.base in bundled_names():
                raise UsageError(
                    f"'{shorten(ref.base)}' is both a bundled spec and {shorten(str(local), 100)} (spec-paths in "
                    f"pyproject.toml); write the path to use the file, or rename it"
                )
            return Target(_load_file(str(local)), ref.variant, text)
        if ref.base not in bundled_names() and os.path.lexists(ref.base):
            raise UsageError(
                f"unknown spec '{shorten(ref.base)}': a bare name is always a bundled spec; to use the "
                f"file or directory of that name here, write ./{shorten(ref.base)}"
            )
        return Target(load_bundled(ref.base), ref.variant, text)
    if ref.kind == "stdin":
        stream = stdin if stdin is not None else sys.stdin.buffer
        if stream.isatty():
            raise UsageError("'-' reads a spec from standard input, which is a terminal; pipe a spec in")
        return Target(spec_from_node(parse_yaml(read_stream(stream, "<stdin>"), "<stdin>"), "<stdin>"), None, text)
    if ref.kind == "yaml":
        return Target(_load_file(ref.base), ref.variant, text)
    raise UsageError(
        f"{shorten(text, 80)} is a Python model reference; this command reads YAML specs "
        "(a bundled name, a .yaml file or '-')"
    )


def _load_file(path: str) -> Spec:
    """Load a spec file; a missing ``NAME.yaml`` hints at the bundled ``NAME``."""
    try:
        return load_spec(Path(path), label=path)
    except SpecError as exc:
        stem = Path(path).name.rsplit(".", 1)[0]
        if exc.message == "no such file" and stem in bundled_names() and not os.path.lexists(path):
            raise SpecError(
                f"no such file (the bundled spec '{stem}' needs no file: write {stem})", exc.loc
            ) from None
        raise


@dataclass(frozen=True)
class ModelRef:
    """``NAME[:VARIANT][@key=value,...]``: a spec, a variant and per-model settings."""

    target: Target
    settings: dict[str, Any]
    text: str

    @property
    def label(self) -> str:
        return self.text


def split_settings(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME@key=value,...`` -> (``NAME``, settings); values in :mod:`cnninspect.numbers` syntax."""
    base, sep, rest = text.partition("@")
    settings: dict[str, Any] = {}
    if sep:
        items = [p.strip() for p in rest.split(",")]
        if not any(items):
            raise UsageError(f"{shorten(text, 80)}: nothing after '@'; write e.g. @width=0.75,resolution=160")
        for item in filter(None, items):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise UsageError(f"{shorten(text, 80)}: expected key=value after '@', got {shorten(repr(item))}")
            if key in settings:
                raise UsageError(f"{shorten(text, 80)}: @{key} is given twice")
            try:
                settings[key] = parse_scalar(raw)
            except NumberError as exc:
                raise UsageError(f"{shorten(text, 80)}: @{key}: {exc}") from None
    return base, settings


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``mobilenet_v1:conv`` or ``mobilenet_v1@width=0.75,resolution=160``.

    Settings after ``@`` are width, depth, resolution, phi, padding or any spec parameter.
    """
    base, settings = split_settings(text)
    return ModelRef(parse_target(base), settings, text)


BUILTIN_SETTINGS = ("width", "depth", "resolution", "phi", "padding")


def overrides_for(settings: dict[str, Any], origin: str = "@") -> Overrides:
    """Split settings into the built-in overrides and spec parameter values; values are
    checked when the spec is resolved, and errors name them as ``origin`` says
    (:class:`~cnninspect.resolve.Overrides`)."""
    from .resolve import Overrides

    builtin = {k: v for k, v in settings.items() if k in BUILTIN_SETTINGS}
    values = {k: v for k, v in settings.items() if k not in BUILTIN_SETTINGS}
    if "padding" in builtin:
        builtin["padding"] = str(builtin["padding"])
    return Overrides(values=values, origin=origin, **builtin)


def resolve_ref(text: str, extra: dict[str, Any] | None = None, origin: str = "@") -> Model:
    """Resolve ``NAME[:VARIANT][@key=value,...]``, with ``extra`` settings (a check file's
    ``settings:``) on top; a setting given both ways is refused."""
    from .resolve import resolve

    ref = parse_model_ref(text)
    extra = extra or {}
    twice = sorted(set(ref.settings) & set(extra))
    if twice:
        raise UsageError(f"{shorten(text, 80)}: {', '.join(twice)} set both after '@' and in {origin}")
    settings = {**ref.settings, **extra}
    origin = origin if extra else "@"
    return resolve(ref.target.spec, ref.target.variant, overrides_for(settings, origin))
