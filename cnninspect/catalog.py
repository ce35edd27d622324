"""Finding specs: bundled names, ``NAME:VARIANT`` shorthand and YAML paths.

Bundled specs live in ``specs/`` at the repository root and are installed as the
``cnninspect.specs`` package data, so ``cnninspect summary mobilenet_v1`` works from any
directory after ``pip install``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from functools import cache
from importlib import resources
from pathlib import Path

from .errors import UsageError, did_you_mean
from .spec import Spec, load_spec

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


def bundled_names() -> list[str]:
    """Names of the bundled specs (file stems), sorted."""
    return sorted(p.stem for p in _specs_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path:
    return _specs_dir() / f"{name}.yaml"


@cache
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


@dataclass(frozen=True)
class ModelRef:
    """``NAME[:VARIANT][@key=value,...]``: a spec, a variant and per-model settings."""

    target: Target
    settings: dict[str, Any]
    text: str

    @property
    def label(self) -> str:
        return self.text


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``mobilenet_v1:conv`` or ``mobilenet_v1@width=0.75,resolution=160``.

    Settings after ``@`` are width, depth, resolution, phi, padding or any spec parameter;
    values are read as YAML scalars.
    """
    import yaml

    base, sep, rest = text.partition("@")
    settings: dict[str, Any] = {}
    if sep:
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, raw = item.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"{text}: expected key=value after '@', got {item!r}")
            try:
                settings[key.strip()] = yaml.safe_load(raw)
            except yaml.YAMLError:
                settings[key.strip()] = raw
    return ModelRef(parse_target(base), settings, text)


def overrides_for(settings: dict[str, Any], where: str) -> Overrides:
    """Split settings into the built-in overrides and spec parameter values."""
    from .resolve import Overrides

    builtin = {}
    values = {}
    for key, value in settings.items():
        if key in ("width", "depth", "phi"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{where}: {key} must be a number, got {value!r}")
            builtin[key] = float(value)
        elif key == "resolution":
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{where}: resolution must be an integer, got {value!r}")
            builtin[key] = value
        elif key == "padding":
            builtin[key] = str(value)
        else:
            values[key] = value
    return Overrides(values=values, **builtin)


def resolve_ref(text: str, extra: dict[str, Any] | None = None, where: str | None = None) -> Model:
    """Resolve ``NAME[:VARIANT][@key=value,...]``, with ``extra`` settings on top."""
    from .resolve import resolve

    ref = parse_model_ref(text)
    settings = {**ref.settings, **(extra or {})}
    return resolve(ref.target.spec, ref.target.variant, overrides_for(settings, where or text))


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
