"""One training step of a private meta copy: what autograd saves, and what the step costs.

:func:`run_training` copies the model (:func:`~cnninspect.capture.forward.private_copy`:
meta stand-ins for its parameters and buffers, each with the caller's ``requires_grad``),
puts the copy in training mode and runs one forward pass with gradients enabled, then
``loss.backward()``. Nothing is allocated or computed: shapes flow, autograd records its
graph as it would on any device. Two things are measured on the way:

* **saved for backward**: every tensor autograd keeps (``torch.autograd.graph.
  saved_tensors_hooks``), counted once per storage, as autograd holds it (a ReLU's output
  that the next convolution saves as its input is one tensor; views share their base's
  storage); parameters and buffers are state, counted apart. Each storage is charged to the
  innermost module running when it was first saved. ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN``
  are the exception: on the CPU PyTorch hands them to oneDNN, which keeps a workspace of a
  size only oneDNN knows, so each such call is run once more alone on CPU tensors of the same
  shapes (zero weights, a copy of the layer, never the caller's) and its saved tensors are
  counted from that run, unless its weights would take more than
  :data:`~cnninspect.base.limits.MAX_CPU_FALLBACK_BYTES` (then the meta run's are, and a
  note says so);
* **the training step's cost**: ``torch.utils.flop_counter.FlopCounterMode`` around the
  forward pass and ``loss.backward()``, where the loss is the sum of every floating-point
  output (``sum(out.sum() for out in outputs)``; FlopCounterMode counts nothing for the
  sum or its gradient). The inputs need no gradient, as a batch of data does not, so the
  first layer computes its weights' gradient only. Totals are FlopCounterMode's, turned into
  mult-adds (FLOPs / 2, its convention for every operator it counts). Per module, with
  FlopCounterMode's own formulas (its ``flop_registry``): a forward operator is charged to
  the innermost module running it, a backward operator to the innermost module whose
  forward created the autograd node running it (the node's sequence number falls in that
  call's span). FlopCounterMode's module tracker charges backward work by the gradients
  flowing into each module's outputs, which around a residual addition puts a body's
  backward on the shortcut (ConvNeXt's identity ``drop_path``) and a negative count on the
  block, and gives a container that is never called (a ``ModuleList``) minus its children;
  the attributions have the same total.

On the meta device PyTorch runs some modules' decomposed path where the CPU runs one fused
operator (``nn.LSTM``: oneDNN's ``mkldnn_rnn_layer``), which FlopCounterMode on the CPU does
not count; the step counts the decomposed work and says so in :attr:`TrainingStep.notes`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef

from ..measure.training_step import StepLayer, TrainingStep
from .forward import module_hooks
from .inputs import ModelInputs

@dataclass(frozen=True)
class SavedForBackward:
    """Bytes autograd keeps between the forward pass and the backward pass."""

    total_bytes: int
    float_bytes: int  # the part in floating-point dtypes (the rest: indices, masks, workspaces)
    by_layer: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelState:
    """Parameters and buffers of the (possibly cast) copy, each tensor once."""

    params: int
    trainable_params: int
    trainable_tensors: int
    weight_bytes: int
    trainable_bytes: int
    buffer_elements: int
    buffer_bytes: int
    dtypes: tuple[str, ...]  # floating dtypes of the parameters, in order of first use


@dataclass(frozen=True)
class TrainingRun:
    state: ModelState
    saved: SavedForBackward | None
    step: TrainingStep | None
    failure: str = ""  # why the training pass could not run (saved and step are then None)


class TrainingFailed(Exception):
    """The model's forward or backward pass raised on the meta device."""


