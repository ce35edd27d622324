"""Counting conventions at the operator level: the registry of aten operators, and rules for
the operators no op record takes.

A spec's report counts the op kinds of :mod:`cnninspect.ops.kinds` with the rules of
:mod:`cnninspect.ops.conventions`. A Python ``nn.Module``'s forward pass is captured as the
aten operators PyTorch dispatches (``convolution``, ``addmm``, ``bmm``, ``native_batch_norm``,
``mean`` ...; :mod:`cnninspect.capture.forward`). A call that lowers onto an op record
(:mod:`cnninspect.ops.lowering`: a convolution, a fully connected layer's product, a batch,
layer or group norm, an adaptive average pool) is counted by that record's rule, as a spec's
op is; this module says what each convention counts for every other call (a transposed
convolution, attention's products, upsampling, anything a model calls). Nothing here imports
torch.

* :data:`ATEN_OPS` registers every operator we know by name (the overload packet name with
  an in-place ``_`` removed: ``add_`` is ``add``) with a :data:`CATEGORIES` entry.
* :data:`ATEN_TABLES` maps each convention to an :class:`AtenTable`: a rule per operator or
  per category, and the policies that come before any rule (work a tracer drops, the
  caller's own rules, work hidden in fused CPU operators). A rule returns the multiply-adds
  of one call, or ``None`` when the convention cannot count that call; a table entry
  ``None`` means "deliberately not counted" (the convention's definition excludes it, e.g.
  activations under ``paper``).
* An operator that is not registered, or whose rule returns ``None``, is **uncounted**: every
  output lists it by name and call count, never as a silent zero.
* :data:`MODULE_RULES` holds per-module rules for conventions defined on modules rather than
  operators (``torchinfo`` counts each leaf module's parameters).

Adding an operator: register it in :data:`ATEN_OPS` under a category; if it is an op kind's
work, name it in that record's ``aten`` list (and read its attributes in ``from_call``);
otherwise, if some convention counts it, add a rule to that convention's table
(``tests/test_meta_shapes.py`` checks every convention has a rule for every category).
Adding a convention: add its table here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Mapping

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorMeta:
    """A tensor argument or result of an operator call: full shape (batch 1 included), dtype,
    and whether it is *constant*, i.e. does not depend on the model input (parameters,
    buffers and anything computed from them alone, such as ``weight.t()``)."""

    shape: Shape
    dtype: str
    const: bool

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OpCall:
    """One call of an aten operator during the captured forward pass: what a rule may look at.

    ``args`` holds the positional arguments with tensors as :class:`TensorMeta` (lists of
    tensors as tuples), ``None`` for absent optional tensors and plain values otherwise.
    ``via`` is the outermost public torch function the operator was dispatched from
    (``adaptive_avg_pool2d``, ``scaled_dot_product_attention``, ``linear``...), which tells
    apart operators PyTorch shares between functions (``mean`` serves both ``x.mean()`` and
    ``adaptive_avg_pool2d(x, 1)``). ``in_leaf`` is true inside a leaf module (one without
    submodules); ``live`` is false when no result reaches the model's output. ``kernels``
    names the fused aten operators that do this call's work instead when the model runs on
    real CPU tensors in eval mode under ``torch.no_grad()``, outermost first (the
    ``nn.TransformerEncoderLayer`` and ``nn.MultiheadAttention`` fast paths, CPU flash
    attention, oneDNN's LSTM; and the one operator a TorchScript trace holds for an RNN
    module, ``aten::lstm``/``gru``/``rnn_*``, or a convolution with string padding,
    ``aten::_convolution_mode``): a tool that sees only those operators counts
    what its formula for them says, often nothing.
    """

    op: str
    overload: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    outputs: tuple[TensorMeta | None, ...]
    via: str | None = None
    inplace: bool = False
    in_leaf: bool = False
    live: bool = True
    kernels: tuple[str, ...] = ()
    namespace: str = "aten"  # the operator library: aten, or a custom op's (torch.library)

    @property
    def qualname(self) -> str:
        return f"{self.namespace}.{self.op}"

    def tensor(self, i: int) -> TensorMeta:
        t = self.args[i]
        if not isinstance(t, TensorMeta):
            raise TypeError(f"argument {i} of aten.{self.op} is not a tensor")
        return t

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        if i < len(self.args):
            return self.args[i]
        return self.kwargs.get(name, default)

    def out(self, i: int = 0) -> TensorMeta:
        t = self.outputs[i]
        if t is None:
            raise TypeError(f"aten.{self.op} returned no tensor {i}")
        return t


AtenRule = Callable[[OpCall], "int | None"]

# --- the operator registry ---------------------------------------------------------------

CATEGORIES: dict[str, str] = {
    "conv": "convolution",
    "matmul": "matrix products (fully connected layers, attention scores)",
    "attention": "fused attention kernels",
    "distance": "pairwise distances (RBF units)",
    "norm": "batch, layer and group normalisation",
    "pool": "pooling",
    "resample": "interpolation and grid sampling",
    "activation": "activation functions",
    "elementwise": "elementwise arithmetic and comparisons",
    "reduction": "reductions (mean, sum, max, var ...)",
    "softmax": "softmax",
    "view": "views and reshapes (no data moved)",
    "copy": "data movement (concatenation, padding, indexing, copies)",
    "creation": "tensor creation and random initialisation",
    "dropout": "dropout",
    "scalar": "reading a scalar or checking a value",
}


@dataclass(frozen=True)
class AtenOp:
    name: str
    category: str


ATEN_OPS: dict[str, AtenOp] = {}


def register_aten(category: str, *names: str) -> None:
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    for name in names:
        if name in ATEN_OPS:
            raise ValueError(f"aten op {name!r} registered twice")
        ATEN_OPS[name] = AtenOp(name, category)


register_aten("conv", "convolution", "_convolution", "convolution_overrideable")
register_aten("matmul", "mm", "addmm", "_addmm_activation", "bmm", "baddbmm", "addbmm", "mv", "addmv", "dot", "vdot")
register_aten("attention", "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
              "_scaled_dot_product_fused_attention_overrideable")
register_aten("distance", "_cdist_forward", "_euclidean_dist")
register_aten("norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
              "_batch_norm_with_update", "_batch_norm_no_update", "native_layer_norm", "native_group_norm",
              "_fused_rms_norm", "rms_norm")
register_aten("pool", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d", "max_pool2d",
              "avg_pool2d", "avg_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d",
              "adaptive_max_pool3d", "max_unpool2d")
register_aten("resample", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
              "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
              "_upsample_bilinear2d_aa", "upsample_bicubic2d", "_upsample_bicubic2d_aa", "upsample_trilinear3d",
              "grid_sampler_2d", "grid_sampler_3d", "affine_grid_generator")
register_aten("activation", "relu", "relu6", "hardtanh", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid", "gelu",
              "elu", "selu", "celu", "leaky_relu", "rrelu_with_noise", "_prelu_kernel", "softplus", "softshrink",
              "hardshrink", "mish", "log_sigmoid_forward", "threshold", "glu", "logit")
register_aten("elementwise", "add", "sub", "rsub", "mul", "div", "neg", "pow", "sqrt", "rsqrt", "reciprocal", "exp",
              "exp2", "expm1", "log", "log2", "log10", "log1p", "abs", "sign", "sgn", "sin", "cos", "tan", "atan",
              "atan2", "sinh", "cosh", "asin", "acos", "erf", "erfc", "erfinv", "clamp", "clamp_min", "clamp_max",
              "clip", "maximum", "minimum", "fmax", "fmin", "where", "eq", "ne", "gt", "ge", "lt", "le", "logical_and",
              "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor",
              "floor", "ceil", "round", "trunc", "frac", "fmod", "remainder", "floor_divide", "masked_fill", "addcmul",
              "addcdiv", "lerp", "square", "hypot", "isnan", "isinf", "isfinite", "nan_to_num", "heaviside",
              "copysign", "true_divide", "xlogy", "lgamma", "digamma", "tril", "triu")
register_aten("reduction", "mean", "sum", "nansum", "prod", "amax", "amin", "max", "min", "aminmax", "var", "std",
              "var_mean", "std_mean", "norm", "linalg_vector_norm", "logsumexp", "argmax", "argmin", "cumsum",
              "cumprod", "any", "all", "count_nonzero", "median", "mode", "topk", "sort", "argsort", "kthvalue")
register_aten("softmax", "_softmax", "_log_softmax", "_safe_softmax")
register_aten("view", "view", "_unsafe_view", "_reshape_alias", "reshape", "t", "transpose", "permute", "expand",
              "expand_as", "unsqueeze", "squeeze", "select", "slice", "narrow", "as_strided", "alias", "unfold",
              "split", "split_with_sizes", "unbind", "chunk", "view_as_real", "view_as_complex", "detach", "diagonal",
              "lift_fresh", "movedim", "numpy_T", "_conj", "_neg_view", "real", "imag", "view_as", "unflatten",
              "flatten", "tensor_split", "align_to", "mT", "mH", "adjoint", "swapaxes", "swapdims")
register_aten("copy", "cat", "stack", "clone", "contiguous", "_to_copy", "copy", "constant_pad_nd", "reflection_pad1d",
              "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d",
              "index_select", "index", "index_put", "_index_put_impl", "index_add", "index_copy", "index_fill",
              "gather", "scatter", "scatter_add", "scatter_reduce", "masked_scatter", "masked_select", "roll", "flip",
              "repeat", "repeat_interleave", "tile", "embedding", "embedding_bag", "_embedding_bag", "one_hot",
              "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "im2col", "col2im",
              "nonzero", "unique", "_unique2", "take", "put", "diag", "diag_embed", "lift_fresh_copy",
              "_pin_memory", "to", "type_as", "fill_diagonal", "block_diag", "resize", "set", "_reshape_copy")
register_aten("creation", "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros",
              "zeros_like", "new_zeros", "ones", "ones_like", "new_ones", "full", "full_like", "new_full",
              "scalar_tensor", "arange", "linspace", "logspace", "eye", "tensor", "rand", "rand_like", "randn",
              "randn_like", "randint", "randint_like", "randperm", "normal", "uniform", "bernoulli", "exponential",
              "geometric", "log_normal", "cauchy", "random", "multinomial", "fill", "zero", "_efficientzerotensor",
              "complex", "polar", "meshgrid", "tril_indices", "triu_indices")
register_aten("dropout", "native_dropout", "dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout")
register_aten("scalar", "_local_scalar_dense", "item", "_assert_async", "_assert_scalar", "_functional_assert_async",
              "sym_constrain_range", "sym_constrain_range_for_size", "equal", "is_nonzero", "allclose", "is_same_size")


# --- formulas ----------------------------------------------------------------------------------


def conv_macs(c: OpCall) -> int:
    """Output elements x input channels per group x kernel area (transposed: input elements x
    output channels per group x kernel area). Either way ``numel x prod(weight.shape[1:])``,
    fvcore's ``conv_flop_count``; the bias is not counted."""
    x, w = c.tensor(0), c.tensor(1)
    transposed = bool(c.arg(6, "transposed", False))
    return (x.numel if transposed else c.out().numel) * math.prod(w.shape[1:])


