"""Python model references: ``file.py:NAME``, ``package.module:NAME``, ``torchvision:NAME``,
``timm:NAME``, each optionally with literal keyword arguments, ``NAME(num_classes=10)``.

What :func:`cnninspect.resolve.catalog.classify` calls a Python reference is read here:

* :func:`parse_pyref` (no torch, no user code): the file, module or hub, the NAME and its
  keyword arguments, parsed with :mod:`ast` and :func:`ast.literal_eval` (numbers, strings,
  ``True``/``False``/``None``, tuples, lists, dicts; never evaluated as Python);
* :func:`load` imports the module or **runs the user's file** (that is what a Python model
  is: the user's own code; a reference that arrives inside a YAML spec is never run, and a
  check file's references only with ``check --allow-python``) and finds NAME: an
  ``nn.Module`` subclass (built with the keyword arguments), a function returning a module,
  or a module instance. From an installed package (``package.module:NAME``) a function is
  called only when its return annotation names an ``nn.Module`` class (``http.server:test``
  is refused, not called); a file's functions are the user's own and are called. Every
  result is checked to be an ``nn.Module``;
* :func:`analyze_python` builds the model on PyTorch's meta device (no weights allocated), falls
  back to the CPU when the model refuses the meta device, captures one forward pass
  (:mod:`cnninspect.capture.forward`) and reports it (:mod:`cnninspect.capture.module_analysis`).

Every failure caused by the reference or the model (missing file, syntax error, NAME absent
or not a model, a constructor needing arguments, a forward pass that raises, an input shape
the model refuses) is a one-line :class:`~cnninspect.base.errors.UsageError` naming the
reference and the cause.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Mapping

from ..base.errors import CnnInspectError, UsageError, did_you_mean, shorten

if TYPE_CHECKING:
    from ..measure.analysis import Report
    from .inputs import ModelInputs
    from .trace import Trace

PYTHON_KINDS = ("python-file", "python-module", "hub")
HUB_PACKAGES = {"torchvision": "torchvision", "timm": "timm"}


@dataclass(frozen=True)
class PyRef:
    """A parsed Python model reference."""

    text: str
    kind: str  # python-file | python-module | hub
    base: str  # the file path, the module path or the hub (torchvision, timm)
    name: str  # NAME (dotted attribute path allowed)
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return shorten(self.text, 100)


def parse_pyref(text: str) -> PyRef:
    """Read ``file.py:NAME(k=v, ...)`` and its siblings (see :func:`cnninspect.resolve.catalog.classify`)."""
    from ..resolve.catalog import classify

    ref = classify(text)
    shown = shorten(text.strip(), 100)
    if ref.kind not in PYTHON_KINDS:
        raise UsageError(f"{shown} is not a Python model reference")
    call = (ref.variant or "").strip()
    if not call:
        what = {"python-file": "file.py:NAME", "python-module": "package.module:NAME"}.get(ref.kind, f"{ref.base}:NAME")
        raise UsageError(f"{shown}: name the model after the colon, as in {what} (a class, a function or an instance)")
    name, kwargs = _parse_call(call, shown)
    return PyRef(text.strip(), ref.kind, ref.base, name, kwargs)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _parse_call(text: str, shown: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME(key=literal, ...)``: the name and the keyword arguments."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise UsageError(f"{shown}: cannot read {shorten(repr(text))} as NAME or NAME(key=value, ...): {exc.msg}") from None
    if not isinstance(node, ast.Call):
        name = _dotted(node)
        if name is None:
            raise UsageError(f"{shown}: expected NAME or NAME(key=value, ...) after the colon, got {shorten(repr(text))}")
        return name, {}
    name = _dotted(node.func)
    if name is None:
        raise UsageError(f"{shown}: expected NAME(key=value, ...) after the colon, got {shorten(repr(text))}")
    if node.args:
        raise UsageError(f"{shown}: arguments must be given by keyword, as in {name}(num_classes=10)")
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise UsageError(f"{shown}: '**' is not accepted; write each argument as key=value")
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise UsageError(
                f"{shown}: {kw.arg}= must be a literal (a number, string, True, False, None, or a tuple, list "
                f"or dict of those); Python expressions are not evaluated"
            ) from None
    return name, kwargs


# --- input shapes ------------------------------------------------------------------------


def parse_input(text: str | tuple[int, ...] | list[int], where: str = "--input") -> tuple[int, ...]:
    """``3x224x224`` or ``1x3x224x224`` (or a tuple of integers) as a per-sample shape.

    A leading 1 on a shape of four or more dimensions is the batch and is dropped (counts are
    for a batch of one); ``1x28x28`` is one channel of 28x28. Write ``1x1x16x112x112`` for a
    single-channel volume.
    """
    from .inputs import check_shape, parse_shape

    if isinstance(text, str):
        return parse_shape(text, where)
    if not text or not all(isinstance(d, int) and not isinstance(d, bool) for d in text):
        raise UsageError(f"{where}: expected a shape of integers such as (3, 224, 224), got {shorten(repr(text))}")
    dims = list(text)
    if len(dims) >= 4 and dims[0] == 1:
        dims = dims[1:]
    return check_shape(dims, where)


# --- loading ----------------------------------------------------------------------------


@dataclass
class PyModel:
    """A loaded reference: how to build the module, or the module itself (an instance)."""

    ref: PyRef
    factory: Callable[[], Any] | None  # builds a fresh module (None for an instance)
    instance: Any = None  # a module object found in the file or module
    title: str = ""


def load(ref: PyRef) -> PyModel:
    """Import the module or run the file, and find the model NAME in it (user code runs
    under :func:`~cnninspect.capture.usercode.guarded`: its output goes to standard error)."""
    from ..base.extras import require
    from .usercode import guarded

    require(f"the Python model {ref.shown}", "torch")
    with guarded():
        return _load(ref)


def _load(ref: PyRef) -> PyModel:
    if ref.kind == "hub":
        return _load_hub(ref)
    namespace = _run_file(ref) if ref.kind == "python-file" else _import_module(ref)
    where = ref.base
    obj: Any = namespace
    for part in ref.name.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UsageError(f"{ref.shown}: {where} has no '{ref.name}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return _model_from(ref, obj)


def _model_from(ref: PyRef, obj: Any) -> PyModel:
    from torch import nn

    if isinstance(obj, nn.Module):
        if ref.kwargs:
            raise UsageError(f"{ref.shown}: {ref.name} is a module instance, which takes no arguments")
        return PyModel(ref, None, obj, type(obj).__name__)
    if isinstance(obj, type):
        if not issubclass(obj, nn.Module):
            raise UsageError(f"{ref.shown}: {ref.name} is the class {obj.__name__}, which is not an nn.Module")
        return PyModel(ref, lambda: obj(**ref.kwargs), None, obj.__name__)
    if callable(obj):
        if ref.kind == "python-module" and not _returns_module(obj):
            raise UsageError(
                f"{ref.shown}: {ref.name} is {_a(type(obj).__name__)} without a return annotation naming an nn.Module; "
                "from an installed package cnninspect calls only nn.Module classes and functions annotated "
                "'-> nn.Module' (anything else could do anything when called); wrap it in a file.py of your own")
        return PyModel(ref, lambda: obj(**ref.kwargs), None, getattr(obj, "__name__", ref.name))
    raise UsageError(
        f"{ref.shown}: {ref.name} is {_a(type(obj).__name__)}, not an nn.Module class, a function returning "
        "one, or a module instance"
    )


def _returns_module(func: Any) -> bool:
    """A function whose return annotation is an ``nn.Module`` class (read without calling it)."""
    import inspect
    import typing

    from torch import nn

    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        return False
    try:
        hint = typing.get_type_hints(func).get("return")
    except Exception:  # an annotation that does not resolve names nothing
        return False
    return isinstance(hint, type) and issubclass(hint, nn.Module)


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _run_file(ref: PyRef) -> Any:
    """Execute the user's Python file as a module (its directory first on ``sys.path``, so
    its own imports work), afresh on every call: an edited file is read again."""
    path = Path(os.path.expanduser(ref.base))
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise UsageError(f"{ref.shown}: {shorten(str(path), 100)}: {what}")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    modname = f"cnninspect_user_{path.stem if path.stem.isidentifier() else 'model'}_{digest}"
    spec = importlib.util.spec_from_file_location(modname, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"{ref.shown}: {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    folder = str(resolved.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(modname, None)
        line = f":{exc.lineno}" if exc.lineno else ""
        raise UsageError(f"{ref.shown}: syntax error in {path}{line}: {exc.msg}") from None
    except (Exception, SystemExit) as exc:
        sys.modules.pop(modname, None)
        raise UsageError(f"{ref.shown}: running {path} raised {_describe(exc)}") from exc
    return module


def _import_module(ref: PyRef) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m` does: the current directory's packages first
    try:
        return importlib.import_module(ref.base)
    except ModuleNotFoundError as exc:
        missing = exc.name or ref.base
        if ref.base == missing or ref.base.startswith(missing + "."):
            raise UsageError(f"{ref.shown}: no module named '{missing}' (is it installed, or is its package in the "
                             "current directory?)") from None
        raise UsageError(f"{ref.shown}: importing {ref.base} raised {_describe(exc)}") from exc
    except (Exception, SystemExit) as exc:
        raise UsageError(f"{ref.shown}: importing {ref.base} raised {_describe(exc)}") from exc


def _load_hub(ref: PyRef) -> PyModel:
    package = HUB_PACKAGES[ref.base]
    try:
        hub = importlib.import_module(package)
    except ModuleNotFoundError:
        raise UsageError(f"{ref.shown}: {package} is not installed; install it next to torch "
                         f"(pip install {package}) to use {ref.base}: names") from None
    except (Exception, SystemExit) as exc:
        raise UsageError(f"{ref.shown}: {package} is installed but cannot be imported here: {_describe(exc)}") from None
    if package == "torchvision":
        return _torchvision(ref, hub)
    return _timm(ref, hub)


def _torchvision(ref: PyRef, tv: Any) -> PyModel:
    models = tv.models
    names = list(models.list_models())
    if ref.name not in names:
        raise UsageError(f"{ref.shown}: torchvision has no model '{ref.name}'{did_you_mean(ref.name, names)}")
    for key in ("weights", "weights_backbone"):
        if ref.kwargs.get(key) is not None:
            raise UsageError(f"{ref.shown}: {key}= would download weights; cnninspect only needs the architecture")
    builder = models.get_model_builder(ref.name)
    return PyModel(ref, lambda: builder(**ref.kwargs), None, ref.name)


def _timm(ref: PyRef, timm: Any) -> PyModel:
    if not timm.is_model(ref.name):
        names = list(timm.list_models())
        raise UsageError(f"{ref.shown}: timm has no model '{ref.name}'{did_you_mean(ref.name, names)}")
    if ref.kwargs.get("pretrained"):
        raise UsageError(f"{ref.shown}: pretrained=True would download weights; cnninspect only needs the architecture")
    kwargs = {k: v for k, v in ref.kwargs.items() if k != "pretrained"}
    return PyModel(ref, lambda: timm.create_model(ref.name, pretrained=False, **kwargs), None, ref.name)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {shorten(text, 300)}" if text else type(exc).__name__


# --- building and analysing ----------------------------------------------------------------


@dataclass
class Built:
    """A module ready to capture, and where it lives."""

    module: Any
    device: str  # meta | cpu
    note: str = ""  # why the meta device was not used to build it


def build(pm: PyModel) -> Built:
    """The module: a found instance as it is, else built on the meta device (no weights
    allocated), or on the CPU when the constructor refuses the meta device."""
    from .usercode import guarded

    with guarded():
        return _build(pm)


def _build(pm: PyModel) -> Built:
    if pm.instance is not None:
        return Built(pm.instance, "cpu")
    from .forward import construction_mode

    try:
        with construction_mode():
            module = pm.factory()  # type: ignore[misc]
        return Built(_checked(pm, module), "meta")
    except CnnInspectError:
        raise
    except Exception as exc:
        meta_error = exc
    module = _construct_cpu(pm)
    return Built(module, "cpu", f"built on the CPU: the constructor refused the meta device ({_describe(meta_error)})")


def build_cpu(pm: PyModel) -> Any:
    """A new instance of the model built on the CPU with real weights (the reference must be
    a class or factory); user code runs guarded."""
    from .usercode import guarded

    with guarded():
        return _construct_cpu(pm)


def _construct_cpu(pm: PyModel) -> Any:
    try:
        module = pm.factory()  # type: ignore[misc]
    except TypeError as exc:
        text = str(exc)
        if "required" in text and "argument" in text:
            raise UsageError(f"{pm.ref.shown}: {pm.ref.name} needs arguments ({shorten(text, 200)}); pass them as "
                             f"{pm.ref.name}(name=value, ...)") from None
        raise UsageError(f"{pm.ref.shown}: building {pm.ref.name} raised {_describe(exc)}") from exc
    except (Exception, SystemExit) as exc:
        raise UsageError(f"{pm.ref.shown}: building {pm.ref.name} raised {_describe(exc)}") from exc
    return _checked(pm, module)


def _checked(pm: PyModel, module: Any) -> Any:
    from torch import nn

    if not isinstance(module, nn.Module):
        raise UsageError(f"{pm.ref.shown}: {pm.ref.name}(...) returned {_a(type(module).__name__)}, not an nn.Module")
    return module


def declared_input(module: Any) -> tuple[int, ...] | None:
    """The input size a model declares: timm's ``pretrained_cfg``/``default_cfg["input_size"]``."""
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(module, attr, None)
        if isinstance(cfg, Mapping):
            size = cfg.get("input_size")
            if isinstance(size, (tuple, list)) and size and all(isinstance(d, int) and d > 0 for d in size):
                return tuple(size)
    return None


