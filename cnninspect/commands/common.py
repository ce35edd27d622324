"""Options and helpers shared by the subcommands. The only place that writes output."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import click

from ..base.errors import OutputError, UsageError, shorten
from ..render.document import Document
from ..render.formats import FORMATS

if TYPE_CHECKING:
    from ..capture.targets import PythonTarget


def parse_set(values: Iterable[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values in :mod:`cnninspect.base.numbers` syntax (3, 1e-1, true, text)."""
    from ..base.numbers import NumberError, parse_scalar

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {shorten(repr(item))}")
        if key in out:
            raise UsageError(f"--set {key} is given twice")
        try:
            out[key] = parse_scalar(raw)
        except NumberError as exc:
            raise UsageError(f"--set {key}: {exc}") from None
    return out


def note_shadowed(*texts: str) -> None:
    """Tell the user (stderr) when a bundled name is also a file here that is not used."""
    from ..resolve.catalog import shadow_note

    for text in texts:
        note = shadow_note(text)
        if note:
            click.echo(note, err=True)


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
    from ..resolve.resolver import Overrides

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
    from ..ops.conventions import CONVENTIONS

    return click.option("--convention", "-c", type=click.Choice(list(CONVENTIONS)), default="paper", show_default=True,
                        help="What a mult-add counts (see 'cnninspect conventions').")(f)


def format_option(extra: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    choices = ["table", *extra, *(n for n in FORMATS if n != "table")]
    return click.option("--format", "-f", "fmt", type=click.Choice(choices), default="table", show_default=True,
                        help="Output format.")


def terminal_width() -> int | None:
    """The terminal's width when standard output is a terminal, else None (piped: full width)."""
    import shutil

    if sys.stdout is None or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def emit(doc: Document, fmt: str) -> None:
    """Write a document to stdout in a format: fitted to the terminal's width and coloured
    (without NO_COLOR) on a terminal, full width and plain when piped."""
    if sys.stdout is None:
        raise OutputError("cannot write the output: standard output is closed")
    width = terminal_width() if fmt == "table" else None
    color = width is not None and "NO_COLOR" not in os.environ
    pieces = FORMATS[fmt].pieces
    if pieces is None:
        write_out(FORMATS[fmt].render(doc, color, width))
        return
    chunk: list[str] = []  # written in chunks of about 64 KB: never the whole text at once
    size = 0
    for piece in pieces(doc):
        chunk.append(piece)
        size += len(piece)
        if size >= 65536:
            write_out("".join(chunk))
            chunk, size = [], 0
    write_out("".join(chunk))


def write_out(text: str) -> None:
    """Write to stdout and flush, turning a failed write (disk full, closed descriptor) into
    a one-line error; a closed pipe (``| head``) is not an error and is left to the CLI."""
    try:
        click.echo(text, nl=False)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from ..base.files import describe_os_error

        raise OutputError(f"cannot write the output: {describe_os_error(exc)}") from None


def emit_lines(lines: Iterable[str]) -> None:
    """Write text to stdout piece by piece as it is produced (streamed CSV)."""
    for text in lines:
        write_out(text)


def with_exit_code(f: Callable[..., int | None]) -> Callable[..., None]:
    """Let a command return an exit code (0 ok, 1 a check failed)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        code = f(*args, **kwargs)
        if code:
            raise click.exceptions.Exit(code)

    return wrapper


def memory_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--memory --dtype --batch --optimizer (any of them shows the memory figures)."""
    f = memory_setting_options(f)
    return click.option("--memory", "show_memory", is_flag=True,
                        help="Show memory: weights, peak activations, and training (gradients, optimizer state, "
                             "saved activations). Implied by --dtype, --batch and --optimizer.")(f)


def memory_setting_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--dtype --batch --optimizer: the settings byte sizes are evaluated at."""
    from ..measure.memory import DTYPE_BYTES, OPTIMIZERS

    options = [
        click.option("--dtype", metavar="DTYPE[,DTYPE]",
                     help=f"Precision of weights and activations ({'|'.join(DTYPE_BYTES)}; default fp32), "
                          "or WEIGHTS,ACTIVATIONS such as int8,fp16."),
        click.option("--batch", type=click.IntRange(1, 1_000_000), help="Batch size for memory (default 1); "
                     "mult-adds stay per sample. A Python model's summary runs its forward pass at this batch."),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)),
                     help="Optimizer state for training memory (default sgd: PyTorch's SGD, momentum 0, no state)."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def memory_settings_from(dtype: str | None, batch: int | None, optimizer: str | None) -> Any:
    """The memory settings asked for (defaults fp32, batch 1, sgd); refuses an optimizer for
    weights or activations that cannot be trained."""
    from ..measure.memory import TRAINABLE_DTYPES, MemorySettings, parse_precision

    precision = MemorySettings().precision
    if dtype is not None:
        try:
            precision = parse_precision(dtype)
        except ValueError as exc:
            raise UsageError(f"--dtype: {exc}") from None
    if optimizer is not None:
        bad = [d for d in (precision.weights, precision.activations) if d not in TRAINABLE_DTYPES]
        if bad:
            raise UsageError(f"--optimizer {optimizer} with --dtype {dtype}: {bad[0]} tensors cannot be trained "
                             f"(training memory needs {', '.join(TRAINABLE_DTYPES)})")
    return MemorySettings(precision, batch or 1, optimizer or "sgd")


def input_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--input", "input_text", metavar="SHAPE",
                        help="Input of a Python model, per sample: 3x224x224 (or 1x3x224x224). Default: the "
                             "input the model declares (timm's default_cfg).")(f)


def inputs_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--input, repeatable: the inputs of a Python model (docs/python-models.md)."""
    return click.option("--input", "input_texts", metavar="[NAME=]SHAPE[:DTYPE]", multiple=True,
                        help="Input of a Python model, per sample: 3x224x224 (or 1x3x224x224). Repeat for several "
                             "inputs in forward's order; add a dtype as 16:int64 (token ids) and name a keyword "
                             "input as mask=16:bool. Default: the input the model declares (timm's "
                             "default_cfg).")(f)


def mode_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--mode", type=click.Choice(["eval", "train", "same"]), default="eval", show_default=True,
                        help="A Python model's mode for the pass: train runs dropout, batch statistics and "
                             "auxiliary heads; same keeps each submodule's own flag (on a copy).")(f)


