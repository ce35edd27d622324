"""Shape shortcuts for the hot aten operators on the meta device.

On torch 2.13 most meta kernels are Python reference implementations: the first call of
``relu``, ``add``, ``native_batch_norm``, ``mean``, ``cat``... on a meta tensor imports sympy
and ``torch._dynamo`` (about 1 s and 65 MB, docs/benchmarks.md), and every later call runs a
few hundred Python frames. A forward pass on the meta device needs only each result's shape,
dtype and strides, so for the operators a CNN spends its time in, :data:`SHORTCUTS` builds the
result directly with ``torch.empty``/``torch.empty_strided`` (C++ factories, no Python meta
kernel).

A shortcut handles only the plain case: meta tensors, floating dtypes, layouts whose result
strides it computes as PyTorch does (elementwise results follow PyTorch's layout rule, ported
in :func:`elementwise_strides`) and arguments it fully understands. Anything else returns ``NotImplemented`` and the operator's
own meta kernel runs, so an unusual call costs time, never correctness, and errors (a channel
mismatch, a kernel larger than its input) are raised by PyTorch itself with its own message.
``tests/test_meta_shapes.py`` checks every shortcut against PyTorch's meta kernel (shape, dtype
and strides of every result) on a grid of arguments.

The shortcuts port PyTorch internals (the stride rule, the operators' schemas), so they are
used only with the torch versions they are tested with, :data:`TESTED_TORCH`; with any other
torch :func:`shortcut_for` returns None and every operator runs PyTorch's own meta kernel
(correct, slower).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from collections.abc import Callable, Sequence

import torch

from ..ops.aten_rules import ATEN_OPS

aten = torch.ops.aten
META = torch.device("meta")
Shortcut = Callable[..., Any]


def _plain(t: Any) -> bool:
    """A contiguous floating-point meta tensor."""
    return (
        isinstance(t, torch.Tensor)
        and t.device.type == "meta"
        and t.dtype.is_floating_point
        and t.is_contiguous()
    )


def _operand(t: Any) -> bool:
    """A floating-point meta tensor of any layout (matrix products, convolutions and layer
    norm return a contiguous result on the meta device, whatever their inputs' strides)."""
    return isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dtype.is_floating_point


def _new(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=META)


def _like(t: torch.Tensor) -> torch.Tensor:
    return torch.empty(t.shape, dtype=t.dtype, device=META)


def broadcast(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    """NumPy broadcasting of shapes, or None when they do not broadcast (``torch.broadcast_shapes``
    goes through the Python reference implementation, which imports sympy)."""
    n = max(len(s) for s in shapes)
    out = [1] * n
    for s in shapes:
        for i, d in enumerate(s, start=n - len(s)):
            if d != 1:
                if out[i] not in (1, d):
                    return None
                out[i] = d
    return tuple(out)


def _dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Non-overlapping and dense: the elements fill one block of memory in some dimension order."""
    expected = 1
    for size, stride in sorted(((sz, st) for sz, st in zip(shape, strides) if sz != 1), key=lambda d: d[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _contiguous(shape: Sequence[int], strides: Sequence[int], order: Sequence[int]) -> bool:
    """Contiguous when the dimensions are laid out innermost-first in ``order``."""
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def elementwise_strides(shape: Sequence[int], operands: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The strides PyTorch gives an elementwise result of ``shape`` computed from operands with
    these (broadcast, 0 where broadcast) strides: a port of
    ``torch._prims_common.compute_elementwise_output_strides``, which imports sympy."""
    n = len(shape)
    if n == 0:
        return ()
    if n == 1:
        return (1,)
    if len(operands) == 1 and _dense(shape, operands[0]):
        return tuple(operands[0])
    contiguous = all(_contiguous(shape, st, range(n - 1, -1, -1)) for st in operands)
    channels_last_order = {4: (1, 3, 2, 0), 5: (1, 4, 3, 2, 0)}.get(n)
    channels_last = channels_last_order is not None and all(_contiguous(shape, st, channels_last_order) for st in operands)
    if contiguous and not channels_last:
        perm = list(range(n))
    elif channels_last and not contiguous:
        perm = [0, *range(2, n), 1]
    else:

        def ge(a: int, b: int) -> bool:
            return True if b == 0 else False if a == 0 else (a >= b or a % b == 0)

        def should_swap(a: int, b: int) -> int:
            for st in operands:
                sa, sb = st[a], st[b]
                if sa == 0 or sb == 0:
                    continue
                if sa == sb:
                    if ge(shape[b], shape[a]):
                        continue
                    return 1
                if ge(sb, sa):
                    return -1
                if ge(sa, sb):
                    return 1
            return 0

        perm = list(reversed(range(n)))
        for i in range(1, n):
            dim1 = i
            for dim0 in reversed(range(i)):
                c = should_swap(perm[dim0], perm[dim1])
                if c > 0:
                    perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                    dim1 = dim0
                elif c < 0:
                    break
        perm.reverse()
    physical = [shape[p] for p in perm]
    strides = [0] * n
    acc = 1
    for i in range(n - 1, -1, -1):
        strides[i] = acc
        acc *= max(physical[i], 1)
    out = [0] * n
    for i, p in enumerate(perm):
        out[p] = strides[i]
    return tuple(out)


def _expanded(t: torch.Tensor, shape: Sequence[int]) -> list[int]:
    """``t``'s strides once broadcast to ``shape`` (0 along broadcast dimensions)."""
    off = len(shape) - t.dim()
    out = [0] * len(shape)
    for i in range(t.dim()):
        if not (t.shape[i] == 1 and shape[off + i] != 1):
            out[off + i] = t.stride(i)
    return out


def unary(x: Any, *args: Any, **kwargs: Any) -> Any:
    """Elementwise on one tensor (activations, ``mul.Scalar``): same shape, dtype and layout."""
    if not _operand(x) or any(isinstance(a, torch.Tensor) for a in (*args, *kwargs.values())):
        return NotImplemented
    if not _dense(x.shape, x.stride()):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)


def _softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    if half_to_float or not _plain(x):
        return NotImplemented
    return _like(x)


def binary(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    """Elementwise on two operands with broadcasting: meta tensors of one floating dtype or a
    Python number; the result's layout follows PyTorch's rule for elementwise outputs."""
    if not _operand(a) or any(isinstance(x, torch.Tensor) for x in (*args, *kwargs.values())):
        return NotImplemented
    tensors = [a]
    if isinstance(b, torch.Tensor):
        if not _operand(b) or b.dtype != a.dtype:
            return NotImplemented
        tensors.append(b)
    elif not isinstance(b, (int, float)) or isinstance(b, bool):
        return NotImplemented
    shape = broadcast(*(t.shape for t in tensors))
    if shape is None:
        return NotImplemented
    strides = elementwise_strides(shape, [_expanded(t, shape) for t in tensors])
    return torch.empty_strided(shape, strides, dtype=a.dtype, device=META)


def inplace(self: Any, *args: Any, **kwargs: Any) -> Any:
    """In-place elementwise or initialisation (``add_``, ``relu_``, ``uniform_``, ``copy_``):
    the result is ``self``, once every tensor argument broadcasts to its shape."""
    if not isinstance(self, torch.Tensor) or self.device.type != "meta":
        return NotImplemented
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            if a.device.type != "meta" and a.dim() != 0:
                return NotImplemented
            if broadcast(a.shape, self.shape) != tuple(self.shape):
                return NotImplemented
    return self


def _ints(v: Any, n: int) -> list[int] | None:
    """An int or a list of ints as n ints (PyTorch repeats a single value)."""
    if isinstance(v, int):
        return [v] * n
    if isinstance(v, (list, tuple)) and all(isinstance(i, int) for i in v):
        if len(v) == n:
            return list(v)
        if len(v) == 1:
            return list(v) * n
    return None


def convolution(x: Any, w: Any, bias: Any, stride: Any, padding: Any, dilation: Any, transposed: bool,
                output_padding: Any, groups: int) -> Any:
    if not (_operand(x) and _operand(w) and x.dtype == w.dtype and x.dim() == w.dim() >= 3):
        return NotImplemented
    n = x.dim() - 2
    st, pad, dil, opad = _ints(stride, n), _ints(padding, n), _ints(dilation, n), _ints(output_padding, n)
    if st is None or pad is None or dil is None or opad is None or groups < 1:
        return NotImplemented
    if min(st) < 1 or min(dil) < 1 or min(pad) < 0 or min(opad) < 0:
        return NotImplemented
    kernel = w.shape[2:]
    if transposed:
        if x.shape[1] != w.shape[0] or w.shape[0] % groups:
            return NotImplemented
        cout = w.shape[1] * groups
        out = [(s - 1) * t - 2 * p + d * (k - 1) + o + 1 for s, k, t, p, d, o in zip(x.shape[2:], kernel, st, pad, dil, opad)]
    else:
        if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
            return NotImplemented
        cout = w.shape[0]
        out = [(s + 2 * p - d * (k - 1) - 1) // t + 1 for s, k, t, p, d in zip(x.shape[2:], kernel, st, pad, dil)]
        if any(s + 2 * p < d * (k - 1) + 1 for s, k, p, d in zip(x.shape[2:], kernel, pad, dil)):
            return NotImplemented
    if bias is not None and not (_operand(bias) and tuple(bias.shape) == (cout,)):
        return NotImplemented
    if min(out) < 1:
        return NotImplemented
    return _new([x.shape[0], cout, *out], x.dtype)


def mm(a: Any, b: Any) -> Any:
    if not (_operand(a) and _operand(b) and a.dtype == b.dtype and a.dim() == b.dim() == 2 and a.shape[1] == b.shape[0]):
        return NotImplemented
    return _new([a.shape[0], b.shape[1]], a.dtype)


def addmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    out = mm(a, b)
    if out is NotImplemented or not _operand(bias) or bias.dtype != a.dtype:
        return NotImplemented
    return out if broadcast(bias.shape, out.shape) == tuple(out.shape) else NotImplemented


def bmm(a: Any, b: Any) -> Any:
    if not (_operand(a) and _operand(b) and a.dtype == b.dtype and a.dim() == b.dim() == 3
            and a.shape[0] == b.shape[0] and a.shape[2] == b.shape[1]):
        return NotImplemented
    return _new([a.shape[0], a.shape[1], b.shape[2]], a.dtype)


def _norm_args_ok(x: Any, *tensors: Any) -> bool:
    return _plain(x) and all(t is None or (_plain(t) and t.dtype == x.dtype) for t in tensors)


def batch_norm(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, *rest: Any) -> Any:
    """``native_batch_norm`` and its ``_legit`` variants: the output, and the saved mean and
    inverse standard deviation per channel (what the meta kernels return)."""
    if not _norm_args_ok(x, weight, bias, running_mean, running_var) or x.dim() < 2:
        return NotImplemented
    c = x.shape[1]
    if any(t is not None and tuple(t.shape) != (c,) for t in (weight, bias, running_mean, running_var)):
        return NotImplemented
    return _like(x), _new([c], x.dtype), _new([c], x.dtype)


def layer_norm(x: Any, normalized_shape: Any, weight: Any, bias: Any, eps: float) -> Any:
    if not (_operand(x) and _norm_args_ok(_like(x), weight, bias)) or not isinstance(normalized_shape, (list, tuple)):
        return NotImplemented
    k = len(normalized_shape)
    if k == 0 or k > x.dim() or tuple(x.shape[x.dim() - k:]) != tuple(normalized_shape):
        return NotImplemented
    if any(t is not None and tuple(t.shape) != tuple(normalized_shape) for t in (weight, bias)):
        return NotImplemented
    stat = list(x.shape[: x.dim() - k]) + [1] * k
    return _like(x), _new(stat, x.dtype), _new(stat, x.dtype)


def group_norm(x: Any, weight: Any, bias: Any, n: int, c: int, hxw: int, group: int, eps: float) -> Any:
    if not _norm_args_ok(x, weight, bias) or x.dim() < 2 or group < 1 or c % group:
        return NotImplemented
    if x.shape[0] != n or x.shape[1] != c or x.numel() != n * c * hxw:
        return NotImplemented
    if any(t is not None and tuple(t.shape) != (c,) for t in (weight, bias)):
        return NotImplemented
    return _like(x), _new([n, group], x.dtype), _new([n, group], x.dtype)


def _reduced(x: Any, dim: Any, keepdim: bool) -> list[int] | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        dims = set(range(x.dim()))
    else:
        raw = [dim] if isinstance(dim, int) else dim
        if not all(isinstance(d, int) and -x.dim() <= d < x.dim() for d in raw):
            return None
        dims = {d % x.dim() for d in raw}
        if len(dims) != len(raw):
            return None
    if keepdim:
        return [1 if i in dims else s for i, s in enumerate(x.shape)]
    return [s for i, s in enumerate(x.shape) if i not in dims]


def reduce_dims(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    """``mean.dim``, ``sum.dim_IntList``, ``amax``: the reduced shape, same dtype."""
    if not _plain(x) or x.dim() == 0 or dtype not in (None, x.dtype):
        return NotImplemented
    shape = _reduced(x, dim, keepdim)
    return NotImplemented if shape is None else _new(shape, x.dtype)


def _pool_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int | None:
    """PyTorch's ``pooling_output_shape`` (the last window must start inside the input or
    the left padding when ``ceil_mode``)."""
    if k < 1 or s < 1 or d < 1 or p < 0 or p > k // 2:
        return None
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out if out >= 1 and span >= 0 else None


def _pool_shape(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                dims: int = 2) -> list[int] | None:
    if not _plain(x) or x.dim() != dims + 2:
        return None
    k = _ints(kernel, dims)
    s = _ints(stride, dims) if stride not in (None, [], ()) else k
    p, d = _ints(padding, dims), _ints(dilation, dims)
    if k is None or s is None or p is None or d is None:
        return None
    out = [_pool_size(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(dims)]
    if any(o is None for o in out):
        return None
    return [x.shape[0], x.shape[1], *out]  # type: ignore[list-item]


def max_pool2d_with_indices(x: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
                            ceil_mode: bool = False) -> Any:
    shape = _pool_shape(x, kernel_size, stride, padding, dilation, ceil_mode)
    if shape is None:
        return NotImplemented
    return _new(shape, x.dtype), _new(shape, torch.int64)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Any = None) -> Any:
    shape = _pool_shape(x, kernel_size, stride, padding, 1, ceil_mode)
    return NotImplemented if shape is None else _new(shape, x.dtype)


def avg_pool3d(x: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Any = None) -> Any:
    shape = _pool_shape(x, kernel_size, stride, padding, 1, ceil_mode, dims=3)
    return NotImplemented if shape is None else _new(shape, x.dtype)


def cdist(x1: Any, x2: Any, p: float, compute_mode: Any = None) -> Any:
    """``_cdist_forward``: distances between the rows of ``(..., P, M)`` and ``(..., R, M)``."""
    if not (_operand(x1) and _operand(x2) and x1.dtype == x2.dtype and x1.dim() == x2.dim() >= 2):
        return NotImplemented
    if x1.shape[:-2] != x2.shape[:-2] or x1.shape[-1] != x2.shape[-1]:
        return NotImplemented
    return _new([*x1.shape[:-1], x2.shape[-2]], x1.dtype)


def _adaptive_shape(x: Any, output_size: Any) -> list[int] | None:
    if not _plain(x) or x.dim() != 4 or min(x.shape[2:]) < 1:
        return None
    size = _ints(output_size, 2)
    if size is None or min(size) < 1:
        return None
    return [x.shape[0], x.shape[1], *size]


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Any:
    shape = _adaptive_shape(x, output_size)
    return NotImplemented if shape is None else _new(shape, x.dtype)


def adaptive_max_pool2d(x: Any, output_size: Any) -> Any:
    shape = _adaptive_shape(x, output_size)
    return NotImplemented if shape is None else (_new(shape, x.dtype), _new(shape, torch.int64))


def cat(tensors: Any, dim: int = 0) -> Any:
    if not isinstance(tensors, (list, tuple)) or not tensors or not all(_plain(t) and t.numel() for t in tensors):
        return NotImplemented
    first = tensors[0]
    nd = first.dim()
    if not isinstance(dim, int) or not -nd <= dim < nd:
        return NotImplemented
    d = dim % nd
    for t in tensors:
        if t.dtype != first.dtype or t.dim() != nd:
            return NotImplemented
        if any(t.shape[i] != first.shape[i] for i in range(nd) if i != d):
            return NotImplemented
    shape = list(first.shape)
    shape[d] = sum(t.shape[d] for t in tensors)
    return _new(shape, first.dtype)


def upsample(x: Any, output_size: Any, *args: Any, **kwargs: Any) -> Any:
    """``upsample_nearest2d``/``upsample_bilinear2d`` with an explicit output size."""
    if not _plain(x) or x.dim() != 4:
        return NotImplemented
    size = _ints(output_size, 2)
    if size is None or min(size) < 1:
        return NotImplemented
    return _new([x.shape[0], x.shape[1], *size], x.dtype)


_UNARY = (
    aten.relu.default, aten.sigmoid.default, aten.tanh.default, aten.silu.default, aten.hardswish.default,
    aten.hardsigmoid.default, aten.gelu.default, aten.elu.default, aten.leaky_relu.default, aten.hardtanh.default,
    aten.softplus.default, aten.mish.default, aten.neg.default, aten.exp.default, aten.sqrt.default,
    aten.rsqrt.default, aten.abs.default, aten.erf.default, aten.clamp.default, aten.clamp_min.default,
    aten.clamp_max.default, aten.pow.Tensor_Scalar, aten.mul.Scalar, aten.add.Scalar, aten.sub.Scalar,
    aten.div.Scalar, aten.reciprocal.default, aten.sign.default,
)
_BINARY = (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.maximum.default,
           aten.minimum.default)

SHORTCUTS: dict[Any, Shortcut] = {
    **{op: unary for op in _UNARY},
    **{op: binary for op in _BINARY},
    aten._softmax.default: _softmax,
    aten._log_softmax.default: _softmax,
    aten.convolution.default: convolution,
    aten.mm.default: mm,
    aten.addmm.default: addmm,
    aten.bmm.default: bmm,
    aten.native_batch_norm.default: batch_norm,
    aten._native_batch_norm_legit_no_training.default: batch_norm,
    aten._native_batch_norm_legit.default: batch_norm,
    aten.native_layer_norm.default: layer_norm,
    aten.native_group_norm.default: group_norm,
    aten.mean.dim: reduce_dims,
    aten.sum.dim_IntList: reduce_dims,
    aten.amax.default: reduce_dims,
    aten.max_pool2d_with_indices.default: max_pool2d_with_indices,
    aten.avg_pool2d.default: avg_pool2d,
    aten.avg_pool3d.default: avg_pool3d,
    aten._cdist_forward.default: cdist,
    aten._adaptive_avg_pool2d.default: adaptive_avg_pool2d,
    aten.adaptive_max_pool2d.default: adaptive_max_pool2d,
    aten.cat.default: cat,
    aten.upsample_nearest2d.default: upsample,
    aten.upsample_bilinear2d.default: upsample,
}

# in-place operators whose result is their first argument, unchanged in shape
_INPLACE_CATEGORIES = ("activation", "elementwise", "creation")
_INPLACE_EXTRA = ("copy",)


# torch versions the shortcuts are tested with: at least the first, below the second
TESTED_TORCH: tuple[tuple[int, int], tuple[int, int]] = ((2, 13), (2, 14))


@lru_cache(maxsize=8)
def tested_torch(version: str) -> bool:
    """Whether a torch version string ("2.13.0+cpu", "2.14.0.dev20260101") is in :data:`TESTED_TORCH`."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        return False
    low, high = TESTED_TORCH
    return low <= (int(found.group(1)), int(found.group(2))) < high


def shortcut_for(func: Any) -> Shortcut | None:
    """The shortcut of an operator overload (cached by the caller), or None; always None
    outside the tested torch versions."""
    if not tested_torch(torch.__version__):
        return None
    found = SHORTCUTS.get(func)
    if found is not None:
        return found
    name = func._overloadpacket.__name__
    if name.endswith("_") and not name.endswith("__"):
        base = name[:-1]
        args = func._schema.arguments
        writes_self = bool(args) and args[0].alias_info is not None and args[0].alias_info.is_write
        known = ATEN_OPS.get(base)
        if writes_self and (base in _INPLACE_EXTRA or (known is not None and known.category in _INPLACE_CATEGORIES)):
            return inplace
    return None