def input_for(module: Any, shown: str, given: ModelInputs | tuple[int, ...] | None,
              resolution: int | None) -> tuple[ModelInputs, str]:
    """The inputs of the forward pass (a per-sample shape is one input at a batch of one),
    and where they came from when not given (the model's declaration)."""
    from .inputs import ModelInputs

    source = ""
    inputs = ModelInputs.single(given) if isinstance(given, tuple) else given
    if inputs is None or not inputs.args and not inputs.kwargs:
        shape = declared_input(module)
        if shape is None:
            raise UsageError(f"{shown}: the model declares no input size; give one with --input, e.g. --input 3x224x224")
        extra = inputs.kwargs if inputs is not None else {}
        batch = inputs.batch if inputs is not None else 1
        inputs = ModelInputs.single(shape, batch)
        inputs = ModelInputs(inputs.args, extra, batch)
        source = "declared by the model"
    if resolution is not None:
        inputs = inputs.with_resolution(resolution, shown)
    return inputs, source


def trace_module(module: Any, inputs: ModelInputs | tuple[int, ...], shown: str, *,
                 rebuild: Callable[[], Any] | None = None, built_on: str = "cpu", note: str = "",
                 device: str | None = None, mode: str = "eval") -> Trace:
    """Capture ``module`` on the meta device, or on the CPU when it refuses it. A module
    ``built_on`` the meta device has no weights to run on the CPU: ``rebuild`` makes one
    with real weights, unless its parameters and buffers would take more than
    :data:`~cnninspect.base.limits.MAX_CPU_FALLBACK_BYTES` (then the meta device's error is
    shown, which for a wrong input is the shape mismatch). ``device="meta"`` allows no real
    run; a real device (``"cpu"``) skips the meta device and must be where the model's
    parameters are (a model is never moved)."""
    from .inputs import ModelInputs
    from .usercode import guarded

    if not isinstance(inputs, ModelInputs):
        inputs = ModelInputs.single(inputs)
    if device not in (None, "meta"):
        _check_device(module, device, shown)
    check_depth(module, shown)
    with guarded():
        return _trace(module, inputs, shown, rebuild, built_on, note, device, mode)


