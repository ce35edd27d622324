"""Device memory of a resolved model at a precision, batch size and mode.

One simulation of a forward pass (:func:`simulate`) walks the IR in execution order with an
identity for every tensor, so a tensor used twice (a residual block's input, a ReLU output
that the next convolution keeps) is counted once. It gives

* **inference**: the peak of live activations. At each op the live set is its input and
  output plus every tensor an enclosing container must keep (a residual's input for its
  shortcut, finished concat branches, a gate's input); views and no-ops (flatten, identity,
  dropout and stochastic depth at inference) make no new tensor. Also the largest single
  tensor.
* **training**: the activations autograd saves for backward, op by op, as PyTorch does
  (:data:`MEMORY_RULES`): a convolution keeps its input, a ReLU its output, batch norm its
  input and two float32 statistics per channel, max pooling its input and int64 indices,
  and so on. Parameters are not activations and are counted apart.

A :class:`MemoryReport` adds the model state at a :class:`Precision`: weights, buffers
(batch norm's running statistics), gradients (one per trainable parameter, in the weights'
dtype) and optimizer state (:data:`OPTIMIZERS`). Activation memory scales with the batch;
mult-adds do not (they are per sample everywhere in cnninspect).

Not counted: allocator caching and fragmentation, convolution workspaces (cuDNN), the CUDA
context and framework buffers, the transient gradients of activations during backward, and
the loss. Pure Python on the IR, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Mapping

from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side, ops, walk
from ..ops.primitives import OPS, Attrs, Shape

# --- precisions and optimizers --------------------------------------------------------

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
TRAINABLE_DTYPES = ("fp32", "fp16", "bf16")
INDEX_BYTES = 8  # int64 indices (max pooling)
MASK_BYTES = 1  # bool dropout masks
STAT_BYTES = 4  # float32 batch-norm statistics, optimizer step counters


@dataclass(frozen=True)
class Precision:
    """The dtype of the weights (and gradients and optimizer state) and of the activations."""

    weights: str = "fp32"
    activations: str = "fp32"

    @property
    def weight_bytes(self) -> int:
        return DTYPE_BYTES[self.weights]

    @property
    def activation_bytes(self) -> int:
        return DTYPE_BYTES[self.activations]

    def text(self) -> str:
        if self.weights == self.activations:
            return self.weights
        return f"{self.weights} weights, {self.activations} activations"

    def as_json(self) -> dict[str, str]:
        return {"weights": self.weights, "activations": self.activations}


def parse_precision(text: str) -> Precision:
    """``fp16`` (weights and activations) or ``int8,fp16`` (weights, activations)."""
    parts = [p.strip().lower() for p in str(text).split(",")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"expected a dtype or WEIGHTS,ACTIVATIONS (e.g. fp16 or int8,fp16), got {text!r}")
    for p in parts:
        if p not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype {p!r}; dtypes: {', '.join(DTYPE_BYTES)}")
    return Precision(parts[0], parts[-1])


@dataclass(frozen=True)
class Optimizer:
    """Optimizer state per trainable parameter tensor, as ``torch.optim`` allocates it."""

    name: str
    torch: str  # the PyTorch optimizer this stands for (tested against its real state)
    states: int  # tensors of the parameter's shape and dtype
    step: bool  # a float32 step counter per parameter tensor


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", "torch.optim.SGD(params, lr): no state (momentum 0, PyTorch's default)", 0, False),
        Optimizer("momentum", "torch.optim.SGD(params, lr, momentum=0.9): a momentum buffer", 1, False),
        Optimizer("adam", "torch.optim.Adam(params): exp_avg, exp_avg_sq and a step counter", 2, True),
        Optimizer("adamw", "torch.optim.AdamW(params): exp_avg, exp_avg_sq and a step counter", 2, True),
        Optimizer("rmsprop", "torch.optim.RMSprop(params): square_avg and a step counter", 1, True),
    )
}


@dataclass(frozen=True)
class MemorySettings:
    precision: Precision = Precision()
    batch: int = 1
    optimizer: str = "sgd"

    def text(self) -> str:
        return f"{self.precision.text()}, batch {self.batch}"

    def as_json(self) -> dict[str, Any]:
        return {"dtype": self.precision.as_json(), "batch": self.batch, "optimizer": self.optimizer}


# --- what each op kind does with memory --------------------------------------------------


@dataclass(frozen=True)
class Saves:
    """What autograd keeps for backward of one op, per sample unless said otherwise."""

    input: bool = False
    output: bool = False
    extra: int = 0  # elements of other tensors in the activation dtype (padded copies, intermediates)
    index_bytes: int = 0  # int64 indices and bool masks, whatever the activation dtype
    constant_bytes: int = 0  # independent of the batch: float32 statistics, index lists
    stops_grad: bool = False  # the output needs no gradient (a step function)


NOTHING = Saves()
SAVES_INPUT = Saves(input=True)
SAVES_OUTPUT = Saves(output=True)
SavesRule = Callable[[Attrs, Shape, Shape], Saves]


def _never(attrs: Attrs, training: bool) -> bool:
    return False


def _always(attrs: Attrs, training: bool) -> bool:
    return True


def _no_buffers(attrs: Attrs) -> tuple[int, int]:
    return (0, 0)


@dataclass(frozen=True)
class MemoryRule:
    """``saves``: what autograd keeps (training); ``alias``: the output is the input tensor
    itself (a view or a no-op) in this mode; ``buffers``: (float, int64) elements of the
    module's buffers (batch norm's running mean and variance, and its step count)."""

    saves: SavesRule
    alias: Callable[[Attrs, bool], bool] = _never
    buffers: Callable[[Attrs], tuple[int, int]] = _no_buffers


def const(s: Saves) -> SavesRule:
    return lambda attrs, i, o: s


def _conv_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    if attrs.get("pad_tag") == "same-tf":  # Conv2dSame: the convolution keeps the padded copy
        t, b, left, r = attrs["pad"]
        return Saves(extra=i[0] * (i[1] + t + b) * (i[2] + left + r))
    return SAVES_INPUT


def _table_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    n = sum(len(r) for r in attrs["connections"])  # each row's selected maps, and its index list
    return Saves(extra=n * i[1] * i[2], constant_bytes=INDEX_BYTES * n)


def _lrn_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    c, h, w = i  # the squared input padded across channels, the denominator before and after pow
    return Saves(input=True, extra=(c + attrs["size"] - 1) * h * w + 2 * c * h * w)


# What autograd saves for each activation function (torch's derivatives.yaml); a test
# covers every registered activation.
ACT_SAVES: dict[str, SavesRule] = {
    "step": const(Saves(stops_grad=True)),  # (x >= 0): no gradient
    "signum": const(NOTHING),  # sign: zero gradient, nothing kept
    "linear": const(NOTHING),  # nn.Identity
    "relu": const(SAVES_OUTPUT),
    "relu6": const(SAVES_INPUT),  # hardtanh
    "sigmoid": const(SAVES_OUTPUT),
    "tanh": const(SAVES_OUTPUT),
    "scaled_tanh": lambda a, i, o: Saves(extra=math.prod(o)),  # A * tanh(S x) keeps tanh's output
    "silu": const(SAVES_INPUT),
    "hardswish": const(SAVES_INPUT),
    "hardsigmoid": const(SAVES_INPUT),
    "gelu": const(SAVES_INPUT),
    "mish": const(SAVES_INPUT),
    "leaky_relu": const(SAVES_INPUT),
    "prelu": const(SAVES_INPUT),  # and its weight, which is state
    "elu": const(SAVES_INPUT),
    "selu": const(SAVES_INPUT),  # elu with a scale
    "celu": const(SAVES_INPUT),  # elu with input_scale 1 / alpha
    "softplus": const(SAVES_INPUT),
    "hardtanh": const(SAVES_INPUT),
    "logsigmoid": lambda a, i, o: Saves(input=True, extra=math.prod(i)),  # and the CPU kernel's buffer
    "softsign": lambda a, i, o: Saves(input=True, extra=math.prod(i)),  # x / (1 + |x|) keeps the divisor
    "tanhshrink": lambda a, i, o: Saves(extra=math.prod(o)),  # x - tanh(x) keeps tanh's output
}


def _act_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    return ACT_SAVES[attrs["fn"]](attrs, i, o)


def _bn_act_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    """Batch norm's input and statistics, and what the activation keeps of the batch norm's
    output (an intermediate of the fused module) or of its own output."""
    act = ACT_SAVES[attrs["fn"]](attrs, i, o)
    return Saves(input=True, output=act.output, extra=act.extra + (math.prod(i) if act.input else 0),
                 constant_bytes=2 * STAT_BYTES * attrs["ch"])


def _maxpool_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    return Saves(input=True, index_bytes=INDEX_BYTES * math.prod(o))


# Every op kind's memory behaviour. A new kind needs one entry (a test checks coverage):
# what it saves for backward, and whether its output is its input (views, no-ops).
MEMORY_RULES: dict[str, MemoryRule] = {
    "conv2d": MemoryRule(_conv_saves),
    "conv_table": MemoryRule(_table_saves),
    "linear": MemoryRule(const(SAVES_INPUT)),
    "rbf": MemoryRule(const(Saves(input=True, output=True))),  # cdist keeps x and the distances; pow keeps them too
    "bn2d": MemoryRule(lambda a, i, o: Saves(input=True, constant_bytes=2 * STAT_BYTES * a["ch"]),
                       buffers=lambda a: (2 * a["ch"], 1)),
    "bn_act2d": MemoryRule(_bn_act_saves, buffers=lambda a: (2 * a["ch"], 1)),
    "identity": MemoryRule(const(NOTHING), _always),
    "take": MemoryRule(const(NOTHING), _always),  # the kept tensor itself (simulate keeps it alive)
    "act": MemoryRule(_act_saves, lambda a, training: a["fn"] == "linear"),
    # the fused dropout kernel of GPUs keeps a bool mask (on the CPU, PyTorch keeps a float one);
    # with p = 0 PyTorch returns the input itself, in training too
    "dropout": MemoryRule(lambda a, i, o: Saves(index_bytes=MASK_BYTES * math.prod(i)),
                          lambda a, training: not training or a["p"] == 0),
    "drop_path": MemoryRule(const(Saves(extra=1)), lambda a, training: not training or a["p"] == 0),
    "lrn": MemoryRule(_lrn_saves),
    "softmax": MemoryRule(const(SAVES_OUTPUT)),
    "flatten": MemoryRule(const(NOTHING), _always),
    "maxpool2d": MemoryRule(_maxpool_saves),
    "avgpool2d": MemoryRule(const(SAVES_INPUT)),
    # global: a mean over the map, keeps only its shape; to a fixed size: _adaptive_avg_pool2d keeps its input
    "gavgpool": MemoryRule(lambda a, i, o: SAVES_INPUT if "size" in a else NOTHING),
    "gmaxpool": MemoryRule(_maxpool_saves),
    "subsample": MemoryRule(lambda a, i, o: Saves(input=True, extra=math.prod(o))),  # the pooled map
    "bn1d": MemoryRule(lambda a, i, o: Saves(input=True, constant_bytes=2 * STAT_BYTES * a["ch"]),
                       buffers=lambda a: (2 * a["ch"], 1)),
    # native_layer_norm keeps its input and a mean and a reciprocal std per normalised position
    "layernorm": MemoryRule(lambda a, i, o: Saves(input=True, extra=2 * math.prod(i) // a["ch"])),
    "layer_scale": MemoryRule(const(SAVES_INPUT)),  # x * gamma keeps x for gamma's gradient
    "mean": MemoryRule(const(NOTHING)),  # keeps only the shape
    "channel_split": MemoryRule(const(NOTHING), _always),  # x.narrow: a view
    "channel_shuffle": MemoryRule(const(NOTHING)),  # view, transpose, contiguous: a copy, nothing kept
    "permute": MemoryRule(const(NOTHING), _always),  # a view
}


# --- the simulation -----------------------------------------------------------------------


@dataclass(frozen=True)
class SavedAt:
    """What one op (or a gate) saves that no earlier op saved: activation-dtype elements and
    dtype-independent bytes per sample, and batch-independent bytes."""

    elements: int = 0
    index_bytes: int = 0
    constant_bytes: int = 0

    def bytes(self, activation_bytes: int, batch: int) -> int:
        return batch * (self.elements * activation_bytes + self.index_bytes) + self.constant_bytes


@dataclass(frozen=True)
class Simulation:
    """The outcome of one simulated forward pass, per sample."""

    peak_elements: int
    peak_at: str
    largest_elements: int
    largest_at: str
    saved: Mapping[str, SavedAt]  # training only: by the op (or gate) that saves first


def simulate(model: Model, *, training: bool = False, shapes: Mapping[str, Any] | None = None) -> Simulation:
    """Run the forward pass of ``model`` on tensor identities (see the module docstring).

    ``shapes`` maps module paths to objects with ``in_shape``/``out_shape`` (the analysis
    engine's observations); by default the resolved model's own shapes are used.
    """
    sizes: dict[int, int] = {}
    made_by: dict[int, str] = {}
    grads: dict[int, bool] = {}
    saved_by: dict[int, str] = {}
    extras: dict[str, list[int]] = {}
    peak: list[Any] = [0, ""]
    # a concat's 'from': each taken output stays live from where it is made to its last taker
    last_taker = {op.attrs["point"]: q for q, op in ops(model.root) if op.kind == "take"}
    kept: dict[str, int] = {}
    alive: set[int] = set()

    def shape_of(qual: str, node: Node) -> tuple[Shape, Shape]:
        if shapes is not None:
            o = shapes[qual]
            return tuple(o.in_shape), tuple(o.out_shape)
        return node.in_shape, node.out_shape

    def new(shape: Shape, grad: bool, where: str) -> int:
        i = len(sizes) + 1
        sizes[i] = math.prod(shape)
        made_by[i] = where
        grads[i] = grad
        return i

    def note(live: set[int], where: str) -> None:
        total = sum(sizes[i] for i in live | alive)
        if total > peak[0]:
            peak[0], peak[1] = total, where

    def save(where: str, ids: list[int], s: Saves = NOTHING) -> None:
        for i in ids:
            saved_by.setdefault(i, where)
        if s.extra or s.index_bytes or s.constant_bytes:
            e = extras.setdefault(where, [0, 0, 0])
            e[0] += s.extra
            e[1] += s.index_bytes
            e[2] += s.constant_bytes

    def run(node: Node, qual: str, x: int, held: frozenset[int]) -> int:
        y = step(node, qual, x, held)
        if qual in last_taker:
            kept[qual] = y
            alive.add(y)
        return y

    def step(node: Node, qual: str, x: int, held: frozenset[int]) -> int:
        in_shape, out_shape = shape_of(qual, node)
        if isinstance(node, Op) and node.kind == "take":
            point = node.attrs["point"]
            if last_taker[point] == qual:  # from here the concat holds it as one of its parts
                alive.discard(kept[point])
            return kept[point]
        if isinstance(node, Op):
            rule = MEMORY_RULES[node.kind]
            if rule.alias(node.attrs, training):
                return x
            trainable = any(t for _n, t in OPS[node.kind].params(node.attrs, node.in_shape).values())
            s = rule.saves(node.attrs, in_shape, out_shape)
            needs_grad = grads[x] or trainable  # autograd records the op only then
            y = new(out_shape, needs_grad and not s.stops_grad, qual)
            note(set(held) | {x, y}, qual)
            if training and needs_grad:
                save(qual, [x] * s.input + [y] * s.output, s)
            return y

        def sub(child: Node) -> str:
            return f"{qual}.{child.name}"

        if isinstance(node, Seq):
            for child in node.children:
                x = run(child, sub(child), x, held)
            return x
        if isinstance(node, Residual):
            b = run(node.body, sub(node.body), x, held | {x})
            s = run(node.shortcut, sub(node.shortcut), x, held | {x, b})
            y = new(out_shape, grads[b] or grads[s], qual)
            note(set(held) | {b, s, y}, qual)
            if node.post is not None:
                y = run(node.post, sub(node.post), y, held)
            return y
        if isinstance(node, Concat):
            outs: list[int] = []
            last = len(node.branches) - 1
            for i, br in enumerate(node.branches):
                # the input stays live for the branches after this one, not past the last
                keep = {x} if i < last else set()
                outs.append(run(br, sub(br), x, held | keep | set(outs)))
            y = new(out_shape, any(grads[o] for o in outs), qual)
            note(set(held) | set(outs) | {y}, qual)
            return y
        if isinstance(node, Gate):
            g = run(node.branch, sub(node.branch), x, held | {x})
            y = new(out_shape, grads[x] or grads[g], qual)
            note(set(held) | {x, g, y}, qual)
            if training:  # x * g keeps each factor when the other needs a gradient
                save(qual, [x] * grads[g] + [g] * grads[x])
            return y
        assert isinstance(node, Side)
        run(node.branch, sub(node.branch), x, held | {x})
        return x

    x0 = new(model.input_shape, False, "input")
    note({x0}, "input")
    x = x0
    for child in model.root.children:
        x = run(child, child.name, x, frozenset())
    del run, step  # a recursive closure is a reference cycle: break it, so its cells die with this call
    largest = max(sizes, key=lambda i: sizes[i])
    per_layer: dict[str, list[int]] = {}
    for i, where in saved_by.items():
        per_layer.setdefault(where, [0, 0, 0])[0] += sizes[i]
    for where, (el, idx, const_) in extras.items():
        p = per_layer.setdefault(where, [0, 0, 0])
        p[0], p[1], p[2] = p[0] + el, p[1] + idx, p[2] + const_
    saved = {k: SavedAt(*v) for k, v in per_layer.items()}
    return Simulation(peak[0], peak[1], sizes[largest], made_by[largest], saved)


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inference:
    weight_bytes: int
    buffer_bytes: int
    peak_activation_bytes: int
    peak_at: str
    largest_tensor_bytes: int
    largest_tensor_at: str

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.buffer_bytes + self.peak_activation_bytes


@dataclass(frozen=True)
class Training:
    optimizer: Optimizer
    weight_bytes: int
    buffer_bytes: int
    gradient_bytes: int
    optimizer_state_bytes: int
    saved_activation_bytes: int
    saved_float_bytes: int  # the part in the activation dtype (the rest: indices, masks, statistics)
    top_layer: str
    top_layer_bytes: int

    @property
    def parts(self) -> tuple[tuple[str, int], ...]:
        """(JSON key, bytes) of the breakdown, which sums to :attr:`total_bytes`."""
        return (
            ("weight_bytes", self.weight_bytes),
            ("buffer_bytes", self.buffer_bytes),
            ("gradient_bytes", self.gradient_bytes),
            ("optimizer_state_bytes", self.optimizer_state_bytes),
            ("saved_activation_bytes", self.saved_activation_bytes),
        )

    @property
    def total_bytes(self) -> int:
        return sum(b for _, b in self.parts)


@dataclass(frozen=True)
class MemoryReport:
    settings: MemorySettings
    params: int
    trainable_params: int
    inference: Inference
    training: Training | None
    training_unavailable: str | None = None
    saved_by_layer: Mapping[str, int] = field(default_factory=dict)  # bytes, training only
    weights_text: str = ""  # what the weights are, when not params x the weight dtype (a Python model)
    buffers_text: str = ""  # what the buffers are, when not batch norm's statistics
    notes: tuple[str, ...] = ()
    measured: bool = False  # a Python model's copy, run: activations at the batch its counts are for

    def as_json(self) -> dict[str, Any]:
        inf = self.inference
        data: dict[str, Any] = {
            **self.settings.as_json(),
            "inference": {
                "weight_bytes": inf.weight_bytes,
                "buffer_bytes": inf.buffer_bytes,
                "peak_activation_bytes": inf.peak_activation_bytes,
                "peak_at": inf.peak_at,
                "largest_tensor_bytes": inf.largest_tensor_bytes,
                "largest_tensor_at": inf.largest_tensor_at,
                "total_bytes": inf.total_bytes,
            },
            "training": None,
        }
        t = self.training
        if t is not None:
            data["training"] = {
                **dict(t.parts),
                "saved_in_activation_dtype_bytes": t.saved_float_bytes,
                "largest_saver": t.top_layer,
                "largest_saver_bytes": t.top_layer_bytes,
                "total_bytes": t.total_bytes,
            }
        else:
            data["training_unavailable"] = self.training_unavailable
        if self.notes:
            data["notes"] = list(self.notes)
        return data


def memory_report(model: Model, settings: MemorySettings | None = None,
                  shapes: Mapping[str, Any] | None = None) -> MemoryReport:
    """Inference and training memory of ``model`` at ``settings`` (default fp32, batch 1, sgd)."""
    settings = settings or MemorySettings()
    prec, batch = settings.precision, settings.batch
    wb, ab = prec.weight_bytes, prec.activation_bytes
    params = trainable = tensors = buf_float = buf_int = 0
    for _qual, _depth, node in walk(model.root):
        if isinstance(node, Op):
            for numel, is_trainable in OPS[node.kind].params(node.attrs, node.in_shape).values():
                params += numel
                if is_trainable:
                    trainable += numel
                    tensors += 1
            bf, bi = MEMORY_RULES[node.kind].buffers(node.attrs)
            buf_float, buf_int = buf_float + bf, buf_int + bi
    weights = params * wb
    buffers = buf_float * wb + buf_int * INDEX_BYTES
    inf_trace = simulate(model, shapes=shapes)
    inference = Inference(weights, buffers, batch * inf_trace.peak_elements * ab, inf_trace.peak_at,
                          batch * inf_trace.largest_elements * ab, inf_trace.largest_at)
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings.optimizer!r}")
    opt = OPTIMIZERS[settings.optimizer]
    untrainable = [d for d in (prec.weights, prec.activations) if d not in TRAINABLE_DTYPES]
    if untrainable:
        return MemoryReport(settings, params, trainable, inference, None,
                            f"{untrainable[0]} tensors cannot be trained with autograd (training needs "
                            f"{', '.join(TRAINABLE_DTYPES)})")
    trace = simulate(model, training=True, shapes=shapes)
    by_layer = {k: v.bytes(ab, batch) for k, v in trace.saved.items()}
    top = max(by_layer, key=lambda k: by_layer[k]) if by_layer else ""
    training = Training(
        opt,
        weights,
        buffers,
        trainable * wb,
        opt.states * trainable * wb + (STAT_BYTES * tensors if opt.step else 0),
        sum(by_layer.values()),
        batch * ab * sum(v.elements for v in trace.saved.values()),
        top,
        by_layer.get(top, 0),
    )
    return MemoryReport(settings, params, trainable, inference, training, None, by_layer)


def measured_memory_report(settings: MemorySettings, *, params: int, trainable_params: int, trainable_tensors: int,
                           weight_bytes: int, trainable_bytes: int, buffer_bytes: int, peak_activation_bytes: int,
                           peak_at: str, largest_tensor_bytes: int, largest_tensor_at: str,
                           saved_by_layer: Mapping[str, int] | None, saved_float_bytes: int = 0,
                           training_unavailable: str | None = None, weights_text: str = "", buffers_text: str = "",
                           notes: tuple[str, ...] = ()) -> MemoryReport:
    """A :class:`MemoryReport` from measured parts (a Python model's copy run on the meta
    device): weights and buffers at their own dtypes, the peak of an inference pass and what
    autograd saved in a training pass (``saved_by_layer``, None when it could not run).
    Gradients are one per trainable parameter at its dtype; optimizer state as
    :data:`OPTIMIZERS` says, at the parameters' dtypes."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings.optimizer!r}")
    opt = OPTIMIZERS[settings.optimizer]
    inference = Inference(weight_bytes, buffer_bytes, peak_activation_bytes, peak_at, largest_tensor_bytes,
                          largest_tensor_at)
    training = None
    by_layer = dict(saved_by_layer or {})
    if saved_by_layer is not None:
        top = max(by_layer, key=lambda k: by_layer[k]) if by_layer else ""
        training = Training(opt, weight_bytes, buffer_bytes, trainable_bytes,
                            opt.states * trainable_bytes + (STAT_BYTES * trainable_tensors if opt.step else 0),
                            sum(by_layer.values()), saved_float_bytes, top, by_layer.get(top, 0))
    return MemoryReport(settings, params, trainable_params, inference, training, training_unavailable, by_layer,
                        weights_text, buffers_text, notes, True)
