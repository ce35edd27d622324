"""The optional extras and the one error that names them.

``pip install cnninspect`` is light (click, rich, PyYAML): the spec path (summary, list,
compare, sweep, fit, check, reproduce, explain, schema) never imports torch. Features that
need more name the extra that brings it, with exit code 2:

    pip install 'cnninspect[torch]'   torch and fvcore: --verify, --engine meta, Python models,
                                      building modules, explain's measured tool totals
    pip install 'cnninspect[plot]'    matplotlib: --plot, .plot()

:data:`EXTRAS` maps each importable module to its extra (the same names as pyproject.toml's
``[project.optional-dependencies]``; tests/test_light_install.py holds them equal).
:func:`require` is called where a feature starts; the CLI turns any other
``ModuleNotFoundError`` of those modules into the same error (:func:`missing_extra`).
"""

from __future__ import annotations

import importlib.util

from .errors import UsageError

# importable module -> (extra, distribution)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch"),
    "fvcore": ("torch", "fvcore"),
    "matplotlib": ("plot", "matplotlib"),
}


class MissingExtraError(UsageError):
    """A feature needs a package of an optional extra that is not installed (exit 2)."""

    def __init__(self, feature: str, module: str) -> None:
        extra, dist = EXTRAS[module]
        self.feature = feature
        self.module = module
        self.extra = extra
        super().__init__(f"{feature} needs {dist}, which is not installed: pip install 'cnninspect[{extra}]'")


def install_hint(dist: str) -> str:
    """The pip command that installs a distribution: its extra when it has one."""
    for extra, d in EXTRAS.values():
        if d == dist:
            return f"pip install 'cnninspect[{extra}]'"
    return f"pip install {dist}"


def installed(module: str) -> bool:
    """Whether a top-level module can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(feature: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` naming ``feature`` unless every module is installed."""
    for module in modules:
        if not installed(module):
            raise MissingExtraError(feature, module)


def missing_extra(exc: ModuleNotFoundError, feature: str) -> MissingExtraError | None:
    """The extra's error for a failed import of one of its modules, else None."""
    top = (exc.name or "").partition(".")[0]
    if top in EXTRAS:
        return MissingExtraError(feature, top)
    return None
