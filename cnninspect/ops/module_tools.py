"""The ptflops and thop conventions for Python models: the tools' own tables, by module class.

ptflops and thop do not read operators: they put forward hooks on modules whose class they
know and count what each hook's formula says, plus a few torch functions they watch. A
module of a class they do not know counts 0 there, whatever it computes; so it does here.
A captured forward pass (:mod:`cnninspect.capture.forward`) records, for every module call,
a :class:`ModuleCall` (the class and its bases, the attributes the hooks read, the shapes of
the positional inputs and of the outputs) and, for every call of a watched torch function,
a :class:`FunctionCall`. The two :class:`ToolTable` objects below are each tool's knowledge,
in one place per tool:

* :data:`PTFLOPS` - ptflops 0.7.5 ``get_model_complexity_info`` with its default pytorch
  backend and ``count_functional=True``: hooks on modules whose class is *exactly* a key of
  its ``MODULES_MAPPING`` (a subclass is not seen), a supported module's count replacing its
  children's; plus every call of the ``torch.nn.functional`` functions and ``torch``/``Tensor``
  methods it patches (``F.relu``, ``F.softmax``, the pools, ``F.interpolate``, ``torch.matmul``,
  ``Tensor.add``, ... but not the operators ``x + y``, ``x * y``, ``a @ b``, which it does not
  patch), inside hooked modules too (``nn.ReLU`` counts twice). It divides the hooks' total by
  the batch (the length of the model's first positional input) but not the functional
  calls': its number is "per image"; here the per-sample figure is ptflops's number and the
  per-batch total is that times the batch.
* :data:`THOP` - ultralytics-thop 2.2.3 ``thop.profile``: hooks on every module whose class,
  or the nearest base class that has one, has a rule in its ``register_hooks`` (a subclass of
  ``nn.Conv2d`` is counted as ``nn.Conv2d``); plus matrix products, ``F.linear``,
  ``einsum``, ``F.scaled_dot_product_attention`` and ``F.multi_head_attention_forward`` run
  outside every module with a rule of its own. Counts are per batch.

A class name is its qualified name (``torch.nn.modules.conv.Conv2d``). Nothing here imports
torch; formulas follow the tools' source line by line (the comments name the function).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ModuleCall:
    """One call of a module, as a tool's forward hook sees it.

    ``classes``: the qualified names of the module's class and its bases, most derived first.
    ``attrs``: the attributes hooks read (numbers, flags, strings, tuples; a tensor attribute
    as its shape; ``None`` as ``None``), and ``params`` the shapes of its own parameters.
    ``inputs``: the positional arguments (a tensor as its shape, anything else as itself when
    a plain value, else ``None``). ``outputs``: the shape of each tensor the call returned (a
    tuple returned at top level gives one entry per element, ``None`` for a non-tensor).
    ``in_tree``: the module is in the model's module tree (tools hook only those)."""

    classes: tuple[str, ...]
    attrs: Mapping[str, Any]
    params: Mapping[str, Shape]
    inputs: tuple[Any, ...]
    outputs: tuple[Shape | None, ...]
    in_tree: bool = True
    training: bool = False
    paths: int = 1  # paths from the model to the module through children() (a shared module has several)

    @property
    def cls(self) -> str:
        return self.classes[0]

    def x(self, i: int = 0) -> Shape:
        """The shape of positional input ``i``."""
        s = self.inputs[i] if i < len(self.inputs) else None
        if not isinstance(s, tuple):
            raise TypeError(f"input {i} of {self.cls} is not a tensor")
        return s

    def y(self, i: int = 0) -> Shape:
        s = self.outputs[i] if i < len(self.outputs) else None
        if s is None:
            raise TypeError(f"output {i} of {self.cls} is not a tensor")
        return s


@dataclass(frozen=True)
class FunctionCall:
    """One call of a watched torch function: its name as the tools write it (``F.relu``,
    ``torch.matmul``, ``Tensor.add``), its arguments (tensors as shapes), the shapes of its
    tensor results, and the module calls running when it ran (indices into ``Trace.calls``,
    outermost first). ``operator``: the call was written as a Python operator (``x + y``),
    which ptflops's patching of the method does not see; ``held``: the function object is an
    attribute of the module calling it (``nn.TransformerEncoderLayer.activation``), taken
    before any patching, so ptflops does not see that call either."""

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    outputs: tuple[Shape | None, ...]
    stack: tuple[int, ...]
    operator: bool = False
    held: bool = False
    position: int = 0  # where in the innermost call's items (Trace.calls[i].items) it ran


