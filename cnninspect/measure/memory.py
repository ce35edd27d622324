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
  (each op kind's record says what, :attr:`cnninspect.ops.kind.OpKind.saves`): a convolution
  keeps its input, a ReLU its output, batch norm its input and two float32 statistics per
  channel, max pooling its input and int64 indices, and so on. Parameters are not
  activations and are counted apart.

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
from collections.abc import Iterable, Mapping

from ..resolve.ir import Concat, Gate, Model, Node, Op, Residual, Seq, Side, ops, walk
from ..ops.kind import INDEX_BYTES, SAVES_NOTHING, STAT_BYTES, Saves
from ..ops.kinds import KINDS
from ..ops.primitives import Shape

# --- precisions and optimizers --------------------------------------------------------

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
TRAINABLE_DTYPES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Precision:
    """The dtype of the weights (and gradients and optimizer state) and of the activations.

    ``run``: a Python model at its own dtypes (no ``--dtype``): the floating dtypes its
    tensors have, in torch's names (``float16``, ``float32``); each tensor's bytes are then
    its own dtype's (memory traffic reads them from the captured operators), and
    ``weights``/``activations`` name the widest of them, the roofline's compute dtype."""

    weights: str = "fp32"
    activations: str = "fp32"
    run: tuple[str, ...] = ()

    @property
    def weight_bytes(self) -> int:
        return DTYPE_BYTES[self.weights]

    @property
    def activation_bytes(self) -> int:
        return DTYPE_BYTES[self.activations]

    def text(self) -> str:
        if len(self.run) > 1:
            return f"at the dtypes run ({', '.join(self.run)})"
        if self.weights == self.activations:
            return self.weights
        return f"{self.weights} weights, {self.activations} activations"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"weights": self.weights, "activations": self.activations}
        if len(self.run) > 1:
            out["as_run"] = list(self.run)
        return out


# torch's floating dtypes -> the names of cnninspect's --dtype, narrowest last
RUN_NAMES: dict[str, str] = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def run_precision(dtypes: Iterable[str]) -> Precision:
    """A Python model's precision at its own dtypes (torch's names, ``float16``): bytes are
    each tensor's own; the named dtype (the roofline's compute dtype) is the widest of fp32,
    fp16 and bf16 present (fp32 when none is: a float64 model is priced at fp32 peaks)."""
    run = tuple(sorted(set(dtypes)))
    named = next((RUN_NAMES[d] for d in RUN_NAMES if d in run), "fp32")
    return Precision(named, named, run or ("float32",))


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

    def save(where: str, ids: list[int], s: Saves = SAVES_NOTHING) -> None:
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
            record = KINDS[node.kind]
            if record.alias(node.attrs, training):
                return x
            trainable = any(t for _n, t in record.param_counts(node.attrs).values())
            s = record.saves(node.attrs, in_shape, out_shape)
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
            record = KINDS[node.kind]
            for numel, is_trainable in record.param_counts(node.attrs).values():
                params += numel
                if is_trainable:
                    trainable += numel
                    tensors += 1
            bf, bi = record.buffers(node.attrs)
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