# (first operand, second operand) of each matrix product, by argument position
_MATMUL_OPERANDS: dict[str, tuple[int, int]] = {
    "mm": (0, 1), "addmm": (1, 2), "_addmm_activation": (1, 2), "bmm": (0, 1), "baddbmm": (1, 2),
    "addbmm": (1, 2), "mv": (0, 1), "addmv": (1, 2), "dot": (0, 1), "vdot": (0, 1),
    "_cdist_forward": (0, 1), "_euclidean_dist": (0, 1),
}


def operands(c: OpCall) -> tuple[TensorMeta, TensorMeta]:
    i, j = _MATMUL_OPERANDS[c.op]
    return c.tensor(i), c.tensor(j)


def matmul_macs(c: OpCall) -> int:
    """batch x n x k x m for (n x k) @ (k x m). Vectors count as n or m = 1; ``addbmm`` sums
    over the batch, which costs the same; a bias (``addmm``) is not counted."""
    a, b = operands(c)
    k = a.shape[-1]
    m = b.shape[-1] if len(b.shape) > 1 else 1
    return a.numel * m if len(a.shape) > 1 or len(b.shape) > 1 else k


def distance_macs(c: OpCall) -> int:
    """batch x P x R x M for the distances between P and R points of M coordinates (one
    multiply-add per coordinate of each pair: an RBF unit per prototype)."""
    a, b = operands(c)
    return a.numel * b.shape[-2]


