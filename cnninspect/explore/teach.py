"""Teaching mode of ``explain``: one op worked out by hand.

``cnninspect explain conv2d --input 5x5 --kernel 3 --stride 1 --padding valid`` shows the
output-size formula, the multiply-adds and the parameters with their formulas (the same
rules the model analysis uses); ``--example`` works the source deck's example: its 5x5
binary image and 3x3 filter, every output cell as its sum of products (or max, or mean),
ending in the deck's feature map ``[[4, 3, 4], [2, 4, 3], [2, 3, 4]]``.

The op names are the kinds whose record is marked ``teach`` (:data:`TEACH_OPS`); no bundled spec may use one of them
as its name (a test checks), so ``explain NAME`` is never ambiguous. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..ops.conventions import get_convention
from ..base.errors import UsageError
from ..ops.formulas import Formula
from ..ops.kind import OpFacts
from ..ops.kinds import KINDS, OpKind, Role
from ..ops.primitives import Shape, ShapeError, resolve_padding, window_out

# The source deck's convolution example ("Filter (Kernel) and Feature Map").
DECK_IMAGE: tuple[tuple[int, ...], ...] = (
    (1, 1, 1, 0, 0),
    (0, 1, 1, 1, 0),
    (0, 0, 1, 1, 1),
    (0, 0, 1, 1, 0),
    (0, 1, 1, 0, 0),
)
DECK_FILTER: tuple[tuple[int, ...], ...] = ((1, 0, 1), (0, 1, 0), (1, 0, 1))
DECK_FEATURE_MAP: tuple[tuple[int, ...], ...] = ((4, 3, 4), (2, 4, 3), (2, 3, 4))


# the op kinds ``explain KIND`` works by hand (records marked ``teach``): a weighted window
# (role CONV, the sum of products with a filter) or a pooling window (the record's ``reduce``)
TEACH_OPS: dict[str, OpKind] = {k.kind: k for k in KINDS.values() if k.teach}

PADDINGS = "valid, same (PyTorch: k//2 on each side), same-tf (TensorFlow) or a number of pixels"


@dataclass(frozen=True)
class SizeStep:
    axis: str
    symbols: str
    numbers: str
    value: int


@dataclass(frozen=True)
class CellStep:
    row: int
    col: int
    computation: str
    value: Fraction


@dataclass(frozen=True)
class Example:
    image: tuple[tuple[int, ...], ...]
    padded: tuple[tuple[int, ...], ...] | None  # the image with its zero padding, if any
    filter: tuple[tuple[int, ...], ...] | None
    cells: tuple[CellStep, ...]
    output: tuple[tuple[Fraction, ...], ...]


@dataclass(frozen=True)
class Lesson:
    op: OpKind
    in_shape: Shape
    out_shape: Shape
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: str
    pad: tuple[int, int, int, int]
    ceil_mode: bool
    sizes: tuple[SizeStep, ...]
    mult_adds: Formula  # the paper convention's rule for this op
    params: Formula
    example: Example | None


def parse_dims(text: str, what: str, n: int) -> tuple[int, ...]:
    """``5`` -> (5, 5) for n=2; ``5x5`` -> (5, 5); ``1x5x5`` for the input."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"{what}: expected numbers like 5 or 5x5, got {text!r}") from None
    if len(values) == 1 and n == 2:
        values = values * 2
    if any(v < 1 for v in values):
        raise UsageError(f"{what}: sizes must be positive, got {text!r}")
    return values


def _input_shape(text: str) -> Shape:
    dims = parse_dims(text, "--input", 2)
    if len(dims) == 2:
        return (1, *dims)
    if len(dims) == 3:
        return dims
    raise UsageError(f"--input: expected HxW or CxHxW, got {text!r}")