def model_state(module: nn.Module) -> ModelState:
    """Counts and bytes of ``module``'s parameters and buffers, each tensor once."""
    seen: set[int] = set()
    params = trainable = tensors = wbytes = tbytes = belems = bbytes = 0
    dtypes: list[str] = []
    for p in module.parameters():
        if id(p) in seen or isinstance(p, nn.parameter.UninitializedTensorMixin):
            continue
        seen.add(id(p))
        n, b = int(p.numel()), int(p.numel()) * p.element_size()
        params, wbytes = params + n, wbytes + b
        name = str(p.dtype).removeprefix("torch.")
        if p.dtype.is_floating_point and name not in dtypes:
            dtypes.append(name)
        if p.requires_grad:
            trainable, tbytes, tensors = trainable + n, tbytes + b, tensors + 1
    for buf in module.buffers():
        if id(buf) in seen or isinstance(buf, nn.parameter.UninitializedTensorMixin):
            continue
        seen.add(id(buf))
        belems += int(buf.numel())
        bbytes += int(buf.numel()) * buf.element_size()
    return ModelState(params, trainable, tensors, wbytes, tbytes, belems, bbytes, tuple(dtypes))


def _owners(spans: list[tuple[int, int, nn.Module]], names: Mapping[int, str]) -> Callable[[], str | None]:
    """Where the backward operator running now belongs: the innermost module whose forward
    created the running autograd node (its sequence number falls in that call's span);
    ``None`` outside every module (the loss)."""
    end = max((e for _s, e, _m in spans), default=0)
    owner: list[str | None] = [None] * end
    for start, stop, module in sorted(spans, key=lambda sp: (sp[0], sp[0] - sp[1])):  # outer calls first
        owner[start:stop] = [names.get(id(module), "")] * (stop - start)

    def locate() -> str | None:
        node = torch._C._current_autograd_node()
        number = node._sequence_nr() if node is not None else -1
        return owner[number] if 0 <= number < end else None

    return locate


def _flops_by_module(locate: Callable[[], str | None]) -> Any:
    """A dispatch mode that charges each operator's FLOPs (FlopCounterMode's formulas, its
    ``flop_registry``) to the module path ``locate`` names (``None``: outside every module)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopsByModule(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.flops: dict[str | None, int] = {}

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                               kwargs: dict[str, Any] | None = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                path = locate()
                self.flops[path] = self.flops.get(path, 0) + int(formula(*args, **kwargs, out_val=out))
            return out

    return FlopsByModule()


def _module_calls(stack: list[nn.Module], spans: list[tuple[int, int, nn.Module]]) -> Any:
    """Keep ``stack`` as the modules whose forward is running, and record in ``spans`` each
    finished call's span of autograd sequence numbers (``[start, end)``: the nodes its forward
    created, its submodules' included), with process-wide hooks removed afterwards (the copy
    holds no hook of ours, the caller's model never runs)."""
    next_number = torch._C._autograd._get_sequence_nr
    starts: list[int] = []

    def pre(module: nn.Module, args: Any) -> None:
        stack.append(module)
        starts.append(next_number())

    def post(module: nn.Module, args: Any, output: Any) -> None:
        if stack and stack[-1] is module:
            stack.pop()
            spans.append((starts.pop(), next_number(), module))

    return module_hooks(pre, post)


def _floating_outputs(output: Any) -> list[torch.Tensor]:
    from .forward import _tensors

    return [t for t in _tensors(output) if t.dtype.is_floating_point and t.requires_grad]


def run_training(module: nn.Module, inputs: ModelInputs, *, dtype: torch.dtype | None = None,
                 step: bool = True) -> TrainingRun:
    """Measure one training step of a private meta copy of ``module`` on ``inputs`` (see the
    module docstring). ``dtype`` casts the copy's floating parameters, buffers and inputs
    (the caller's model keeps its own). ``step=False`` skips the backward pass and its count.
    """
    from .forward import ModelFailed, _make_inputs, _materialise, private_copy
    from .usercode import guarded

    with guarded():
        work = private_copy(module, "meta")
        first = next((p for p in work.parameters() if p.dtype.is_floating_point
                      and not isinstance(p, nn.parameter.UninitializedParameter)), None)
        model_dtype = dtype or (first.dtype if first is not None else torch.float32)
        args, kwargs, _ = _make_inputs(work, inputs, model_dtype, "meta", True)
        if any(isinstance(t, nn.parameter.UninitializedTensorMixin) for t in (*work.parameters(), *work.buffers())):
            try:
                with torch.no_grad(), torch.device("meta"):
                    _materialise(work, args, kwargs, True)
            except ModelFailed as exc:
                return TrainingRun(model_state(work), None, None, f"the model's lazy layers could not be "
                                   f"materialised on the meta device ({type(exc.cause).__name__})")
        if dtype is not None:
            cast_stand_ins(work, dtype)
        state = model_state(work)
        work.train()
        try:
            saved, step_cost = _run(work, args, kwargs, inputs.batch, step)
        except TrainingFailed as exc:
            return TrainingRun(state, None, None, str(exc))
        return TrainingRun(state, saved, step_cost)


