"""The inputs of a Python model's forward pass: shapes, dtypes, positional and keyword inputs.

Two ways in, one result (:class:`ModelInputs`):

* the API takes them as torchinfo does (:func:`from_api`): ``input_size`` is the full shape
  of each input, batch dimension included (``(1, 3, 224, 224)``), or a list of such shapes
  for several inputs; ``input_data`` is a tensor, a sequence of positional inputs or a dict
  of keyword inputs; ``dtypes`` gives one dtype per ``input_size`` entry; ``batch_dim``
  says the shapes leave the batch out and a batch of one goes at that dimension;
* the CLI takes per-sample shapes (:func:`from_cli`): ``--input 3x224x224`` for each
  positional input in order, ``--input 16:int64`` with a dtype, ``--input mask=16:bool``
  for a keyword input, and ``--batch N`` puts a batch of N in front of every one.

The batch of a run is the first dimension of the first input that has two or more (a 1-D
input is one sample, as PyTorch runs it), or 1 with ``batch_dim``. Nothing here imports
torch; a shape without data is a :class:`TensorSpec`, which :mod:`cnninspect.capture.forward` turns
into a tensor (meta, or random floats and zero indices on a real device).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..base.errors import UsageError, shorten
from ..base.limits import MAX_TENSOR_ELEMENTS
from .trace import per_sample

MAX_INPUT_DIMS = 8

# dtype names accepted on the CLI and as strings from Python -> torch's attribute name
DTYPE_NAMES: dict[str, str] = {
    "float32": "float32", "float": "float32", "fp32": "float32",
    "float16": "float16", "half": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "double": "float64", "fp64": "float64",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool",
}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor to make: its full shape (batch included) and dtype (``None``: the model's
    floating dtype, that of its first floating parameter, float32 without one)."""

    shape: tuple[int, ...]
    dtype: str | None = None

    def text(self) -> str:
        return "x".join(map(str, self.shape)) + (f":{self.dtype}" if self.dtype else "")


@dataclass(frozen=True)
class ModelInputs:
    """Positional and keyword inputs of one forward call; leaves are :class:`TensorSpec` or
    the caller's own objects (tensors, numbers), passed through."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    batch: int = 1

    @classmethod
    def single(cls, shape: Sequence[int], batch: int = 1, dtype: str | None = None) -> ModelInputs:
        """One positional input of per-sample ``shape`` at a batch of ``batch``."""
        return cls((TensorSpec((batch, *shape), dtype),), {}, batch)

    def first_shape(self) -> tuple[int, ...] | None:
        """The per-sample shape of the first positional :class:`TensorSpec`, if any."""
        first = self.args[0] if self.args else None
        if isinstance(first, TensorSpec):
            return per_sample(first.shape, self.batch)
        return None

    def with_resolution(self, resolution: int, where: str) -> ModelInputs:
        """The first input, an image (channels x height x width ...), at ``resolution``."""
        from ..base.limits import MAX_RESOLUTION

        first = self.args[0] if self.args else None
        if not isinstance(first, TensorSpec) or len(first.shape) < 3:
            raise UsageError(f"{where}: --resolution needs an image input (CxHxW) as the first input")
        if not 1 <= resolution <= MAX_RESOLUTION:
            raise UsageError(f"{where}: --resolution must be between 1 and {MAX_RESOLUTION}, got {resolution}")
        shape = (*first.shape[:-2], resolution, resolution)
        return replace(self, args=(replace(first, shape=shape), *self.args[1:]))


def dtype_name(value: Any, where: str) -> str:
    """A torch dtype or its name (``torch.long``, ``"int64"``, ``"bf16"``) as torch's name."""
    text = str(value).removeprefix("torch.")
    if text not in DTYPE_NAMES:
        known = ", ".join(sorted(set(DTYPE_NAMES.values())))
        raise UsageError(f"{where}: unknown dtype {shorten(repr(value), 40)}; dtypes: {known}")
    return DTYPE_NAMES[text]


def check_shape(dims: Sequence[int], where: str) -> tuple[int, ...]:
    if len(dims) > MAX_INPUT_DIMS or not dims or min(dims) < 1:
        raise UsageError(f"{where}: every dimension must be at least 1 (and at most {MAX_INPUT_DIMS} of them), "
                         f"got {'x'.join(map(str, dims)) or 'no dimension'}")
    total = 1
    for d in dims:
        total *= d
    if total > MAX_TENSOR_ELEMENTS:
        raise UsageError(f"{where}: {'x'.join(map(str, dims))} has more than {MAX_TENSOR_ELEMENTS:.0e} values")
    return tuple(dims)


def _int_shape(value: Any, where: str) -> tuple[int, ...]:
    if not _is_shape(value):
        raise UsageError(f"{where}: expected a shape of integers such as (1, 3, 224, 224), got {shorten(repr(value))}")
    return check_shape(list(value), where)


def _is_shape(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and bool(value) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value)