# --- option groups ------------------------------------------------------------------------
# A group is a few options that travel together, given to the command as one frozen
# dataclass: the decorator adds the options (in its position of --help) and hands the
# command ``cls(**the options' values)`` under one keyword instead of one parameter each.


def option_group(cls: type, keyword: str,
                 options: list[Callable[[Callable[..., Any]], Callable[..., Any]]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``options`` (in this order) whose values reach the command as
    ``keyword=cls(...)``; the options' parameter names are ``cls``'s field names."""
    names = [f.name for f in dataclasses.fields(cls)]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[keyword] = cls(**{n: kwargs.pop(n) for n in names})
            return f(*args, **kwargs)

        return _apply(wrapper, options)

    return decorate


@dataclass(frozen=True)
class ModelChoice:
    """--variant --width --resolution --depth --phi --set --padding: what a spec is resolved
    with (``resolution`` is a Python model's too; the others apply to specs only)."""

    variant: str | None
    width: float | None
    resolution: int | None
    depth: float | None
    phi: float | None
    set_values: tuple[str, ...]
    padding: str | None

    def spec_only(self) -> dict[str, Any]:
        """The options that mean something only for a YAML spec, by flag."""
        return {"--variant": self.variant, "--width": self.width, "--depth": self.depth, "--phi": self.phi,
                "--set": self.set_values, "--padding": self.padding}

    def overrides(self) -> Any:
        return overrides_from(self.width, self.resolution, self.depth, self.phi, self.set_values, self.padding)


def model_choice(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of :func:`model_options` as one :class:`ModelChoice` (keyword ``model``)."""
    return option_group(ModelChoice, "model", _model_option_list(padding=True))(f)


@dataclass(frozen=True)
class OutputChoice:
    """--format, --convention and --unit: what is counted and how it is written."""

    fmt: str
    convention: str
    unit: str


def output_choice(extra: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """:func:`format_option` (with ``extra`` formats) and :func:`convention_options` as one
    :class:`OutputChoice` (keyword ``output``)."""
    return option_group(OutputChoice, "output", [format_option(extra), convention_options])


@dataclass(frozen=True)
class MemoryChoice:
    """--memory --dtype --batch --optimizer: whether memory is shown and its settings."""

    show_memory: bool
    dtype: str | None
    batch: int | None
    optimizer: str | None

    @property
    def shown(self) -> bool:
        """A spec's memory is shown when asked for or implied by any setting."""
        return self.show_memory or any(v is not None for v in (self.dtype, self.batch, self.optimizer))

    @property
    def python_shown(self) -> bool:
        """A Python model's memory is shown when asked for or implied by --dtype or
        --optimizer; --batch alone sets the batch of its forward pass."""
        return self.show_memory or self.dtype is not None or self.optimizer is not None

    def settings(self) -> Any:
        """:func:`memory_settings_from` of the settings given."""
        return memory_settings_from(self.dtype, self.batch, self.optimizer)


def memory_choice(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of :func:`memory_options` as one :class:`MemoryChoice` (keyword ``memory``)."""
    return option_group(MemoryChoice, "memory", [memory_options])(f)


@dataclass(frozen=True)
class PythonChoice:
    """--input (repeatable) and --mode: how a Python model's forward pass is run."""

    input_texts: tuple[str, ...]
    mode: str


def python_choice(f: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`inputs_option` and :func:`mode_option` as one :class:`PythonChoice` (keyword ``python``)."""
    return option_group(PythonChoice, "python", [inputs_option, mode_option])(f)


def python_inputs(text: str, input_texts: tuple[str, ...], batch: int | None) -> Any:
    """The repeatable ``--input`` and ``--batch`` of a Python model, errors naming the model."""
    from ..capture.inputs import from_cli

    return from_cli(input_texts, batch, f"{shorten(text, 80)}: --input")


def python_cast(dtype: str | None, optimizer: str | None) -> str | None:
    """A Python model's ``--dtype``: one trainable dtype that the copy, its buffers and its
    floating inputs are cast to (None: the model's own dtypes)."""
    from ..measure.memory import TRAINABLE_DTYPES

    if dtype is None:
        return None
    settings = memory_settings_from(dtype, None, optimizer)
    p = settings.precision
    if p.weights != p.activations or p.weights not in TRAINABLE_DTYPES:
        raise UsageError(f"--dtype {dtype}: a Python model runs in one dtype; give one of "
                         f"{', '.join(TRAINABLE_DTYPES)} to cast its copy (weights, buffers and inputs), or leave "
                         "--dtype out for the model's own dtypes (int8 needs a quantized model)")
    return p.weights


def step_document(doc: Any, run: Any, unit: str, root: str, levels: int | None, report: Any) -> Any:
    """``doc`` with a training run's step cost (``--training-step``; folded to ``levels`` as
    ``report``'s layer table is), or the reason it could not run."""
    if run.step is None:
        raise UsageError(f"--training-step: {run.failure}")
    from ..render.training import with_training_step

    return with_training_step(doc, run.step, unit, root, levels, {r.name: r.type for r in report.rows})


RULES_FOR_SPECS = "--rules applies to Python models; every op kind of a spec has a rule in every convention"


def rules_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--rules FILE.py: the caller's counting rules for operators cnninspect does not count
    (capture/rule_files.py), for the command's Python models."""
    return click.option("--rules", "rules_file", metavar="FILE.py",
                        help="Python models: your own counting rules for operators cnninspect does not count, from "
                             "a Python file defining RULES = {'namespace::op': function} (run as a Python model's "
                             "file is; docs/counting.md).")(f)


def rules_note(rules_file: str | None, rules: Any) -> tuple[str, ...]:
    """The note naming the ``--rules`` file and its operators (none without it)."""
    if not rules:
        return ()
    return (f"custom rules from {shorten(rules_file or '', 100)} in the Python models' counts: "
            f"{', '.join(sorted(rules))}",)


def rules_from(rules_file: str | None, any_python: bool) -> Any:
    """The rules of ``--rules FILE.py`` (None without it); refused (:data:`RULES_FOR_SPECS`)
    when none of the command's models is a Python model, before the file is run."""
    if rules_file is None:
        return None
    if not any_python:
        raise UsageError(RULES_FOR_SPECS)
    from ..capture.rule_files import load_rules

    return load_rules(rules_file)


def refuse_spec_options(text: str, **given: Any) -> None:
    """Options that only mean something for a YAML spec, given with a Python model reference."""
    for option, value in given.items():
        if value not in (None, (), False):
            raise UsageError(
                f"{shorten(text, 80)} is a Python model: {option} applies to YAML specs (pass constructor "
                "arguments instead, as in file.py:NAME(width=2), and --input or --resolution for the input)"
            )


def python_input(text: str, input_text: str | None) -> tuple[int, ...] | None:
    """``--input`` of a Python model, errors naming the model."""
    from ..capture.pymodels import parse_input

    return parse_input(input_text, f"{shorten(text, 80)}: --input") if input_text is not None else None


def analyze_any(text: str, convention: str, engine: str | None = None, input_text: str | None = None,
                rules: Any = None) -> Any:
    """A report of any model reference, ``NAME[:VARIANT][@key=value,...]``: a spec (resolved with
    its settings) or a Python model (``@resolution=`` and ``@input=`` settings; counted with
    the caller's operator ``rules``, which a spec does not take)."""
    from ..capture.targets import PythonTarget, target_of

    target = target_of(text)
    if isinstance(target, PythonTarget):
        from ..capture.pymodels import analyze_python

        base, shape, resolution = _python_parts(target, engine, input_text)
        return analyze_python(base, convention, input_shape=shape, resolution=resolution, rules=rules)
    if input_text is not None:
        raise UsageError(f"--input applies to Python models; {shorten(text, 80)} is a spec (use --resolution "
                         "or @resolution=)")
    from ..resolve.catalog import resolve_ref

    return analyze_with_engine(resolve_ref(text), convention, engine or "spec")


def _python_parts(target: PythonTarget, engine: str | None, input_text: str | None) -> tuple[str, Any, int | None]:
    """A Python reference's base, per-sample input shape (``@input=`` or ``--input``) and
    ``@resolution=``; other settings are refused."""
    from ..capture.pymodels import parse_input

    text, base, settings = target.text, target.base, target.settings
    unknown = sorted(set(settings) - {"resolution", "input"})
    if unknown:
        raise UsageError(f"{shorten(text, 80)}: @{unknown[0]} applies to YAML specs; a Python model takes "
                         "@resolution= and @input=")
    if engine == "meta":
        raise UsageError(f"{shorten(text, 80)} is a Python model: --engine applies to YAML specs")
    shape_text = settings.get("input", input_text)
    where = f"{shorten(text, 80)}: " + ("@input" if "input" in settings else "--input")
    shape = parse_input(str(shape_text), where) if shape_text is not None else None
    resolution = settings.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)):
        raise UsageError(f"{shorten(text, 80)}: @resolution must be a whole number, got {resolution!r}")
    return base, shape, resolution


def python_memory(text: str, input_text: str | None, settings: Any, dtype: str | None) -> Any:
    """A Python reference's memory report at the memory settings (batch, optimizer; ``dtype``
    casts its copy), measured on meta copies at that batch."""
    from ..capture.inputs import ModelInputs
    from ..capture.pymodels import prepare_python
    from ..capture.training import module_memory

    cast = python_cast(dtype, None)
    from ..capture.targets import PythonTarget, target_of

    target = target_of(text)
    assert isinstance(target, PythonTarget), text
    base, shape, resolution = _python_parts(target, None, input_text)
    inputs = ModelInputs.single(shape, settings.batch) if shape is not None else ModelInputs((), {}, settings.batch)
    p = prepare_python(base, input_shape=inputs, resolution=resolution)
    return module_memory(p.built.module, p.inputs, p.trace, cast=cast, batch=p.inputs.batch,
                         optimizer=settings.optimizer)


def engine_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--engine", type=click.Choice(["spec", "meta"]), default="spec", show_default=True,
                        help="spec: shape arithmetic (no torch); meta: walk the built module on the meta device.")(f)


def analyze_with_engine(model: Any, convention: str, engine: str) -> Any:
    """Analyze a resolved model with the chosen engine."""
    if engine == "meta":
        from ..base.extras import require

        require("--engine meta", "torch")
        from ..build.torch_engine import analyze_meta

        return analyze_meta(model, convention)
    from ..measure.analysis import analyze

    return analyze(model, convention)


def check_output_file(path: str, force: bool, option: str, suffixes: tuple[str, ...]) -> None:
    """Refuse an output file that cannot be written, before any work is done.

    The suffix is checked case-insensitively; a directory, a missing or unwritable directory,
    a name too long for the file system and an existing file (without ``--force``) are
    refused with a one-line error. Writing itself is atomic (``write_atomically``), so a
    user's file is never left half-written.
    """
    import os
    import tempfile

    from ..base.files import describe_os_error

    shown = shorten(path, 100)
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option} takes a file name ending in {' or '.join(suffixes)}, got {shorten(repr(path))}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{option} {shown}: {describe_os_error(exc)}") from None
    if st is not None:
        import stat

        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{option} {shown} is a directory; give a file name")
        if not force:
            raise UsageError(f"{option} {shown} exists; refusing to overwrite it (use --force)")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {shown}: the directory {shorten(parent, 100)} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".cnninspect-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{option} {shown}: cannot write in {shorten(parent, 100)}: {describe_os_error(exc)}") from None


DEVICE_HELP = ("Predict each layer's time on a device: a name from 'cnninspect device list' or a device profile "
               "file from 'cnninspect device calibrate' (roofline: docs/latency.md).")


def device_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--device NAME|FILE: the roofline of every layer (docs/latency.md)."""
    return click.option("--device", "device", metavar="NAME|FILE", help=DEVICE_HELP)(f)


def with_device(doc: Document, report: Any, device: str | None, settings: Any | None) -> Document:
    """``doc`` with the roofline of ``report`` on ``device`` (unchanged without one)."""
    if device is None:
        return doc
    from ..measure.roofline import get_device
    from ..render.latency import with_roofline

    roofline, batch = roofline_for(report, get_device(device), settings)
    return with_roofline(doc, roofline, batch)


def roofline_for(report: Any, device: Any, settings: Any | None) -> tuple[Any, int]:
    """The roofline of ``report`` on a :class:`~cnninspect.measure.roofline.Device`
    at the dtype and batch of the memory ``settings`` (default fp32, batch 1), and that batch;
    a Python model is priced from its operators lowered onto the op records."""
    from ..measure.memory import MemorySettings
    from ..measure.roofline import predict, report_costs

    settings = settings or MemorySettings()
    costs = report_costs(report, settings.precision, settings.batch)
    return predict(costs, device, settings.precision.activations), settings.batch


def write_text_file(path: str, text: str, replace: bool, option: str) -> None:
    """Write a text file the way :func:`check_output_file` promises
    (:func:`cnninspect.base.files.write_file`: created exclusively, or with ``replace``
    written beside ``path`` and renamed over it)."""
    from ..base.files import write_file

    write_file(path, lambda fh: fh.write(text.encode("utf-8")), replace=replace, option=option)