def _weight_use(macs: Callable[[OpCall], int]) -> AtenRule:
    """Counted when exactly one operand is constant (a weight): a fully connected layer or an
    RBF unit. Two input-dependent operands (attention scores) are not a weight use, so the
    call is uncounted; two constant operands are weights combined before use (counted 0)."""

    def rule(c: OpCall) -> int | None:
        a, b = operands(c)
        if a.const and b.const:
            return 0
        if a.const or b.const:
            return macs(c)
        return None

    rule.__doc__ = (f"{_first_sentence(macs.__doc__).rstrip('.')}, when one operand is a weight (constant); "
                    "uncounted when both depend on the input (attention scores).")
    return rule


def is_weight_layer(c: OpCall) -> bool:
    """A convolution, or a matrix product or distance with a constant operand: the "weight
    layers" a network's depth counts (conv and fully connected, batch norm excluded)."""
    cat = ATEN_OPS[c.op].category if c.op in ATEN_OPS and c.namespace == "aten" else ""
    if cat == "conv":
        return True
    if cat in ("matmul", "distance"):
        a, b = operands(c)
        return a.const != b.const
    return False


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def describe(rule: Callable[..., Any] | None) -> str:
    """One line saying what a table entry counts (``cnninspect conventions --operators``)."""
    if rule is None:
        return "not counted"
    return (_first_sentence(rule.__doc__) or rule.__name__).replace("``", "")