ModuleRule = Callable[[ModuleCall], float]
FunctionRule = Callable[[FunctionCall], float]


def prod(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _shape(v: Any) -> Shape | None:
    return v if isinstance(v, tuple) and all(isinstance(d, int) for d in v) else None


@dataclass(frozen=True)
class ToolTable:
    """A tool's counting rules for module classes and watched functions.

    ``exact``: a class matches only itself (ptflops); otherwise the nearest base class with a
    rule decides (thop). A rule ``None`` is the tool's "zero ops" entry."""

    convention: str
    modules: Mapping[str, ModuleRule | None]
    functions: Mapping[str, FunctionRule]
    exact: bool
    # functions the tool sees called inside other torch functions, which a capture sees only as
    # aten operators: {outer function: {aten operator: function name}}
    nested: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    patched: bool = False  # the tool patches functions (a held reference or an operator escapes it)

    def rule_for(self, classes: Sequence[str]) -> tuple[bool, ModuleRule | None]:
        """(the tool knows the class, its rule)."""
        for c in classes[:1] if self.exact else classes:
            if c in self.modules:
                return True, self.modules[c]
        return False, None


def _nn(*names: str) -> list[str]:
    """Qualified names of torch.nn classes, written ``conv.Conv2d`` (module file, class)."""
    return [f"torch.nn.modules.{n}" for n in names]


# --- ptflops 0.7.5 (ptflops/pytorch_ops.py) --------------------------------------------------------


def _pt_relu(c: ModuleCall) -> float:
    """relu_flops_counter_hook: output elements."""
    return prod(c.y())


def _pt_pool(c: ModuleCall) -> float:
    """pool_flops_counter_hook: input elements."""
    return prod(c.x())


def _pt_bn(c: ModuleCall) -> float:
    """bn_flops_counter_hook: input elements, x 2 when the module has ``affine`` set
    (LayerNorm has no such attribute: 1 per element)."""
    return prod(c.x()) * (2 if c.attrs.get("affine") else 1)


def _pt_linear(c: ModuleCall) -> float:
    """linear_flops_counter_hook: (in x out + bias) x the input's leading elements."""
    x, y = c.x(), c.y()
    bias = y[-1] if c.attrs.get("bias") is not None else 0
    return (x[-1] * y[-1] + bias) * prod(x[:-1])


def _pt_upsample(c: ModuleCall) -> float:
    """upsample_flops_counter_hook: the elements of ``output[0]``, the first sample."""
    return prod(c.y()[1:])


def _pt_conv(transpose: bool) -> ModuleRule:
    def rule(c: ModuleCall) -> float:
        """conv_flops_counter_hook: kernel x C_in x C_out / groups per output (transposed: input)
        position, plus one bias add per output element."""
        x, y = c.x(), c.y()
        per_position = prod(c.attrs["kernel_size"]) * (c.attrs["in_channels"] * (c.attrs["out_channels"]
                                                                                 // c.attrs["groups"]))
        positions = x[0] * prod(x[2:] if transpose else y[2:])
        bias = x[0] * prod(y[1:]) if c.attrs.get("bias") is not None else 0
        return per_position * positions + bias

    return rule


def _pt_rnn_flops(c: ModuleCall, w_ih: Shape, w_hh: Shape) -> int:
    """rnn_flops: the two weight matrices plus the gates' elementwise work."""
    h = c.attrs["hidden_size"]
    flops = w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1]
    kind = c.cls.rsplit(".", 1)[-1]
    if kind in ("RNN", "RNNCell"):
        flops += h
    elif kind in ("GRU", "GRUCell"):
        flops += h + 3 * h + 3 * h
    elif kind in ("LSTM", "LSTMCell"):
        flops += 4 * h + 3 * h + 3 * h
    return flops


def _pt_rnn(c: ModuleCall) -> float:
    """rnn_flops_counter_hook: every layer's forward weights, x input.shape[0] x shape[1]
    (whatever the layout), x 2 when bidirectional."""
    flops = 0
    for i in range(c.attrs["num_layers"]):
        flops += _pt_rnn_flops(c, c.params[f"weight_ih_l{i}"], c.params[f"weight_hh_l{i}"])
        if c.attrs.get("bias"):
            flops += c.params[f"bias_ih_l{i}"][0] + c.params[f"bias_hh_l{i}"][0]
    x = c.x()
    flops *= x[0] * x[1]
    return flops * (2 if c.attrs.get("bidirectional") else 1)


def _pt_rnn_cell(c: ModuleCall) -> float:
    """rnn_cell_flops_counter_hook: the cell's weights x the batch."""
    flops = _pt_rnn_flops(c, c.params["weight_ih"], c.params["weight_hh"])
    if c.attrs.get("bias"):
        flops += c.params["bias_ih"][0] + c.params["bias_hh"][0]
    return flops * c.x()[0]


def _pt_mha(c: ModuleCall) -> float:
    """multihead_attention_counter_hook: projections, scaled scores, softmax, weighted sum."""
    q, k, v = c.x(0), c.x(1), c.x(2)
    batch_first = bool(c.attrs.get("batch_first"))
    batch, at = (q[0], 1) if batch_first else (q[1], 0)
    qdim, kdim, vdim = q[2], k[2], v[2]
    qlen, klen, vlen = q[at], k[at], v[at]
    heads = c.attrs["num_heads"]
    flops = qlen * qdim + qlen * qdim * qdim + klen * kdim * kdim + vlen * vdim * vdim
    if c.attrs.get("in_proj_bias") is not None:
        flops += (qlen + klen + vlen) * qdim
    flops += heads * (qlen * klen * (qdim // heads) + qlen * klen + qlen * klen * (vdim // heads))
    flops += qlen * vdim * (vdim + 1)
    return flops * batch


def _pt_numel(f: FunctionCall) -> float:
    """_numel_functional_flops_hook: the input's elements."""
    s = _shape(f.args[0]) if f.args else _shape(f.kwargs.get("input"))
    return prod(s) if s is not None else 0


def _pt_interpolate(f: FunctionCall) -> float:
    """_interpolate_functional_flops_hook: N x C x the output size, or the input's elements x
    the scale factor per spatial axis."""
    x = _shape(f.kwargs.get("input", f.args[0] if f.args else None))
    if x is None:
        return 0
    size = f.kwargs.get("size", f.args[1] if len(f.args) > 1 else None)
    if size is not None:
        if isinstance(size, (tuple, list)):
            return prod(size) * prod(x[:2])
        return int(size) ** (len(x) - 2) * prod(x[:2])
    scale = f.kwargs.get("scale_factor", f.args[2] if len(f.args) > 2 else None)
    flops: float = prod(x)
    if isinstance(scale, (tuple, list)) and len(scale) == len(x) - 2:
        flops *= math.prod(int(s) for s in scale)  # np.prod(..., dtype=np.int64) truncates each factor
    else:
        flops *= scale ** (len(x) - 2)
    return flops


def _pt_matmul(f: FunctionCall) -> float:
    """_matmul_tensor_flops_hook: the first operand's elements x the second's last dimension."""
    a, b = _shape(f.args[0]), _shape(f.args[1]) if len(f.args) > 1 else None
    return prod(a) * b[-1] if a is not None and b else 0


def _pt_addmm(f: FunctionCall) -> float:
    """_addmm_tensor_flops_hook: mat1's elements x mat2's last dimension, plus the added
    input's elements unless ``beta=0``."""
    inp, m1, m2 = (_shape(a) for a in f.args[:3])
    if m1 is None or m2 is None:
        return 0
    flops = prod(m1) * m2[-1]
    if f.kwargs.get("beta", 1) != 0 and inp is not None:
        flops += prod(inp)
    return flops


def _pt_elementwise(f: FunctionCall) -> float:
    """_elementwise_tensor_flops_hook: the broadcast shape's elements (1 for two scalars)."""
    a = _shape(f.args[0]) if f.args else None
    b = _shape(f.args[1]) if len(f.args) > 1 else None
    if a is None:
        return prod(b) if b is not None else 1
    if b is None:
        return prod(a)
    n = max(len(a), len(b))
    a1, b1 = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return prod(max(i, j) for i, j in zip(a1, b1))


_PTFLOPS_MODULES: dict[str, ModuleRule | None] = {
    **{n: _pt_conv(False) for n in _nn("conv.Conv1d", "conv.Conv2d", "conv.Conv3d")},
    **{n: _pt_conv(True) for n in _nn("conv.ConvTranspose1d", "conv.ConvTranspose2d", "conv.ConvTranspose3d")},
    **{n: _pt_relu for n in _nn("activation.ReLU", "activation.PReLU", "activation.ELU", "activation.LeakyReLU",
                                "activation.ReLU6", "activation.GELU")},
    **{n: _pt_pool for n in _nn("pooling.MaxPool1d", "pooling.AvgPool1d", "pooling.AvgPool2d", "pooling.MaxPool2d",
                                "pooling.MaxPool3d", "pooling.AvgPool3d", "pooling.AdaptiveMaxPool1d",
                                "pooling.AdaptiveAvgPool1d", "pooling.AdaptiveMaxPool2d", "pooling.AdaptiveAvgPool2d",
                                "pooling.AdaptiveMaxPool3d", "pooling.AdaptiveAvgPool3d")},
    **{n: _pt_bn for n in _nn("batchnorm.BatchNorm1d", "batchnorm.BatchNorm2d", "batchnorm.BatchNorm3d",
                              "instancenorm.InstanceNorm1d", "instancenorm.InstanceNorm2d",
                              "instancenorm.InstanceNorm3d", "normalization.GroupNorm", "normalization.LayerNorm")},
    "torch.nn.modules.linear.Linear": _pt_linear,
    "torch.nn.modules.upsampling.Upsample": _pt_upsample,
    **{n: _pt_rnn for n in _nn("rnn.RNN", "rnn.GRU", "rnn.LSTM")},
    **{n: _pt_rnn_cell for n in _nn("rnn.RNNCell", "rnn.LSTMCell", "rnn.GRUCell")},
    "torch.nn.modules.activation.MultiheadAttention": _pt_mha,
}

# patch_functional and patch_tensor_ops: every call, wherever it runs
_PTFLOPS_FUNCTIONS: dict[str, FunctionRule] = {
    **{f"F.{n}": _pt_numel for n in ("relu", "prelu", "elu", "relu6", "gelu", "silu", "softmax", "avg_pool1d",
                                     "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
                                     "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
                                     "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")},
    "F.interpolate": _pt_interpolate, "F.upsample": _pt_interpolate,
    "torch.matmul": _pt_matmul, "torch.mm": _pt_matmul, "torch.bmm": _pt_matmul,
    "Tensor.matmul": _pt_matmul, "Tensor.mm": _pt_matmul, "Tensor.bmm": _pt_matmul,
    "torch.addmm": _pt_addmm, "torch.baddbmm": _pt_addmm, "Tensor.addmm": _pt_addmm,
    "torch.mul": _pt_elementwise, "Tensor.mul": _pt_elementwise,
    "torch.add": _pt_elementwise, "Tensor.add": _pt_elementwise,
}

PTFLOPS = ToolTable(
    "ptflops", _PTFLOPS_MODULES, _PTFLOPS_FUNCTIONS, exact=True, patched=True,
    # F.multi_head_attention_forward calls the patched softmax, torch.bmm and torch.baddbmm
    nested={"multi_head_attention_forward": {"bmm": "torch.bmm", "baddbmm": "torch.baddbmm", "_softmax": "F.softmax"}},
)


# --- ultralytics-thop 2.2.3 (thop/vision/basic_hooks.py, thop/rnn_hooks.py, thop/profile.py) ------


def _th_conv(transpose: bool) -> ModuleRule:
    def rule(c: ModuleCall) -> float:
        """calculate_conv2d_flops: output (transposed: input) elements x input (output)
        channels / groups x kernel area; no bias."""
        x, y, w = c.x(), c.y(), c.attrs["weight"]  # m.weight: a pruned layer's is an attribute
        volume, channels = (x, y) if transpose else (y, x)
        return prod(volume) * (channels[-(len(w) - 1)] // c.attrs["groups"]) * prod(w[2:])

    return rule


def _th_norm(c: ModuleCall) -> float:
    """count_normalization: 2 per input element, x 2 with an affine transform."""
    flops = 2 * prod(c.x())
    return flops * 2 if c.attrs.get("affine") or c.attrs.get("elementwise_affine") else flops


def _th_prelu(c: ModuleCall) -> float:
    """count_prelu: input elements in eval mode."""
    return 0 if c.training else prod(c.x())


def _softmax_ops(batch: int, features: int) -> int:
    """calculate_softmax: exp, add, divide per vector."""
    return batch * (features + max(features - 1, 0) + features)


def _th_softmax(c: ModuleCall) -> float:
    """count_softmax: 3F - 1 per vector along ``dim`` (+ the elements for Softmin, + the
    vectors for LogSoftmax)."""
    x = c.x()
    kind = c.cls.rsplit(".", 1)[-1]
    dim = -3 if kind == "Softmax2d" else c.attrs.get("dim")
    if dim is None:
        dim = 0 if len(x) in (0, 1, 3) else 1
    features = x[dim] if x else 1
    batch = prod(x) // features if features else 0
    ops = _softmax_ops(batch, features)
    if kind == "Softmin":
        ops += prod(x)
    elif kind == "LogSoftmax":
        ops += batch
    return ops


def _th_avgpool(c: ModuleCall) -> float:
    """count_avgpool: one add per pooled input (windows clipped as PyTorch clips them), one
    divide per output."""
    kernel = c.attrs["kernel_size"]
    kind = c.cls.rsplit(".", 1)[-1]
    if isinstance(kernel, int):
        kernel = (kernel,) * (3 if kind == "AvgPool3d" else 2)
    dims = len(kernel)
    stride = (c.attrs["stride"],) * dims if isinstance(c.attrs["stride"], int) else c.attrs["stride"]
    padding = (c.attrs["padding"],) * dims if isinstance(c.attrs["padding"], int) else c.attrs["padding"]
    x, y = c.x(), c.y()
    windows = 1
    for size, out, k, s, p in zip(x[-dims:], y[-dims:], kernel, stride, padding):
        lower, upper = (-p, size + p) if c.attrs.get("count_include_pad") else (0, size)
        windows *= sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(out))
    return prod(x[:-dims]) * windows + prod(y)


def _th_adaptive_avgpool(c: ModuleCall) -> float:
    """count_adap_avgpool: one add per input of every adaptive window, one divide per output."""
    x, y = c.x(), c.y()
    return prod(o if i == o else sum(-(-(j + 1) * i // o) - j * i // o for j in range(o)) for i, o in zip(x, y)) \
        + prod(y)


_UPSAMPLE_OPS = {"nearest": 0, "nearest-exact": 0, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}


def _th_upsample(c: ModuleCall) -> float:
    """count_upsample: a per-mode cost per output element (nearest 0, bilinear 11 ...)."""
    return _UPSAMPLE_OPS.get(c.attrs.get("mode"), 0) * prod(c.y())


def _th_linear(c: ModuleCall) -> float:
    """count_linear: in_features x output elements; no bias."""
    return c.attrs["in_features"] * prod(c.y())


def _th_bilinear(c: ModuleCall) -> float:
    """count_bilinear: (in1 + 1) x in2 per output element."""
    return (c.attrs["in1_features"] + 1) * c.attrs["in2_features"] * prod(c.y())


def _th_mha(c: ModuleCall) -> float:
    """count_multihead_attention: projections, both attention products, softmax."""
    out = c.y(0)
    weights = c.outputs[1] if len(c.outputs) > 1 else None
    batch_first = bool(c.attrs.get("batch_first"))
    tgt = out[-2] if batch_first or len(out) == 2 else out[0]
    batch = 1 if len(out) == 2 else out[0 if batch_first else 1]
    appended = (c.attrs.get("bias_k") is not None) + bool(c.attrs.get("add_zero_attn"))
    if weights is not None:
        attended = weights[-1]
    else:
        key = c.x(1)
        attended = (key[-2] if batch_first or len(key) == 2 else key[0]) + appended
    e = c.attrs["embed_dim"]
    kdim, vdim = c.attrs["kdim"], c.attrs["vdim"]
    projections = e * (2 * tgt * e + (attended - appended) * (kdim + vdim))
    attention = 2 * tgt * attended * e
    return batch * (projections + attention) + _softmax_ops(batch * c.attrs["num_heads"] * tgt, attended)


def _rnn_cell_ops(i: int, h: int, bias: bool) -> int:
    return h * (i + h) + h + (2 * h if bias else 0)


def _gru_cell_ops(i: int, h: int, bias: bool) -> int:
    state = (h + i) * h + h + (2 * h if bias else 0)
    return state * 2 + (h + i) * h + h + (2 * h if bias else 0) + h + 3 * h


def _lstm_cell_ops(i: int, h: int, bias: bool, proj: int = 0) -> int:
    state = (i + (proj or h)) * h + h + (2 * h if bias else 0)
    return state * 4 + 3 * h + h + h * proj


def _evaluations(x: Shape) -> int:
    """_cell_evaluations: rows of a 2-d (unbatched) input, else the first two dimensions."""
    return x[0] if len(x) == 2 else x[0] * x[1]


def _th_rnn(c: ModuleCall) -> float:
    """count_rnn / count_gru / count_lstm: every layer's cell (x 2 bidirectional) per
    evaluation (PackedSequence inputs are not read: counted as their data tensor)."""
    kind = c.cls.rsplit(".", 1)[-1]
    i, h, bias = c.attrs["input_size"], c.attrs["hidden_size"], bool(c.attrs.get("bias"))
    bi = 2 if c.attrs.get("bidirectional") else 1
    proj = c.attrs.get("proj_size") or 0
    if kind == "LSTM":
        cell = lambda a: _lstm_cell_ops(a, h, bias, proj)  # noqa: E731
        stacked = proj or h
    else:
        cell = (lambda a: _gru_cell_ops(a, h, bias)) if kind == "GRU" else (lambda a: _rnn_cell_ops(a, h, bias))
        stacked = h
    total = cell(i) * bi
    for _ in range(c.attrs["num_layers"] - 1):
        total += cell(stacked * 2) * 2 if bi == 2 else cell(stacked)
    return total * _evaluations(c.x())


def _th_cell(ops: Callable[[int, int, bool], int]) -> ModuleRule:
    def rule(c: ModuleCall) -> float:
        """count_*_cell: the cell's operations x the batch (1 unbatched)."""
        x = c.x()
        return ops(c.attrs["input_size"], c.attrs["hidden_size"], bool(c.attrs.get("bias"))) * (
            x[0] if len(x) == 2 else 1)

    return rule


_ZERO = None
_THOP_MODULES: dict[str, ModuleRule | None] = {
    **{n: _ZERO for n in _nn("padding._ConstantPadNd", "padding._ReflectionPadNd", "padding._ReplicationPadNd",
                             "padding._CircularPadNd", "dropout._DropoutNd", "activation.ReLU", "activation.ReLU6",
                             "activation.LeakyReLU", "pooling.MaxPool1d", "pooling.MaxPool2d", "pooling.MaxPool3d",
                             "pooling.AdaptiveMaxPool1d", "pooling.AdaptiveMaxPool2d", "pooling.AdaptiveMaxPool3d",
                             "pooling.FractionalMaxPool2d", "pooling.FractionalMaxPool3d", "pooling._MaxUnpoolNd",
                             "container.Sequential", "container.ModuleList", "container.ModuleDict",
                             "container.ParameterList", "container.ParameterDict", "linear.Identity",
                             "flatten.Flatten", "flatten.Unflatten", "fold.Unfold", "pixelshuffle.PixelShuffle",
                             "pixelshuffle.PixelUnshuffle", "channelshuffle.ChannelShuffle", "sparse.Embedding")},
    **{n: _th_conv(False) for n in _nn("conv.Conv1d", "conv.Conv2d", "conv.Conv3d")},
    **{n: _th_conv(True) for n in _nn("conv.ConvTranspose1d", "conv.ConvTranspose2d", "conv.ConvTranspose3d")},
    **{n: _th_norm for n in _nn("batchnorm._NormBase", "normalization.LayerNorm", "normalization.GroupNorm",
                                "normalization.RMSNorm")},
    "torch.nn.modules.activation.PReLU": _th_prelu,
    **{n: _th_softmax for n in _nn("activation.Softmax", "activation.LogSoftmax", "activation.Softmin",
                                   "activation.Softmax2d")},
    **{n: _th_avgpool for n in _nn("pooling.AvgPool1d", "pooling.AvgPool2d", "pooling.AvgPool3d")},
    **{n: _th_adaptive_avgpool for n in _nn("pooling.AdaptiveAvgPool1d", "pooling.AdaptiveAvgPool2d",
                                            "pooling.AdaptiveAvgPool3d")},
    "torch.nn.modules.linear.Linear": _th_linear,
    "torch.nn.modules.linear.Bilinear": _th_bilinear,
    **{n: _th_upsample for n in _nn("upsampling.Upsample", "upsampling.UpsamplingBilinear2d",
                                    "upsampling.UpsamplingNearest2d")},
    "torch.nn.modules.rnn.RNNCell": _th_cell(_rnn_cell_ops),
    "torch.nn.modules.rnn.GRUCell": _th_cell(_gru_cell_ops),
    "torch.nn.modules.rnn.LSTMCell": _th_cell(_lstm_cell_ops),
    **{n: _th_rnn for n in _nn("rnn.RNN", "rnn.GRU", "rnn.LSTM")},
    "torch.nn.modules.activation.MultiheadAttention": _th_mha,
}


def _th_matmul(f: FunctionCall) -> float:
    """_count_matmul: output elements x the first operand's last dimension."""
    a = _shape(f.args[0]) if f.args else _shape(f.kwargs.get("input"))
    y = f.outputs[0] if f.outputs else None
    return prod(y) * a[-1] if a is not None and y is not None else 0


def _th_sdpa(f: FunctionCall) -> float:
    """_count_sdpa: the query-key and attention-value products."""
    names = ("query", "key", "value")
    q, k, v = (_shape(a) for a in (*f.args, *(f.kwargs.get(n) for n in names[len(f.args):]))[:3])
    y = f.outputs[0] if f.outputs else None
    if q is None or k is None or v is None or y is None:
        return 0
    return prod(y) // v[-1] * k[-2] * (q[-1] + v[-1])


def _th_einsum(f: FunctionCall) -> float:
    """_count_einsum: two operands, the product of every label's size either operand
    contracts or the output keeps; other counts of operands 0."""
    if not f.args or not isinstance(f.args[0], str):
        return 0
    equation, *operands = f.args
    if len(operands) == 1 and isinstance(operands[0], tuple) and all(_shape(o) is not None for o in operands[0]) \
            and not all(isinstance(d, int) for d in operands[0]):
        operands = list(operands[0])
    shapes = [_shape(o) for o in operands]
    if len(shapes) != 2 or any(s is None for s in shapes):
        return 0
    lhs, arrow, out = equation.replace(" ", "").partition("->")
    if not arrow:
        out = "..." + "".join(ch for ch in lhs if lhs.count(ch) == 1)
    sizes: list[dict[Any, int]] = []
    for subscripts, t in zip(lhs.split(","), shapes):
        assert t is not None
        head, _, tail = subscripts.partition("...")
        n = len(t) - len(head) - len(tail)
        sizes.append({k: d for k, d in zip([*head, *range(n, 0, -1), *tail], t) if d != 1})
    total = 1
    for k in sizes[0].keys() | sizes[1].keys():
        if (k in sizes[0] and k in sizes[1]) or (k in out if isinstance(k, str) else "..." in out):
            total *= sizes[0].get(k, sizes[1].get(k, 1))
    return total


def _th_mha_functional(f: FunctionCall) -> float:
    """_count_multi_head_attention: F.multi_head_attention_forward by the module rule."""
    a = f.args
    if len(a) < 10:
        return 0
    key, value = _shape(a[1]), _shape(a[2])
    if key is None or value is None:
        return 0
    call = ModuleCall(("functional",), {"embed_dim": a[3], "num_heads": a[4], "kdim": key[-1], "vdim": value[-1],
                                        "bias_k": a[7], "add_zero_attn": a[9], "batch_first": False},
                      {}, tuple(a), f.outputs)
    return _th_mha(call)


_THOP_FUNCTIONS: dict[str, FunctionRule] = {
    "torch.matmul": _th_matmul, "Tensor.matmul": _th_matmul, "Tensor.__matmul__": _th_matmul,
    "torch.bmm": _th_matmul, "Tensor.bmm": _th_matmul, "torch.einsum": _th_einsum, "F.linear": _th_matmul,
    "F.multi_head_attention_forward": _th_mha_functional, "F.scaled_dot_product_attention": _th_sdpa,
}

THOP = ToolTable(
    "thop", _THOP_MODULES, _THOP_FUNCTIONS, exact=False,
)

# every attribute a rule above reads from a module (the capture records these)
MODULE_ATTRS = frozenset({
    "weight", "kernel_size", "in_channels", "out_channels", "groups", "bias", "affine", "elementwise_affine",
    "in_features", "in1_features", "in2_features", "mode", "dim", "stride", "padding", "count_include_pad",
    "num_heads", "embed_dim", "kdim", "vdim", "batch_first", "bias_k", "add_zero_attn", "in_proj_bias",
    "input_size", "hidden_size", "num_layers", "bidirectional", "proj_size",
})

TOOL_TABLES: dict[str, ToolTable] = {t.convention: t for t in (PTFLOPS, THOP)}
WATCHED_FUNCTIONS = frozenset(n for t in TOOL_TABLES.values() for n in t.functions)


@dataclass(frozen=True)
class ToolCounts:
    """A tool's counts on one captured forward pass: ``calls[i]`` what the hook of module call
    ``i`` counted (0 when the tool does not count it, ``None`` when its class has no rule),
    ``functions[j]`` what the watched function call ``j`` counted; both for the batch (for
    ptflops: its per-image number times the batch, see the module docstring)."""

    calls: tuple[float | None, ...]
    functions: tuple[float, ...]


def tool_counts(table: ToolTable, modules: Sequence[ModuleCall | None], functions: Sequence[FunctionCall],
                parents: Sequence[int | None], batch: int) -> ToolCounts:
    """Apply ``table`` to a forward pass on a batch of ``batch``: ``modules[i]`` is call
    ``i`` (``None`` for a module that was not called), ``parents[i]`` the index of its parent
    call. Counts are for the batch."""
    calls: list[float | None] = []
    for m in modules:
        if m is None or not m.in_tree:
            calls.append(None)
            continue
        known, rule = table.rule_for(m.classes)
        n = (_apply(table, rule, m) if rule is not None else 0) if known else None
        # ptflops sums a shared module's count once per parent listing it (accumulate_flops)
        calls.append(n * m.paths if n is not None and table.exact else n)
    if table.exact:
        # accumulate_flops: a supported module's own count replaces everything below it
        for i, p in enumerate(parents):
            q = p
            while q is not None:
                if calls[q] is not None:
                    calls[i] = None
                    break
                q = parents[q]
        # ptflops divides its hooks' total by the length of the model's first positional input
        # and not its patched calls' total, and calls that "per image": that number x the batch
        root = modules[0] if modules else None
        first = root.inputs[0] if root is not None and root.inputs else None
        divisor = first[0] if isinstance(first, tuple) and first and all(isinstance(d, int) for d in first) else 1
        scaled = tuple(n * batch / divisor if n is not None else None for n in calls)
        funcs = tuple(0 if (table.patched and (fc.operator or fc.held)) or table.functions.get(fc.name) is None
                      else _apply(table, table.functions[fc.name], fc) * batch for fc in functions)
        return ToolCounts(scaled, funcs)
    # thop: functional products count outside every module with a non-zero rule
    ruled = {i for i, m in enumerate(modules) if m is not None and m.in_tree and table.rule_for(m.classes)[1] is not None}
    funcs_th: list[float] = []
    for fc in functions:
        rule = table.functions.get(fc.name)
        funcs_th.append(0 if rule is None or any(i in ruled for i in fc.stack) else _apply(table, rule, fc))
    return ToolCounts(tuple(calls), tuple(funcs_th))


def _apply(table: ToolTable, rule: Callable[[Any], float], call: ModuleCall | FunctionCall) -> float:
    """A rule on one call; a call the tool's own hook could not read either (a module missing
    an attribute its class's hook reads) is the model's problem, said in one line."""
    try:
        return rule(call)
    except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError) as exc:
        from ..base.errors import UsageError

        what = call.cls if isinstance(call, ModuleCall) else call.name
        raise UsageError(f"the {table.convention} convention cannot count a call of {what}: its rule reads "
                         f"{type(exc).__name__}: {exc} ({table.convention} itself would fail there too)") from None


def nested_calls(table: ToolTable, ops: Sequence[Any], owners: Sequence[int],
                 positions: Mapping[int, int]) -> list[FunctionCall]:
    """The functions ``table`` sees inside other torch functions, from the captured aten
    operators (``ops``: :class:`~cnninspect.ops.aten_rules.OpCall`, ``owners``: the call
    each ran in, ``positions``: each operator's place among that call's items)."""
    out: list[FunctionCall] = []
    for i, (op, owner) in enumerate(zip(ops, owners)):
        inner = table.nested.get(op.via or "")
        name = inner.get(op.op) if inner else None
        if name is None:
            continue
        args = tuple(a.shape if hasattr(a, "shape") else a for a in op.args)
        outs = tuple(o.shape if o is not None else None for o in op.outputs)
        out.append(FunctionCall(name, args, {k: v for k, v in op.kwargs.items() if not hasattr(v, "shape")}, outs,
                                (owner,), position=positions.get(i, 0)))
    return out
