"""Project settings: the ``[tool.cnninspect]`` table of ``pyproject.toml``.

The CLI reads the table of the first ``pyproject.toml`` that has one, looking in the working
directory and then upward. Every key is a default that a command-line flag overrides:

    [tool.cnninspect]
    convention = "fvcore"          # --convention of every command that has it; check: for
                                   # checks whose file names no convention
    format = "markdown"            # --format of every command that offers it
    check-file = "ci/budgets.yaml" # cnninspect check without a file
    spec-paths = ["models"]        # directories where a bare NAME finds NAME.yaml

Paths are relative to the ``pyproject.toml``. A bad key or value is an error located at its
line (exit 2), like a bad spec. :data:`SETTINGS` is the registry of keys; docs/config.md
is written from it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base.errors import Location, SpecError, did_you_mean

TABLE = "tool.cnninspect"


@dataclass(frozen=True)
class Setting:
    key: str  # as written in pyproject.toml
    help: str
    check: Callable[[Any, Path], Any]  # (value, directory of pyproject.toml) -> the value used; ValueError if bad


def _convention(value: Any, base: Path) -> str:
    from .ops.conventions import CONVENTIONS

    if not isinstance(value, str) or value not in CONVENTIONS:
        raise ValueError(f"unknown convention {value!r}{did_you_mean(str(value), CONVENTIONS)}; "
                         f"available: {', '.join(CONVENTIONS)}")
    return value


def _format(value: Any, base: Path) -> str:
    choices = format_choices()
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown format {value!r}{did_you_mean(str(value), choices)}; "
                         f"available: {', '.join(choices)}")
    return value


def _path(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a path (a string), got {value!r}")
    return str(base / value)


def _dirs(value: Any, base: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"must be a list of directories, like [\"models\"], got {value!r}")
    out = []
    for v in value:
        if not (base / v).is_dir():
            raise ValueError(f"{v!r} is not a directory (relative to {base.name or base}/)")
        out.append(str(base / v))
    return tuple(out)


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("convention", "default --convention of every command that has it; for check, the convention of "
                              "checks whose file names none", _convention),
        Setting("format", "default --format of every command that offers it", _format),
        Setting("check-file", "the file 'cnninspect check' reads when given none", _path),
        Setting("spec-paths", "directories where a bare NAME that is not a bundled spec finds NAME.yaml", _dirs),
    )
}


@dataclass(frozen=True)
class Config:
    """The settings found (``values`` by key, already checked) and where."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def format_choices() -> list[str]:
    """Every --format value some command offers."""
    from .render.ci import CHECK_FORMATS
    from .render.formats import FORMATS

    return ["table", "paper", *FORMATS.keys() - {"table"}, *CHECK_FORMATS]


def find_pyproject(start: Path) -> Path | None:
    """The first ``pyproject.toml`` with a ``[tool.cnninspect]`` table, from ``start`` upward."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if re.search(r"^\s*\[\s*tool\s*\.\s*cnninspect\s*[\].]", text, re.M):
            return candidate
    return None


def _line_of(text: str, key: str) -> int | None:
    """The line of ``key = ...`` inside the ``[tool.cnninspect]`` table (TOML parsers keep no lines)."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            inside = header.group(1).replace(" ", "") == TABLE
            continue
        if inside and re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return None


def _table_line(text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"^\s*\[\s*tool\s*\.\s*cnninspect\s*\]", line):
            return number
    return None


def load(start: Path | None = None) -> Config:
    """The settings in effect in ``start`` (default: the working directory)."""
    path = find_pyproject(Path.cwd() if start is None else start)
    if path is None:
        return Config()
    return read(path)


def read(path: Path) -> Config:
    """Check and return the ``[tool.cnninspect]`` table of one pyproject.toml."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    text = path.read_text(encoding="utf-8")
    label = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        loc = Location(label, int(found.group(1)), int(found.group(2))) if found else Location(label)
        raise SpecError(f"not valid TOML: {re.sub(r' *[(]at line .*', '', str(exc))}", loc) from None
    table = data.get("tool", {}).get("cnninspect", {})
    if not isinstance(table, dict):
        raise SpecError("[tool.cnninspect] must be a table", Location(label, _table_line(text)))
    values: dict[str, Any] = {}
    for key, value in table.items():
        loc = Location(label, _line_of(text, key) or _table_line(text))
        setting = SETTINGS.get(key)
        if setting is None:
            raise SpecError(f"unknown setting '{key}'{did_you_mean(key, SETTINGS)}; settings: {', '.join(SETTINGS)}",
                            loc, f"tool.cnninspect.{key}")
        try:
            values[key] = setting.check(value, path.parent)
        except ValueError as exc:
            raise SpecError(str(exc), loc, f"tool.cnninspect.{key}") from None
    return Config(path, values)


def default_map(config: Config, commands: Iterable[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """click's ``default_map`` for the commands (name, click command): the settings as the
    defaults of the options they set, for the commands that have those options."""
    import click

    out: dict[str, dict[str, Any]] = {}
    for name, command in commands:
        defaults: dict[str, Any] = {}
        for param in command.params:
            if param.name == "convention" and "convention" in config.values:
                defaults["convention"] = config.values["convention"]
            elif param.name == "fmt" and "format" in config.values:
                if isinstance(param.type, click.Choice) and config.values["format"] in param.type.choices:
                    defaults["fmt"] = config.values["format"]
            elif param.name == "expectations" and "check-file" in config.values:
                defaults["expectations"] = config.values["check-file"]
        if defaults:
            out[name] = defaults
    return out