def _trace(module: Any, inputs: ModelInputs, shown: str, rebuild: Callable[[], Any] | None, built_on: str,
           note: str, device: str | None, mode: str) -> Trace:
    from dataclasses import replace

    from .forward import CaptureBug, CopyRefused, KindRefused, ModelFailed, UnbatchedInput, capture
    from ..base.limits import MAX_CPU_FALLBACK_BYTES

    meta_failure: BaseException | None = None
    try:
        if device in (None, "meta"):
            try:
                return replace(capture(module, inputs, "meta", mode), fallback=note)
            except CaptureBug:
                raise
            except ModelFailed as exc:
                meta_failure = exc.cause
            if device == "meta":
                raise _refused(shown, inputs, meta_failure, " on the meta device",
                               " (device='meta' allows no real run)")
            if built_on == "meta":
                if rebuild is None:
                    raise _refused(shown, inputs, meta_failure)
                need = state_bytes(module)
                if need > MAX_CPU_FALLBACK_BYTES:
                    raise _refused(shown, inputs, meta_failure, " on the meta device",
                                   f"; running it on the CPU instead would need {need / 1e9:.1f} GB of weights, over "
                                   f"the {MAX_CPU_FALLBACK_BYTES / 1e9:g} GB limit")
                module = rebuild()
        try:
            trace = capture(module, inputs, "cpu", mode)
        except ModelFailed as exc:
            raise _refused(shown, inputs, exc.cause) from None
    except CopyRefused as exc:
        raise UsageError(f"{shown}: cnninspect runs a private copy of the model and copy.deepcopy refused it "
                         f"({_describe(exc.cause)}); give the model a __deepcopy__ or pass it as file.py:Class"
                         ) from None
    except KindRefused as exc:
        raise UsageError(f"{shown}: {exc}") from None
    except UnbatchedInput as exc:
        raise UsageError(f"{shown}: {exc}; input_size and input_data include the batch dimension, as in torchinfo: "
                         f"for one sample write (1, {', '.join(map(str, exc.shape))})") from None
    if meta_failure is None:
        return replace(trace, fallback=note)
    why = f"the model refused the meta device ({_describe(meta_failure)})"
    return replace(trace, fallback=f"{note}; {why}" if note else why)


