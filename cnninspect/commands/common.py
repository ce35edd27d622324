"""Options and helpers shared by the subcommands. The only place that writes output."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any
from collections.abc import Callable, Iterable

import click

from ..errors import UsageError
from ..render.document import Document
from ..render.formats import FORMATS


def parse_set(values: Iterable[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are read as YAML scalars (true, 3, 0.5, text)."""
    import yaml

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            raise UsageError(f"--set {key}: expected a single value, got {raw!r}")
        out[key.strip()] = value
    return out


def model_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--variant --width --resolution --depth --phi --set --padding."""
    return _apply(f, _model_option_list(padding=True))


def model_options_without_padding(f: Callable[..., Any]) -> Callable[..., Any]:
    """--variant --width --resolution --depth --phi --set (for a command whose --padding means more)."""
    return _apply(f, _model_option_list(padding=False))


def _apply(f: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    for opt in reversed(options):
        f = opt(f)
    return f


def _model_option_list(padding: bool) -> list[Callable[..., Any]]:
    options = [
        click.option("--variant", "-v", help="Variant of the spec (also NAME:VARIANT)."),
        click.option("--width", type=float, help="Width multiplier (channels), e.g. 0.75."),
        click.option("--resolution", "-r", type=int, help="Input resolution in pixels, e.g. 192."),
        click.option("--depth", type=float, help="Depth multiplier (stage repeats: ceil(depth x n))."),
        click.option("--phi", type=float,
                     help="EfficientNet compound coefficient: depth 1.2^phi, width 1.1^phi, resolution x1.15^phi."),
        click.option("--set", "set_values", multiple=True, metavar="KEY=VALUE",
                     help="Set a spec parameter (repeatable), e.g. --set num_classes=10."),
    ]
    if padding:
        options.append(click.option("--padding", type=click.Choice(["torch", "tf"]), help=PADDING_HELP))
    return options


PADDING_HELP = "'same' padding: torch (symmetric) or tf (TensorFlow, asymmetric at stride 2)."


def overrides_from(width: float | None, resolution: int | None, depth: float | None, phi: float | None,
                   set_values: Iterable[str], padding: str | None) -> Any:
    from ..resolve import Overrides

    return Overrides(width=width, depth=depth, resolution=resolution, phi=phi, padding=padding,
                     values=parse_set(set_values))


def pick_variant(target_variant: str | None, option_variant: str | None, text: str) -> str | None:
    if target_variant and option_variant and target_variant != option_variant:
        raise UsageError(f"{text} names variant '{target_variant}' but --variant says '{option_variant}'")
    return option_variant or target_variant


def convention_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--convention and --unit."""
    f = click.option("--unit", type=click.Choice(["macs", "flops"]), default="macs", show_default=True,
                     help="Report mult-adds, or FLOPs = 2 x mult-adds.")(f)
    return convention_option(f)


def convention_option(f: Callable[..., Any]) -> Callable[..., Any]:
    from ..conventions import CONVENTIONS

    return click.option("--convention", "-c", type=click.Choice(list(CONVENTIONS)), default="paper", show_default=True,
                        help="What a mult-add counts (see 'cnninspect conventions').")(f)


def format_option(extra: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    choices = ["table", *extra, *(n for n in FORMATS if n != "table")]
    return click.option("--format", "-f", "fmt", type=click.Choice(choices), default="table", show_default=True,
                        help="Output format.")


def emit(doc: Document, fmt: str) -> None:
    """Write a document to stdout in a format; colour only on a terminal without NO_COLOR."""
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ and fmt == "table"
    click.echo(FORMATS[fmt].render(doc, color), nl=False)


def with_exit_code(f: Callable[..., int | None]) -> Callable[..., None]:
    """Let a command return an exit code (0 ok, 1 a check failed)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        code = f(*args, **kwargs)
        if code:
            raise click.exceptions.Exit(code)

    return wrapper


def engine_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--engine", type=click.Choice(["spec", "meta"]), default="spec", show_default=True,
                        help="spec: shape arithmetic (no torch); meta: walk the built module on the meta device.")(f)


def analyse(model: Any, convention: str, engine: str) -> Any:
    """Analyse a resolved model with the chosen engine."""
    if engine == "meta":
        from ..torch_engine import analyze_meta

        return analyze_meta(model, convention)
    from ..analysis import analyze

    return analyze(model, convention)


def refuse_overwrite(path: str, force: bool) -> None:
    """Never replace a user's file unless --force says so."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path} is a directory; give a file name")
    if p.exists() and not force:
        raise UsageError(f"{path} exists; refusing to overwrite it (use --force)")
    if not p.parent.exists():
        raise UsageError(f"{path}: directory {p.parent} does not exist")
