"""The ``cnninspect`` command line: a thin layer over the pipeline.

Subcommands live in ``cnninspect/commands/`` and are imported only when run, so
``cnninspect --help`` and ``cnninspect list`` never import torch. Errors in user input
(:class:`~cnninspect.base.errors.CnnInspectError`) print one line on stderr and exit 2; ``--debug``
adds the traceback. Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 internal error.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from typing import Any

import click

from . import __version__
from .base.errors import CnnInspectError, OutputError
from .base.interrupts import defer_during_import

COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("cnninspect.commands.list_cmd:list_cmd", "List bundled specs with their variants, params and mult-adds."),
    "summary": ("cnninspect.commands.summary:summary", "Layer table and totals of one model (or its paper's table)."),
    "compare": ("cnninspect.commands.compare:compare", "Models side by side, with ratios against the first."),
    "sweep": ("cnninspect.commands.sweep:sweep", "Totals over a grid of widths, resolutions, depths or variants."),
    "fit": ("cnninspect.commands.fit:fit", "The largest widths, resolutions and depths that meet a budget."),
    "check": ("cnninspect.commands.check:check", "Check models against expected costs and budgets (for CI)."),
    "reproduce": ("cnninspect.commands.reproduce:reproduce", "Regenerate the papers' tables: published vs computed."),
    "layer-types": ("cnninspect.commands.info:layer_types", "The spec language's layer types and their fields."),
    "conventions": ("cnninspect.commands.info:conventions", "The counting conventions: what a mult-add counts."),
    "explain": ("cnninspect.commands.explain:explain", "Every count with its formula, reconciled with other tools."),
    "device": ("cnninspect.commands.device:device", "Devices for --device: the cited table, or calibrate this machine."),
    "profile": ("cnninspect.commands.profile:profile", "Measured latency per layer beside the predicted, on this machine."),
    "guidelines": ("cnninspect.commands.guidelines:guidelines",
                   "ShuffleNet V2's four guideline experiments measured on this machine."),
    "schema": ("cnninspect.commands.schema:schema", "The JSON Schema of the spec format, for editors."),
}

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            from .base.errors import did_you_mean

            raise click.UsageError(f"no such command '{name}'{did_you_mean(name, self.list_commands(ctx))}")
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except BrokenPipeError:  # --help or --version into a pipe whose reader has gone
            _quiet_stdout()
            ctx.exit(EXIT_OK)
        except OSError as exc:  # --help or --version into a full disk
            if exc.errno not in OUTPUT_ERRNOS:
                raise
            _output_failed(exc)
            ctx.exit(EXIT_BAD_INPUT)
        raise AssertionError("unreachable")  # pragma: no cover

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or bool(os.environ.get("CNNINSPECT_DEBUG"))
        try:
            return super().invoke(ctx)
        except CnnInspectError as exc:
            if debug:
                traceback.print_exc()
            if isinstance(exc, OutputError):
                _quiet_stdout()
            click.echo(f"error: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            ctx.exit(EXIT_OK)
        except OSError as exc:
            if exc.errno not in OUTPUT_ERRNOS:
                raise _internal(exc, debug) from None
            _output_failed(exc)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # an unexpected failure: a bug, reported without a traceback
            if isinstance(exc, ModuleNotFoundError):  # an optional extra's module: name the extra
                from .base.extras import missing_extra

                error = missing_extra(exc, f"cnninspect {ctx.invoked_subcommand}")
                if error is not None:
                    if debug:
                        traceback.print_exc()
                    click.echo(f"error: {error.one_line()}", err=True)
                    ctx.exit(error.exit_code)
            raise _internal(exc, debug) from None


def _internal(exc: BaseException, debug: bool) -> click.exceptions.Exit:
    """Report an unexpected failure (a bug) in one line; the exit to raise."""
    if debug:
        traceback.print_exception(exc)
    msg = " ".join(str(exc).split())
    click.echo(
        f"internal error: {type(exc).__name__}: {msg} (rerun with --debug for the traceback; please report it)",
        err=True,
    )
    return click.exceptions.Exit(EXIT_INTERNAL)


# errors of a write that a full disk, a closed descriptor or a failing device cause: writing
# the document (or --help) failed, which is not a bug in cnninspect
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT, errno.EFBIG})


def _output_failed(exc: OSError) -> None:
    from .base.files import describe_os_error

    _quiet_stdout()
    click.echo(f"error: cannot write the output: {describe_os_error(exc)}", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(__version__, prog_name="cnninspect")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Inspect convolutional network architectures: YAML specs, or models written in
    PyTorch (file.py:NAME, package.module:NAME, torchvision:NAME, timm:NAME).

    Parameters and mult-adds per layer, the papers' own tables, comparisons, sweeps and CI
    budget checks. Mult-adds follow a named counting convention (default: the papers'; see
    'cnninspect conventions'). Exit codes: 0 ok, 1 a check failed, 2 bad input.

    \b
    Examples:
      cnninspect list
      cnninspect summary mobilenet_v1
      cnninspect summary mobilenet_v1 --format paper
      cnninspect summary efficientnet:b3 --format json
      cnninspect summary docs/examples/my_model.py:Net --input 3x32x32

    Defaults come from [tool.cnninspect] in pyproject.toml (docs/config.md); flags override them.
    """
    apply_settings(ctx)