def _output_elements(scale: int) -> AtenRule:
    def rule(c: OpCall) -> int:
        return scale * c.out().numel

    rule.__doc__ = f"{scale} per output element (fvcore's elementwise_flop_counter)."
    return rule


def fvcore_matmul(c: OpCall) -> int | None:
    """batch x n x k x m, as fvcore's matmul, linear, addmm and bmm handles count them;
    uncounted inside ``scaled_dot_product_attention``, which fvcore has no handle for."""
    if c.via == "scaled_dot_product_attention":
        return None
    return matmul_macs(c)


def _uncounted(c: OpCall) -> None:
    """Uncounted (listed by name and call count)."""
    return None


def _covered_by_module(c: OpCall) -> int | None:
    """Counted by the module rule inside a leaf module; uncounted when called in a container's
    forward (functional work, which torchinfo cannot see)."""
    return 0 if c.in_leaf else None


# --- tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtenTable:
    """A convention's rules for aten operators: per operator name first, then per category,
    then ``default`` for operators not registered in :data:`ATEN_OPS`. A value ``None`` is
    "deliberately not counted"; a rule may still return ``None`` for a call it cannot count."""

    convention: str
    by_category: Mapping[str, AtenRule | None]
    by_op: Mapping[str, AtenRule | None] = field(default_factory=dict)
    default: AtenRule | None = _uncounted
    counts_dead_code: bool = True  # fvcore traces, and tracing drops work that never reaches the output
    # fused operators the tool sees as one operator and has no formula for: every call whose
    # work they do is uncounted, named with the fused operator (see ``OpCall.kernels``)
    opaque: frozenset[str] = frozenset()
    # the caller's own rules, by qualified operator name (``mylib.foo``): they replace this
    # table's rule for that operator alone (:mod:`cnninspect.ops.custom_rules`)
    custom: Mapping[str, AtenRule] = field(default_factory=dict)
    # a call lowered onto an op record is counted by the record's rule for this convention
    # (:func:`cnninspect.ops.lowering.count_call`); False for a convention defined on modules
    by_records: bool = True

    def hidden_in(self, c: OpCall) -> str | None:
        """The fused operator that hides this call from the convention's tool, if any."""
        return next((k for k in c.kernels if k in self.opaque), None) if self.opaque else None

    def label(self, c: OpCall) -> str:
        """How an uncounted call is listed: its operator, and the fused operator hiding it."""
        kernel = self.hidden_in(c)
        return f"{c.qualname} in aten.{kernel}" if kernel else c.qualname

    def rule_for(self, op: str) -> AtenRule | None:
        if op in self.by_op:
            return self.by_op[op]
        known = ATEN_OPS.get(op)
        if known is None:
            return self.default
        return self.by_category[known.category]

    def count(self, c: OpCall, rule: AtenRule | None | str = "table") -> int | None:
        """Multiply-adds of one call, or ``None`` when this convention cannot count it: by
        ``rule`` (a record's, :func:`cnninspect.ops.lowering.count_call`; ``None``: not
        counted) or by this table's rule for the operator, after the table's policies."""
        if not c.live and not self.counts_dead_code:
            return 0
        if self.custom and c.qualname in self.custom:
            return self.custom[c.qualname](c)
        if isinstance(rule, str):
            rule = self.rule_for(c.op) if c.namespace == "aten" else self.default
        if self.opaque and self.hidden_in(c):
            return None if rule is not None else 0
        return 0 if rule is None else rule(c)