def check_depth(module: Any, shown: str) -> None:
    """Refuse a model nested deeper than :data:`~cnninspect.base.limits.MAX_MODULE_DEPTH`."""
    from ..base.limits import MAX_MODULE_DEPTH
    from .usercode import nesting_depth

    depth = nesting_depth(module)
    if depth > MAX_MODULE_DEPTH:
        raise UsageError(f"{shown}: submodules nest {depth:,} levels deep, more than the {MAX_MODULE_DEPTH} levels "
                         "cnninspect analyses (PyTorch's own forward pass stops at about 300 at the default "
                         "recursion limit)")


def _check_device(module: Any, device: str, shown: str) -> None:
    """A real run happens where the parameters are: refuse a device they are not on."""
    import torch

    try:
        want = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"{shown}: device={device!r}: {_describe(exc)}") from None
    held = {p.device for p in (*module.parameters(), *module.buffers())}
    other = sorted(str(d) for d in held if d.type != want.type or (want.index is not None and d != want))
    if other:
        raise UsageError(f"{shown}: the model's tensors are on {', '.join(other)}, not {want}; cnninspect never moves "
                         "a model (leave device unset to analyse it where it is)")


def state_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers at their dtypes (each tensor once)."""
    seen: set[int] = set()
    total = 0
    for t in (*module.parameters(), *module.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        try:
            total += t.numel() * t.element_size()
        except (RuntimeError, ValueError):  # an uninitialised (lazy) parameter
            continue
    return total


def _refused(shown: str, inputs: ModelInputs, cause: BaseException, on: str = "", after: str = "") -> UsageError:
    from .inputs import describe

    n = len(inputs.args) + len(inputs.kwargs)
    what = f"a {describe(inputs)} input" if n == 1 and not inputs.kwargs else f"the inputs {describe(inputs)}"
    return UsageError(f"{shown}: the forward pass on {what}{on} raised {_describe(cause).rstrip('.')}{after}")


def analyze_python(text: str, convention: str = "paper", *, input_shape: ModelInputs | tuple[int, ...] | None = None,
            resolution: int | None = None, mode: str = "eval", rules: Mapping[str, Any] | None = None) -> Report:
    """Load, build, capture and report a Python model reference; ``input_shape`` is a
    per-sample shape (one input, batch 1) or :class:`~cnninspect.capture.inputs.ModelInputs`;
    ``rules``: the caller's own operator rules (:mod:`cnninspect.ops.custom_rules`)."""
    from .module_analysis import analyze_trace

    p = prepare_python(text, input_shape=input_shape, resolution=resolution, mode=mode)
    return analyze_trace(p.trace, convention, p.subject, rules=rules)