def apply_settings(ctx: click.Context) -> None:
    """The ``[tool.cnninspect]`` settings of the project here, as the defaults of the
    subcommand about to run (flags override them) and the spec search path."""
    from . import config

    settings = config.load()
    if "spec-paths" in settings.values or "cnninspect.resolve.catalog" in sys.modules:
        from .resolve import catalog

        catalog.set_spec_paths(settings.get("spec-paths", ()))
    name = ctx.invoked_subcommand
    command = cli.get_command(ctx, name) if name else None
    if command is not None:
        ctx.default_map = config.default_map(settings, [(name, command)])


def main() -> None:
    """Console-script entry point.

    Click's standalone mode turns a closed pipe (``cnninspect --help | true``) into exit 1;
    here a reader that stops reading is not an error (exit 0), and a closed or full standard
    output is a one-line error (exit 2), never a traceback at interpreter shutdown.
    """
    if sys.stdout is None:
        print("error: cannot write the output: standard output is closed", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    _collect_rarely()
    defer_during_import()  # Ctrl-C inside ``import torch`` must not be lost
    try:
        code = cli.main(prog_name="cnninspect", standalone_mode=False)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        code = 1
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except BrokenPipeError:
        code = EXIT_OK
    except OSError as exc:  # a full disk met while flushing at the end
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        _output_failed(exc)
        code = EXIT_BAD_INPUT
    if code == EXIT_OK or code is None:
        _quiet_stdout()
    sys.exit(code or EXIT_OK)


def _collect_rarely() -> None:
    """Keep Python's full garbage collections from walking the heap over and over.

    A command builds its result once (a resolved model, a report, a document: about 5 KB of
    small acyclic objects per layer) and keeps it until the process exits. Each full
    collection walks every tracked object, and their number grows with the heap, so a
    30,000-layer ``summary --format json`` spent 2.6 s of its 5.7 s of CPU in 11 full
    collections that freed nothing, and the per-layer cost grew with the size
    (docs/benchmarks.md, growth). The objects of the imports are frozen (``gc.freeze``: never
    walked again) and a full collection waits for 1,000 young-generation collections
    instead of 10; young cycles are still collected as before. The recursive closures of the
    analysis break their own reference cycles, so its structures die by reference counting.
    """
    import gc

    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, 1000)


def _quiet_stdout() -> None:
    """Flush stdout now; if the reader has gone, point it at /dev/null so that the
    interpreter's final flush does not report a broken pipe."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
