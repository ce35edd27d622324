"""Finding specs: bundled names, ``NAME:VARIANT`` shorthand and YAML paths.

Bundled specs live in ``specs/`` at the repository root and are installed as the
``cnninspect.specs`` package data, so ``cnninspect summary mobilenet_v1`` works from any
directory after ``pip install``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import UsageError, did_you_mean
from .spec import Spec, load_spec


def _specs_dir() -> Path:
    return Path(str(resources.files("cnninspect.specs")))


def bundled_names() -> list[str]:
    """Names of the bundled specs (file stems), sorted."""
    return sorted(p.stem for p in _specs_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path:
    return _specs_dir() / f"{name}.yaml"


@lru_cache(maxsize=None)
def load_bundled(name: str) -> Spec:
    path = bundled_path(name)
    if not path.is_file():
        names = bundled_names()
        raise UsageError(
            f"unknown spec '{name}'{did_you_mean(name, names)}; bundled specs: {', '.join(names)} "
            "(or give a path to a .yaml file)"
        )
    return load_spec(path, label=f"specs/{name}.yaml")


@dataclass(frozen=True)
class Target:
    """A spec to analyse and the variant asked for by ``NAME:VARIANT`` (if any)."""

    spec: Spec
    variant: str | None
    text: str


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text or text.startswith(".")


def parse_target(text: str) -> Target:
    """Resolve ``mobilenet_v1``, ``efficientnet:b3``, ``path/to/net.yaml[:variant]``."""
    text = text.strip()
    if not text:
        raise UsageError("empty spec name")
    path = Path(text)
    if _looks_like_path(text) or path.exists():
        if path.exists() or ":" not in text:
            return Target(load_spec(path, label=text), None, text)
        base, _, variant = text.rpartition(":")
        return Target(load_spec(Path(base), label=base), variant or None, text)
    name, _, variant = text.partition(":")
    return Target(load_bundled(name), variant or None, text)