@dataclass
class Prepared:
    """A Python model reference loaded, built and captured: what every analysis starts from."""

    model: PyModel
    built: Built
    inputs: ModelInputs
    trace: Trace
    subject: Any


def prepare_python(text: str, *, input_shape: ModelInputs | tuple[int, ...] | None = None,
                   resolution: int | None = None, mode: str = "eval") -> Prepared:
    """Load, build and capture a Python model reference (see :func:`analyze_python`)."""
    pm = load(parse_pyref(text))
    built = build(pm)
    inputs, source = input_for(built.module, pm.ref.shown, input_shape, resolution)
    trace = trace_built(pm, built, inputs, mode)
    return Prepared(pm, built, inputs, trace, subject_for(pm, trace, resolution, source))


def trace_built(pm: PyModel, built: Built, inputs: ModelInputs | tuple[int, ...], mode: str = "eval") -> Trace:
    rebuild = (lambda: _construct_cpu(pm)) if pm.factory is not None else None
    return trace_module(built.module, inputs, pm.ref.shown, rebuild=rebuild, built_on=built.device, note=built.note,
                        mode=mode)


def subject_for(pm: PyModel, trace: Trace, resolution: int | None = None, source: str = "") -> Any:
    from .module_analysis import input_settings, module_subject

    settings = {**input_settings(trace), "resolution": resolution, "kwargs": dict(pm.ref.kwargs),
                "class": trace.calls[0].torch_class, "input_from": source or "given"}
    return module_subject(trace, pm.ref.text, title=pm.title, reference=pm.ref.text, settings=settings)