_NO_MACS = ("norm", "pool", "resample", "activation", "elementwise", "reduction", "softmax", "view", "copy",
            "creation", "dropout", "scalar")


def _none(*categories: str) -> dict[str, AtenRule | None]:
    return {k: None for k in categories}


ATEN_TABLES: dict[str, AtenTable] = {}


def register_table(t: AtenTable) -> AtenTable:
    missing = set(CATEGORIES) - set(t.by_category)
    if missing:
        raise ValueError(f"table {t.convention!r} has no entry for categories {sorted(missing)}")
    ATEN_TABLES[t.convention] = t
    return t


register_table(AtenTable(
    "paper",
    {**_none(*_NO_MACS), "conv": conv_macs, "matmul": _weight_use(matmul_macs),
     "distance": _weight_use(distance_macs), "attention": _uncounted},
))

register_table(AtenTable(
    "fvcore",
    # batch, layer and group norm and 2-d adaptive average pooling lower onto their records,
    # which hold fvcore's handles for them (ops/kinds/norm.py, pool.py)
    {**_none(*_NO_MACS), "conv": conv_macs, "matmul": _uncounted, "distance": _uncounted, "attention": _uncounted},
    {
        "mm": fvcore_matmul, "addmm": fvcore_matmul, "_addmm_activation": fvcore_matmul, "bmm": fvcore_matmul,
        "upsample_nearest2d": _output_elements(1), "upsample_bilinear2d": _output_elements(4),
        "grid_sampler_2d": _output_elements(4),
    },
    counts_dead_code=False,
    # fvcore traces with TorchScript: an RNN module is one aten::lstm/gru/rnn_* node, the
    # nn.MultiheadAttention fast path one aten::_native_multi_head_attention and a
    # convolution with padding="same"/"valid" one aten::_convolution_mode, with no handles
    # (its tracing hooks on every module keep nn.TransformerEncoderLayer off its fast path)
    opaque=frozenset({"lstm", "gru", "rnn_tanh", "rnn_relu", "_native_multi_head_attention", "_convolution_mode"}),
))


register_table(AtenTable(
    "torchinfo",
    {**_none(*_NO_MACS), "conv": _covered_by_module, "matmul": _covered_by_module, "distance": _covered_by_module,
     "attention": _covered_by_module},
    default=_covered_by_module, by_records=False,  # torchinfo counts leaf modules: MODULE_RULES
))

register_table(AtenTable(
    "flopcounter",
    # FlopCounterMode's own registry: convolutions and every matrix product, weights or not
    {**_none(*_NO_MACS), "conv": conv_macs, "matmul": matmul_macs, "distance": _uncounted, "attention": _uncounted},
    # on the CPU these run as fused operators FlopCounterMode has no formula for (it counts
    # the CUDA flash and efficient attention kernels, not the CPU one)
    opaque=frozenset({"_transformer_encoder_layer_fwd", "_native_multi_head_attention",
                      "_scaled_dot_product_flash_attention_for_cpu", "mkldnn_rnn_layer"}),
))

# --- module-level rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class LeafCall:
    """One call of a leaf module: what a module rule may look at (shapes per sample, and the
    output's full shape). A pruned parameter appears as torchinfo names it (``weight`` for
    ``weight_orig``) with the count of its mask's ones."""

    torch_class: str
    params: Mapping[str, tuple[int, bool]]  # every parameter of the module by name: (numel, trainable)
    in_shape: Shape
    out_shape: Shape
    out_full: Shape = ()  # the output's full shape, batch included


ModuleRule = Callable[[LeafCall], int]


def _torchinfo_module(call: LeafCall) -> int:
    """Per leaf module call: (weight + bias) x output positions for Conv* classes, weight +
    bias once for other classes (torchinfo 1.8's calculate_macs)."""
    from .counting import torchinfo_param_macs

    return torchinfo_param_macs(call.torch_class, call.params, call.out_full)


MODULE_RULES: dict[str, ModuleRule | None] = {
    "paper": None, "fvcore": None, "torchinfo": _torchinfo_module, "flopcounter": None,
}
# ptflops and thop count by module class, not by operator: their tables are
# :data:`cnninspect.ops.module_tools.TOOL_TABLES`