def from_api(input_size: Any = None, input_data: Any = None, dtypes: Sequence[Any] | None = None,
             batch_dim: int | None = None, forward_kwargs: Mapping[str, Any] | None = None) -> ModelInputs | None:
    """The inputs of ``cnninspect.summary`` (torchinfo's arguments); ``None`` when neither
    ``input_size`` nor ``input_data`` is given (the model's declared input is used)."""
    extra = dict(forward_kwargs or {})
    if input_size is not None and input_data is not None:
        raise UsageError("give input_size or input_data, not both")
    if input_size is None and input_data is None:
        if dtypes is not None:
            raise UsageError("dtypes= applies to input_size=")
        return ModelInputs((), extra) if extra else None
    if input_size is not None:
        shapes = [input_size] if _is_shape(input_size) else list(input_size)
        if not shapes:
            raise UsageError("input_size: expected a shape such as (1, 3, 224, 224) or a list of shapes")
        names: list[str | None] = [None] * len(shapes)
        if dtypes is not None:
            if len(dtypes) != len(shapes):
                raise UsageError(f"dtypes= has {len(dtypes)} entr{'y' if len(dtypes) == 1 else 'ies'} for "
                                 f"{len(shapes)} input{'s' if len(shapes) != 1 else ''}")
            names = [dtype_name(d, "dtypes") for d in dtypes]
        specs = []
        for i, (s, dt) in enumerate(zip(shapes, names)):
            where = "input_size" if len(shapes) == 1 else f"input_size[{i}]"
            dims = list(_int_shape(s, where))
            if batch_dim is not None:
                if not 0 <= batch_dim <= len(dims):
                    raise UsageError(f"batch_dim={batch_dim} is outside the {len(dims)} dimensions of {where}")
                dims.insert(batch_dim, 1)
            specs.append(TensorSpec(tuple(dims), dt))
        batch = 1 if batch_dim is not None else _batch_of(specs[0].shape)
        return ModelInputs(tuple(specs), extra, batch)
    if dtypes is not None:
        raise UsageError("dtypes= applies to input_size=; input_data's tensors carry their own dtypes")
    if isinstance(input_data, Mapping):
        clash = sorted(set(input_data) & set(extra))
        if clash:
            raise UsageError(f"'{clash[0]}' is given both in input_data and as a keyword argument")
        args: tuple[Any, ...] = ()
        kwargs = {**dict(input_data), **extra}
    elif isinstance(input_data, (list, tuple)):
        args, kwargs = tuple(input_data), extra
    else:
        args, kwargs = (input_data,), extra
    first = _first_tensor_shape((args, kwargs))
    batch = 1 if batch_dim is not None or first is None else _batch_of(first)
    return ModelInputs(args, kwargs, batch)


def _batch_of(shape: tuple[int, ...]) -> int:
    return shape[0] if len(shape) >= 2 else 1


def _first_tensor_shape(tree: Any) -> tuple[int, ...] | None:
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return tuple(int(d) for d in tree.shape)
    if isinstance(tree, Mapping):
        tree = list(tree.values())
    if isinstance(tree, (list, tuple)):
        for t in tree:
            found = _first_tensor_shape(t)
            if found is not None:
                return found
    return None


def parse_shape(text: str, where: str) -> tuple[int, ...]:
    """``3x224x224`` (or ``1x3x224x224``: a leading 1 on four or more dimensions is the batch
    of one and is dropped) as a per-sample shape."""
    parts = [p.strip() for p in text.lower().replace(",", "x").split("x")]
    if not text.strip() or not all(p.isdigit() for p in parts):
        raise UsageError(f"{where}: expected a shape such as 3x224x224 (CxHxW), got {shorten(repr(text))}")
    dims = [int(p) for p in parts]
    if len(dims) >= 4 and dims[0] == 1:
        dims = dims[1:]
    return check_shape(dims, where)


def from_cli(texts: Sequence[str], batch: int | None, where: str) -> ModelInputs | None:
    """``--input [NAME=]SHAPE[:DTYPE]`` (repeatable, per sample) and ``--batch N``."""
    if not texts:
        return None if batch is None else ModelInputs((), {}, batch)
    b = batch or 1
    args: list[TensorSpec] = []
    kwargs: dict[str, TensorSpec] = {}
    for text in texts:
        name, eq, rest = text.partition("=")
        if not eq:
            name, rest = "", text
        name = name.strip()
        if eq and not name.isidentifier():
            raise UsageError(f"{where}: {shorten(repr(text))}: a keyword input is NAME=SHAPE[:DTYPE], "
                             "as in mask=16:bool")
        shape_text, colon, dt = rest.partition(":")
        shape = parse_shape(shape_text, where)
        spec = TensorSpec((b, *shape), dtype_name(dt.strip(), where) if colon else None)
        if name:
            if name in kwargs:
                raise UsageError(f"{where}: the keyword input '{name}' is given twice")
            kwargs[name] = spec
        else:
            if kwargs:
                raise UsageError(f"{where}: positional inputs come before keyword inputs ({shorten(text, 40)})")
            args.append(spec)
    return ModelInputs(tuple(args), kwargs, b)


def describe(inputs: ModelInputs) -> str:
    """``1x3x224x224, 1x16:int64, mask=1x16:bool`` for messages."""
    def one(x: Any) -> str:
        if isinstance(x, TensorSpec):
            return x.text()
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return "x".join(map(str, x.shape)) + f":{str(x.dtype).removeprefix('torch.')}"
        return shorten(repr(x), 30)

    parts = [one(a) for a in inputs.args] + [f"{k}={one(v)}" for k, v in inputs.kwargs.items()]
    return ", ".join(parts) or "no input"