def cast_stand_ins(work: nn.Module, dtype: torch.dtype) -> None:
    """Give a meta copy new floating parameters and buffers of ``dtype`` (tied tensors stay
    tied). ``nn.Module.to`` would change the tensors themselves, and a meta tensor of the
    caller's model is its own stand-in in the copy (:func:`~cnninspect.capture.forward.private_copy`):
    casting it would cast the caller's model."""
    made: dict[int, torch.Tensor] = {}
    for m in work.modules():
        for store, wrap in ((m._parameters, True), (m._buffers, False)):
            for name, t in store.items():
                if t is None or isinstance(t, nn.parameter.UninitializedTensorMixin) or not t.is_floating_point():
                    continue
                new = made.get(id(t))
                if new is None:
                    new = torch.empty(t.shape, dtype=dtype, device="meta")
                    new = nn.Parameter(new, requires_grad=t.requires_grad) if wrap else new
                    made[id(t)] = new
                store[name] = new


def _run(work: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], batch: int,
         step: bool) -> tuple[SavedForBackward, TrainingStep | None]:
    from torch.utils.flop_counter import FlopCounterMode

    names: dict[int, str] = {}
    for name, m in work.named_modules(remove_duplicate=False):
        names.setdefault(id(m), name)
    state_keys = {StorageWeakRef(t.untyped_storage()) for t in (*work.parameters(), *work.buffers())}
    stack: list[nn.Module] = []
    saved: dict[Any, tuple[int, bool, str]] = {}  # storage -> (bytes, floating, charged to)
    rnn_calls: list[tuple[nn.RNNBase, str, tuple[Any, ...]]] = []

    def where() -> str:
        return names.get(id(stack[-1]), "") if stack else ""

    def inside_rnn() -> bool:
        return any(isinstance(m, nn.RNNBase) for m in stack)

    def pack(t: torch.Tensor) -> torch.Tensor:
        if inside_rnn():
            return t
        s = t.untyped_storage()
        key = StorageWeakRef(s)
        if key not in state_keys and key not in saved:
            saved[key] = (int(s.nbytes()), t.dtype.is_floating_point, where())
        return t

    def rnn_pre(m: nn.Module, a: Any) -> None:
        if isinstance(m, nn.RNNBase) and not any(isinstance(o, nn.RNNBase) for o in stack[:-1]):
            rnn_calls.append((m, names.get(id(m), ""), a))

    def rnn_post(m: nn.Module, a: Any, out: Any) -> None:
        if rnn_calls and rnn_calls[-1][0] is m and len(rnn_calls) > len(rnn_outputs):
            rnn_outputs.append(_all_tensors(out))

    rnn_outputs: list[list[torch.Tensor]] = []
    counter = FlopCounterMode(display=False) if step else None
    forward_total = 0
    spans: list[tuple[int, int, nn.Module]] = []
    forward_by = _flops_by_module(lambda: where() if stack else None) if step else None
    backward_by: dict[str | None, int] = {}
    with contextlib.ExitStack() as ctx:
        ctx.enter_context(torch.enable_grad())
        ctx.enter_context(torch.device("meta"))
        ctx.enter_context(_module_calls(stack, spans))
        ctx.enter_context(module_hooks(rnn_pre, rnn_post))
        if counter is not None:
            ctx.enter_context(counter)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            try:
                with forward_by if forward_by is not None else contextlib.nullcontext():
                    output = work(*args, **kwargs)
            except Exception as exc:
                raise TrainingFailed(f"the forward pass in training mode on the meta device raised "
                                     f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
        outs = _floating_outputs(output)
        if counter is not None:
            forward_total = counter.get_total_flops()
            if outs:
                loss = outs[0].sum()
                for o in outs[1:]:
                    loss = loss + o.sum()
                by_module = _flops_by_module(_owners(spans, names))
                try:
                    with by_module:
                        loss.backward()
                    backward_by = by_module.flops
                except Exception as exc:
                    raise TrainingFailed(f"the backward pass on the meta device raised {type(exc).__name__}: "
                                         f"{' '.join(str(exc).split())[:300]}") from exc
    notes: list[str] = []
    for (m, path, a), outs_meta in zip(rnn_calls, rnn_outputs):
        note = _rnn_on_cpu(m, path, a, outs_meta, saved)
        if note:
            notes.append(note)
    by_layer: dict[str, int] = {}
    for nbytes, _floating, path in saved.values():
        by_layer[path] = by_layer.get(path, 0) + nbytes
    result = SavedForBackward(sum(v[0] for v in saved.values()), sum(v[0] for v in saved.values() if v[1]),
                              by_layer, tuple(notes))
    step_cost = None
    if counter is not None:
        assert forward_by is not None
        step_cost = _step(work, forward_total, counter.get_total_flops(), forward_by.flops, backward_by, batch,
                          rnn_calls, bool(outs))
    return result, step_cost


def _all_tensors(obj: Any) -> list[torch.Tensor]:
    from .forward import _tensors

    return _tensors(obj)


def _rnn_on_cpu(m: nn.RNNBase, path: str, args: Any, outputs: list[torch.Tensor],
                saved: dict[Any, tuple[int, bool, str]]) -> str:
    """Count what one recurrent layer saves on the CPU: a zero-weight copy of it run alone on
    CPU tensors of its call's shapes. Its inputs and outputs, when saved, are the storages
    the meta run knows (so a tensor that a later layer saves too is counted once)."""
    from ..base.limits import MAX_CPU_FALLBACK_BYTES

    weight_bytes = sum(p.numel() * p.element_size() for p in m.parameters())
    if weight_bytes > MAX_CPU_FALLBACK_BYTES:
        return (f"{path or type(m).__name__}: its saved tensors are counted on the meta device's decomposed path "
                f"(its weights, {weight_bytes / 1e9:.1f} GB, are over the limit for the CPU run that would give "
                "oneDNN's workspace)")
    meta_ins = _all_tensors(args)
    cpu = copy.deepcopy(m).to_empty(device="cpu")
    cpu.train()
    with torch.no_grad():
        for p in cpu.parameters():
            p.zero_()
    made = [torch.zeros(t.shape, dtype=t.dtype, device="cpu").requires_grad_(t.requires_grad) for t in meta_ins]
    remap = {StorageWeakRef(c.untyped_storage()): StorageWeakRef(t.untyped_storage()) for c, t in zip(made, meta_ins)}
    own = {StorageWeakRef(t.untyped_storage()) for t in (*cpu.parameters(), *cpu.buffers())}
    found: dict[Any, tuple[int, bool, str]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        key = StorageWeakRef(s)
        key = remap.get(key, key)
        if key not in own and key not in found:
            found[key] = (int(s.nbytes()), t.dtype.is_floating_point, path)
        return t

    it = iter(made)
    call_args = [next(it) if isinstance(a, torch.Tensor) else a for a in args]
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = _all_tensors(cpu(*call_args))
        for c, t in zip(out, outputs):
            key = StorageWeakRef(c.untyped_storage())
            if key in found:
                found[StorageWeakRef(t.untyped_storage())] = found.pop(key)
        del out
    except Exception as exc:  # the CPU refused what the meta device ran: say so, count nothing twice
        return (f"{path or type(m).__name__}: the CPU run of the recurrent layer raised {type(exc).__name__}; its "
                "saved tensors are not counted")
    for key, value in found.items():
        saved.setdefault(key, value)
    return ""


def _step(work: nn.Module, forward_total: int, total: int, forward: Mapping[str | None, int],
          backward: Mapping[str | None, int], batch: int, rnn_calls: list[tuple[nn.RNNBase, str, tuple[Any, ...]]],
          has_loss: bool) -> TrainingStep:
    """Each module's own forward and backward FLOPs (by module path; ``None``: outside every
    module), in the order of ``named_modules``; the totals are FlopCounterMode's."""
    layers: list[StepLayer] = []
    seen: set[int] = set()
    for path, m in work.named_modules():
        if id(m) in seen:
            continue
        seen.add(id(m))
        f, b = forward.get(path, 0), backward.get(path, 0)
        if f or b:
            layers.append(StepLayer(path, type(m).__name__, f, b))
    if forward.get(None, 0) or backward.get(None, 0):
        layers.append(StepLayer("(outside modules)", "", forward.get(None, 0), backward.get(None, 0)))
    notes = []
    if not has_loss:
        notes.append("the model returns no floating-point output that needs a gradient: no backward pass")
    if rnn_calls:
        where = ", ".join(sorted({p or type(m).__name__ for m, p, _ in rnn_calls}))
        notes.append(f"{where}: counted on PyTorch's decomposed path (matrix products per time step); on the CPU "
                     "PyTorch runs oneDNN's fused mkldnn_rnn_layer, which FlopCounterMode counts as 0")
    return TrainingStep(tuple(layers), forward_total, total - forward_total, batch, tuple(notes))


# --- a Python model's memory ---------------------------------------------------------------

CASTS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def module_memory(module: nn.Module, inputs: ModelInputs, trace: Any, *, cast: str | None = None,
                  batch: int = 1, optimizer: str = "sgd") -> Any:
    """The memory report of a Python model: weights and buffers at the model's own dtypes
    (or cast to ``cast``, one of :data:`CASTS`, on the copy), the peak of live activations
    in ``trace``'s inference pass (captured again on a cast copy when ``cast`` is given), and
    training memory from :func:`run_training` (what autograd saves, gradients and optimizer
    state). ``batch`` is the batch the inputs carry."""
    from ..measure.memory import MemorySettings, Precision, measured_memory_report, run_precision
    from ..base.errors import UsageError
    from .forward import ModelFailed, capture, private_copy
    from .module_analysis import activation_peak

    if cast is not None:
        try:
            work = private_copy(module, "meta")
            cast_stand_ins(work, CASTS[cast])
            trace = capture(work, inputs, "meta")
        except ModelFailed as exc:
            raise UsageError(f"--dtype {cast}: the model cast to {cast} refused the meta device "
                             f"({type(exc.cause).__name__}: {' '.join(str(exc.cause).split())[:200]})") from None
    run = run_training(module, inputs, dtype=CASTS[cast] if cast else None, step=False)
    state = run.state
    precision = Precision(cast, cast) if cast else run_precision(state.dtypes)
    settings = MemorySettings(precision, batch, optimizer)
    sizes = trace.storage_bytes or None
    peak, peak_at, largest, largest_at = activation_peak(trace, sizes)
    dtypes = ", ".join(state.dtypes) or "no floating parameters"
    saved = run.saved
    notes = saved.notes if saved is not None else ()
    return measured_memory_report(
        settings, params=state.params, trainable_params=state.trainable_params,
        trainable_tensors=state.trainable_tensors, weight_bytes=state.weight_bytes,
        trainable_bytes=state.trainable_bytes, buffer_bytes=state.buffer_bytes,
        peak_activation_bytes=peak, peak_at=peak_at, largest_tensor_bytes=largest, largest_tensor_at=largest_at,
        saved_by_layer=saved.by_layer if saved is not None else None,
        saved_float_bytes=saved.float_bytes if saved is not None else 0,
        training_unavailable=run.failure or None,
        weights_text=f"{state.params:,} parameters at their dtypes ({dtypes})",
        buffers_text=f"{state.buffer_elements:,} buffer elements at their dtypes",
        notes=notes)