def _size_step(axis: str, size: int, k: int, s: int, before: int, after: int, ceil_mode: bool, out: int) -> SizeStep:
    sym = axis[0].upper()
    rounding = "ceil" if ceil_mode else "floor"
    before_after = "p_top + p_bottom" if sym == "H" else "p_left + p_right"
    symbols = f"{rounding}(({sym}_in + {before_after} - k_{axis[0]}) / s_{axis[0]}) + 1"
    numbers = f"{rounding}(({size} + {before} + {after} - {k}) / {s}) + 1 = {out}"
    if ceil_mode and out != -(-(size + before + after - k) // s) + 1:
        numbers += " (the last window would start past the input: dropped, as PyTorch does)"
    return SizeStep(axis, symbols, numbers, out)


def lesson(op_name: str, *, input: str | None, kernel: str | None, stride: str | None, padding: str | None,
           filters: int = 1, bias: bool = True, ceil_mode: bool = False, example: bool = False) -> Lesson:
    """Work out one op. With ``example`` the deck's 5x5 image is the input (and, for
    conv2d, the deck's 3x3 filter the kernel)."""
    op = TEACH_OPS[op_name]
    weighted = op.role is Role.CONV
    if example:
        if input is not None and _input_shape(input) != (1, 5, 5):
            raise UsageError("--example works the deck's 5x5 image (one channel): drop --input or give 5x5")
        if weighted and kernel is not None and parse_dims(kernel, "--kernel", 2) != (3, 3):
            raise UsageError("--example uses the deck's 3x3 filter: drop --kernel or give 3")
        if filters != 1:
            raise UsageError("--example uses the deck's single filter: drop --filters")
    in_shape = _input_shape(input or "5x5")
    kh, kw = parse_dims(kernel or ("3" if weighted else "2"), "--kernel", 2)
    sh, sw = parse_dims(stride, "--stride", 2) if stride else ((1, 1) if weighted else (kh, kw))
    pad_text = (padding or "valid").lower()
    if pad_text in ("valid", "same"):
        mode: Any = pad_text
    elif pad_text == "same-tf":
        mode = "same"
    else:
        try:
            p = int(pad_text)
        except ValueError:
            raise UsageError(f"--padding: expected {PADDINGS}; got {padding!r}") from None
        if p < 0:
            raise UsageError(f"--padding must not be negative, got {p}")
        mode = (p, p)
    try:
        pad, _tag = resolve_padding(mode, "tf" if pad_text == "same-tf" else "torch", in_shape[1:], (kh, kw), (sh, sw))
    except ShapeError as exc:
        raise UsageError(f"--padding {pad_text}: {exc}") from None
    if not weighted and (max(pad[:2]) > kh // 2 or max(pad[2:]) > kw // 2):
        raise UsageError(f"--padding: pooling pads at most half the kernel ({kh // 2}), got {max(pad)}")
    if weighted and ceil_mode:
        raise UsageError(f"--ceil-mode applies to pooling, not to {op.kind}")
    c, h, w = in_shape
    t, b, left, r = pad
    oh = window_out(h, kh, sh, (t, b), ceil_mode)
    ow = window_out(w, kw, sw, (left, r), ceil_mode)
    if oh <= 0 or ow <= 0:
        raise UsageError(f"a {kh}x{kw} window with padding {t},{b},{left},{r} does not fit the {h}x{w} input")
    out_ch = filters if weighted else c
    out_shape = (out_ch, oh, ow)
    sizes = (_size_step("height", h, kh, sh, t, b, ceil_mode, oh), _size_step("width", w, kw, sw, left, r, ceil_mode, ow))
    if weighted:
        attrs: dict[str, Any] = dict(in_ch=c, out_ch=filters, kernel=(kh, kw), stride=(sh, sw), pad=pad,
                                     pad_tag=_tag, groups=1, bias=bias)
    else:
        attrs = dict(kernel=(kh, kw), stride=(sh, sw), pad=pad, ceil_mode=ceil_mode, count_include_pad=True)
    facts = OpFacts(op.kind, attrs, in_shape, out_shape, op.param_counts(attrs), op.torch_class(attrs))
    macs = get_convention("paper").formula(facts)
    params = op.param_formula(attrs)
    ex = work_example(op, DECK_IMAGE, DECK_FILTER if weighted else None, (kh, kw), (sh, sw), pad,
                      (oh, ow)) if example else None
    return Lesson(op, in_shape, out_shape, (kh, kw), (sh, sw), pad_text, pad, ceil_mode, sizes, macs, params, ex)


def _pad_image(image: tuple[tuple[int, ...], ...], pad: tuple[int, int, int, int]) -> tuple[tuple[int, ...], ...]:
    t, b, left, r = pad
    width = len(image[0]) + left + r
    zeros = (0,) * width
    return (zeros,) * t + tuple((0,) * left + row + (0,) * r for row in image) + (zeros,) * b


def work_example(op: OpKind, image: tuple[tuple[int, ...], ...], filt: tuple[tuple[int, ...], ...] | None,
                 kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int, int, int],
                 out_hw: tuple[int, int]) -> Example:
    """Every output cell of ``op`` on ``image``, computed as the deck does by hand.

    Windows are clipped to the padded image (ceil-mode windows may hang over its edge);
    average pooling divides by the window's size within the padded image, as PyTorch's
    ``count_include_pad=True`` does.
    """
    padded = _pad_image(image, pad)
    ph, pw = len(padded), len(padded[0])
    h, w = len(image), len(image[0])
    t, left = pad[0], pad[2]
    (kh, kw), (sh, sw) = kernel, stride
    cells: list[CellStep] = []
    output: list[tuple[Fraction, ...]] = []
    for i in range(out_hw[0]):
        row_values = []
        for j in range(out_hw[1]):
            rows = range(i * sh, min(i * sh + kh, ph))
            cols = range(j * sw, min(j * sw + kw, pw))
            window = [(padded[y][x], (y - i * sh, x - j * sw)) for y in rows for x in cols]
            inside = [padded[y][x] for y in rows for x in cols if t <= y < t + h and left <= x < left + w]
            if op.reduce == "sum of products":
                assert filt is not None
                products = [(v, filt[dy][dx]) for v, (dy, dx) in window]
                value = Fraction(sum(v * w for v, w in products))
                text = " + ".join(f"{v}x{w}" for v, w in products)
            elif op.reduce == "max":
                value = Fraction(max(inside))  # padding never wins a max (PyTorch pads with -inf)
                text = "max(" + ", ".join(str(v) for v in inside) + ")"
            else:
                total = sum(v for v, _ in window)
                value = Fraction(total, len(window))
                text = "(" + " + ".join(str(v) for v, _ in window) + f") / {len(window)}"
                if value.denominator != 1:
                    text += f" = {total}/{len(window)}"
            cells.append(CellStep(i, j, text, value))
            row_values.append(value)
        output.append(tuple(row_values))
    return Example(image, padded if any(pad) else None, filt, tuple(cells), tuple(output))


def fmt_value(v: Fraction) -> str:
    """An exact integer, or a fraction's decimal value to four significant digits."""
    return str(v.numerator) if v.denominator == 1 else f"{float(v):.4g}"
