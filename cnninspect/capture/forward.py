"""Capture one forward pass of an ``nn.Module`` as a :class:`~cnninspect.capture.trace.Trace`.

PyTorch's own machinery does the observing, no list of module classes is involved:

* a ``TorchDispatchMode`` sees every aten operator the forward pass runs, functional calls
  included (``F.relu``, ``torch.cat``, ``x.mean``, ``q @ k.transpose(-2, -1)``), with its
  arguments and results;
* a ``TorchFunctionMode`` notes the public function each operator came from (``mean`` from
  ``adaptive_avg_pool2d`` is not ``x.mean()``);
* global module hooks (``register_module_forward_pre_hook``) attribute operators to the
  module calls they ran in. They are process-wide and removed afterwards, so the user's
  module never holds a hook of ours.

On the ``meta`` device tensors have shapes and no storage: nothing is allocated or computed,
and :mod:`cnninspect.capture.meta_shapes` spares the hot operators PyTorch's Python meta kernels.
The module is never run itself: :func:`private_copy` copies its tree with stand-ins for its
parameters and buffers (meta tensors, or for a real run the parameters themselves and
copies of the buffers), and the copy runs, in eval mode. So the caller's parameters,
buffers, devices, training flags, hooks and attributes are as they were, whatever the
forward pass does and however it ends (an exception, Ctrl-C). When the model refuses the
meta device (``.item()``, data-dependent shapes, tensors kept outside its parameters) the
caller may run it on the CPU with real tensors instead (``device="cpu"``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from ..ops.aten_rules import OpCall, TensorMeta
from .meta_shapes import shortcut_for
from .tool_facts import function_call, module_call, plain_args, watched
from .inputs import ModelInputs, TensorSpec
from .trace import CallRecord, InputInfo, ParamInfo, Trace, Unit, per_sample

# operators that return a tensor sharing their input's storage without saying so in their schema
_UNDECLARED_ALIASES = frozenset({"_unsafe_view", "_reshape_alias", "lift_fresh"})
SDPA = "scaled_dot_product_attention"
_CONV_FUNCTIONS = frozenset({"conv1d", "conv2d", "conv3d"})


class CaptureBug(RuntimeError):
    """cnninspect's own recording failed (a bug, not the model's fault)."""


class ModelFailed(Exception):
    """The model raised during construction or its forward pass; ``cause`` is its exception."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause


def _tensors(obj: Any) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(obj) if isinstance(t, torch.Tensor)]


class _FuncInfo:
    __slots__ = ("name", "overload", "inplace", "aliases", "shortcut", "namespace")

    def __init__(self, func: Any) -> None:
        packet = func._overloadpacket.__name__
        self.namespace = str(getattr(func, "namespace", "aten"))
        args = func._schema.arguments
        self.inplace = (
            packet.endswith("_") and not packet.endswith("__") and bool(args)
            and args[0].alias_info is not None and args[0].alias_info.is_write
        )
        self.name = packet[:-1] if self.inplace else packet
        self.overload = func._overloadname
        self.aliases = tuple(r.alias_info is not None for r in func._schema.returns)
        self.shortcut = shortcut_for(func)


class _Recorder:
    """The state of one capture: calls, operators and the tensor data-flow graph."""

    def __init__(self, root: nn.Module, *, shortcuts: bool, batch: int = 1) -> None:
        self.root = root
        self.batch = batch
        self.shortcuts = shortcuts
        self.func_info: dict[Any, _FuncInfo] = {}
        self.tensors: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.node_storage: list[int] = []
        self.node_const: list[bool] = []
        self.storage_numel: list[int] = []
        self.storage_bytes: list[int] = []
        self.calls: list[dict[str, Any]] = []
        self.stack: list[int] = []
        self.ops: list[OpCall] = []
        self.op_owner: list[int] = []
        self.op_nodes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        self.via: str | None = None
        self.attention_pending = False
        self.kernels: tuple[str, ...] = ()  # fused CPU operators doing the current work (OpCall.kernels)
        self.attention_kernels: tuple[str, ...] = ()
        self.recording = False
        self.dtypes: dict[torch.dtype, str] = {}
        self.names: dict[int, str] = {}
        # paths from the root to each module through children() (a shared module has several;
        # children() lists a module once per parent), as ptflops sums them
        self.paths: dict[int, int] = {}
        edges: set[tuple[str, int]] = set()
        for name, mod in root.named_modules(remove_duplicate=False):
            self.names.setdefault(id(mod), name)
            edge = (name.rpartition(".")[0], id(mod))
            if edge not in edges:
                edges.add(edge)
                self.paths[id(mod)] = self.paths.get(id(mod), 0) + 1
        self.child_names: dict[int, dict[int, str]] = {}
        self.repeats: dict[str, int] = {}
        self.called: set[int] = set()
        self.functions: list[Any] = []  # watched torch function calls (ptflops and thop conventions)

    # -- tensors ---------------------------------------------------------------------------

    def node(self, t: torch.Tensor, storage: int | None, const: bool) -> int:
        nid = len(self.node_storage)
        if storage is None:
            storage = len(self.storage_numel)
            self.storage_numel.append(int(t.numel()))
            self.storage_bytes.append(int(t.numel()) * t.element_size())
        self.node_storage.append(storage)
        self.node_const.append(const)
        self.tensors[t] = nid
        return nid

    def lookup(self, t: torch.Tensor) -> int:
        nid = self.tensors.get(t)
        if nid is None:  # made outside the forward pass: a parameter, buffer or constant
            nid = self.node(t, None, True)
        return nid

    def meta(self, t: torch.Tensor, nid: int) -> TensorMeta:
        dtype = self.dtypes.get(t.dtype)
        if dtype is None:
            dtype = self.dtypes[t.dtype] = str(t.dtype).removeprefix("torch.")
        return TensorMeta(tuple(t.shape), dtype, self.node_const[nid])

    # -- operators ---------------------------------------------------------------------------

    def info(self, func: Any) -> _FuncInfo:
        fi = self.func_info.get(func)
        if fi is None:
            fi = self.func_info[func] = _FuncInfo(func)
        return fi

    def record_op(self, fi: _FuncInfo, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        inputs: list[int] = []
        first_storage: list[int] = []

        def convert(a: Any) -> Any:
            if isinstance(a, torch.Tensor):
                nid = self.lookup(a)
                inputs.append(nid)
                if not first_storage:
                    first_storage.append(self.node_storage[nid])
                return self.meta(a, nid)
            if isinstance(a, (list, tuple)):
                return tuple(convert(x) for x in a)
            if a is None or isinstance(a, (bool, int, float, str)):
                return a
            return str(a)

        margs = tuple(convert(a) for a in args)
        mkwargs = {k: convert(v) for k, v in kwargs.items()}
        const = all(self.node_const[n] for n in inputs)
        results = out if isinstance(out, (tuple, list)) else (out,)
        outputs: list[int] = []
        metas: list[TensorMeta | None] = []
        for i, r in enumerate(results):
            if not isinstance(r, torch.Tensor):
                metas.append(None)
                continue
            # a list result (split, unbind) has one schema entry for all its tensors
            declared = fi.aliases[min(i, len(fi.aliases) - 1)] if fi.aliases else False
            alias = declared or fi.name in _UNDECLARED_ALIASES
            storage = first_storage[0] if alias and first_storage else None
            target = kwargs.get("out")
            if alias and isinstance(target, torch.Tensor):  # an out= variant writes into `out`
                storage = self.node_storage[self.lookup(target)]
            nid = self.node(r, storage, const)
            outputs.append(nid)
            metas.append(self.meta(r, nid))
        owner = self.stack[-1] if self.stack else 0
        in_leaf = bool(self.stack) and self.calls[owner]["is_leaf"]
        via = self.via
        kernels = self.kernels
        if fi.name == "bmm" and self.attention_pending:
            via, self.attention_pending = SDPA, False
            kernels += self.attention_kernels
        elif fi.name == "_safe_softmax" and via != SDPA:
            self._inside_attention()
        self.ops.append(OpCall(fi.name, fi.overload, margs, mkwargs, tuple(metas), via, fi.inplace, in_leaf,
                               kernels=kernels, namespace=fi.namespace))
        self.op_owner.append(owner)
        self.op_nodes.append((tuple(inputs), tuple(outputs)))
        if self.stack:
            self.calls[owner]["items"].append(("op", len(self.ops) - 1))

    def _inside_attention(self) -> None:
        """``scaled_dot_product_attention`` called inside another torch function (as
        ``F.multi_head_attention_forward`` does) is invisible to the function mode, and on the
        meta device PyTorch runs its math path: scores ``bmm``, ``_safe_softmax`` (which only
        that path uses), weighted-sum ``bmm``. Mark both products as the attention's, so rules
        that count the function as a whole (fvcore's) see them as such."""
        self.attention_kernels = ()
        for i in range(len(self.ops) - 1, max(len(self.ops) - 16, -1), -1):
            op = self.ops[i]
            if op.op == "bmm":
                a, b = op.args[0], op.args[1]
                if isinstance(a, TensorMeta) and isinstance(b, TensorMeta):
                    # the scores' operands (B*H, L, E) @ (B*H, E, S): the query and key as
                    # F.multi_head_attention_forward passes them, (B, H, L, E) and (B, H, S, E)
                    q = (1, *a.shape)
                    k = (1, b.shape[0], b.shape[2], b.shape[1])
                    mha = self._innermost(nn.MultiheadAttention)
                    dropout = float(mha.dropout) if mha is not None and mha.training else 0.0
                    self.attention_kernels = _cpu_sdpa_kernel(q, k, k, a.dtype, None, dropout, False)
                self.ops[i] = replace(op, via=SDPA, kernels=op.kernels + self.attention_kernels)
                break
        self.attention_pending = True

    def _innermost(self, cls: type[nn.Module]) -> Any:
        for index in reversed(self.stack):
            if isinstance(self.calls[index]["module"], cls):
                return self.calls[index]["module"]
        return None

    # -- module calls ------------------------------------------------------------------------

    def path_of(self, module: nn.Module) -> str:
        if not self.stack:
            return ""
        parent = self.calls[self.stack[-1]]
        pmod = parent["module"]
        names = self.child_names.get(id(pmod))
        if names is None:
            names = {}
            for n, c in pmod.named_children():
                names.setdefault(id(c), n)
            self.child_names[id(pmod)] = names
        local = names.get(id(module))
        if local is not None:
            return f"{parent['path']}.{local}" if parent["path"] else local
        known = self.names.get(id(module))
        if known:
            return known
        return f"{parent['path']}.<{type(module).__name__}>" if parent["path"] else f"<{type(module).__name__}>"

    def enter(self, module: nn.Module, args: Any) -> None:
        base = self.path_of(module)
        k = self.repeats.get(base, 0) + 1
        self.repeats[base] = k
        path = base if k == 1 else f"{base}#{k}"
        index = len(self.calls)
        parent = self.stack[-1] if self.stack else None
        ins = _tensors(args)
        self.calls.append({
            "module": module, "path": path, "parent": parent, "depth": len(self.stack) - 1,
            "is_leaf": next(module.children(), None) is None, "items": [], "repeat": k,
            "inputs": tuple(self.lookup(t) for t in ins),
            "in_shape": per_sample(ins[0].shape, self.batch) if ins else (),
            "in_ndim": ins[0].dim() if ins else 0, "in_full": tuple(ins[0].shape) if ins else (),
            "args": plain_args(module, args, root=parent is None),
        })
        self.calls[-1]["kernels_before"] = self.kernels
        if parent is not None:
            self.calls[parent]["items"].append(("call", index))
        self.stack.append(index)
        self.called.add(id(module))

    def leave(self, module: nn.Module, output: Any) -> None:
        index = self.stack.pop()
        outs = _tensors(output)
        call = self.calls[index]
        self.kernels = call["kernels_before"]
        call["outputs"] = tuple(self.lookup(t) for t in outs)
        call["out_shape"] = per_sample(outs[0].shape, self.batch) if outs else ()
        call["out_full"] = tuple(int(d) for d in outs[0].shape) if outs else ()
        try:
            call["tool"] = module_call(module, call["args"], output, id(module) in self.names,
                                       self.paths.get(id(module), 1))
        except Exception as exc:  # our bug, not the model's
            raise CaptureBug(f"recording {type(module).__name__}: {type(exc).__name__}: {exc}") from exc


class _DispatchMode(TorchDispatchMode):
    """Records every aten operator; on the meta device answers hot ones by shape alone."""

    def __init__(self, rec: _Recorder) -> None:
        super().__init__()
        self.rec = rec

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch wraps __torch_dispatch__ in a dynamo guard that imports torch._dynamo
        # (about a second) unless a mode opts out; this mode is never compiled.
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        rec = self.rec
        fi = rec.info(func)
        out: Any = NotImplemented
        if rec.shortcuts and fi.shortcut is not None:
            out = fi.shortcut(*args, **kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        if rec.recording:
            try:
                rec.record_op(fi, args, kwargs, out)
            except Exception as exc:  # our bug, not the model's
                raise CaptureBug(f"recording aten.{fi.name}: {type(exc).__name__}: {exc}") from exc
        return out


class _FunctionMode(TorchFunctionMode):
    """Notes the outermost public torch function each operator is dispatched from."""

    def __init__(self, rec: _Recorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        rec = self.rec
        if rec.via is not None:
            return func(*args, **(kwargs or {}))
        rec.via = getattr(func, "__name__", None)
        before = rec.kernels
        if func is torch.nn.functional.scaled_dot_product_attention and rec.recording:
            rec.kernels = before + _sdpa_call_kernel(rec, args, kwargs or {})
        elif rec.via in _CONV_FUNCTIONS and isinstance((kwargs or {}).get("padding", args[4] if len(args) > 4 else 0), str):
            rec.kernels = before + ("_convolution_mode",)  # padding="same"/"valid": one operator in a trace
        position = len(rec.calls[rec.stack[-1]]["items"]) if rec.stack else 0
        try:
            out = func(*args, **(kwargs or {}))
            try:
                name = watched().get(func) if rec.recording else None
            except TypeError:  # an unhashable callable: not one the tools watch
                name = None
            if name is not None:
                caller = rec.calls[rec.stack[-1]]["module"] if rec.stack else None
                try:
                    rec.functions.append(function_call(func, name, args, kwargs or {}, out, tuple(rec.stack), caller,
                                                       position))
                except Exception as exc:  # our bug, not the model's
                    raise CaptureBug(f"recording {name}: {type(exc).__name__}: {exc}") from exc
            return out
        finally:
            rec.via = None
            rec.kernels = before


# --- what runs on the CPU instead -------------------------------------------------------------
# The tools run the model on real CPU tensors in eval mode under torch.no_grad() (fvcore's and
# FlopCounterMode's users do), where PyTorch hands some modules' work to one fused operator;
# on the meta device the same modules run their decomposed path. Each function below says,
# from the module and its arguments, which fused operator the CPU would run: PyTorch's own
# conditions (torch 2.13), read for the CPU, autocast off, no gradients and no tensor
# subclasses. A tool that sees only the fused operator counts what its formula for it says.

def _cpu_sdpa_kernel(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], dtype: str,
                     mask: tuple[int, ...] | None, dropout: float, causal: bool) -> tuple[str, ...]:
    """``("_scaled_dot_product_flash_attention_for_cpu",)`` when the CPU would choose its
    flash kernel for these shapes: asked of PyTorch itself (``torch._fused_sdp_choice``) on
    CPU stand-ins of one row of storage each."""
    from torch.nn.attention import SDPBackend

    dt = getattr(torch, dtype, None)
    if not isinstance(dt, torch.dtype) or not dt.is_floating_point or 0 in (*q, *k, *v):
        return ()

    def stand_in(shape: tuple[int, ...], t: torch.dtype = dt) -> torch.Tensor:
        return torch.empty(shape[-1], dtype=t, device="cpu").as_strided(shape, (0,) * (len(shape) - 1) + (1,))

    try:
        choice = torch._fused_sdp_choice(stand_in(q), stand_in(k), stand_in(v),
                                         None if mask is None else stand_in(mask), dropout, causal)
    except RuntimeError:
        return ()
    return ("_scaled_dot_product_flash_attention_for_cpu",) if choice == int(SDPBackend.FLASH_ATTENTION) else ()


def _sdpa_call_kernel(rec: _Recorder, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The CPU kernel of an ``F.scaled_dot_product_attention`` call, from its arguments."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal")
    bound = {**dict(zip(names, args)), **kwargs}
    q, k, v, mask = (bound.get(n) for n in names[:4])
    if not all(isinstance(t, torch.Tensor) for t in (q, k, v)) or q.is_nested:
        return ()
    if mask is not None and not isinstance(mask, torch.Tensor):
        return ()
    recording, rec.recording = rec.recording, False  # the stand-ins are not the model's work
    try:
        with torch.device("cpu"):
            return _cpu_sdpa_kernel(tuple(q.shape), tuple(k.shape), tuple(v.shape), str(q.dtype).removeprefix("torch."),
                                    None if mask is None else tuple(mask.shape), float(bound.get("dropout_p", 0.0)),
                                    bool(bound.get("is_causal", False)))
    finally:
        rec.recording = recording


def _mha_fast(m: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """``nn.MultiheadAttention.forward``'s fast path conditions."""
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")
    bound = {**dict(zip(names, args)), **kwargs}
    q, k, v = bound.get("query"), bound.get("key"), bound.get("value")
    masks = [bound.get("attn_mask"), bound.get("key_padding_mask")]
    if not isinstance(q, torch.Tensor) or any(isinstance(x, torch.Tensor) and torch.is_floating_point(x) for x in masks):
        return False
    return (torch.backends.mha.get_fastpath_enabled() and q.dim() == 3 and q is k and k is v
            and m.in_proj_bias is not None and m.in_proj_weight is not None
            and q.dtype == m.in_proj_bias.dtype == m.in_proj_weight.dtype and not m.training
            and m.num_heads % 2 == 0 and m.batch_first and m.bias_k is None and m.bias_v is None
            and not m.add_zero_attn and m._qkv_same_embed_dim
            and not (q.is_nested and any(x is not None for x in masks)))


def _tel_fast(m: nn.TransformerEncoderLayer, args: tuple[Any, ...], kwargs: Mapping[str, Any], hooked: bool) -> bool:
    """``nn.TransformerEncoderLayer.forward``'s fast path conditions (``hooked``: a module
    of the layer has forward hooks of the model's own, which keep it off the fast path)."""
    src = args[0] if args else kwargs.get("src")
    masks = [kwargs.get("src_mask", args[1] if len(args) > 1 else None),
             kwargs.get("src_key_padding_mask", args[2] if len(args) > 2 else None)]
    a = m.self_attn
    return (isinstance(src, torch.Tensor) and torch.backends.mha.get_fastpath_enabled() and src.dim() == 3
            and not m.training and a.batch_first and a.in_proj_bias is not None and a._qkv_same_embed_dim
            and m.activation_relu_or_gelu and m.norm1.eps == m.norm2.eps and a.num_heads % 2 == 0
            and not (src.is_nested and any(x is not None for x in masks)) and not hooked)


def _rnn_kernels(m: nn.RNNBase, args: tuple[Any, ...]) -> tuple[str, ...]:
    """The one operator a TorchScript trace records for an RNN module (``aten::lstm``,
    ``gru``, ``rnn_tanh``, ``rnn_relu``) and, for an LSTM on unpacked float32 input without
    projections, the oneDNN kernel the CPU runs (``mkldnn_rnn_layer``)."""
    traced = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}.get(m.mode)
    out = (traced,) if traced else ()
    x = args[0] if args else None
    if (m.mode == "LSTM" and isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.numel()
            and not m.proj_size and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        out += ("mkldnn_rnn_layer",)
    return out


def _watch_fused(rec: _Recorder, module: nn.Module) -> None:
    """Hooks on the private copy's modules with a fused CPU path: each call sets the kernels
    its operators run in (:attr:`OpCall.kernels`). The model's own hooks are read first."""

    def hooked(m: nn.Module) -> bool:
        return any(len(s._forward_hooks) + len(s._forward_pre_hooks) for s in m.modules())

    for m in module.modules():
        if isinstance(m, nn.TransformerEncoderLayer):
            own = hooked(m)

            def tel(m: nn.Module, args: Any, kwargs: Any, own: bool = own) -> None:
                if rec.recording and _tel_fast(m, args, kwargs, own):  # type: ignore[arg-type]
                    rec.kernels += ("_transformer_encoder_layer_fwd",)

            m.register_forward_pre_hook(tel, with_kwargs=True)
    for m in module.modules():
        if isinstance(m, nn.MultiheadAttention):
            def mha(m: nn.Module, args: Any, kwargs: Any) -> None:
                if rec.recording and _mha_fast(m, args, kwargs):  # type: ignore[arg-type]
                    rec.kernels += ("_native_multi_head_attention",)

            m.register_forward_pre_hook(mha, with_kwargs=True)
        elif isinstance(m, nn.RNNBase):
            def rnn(m: nn.Module, args: Any) -> None:
                if rec.recording:
                    rec.kernels += _rnn_kernels(m, args)  # type: ignore[arg-type]

            m.register_forward_pre_hook(rnn)


@contextlib.contextmanager
def meta_shortcuts() -> Iterator[None]:
    """Run with the meta-device shape shortcuts and record nothing: operators on meta tensors
    skip PyTorch's Python meta kernels where :mod:`cnninspect.capture.meta_shapes` can answer."""
    with _DispatchMode(_Recorder(nn.Module(), shortcuts=True)):
        yield


@contextlib.contextmanager
def construction_mode() -> Iterator[None]:
    """Build a model on the meta device with the shape shortcuts (weight initialisation on
    meta tensors would otherwise import ``torch._dynamo``)."""
    with torch.device("meta"), meta_shortcuts():
        yield


@contextlib.contextmanager
def module_hooks(pre: Callable[[nn.Module, Any], None],
                 post: Callable[[nn.Module, Any, Any], None]) -> Iterator[None]:
    """Process-wide forward pre- and post-hooks for every module call inside the block,
    removed afterwards whatever happens: no module (the caller's or a copy) holds a hook of
    ours."""
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    h1 = register_module_forward_pre_hook(pre)
    h2 = register_module_forward_hook(post)
    try:
        yield
    finally:
        h1.remove()
        h2.remove()


def _hooks(rec: _Recorder) -> contextlib.AbstractContextManager[None]:
    def pre(module: nn.Module, args: Any) -> None:
        if rec.recording:
            rec.enter(module, args)

    def post(module: nn.Module, args: Any, output: Any) -> None:
        if rec.recording:
            rec.leave(module, output)

    return module_hooks(pre, post)


def private_copy(module: nn.Module, device: str) -> nn.Module:
    """A copy of ``module`` that the capture may run and change freely.

    The module tree is copied (``copy.deepcopy``); parameters and buffers are not: each is
    replaced by a stand-in, so no weight is duplicated. On the meta device a stand-in is a
    meta tensor of the same shape, dtype and ``requires_grad`` (a tensor already on the meta
    device is its own stand-in); for a real run (``device="cpu"``) parameters are shared as
    they are (the pass runs under ``torch.no_grad()``) and buffers are cloned (a forward pass
    may update them in place, as batch norm in training mode does). Tensors kept as plain
    attributes are likewise meta stand-ins, or shared (detached). Uninitialised (lazy)
    parameters get fresh uninitialised stand-ins, so materialising them from the input
    happens on the copy. Tied tensors stay tied, and a submodule registered under two names
    is one submodule in the copy. The caller's module is never run, so nothing the forward
    pass does (hooks, attributes, lazy materialisation, training flags) reaches it.
    """
    meta = device == "meta"
    memo: dict[int, Any] = {}
    for p in module.parameters():
        if id(p) in memo:
            continue
        if isinstance(p, nn.parameter.UninitializedParameter):
            where = "meta" if meta else p.device
            memo[id(p)] = nn.parameter.UninitializedParameter(p.requires_grad, where, p.dtype)
        elif meta and p.device.type != "meta":
            memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
        else:
            memo[id(p)] = p
    for b in module.buffers():
        if id(b) in memo:
            continue
        if isinstance(b, nn.parameter.UninitializedBuffer):
            memo[id(b)] = nn.parameter.UninitializedBuffer(b.requires_grad, b.device if not meta else "meta", b.dtype)
        elif b.device.type == "meta":
            memo[id(b)] = b
        else:
            memo[id(b)] = torch.empty_like(b, device="meta") if meta else b.clone()
    for m in module.modules():  # tensors kept as plain attributes (a pruned layer's weight)
        for value in m.__dict__.values():
            if isinstance(value, torch.Tensor) and id(value) not in memo:
                memo[id(value)] = torch.empty_like(value, device="meta") if meta else value.detach()
    try:
        return copy.deepcopy(module, memo)
    except Exception as exc:
        raise CopyRefused(exc) from exc


class CopyRefused(Exception):
    """The model cannot be copied (it holds an object ``copy.deepcopy`` refuses), so
    cnninspect will not run it: running the caller's own object could change it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def _module_facts(module: nn.Module) -> tuple[tuple[int, int] | None, tuple[int, int] | None, str]:
    """Kernel, stride and a short detail read from a module's own attributes."""

    def pair(v: Any) -> tuple[int, int] | None:
        if isinstance(v, int):
            return (v, v)
        if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) for i in v):
            return (int(v[0]), int(v[1]))
        return None

    kernel = pair(getattr(module, "kernel_size", None)) or pair(getattr(module, "kernel", None))
    stride = pair(getattr(module, "stride", None)) if kernel else None
    if kernel and stride is None:
        stride = kernel  # pooling's default stride
    detail = ""
    groups = getattr(module, "groups", 1)
    if isinstance(groups, int) and groups > 1:
        cin, cout = getattr(module, "in_channels", None), getattr(module, "out_channels", None)
        detail = "depthwise" if groups == cin == cout else f"groups={groups}"
    return kernel, stride, detail


MODES = ("eval", "train", "same")


class UnbatchedInput(Exception):
    """A convolution received an input without a batch dimension: the shapes given were
    per sample where the full shape, batch included, was meant."""

    def __init__(self, path: str, shape: tuple[int, ...]) -> None:
        super().__init__(f"{path} received a {'x'.join(map(str, shape))} input, which PyTorch runs as one "
                         "sample without a batch dimension")
        self.path = path
        self.shape = shape


def capture(module: nn.Module, inputs: ModelInputs | tuple[int, ...], device: str = "meta",
            mode: str = "eval") -> Trace:
    """Run a private copy of ``module`` once on ``inputs`` and record it (a per-sample
    shape is one input at a batch of one).

    ``device="meta"`` allocates nothing; ``device="cpu"`` runs real tensors with the model's
    own parameters, on the device they are on (never moved). ``mode`` is ``eval``,
    ``train`` (dropout, batch statistics, auxiliary heads) or ``same`` (each submodule's own
    flag). Raises :class:`ModelFailed` when the model's forward pass raises.
    """
    if not isinstance(inputs, ModelInputs):
        inputs = ModelInputs.single(inputs)
    meta = device == "meta"
    params = list(module.parameters())
    on_meta = bool(params) and all(p.device.type == "meta" for p in params)
    if not meta and on_meta:
        raise ModelFailed("forward", RuntimeError("its parameters are on the meta device, so it cannot run on the CPU"))
    first = next((p for p in params if p.dtype.is_floating_point
                  and not isinstance(p, nn.parameter.UninitializedParameter)), None)
    dtype = first.dtype if first is not None else torch.float32
    target = "meta" if meta else (first.device if first is not None else "cpu")
    _refuse_kinds(module)
    original, module = module, private_copy(module, device)
    masked = _mask_counts(original, module)
    if mode == "eval":
        module.eval()
    elif mode == "train":
        module.train()
    rec = _Recorder(module, shortcuts=meta, batch=inputs.batch)
    _watch_fused(rec, module)
    args, kwargs, infos = _make_inputs(module, inputs, dtype, target, meta)
    input_nodes = tuple(rec.node(t, None, False) for t in _tensors((args, kwargs)))
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        if meta:
            stack.enter_context(torch.device("meta"))
        if any(isinstance(p, nn.parameter.UninitializedTensorMixin) for p in (*module.parameters(), *module.buffers())):
            _materialise(module, args, kwargs, meta)
        stack.enter_context(_hooks(rec))
        stack.enter_context(_FunctionMode(rec))
        stack.enter_context(_DispatchMode(rec))
        rec.recording = True
        try:
            output = module(*args, **kwargs)
        except CaptureBug:
            raise
        except Exception as exc:
            _check_batched(rec)  # the likely cause: a shape without its batch dimension
            raise ModelFailed("forward", exc) from exc
        finally:
            rec.recording = False
    _check_batched(rec)
    trace = _finish(rec, module, input_nodes, infos, output, "meta" if meta else "cpu", inputs.batch, masked)
    return replace(trace, notes=trace.notes + _output_notes(output))


def _make_inputs(module: nn.Module, inputs: ModelInputs, dtype: torch.dtype, target: Any,
                 meta: bool) -> tuple[tuple[Any, ...], dict[str, Any], tuple[InputInfo, ...]]:
    """The tensors of ``inputs``: meta tensors, or on a real device random floats (seeded)
    and zeros for integer and boolean inputs (valid indices into any embedding)."""
    from torch.utils._pytree import keystr, tree_flatten_with_path, tree_unflatten

    gen = torch.Generator(device="cpu").manual_seed(0)

    def make(x: Any) -> Any:
        if isinstance(x, TensorSpec):
            dt = getattr(torch, x.dtype) if x.dtype else dtype
            if meta:
                return torch.empty(x.shape, dtype=dt, device="meta")
            if dt.is_floating_point:
                return torch.randn(x.shape, generator=gen).to(device=target, dtype=dt)
            return torch.zeros(x.shape, dtype=dt, device=target)
        if isinstance(x, torch.Tensor) and meta and not x.is_meta:
            return torch.empty_like(x, device="meta")
        return x

    try:
        names = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        names = []
    tree = (tuple(inputs.args), dict(inputs.kwargs))
    leaves, spec = tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, TensorSpec))
    made = [make(x) for _, x in leaves]
    infos = []
    for (path, _), t in zip(leaves, made):
        if not isinstance(t, torch.Tensor):
            continue
        top = path[1]
        if path[0].idx == 0:
            name = names[top.idx] if top.idx < len(names) else f"input{top.idx}"
        else:
            name = str(top.key)
        infos.append(InputInfo(name + keystr(path[2:]), per_sample(t.shape, inputs.batch),
                               str(t.dtype).removeprefix("torch.")))
    args, kwargs = tree_unflatten(made, spec)
    return args, kwargs, tuple(infos)


def make_real_inputs(module: nn.Module, inputs: ModelInputs) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Real tensors for ``inputs`` where ``module``'s parameters are, at its floating dtype
    (random floats, seeded; zeros for integer and boolean inputs)."""
    first = next((p for p in module.parameters() if p.dtype.is_floating_point), None)
    dtype = first.dtype if first is not None else torch.float32
    target = first.device if first is not None else "cpu"
    args, kwargs, _ = _make_inputs(module, inputs, dtype, target, False)
    return args, kwargs


class KindRefused(Exception):
    """A kind of model cnninspect does not analyse, with the reason and what to do."""


QUANTIZED_PACKAGES = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized")


def _refuse_kinds(module: nn.Module) -> None:
    """TorchScript and quantized modules: refused, each with its reason."""
    for name, m in module.named_modules():
        where = f"its submodule {name!r}" if name else "the model"
        if isinstance(m, torch.jit.ScriptModule):
            raise KindRefused(
                f"{where} is TorchScript (torch.jit.script or torch.jit.trace): compiled code runs without Python "
                "module hooks and cannot run on a copy with stand-in weights, so its layers are not visible; "
                "pass the nn.Module before scripting (same layers and counts)")
        if type(m).__module__.startswith(QUANTIZED_PACKAGES):
            raise KindRefused(
                f"{where} is a quantized {type(m).__name__}: its weights are packed outside nn.Parameter and it runs "
                "quantized:: kernels no convention has rules for; pass the float model before quantization (same "
                "shapes and counts)")


def _mask_counts(original: nn.Module, copied: nn.Module) -> dict[int, int]:
    """Pruned parameters (``torch.nn.utils.prune``: ``weight_orig`` with a ``weight_mask``
    buffer) of the copy, by identity: the ones of the mask, read from the caller's real
    buffer (the copy's may be a meta stand-in)."""
    out: dict[int, int] = {}
    for name, m in original.named_modules():
        for pname in m._parameters:
            if not pname.endswith("_orig"):
                continue
            mask = m._buffers.get(pname[:-5] + "_mask")
            if mask is None or mask.is_meta:
                continue
            p = copied.get_submodule(name)._parameters.get(pname)
            if p is not None:
                out[id(p)] = int(torch.count_nonzero(mask))
    return out


def _check_batched(rec: _Recorder) -> None:
    """Refuse a run whose convolutions saw inputs without a batch dimension."""
    for c in rec.calls:
        m = c["module"]
        if isinstance(m, nn.modules.conv._ConvNd) and c["in_ndim"] == m.weight.dim() - 1:
            raise UnbatchedInput(c["path"] or type(m).__name__, c["in_full"])


def _output_notes(output: Any) -> tuple[str, ...]:
    """What the forward pass returned, when it is not one tensor."""
    if isinstance(output, torch.Tensor):
        return ()
    if output is None:
        return ("the forward pass returned None: no output to show",)
    n = len(_tensors(output))
    kind = type(output).__name__
    if isinstance(output, Mapping):
        keys = ", ".join(str(k) for k in list(output)[:6]) + (", ..." if len(output) > 6 else "")
        return (f"the forward pass returned a {kind} of {n} tensor{'s' if n != 1 else ''} ({keys}); "
                "the output shown is the first",)
    return (f"the forward pass returned a {kind} holding {n} tensor{'s' if n != 1 else ''}; "
            "the output shown is the first",)


def _materialise(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], meta: bool) -> None:
    """Give the copy's lazy parameters (``nn.LazyLinear``) their shapes from the input: one
    unrecorded pass, as the first call of a lazy model does."""
    try:
        with meta_shortcuts() if meta else contextlib.nullcontext():
            module(*args, **kwargs)
    except CaptureBug:
        raise
    except Exception as exc:
        raise ModelFailed("forward", exc) from exc


def _finish(rec: _Recorder, module: nn.Module, input_nodes: tuple[int, ...], inputs: tuple[InputInfo, ...],
            output: Any, device: str, batch: int, masked: Mapping[int, int]) -> Trace:
    outs = _tensors(output)
    output_nodes = tuple(rec.lookup(t) for t in outs)
    live_ops = _live(rec, output_nodes)
    ops = tuple(op if live_ops[i] else _dead(op) for i, op in enumerate(rec.ops))

    # parameters by identity, in registration order
    keys: dict[int, int] = {}
    params: list[ParamInfo] = []
    for p in module.parameters():
        keys[id(p)] = len(params)
        params.append(ParamInfo(int(p.numel()), bool(p.requires_grad), masked.get(id(p)),
                                int(p.numel()) * p.element_size()))

    def own(m: nn.Module) -> tuple[tuple[str, int], ...]:
        return tuple((n, keys[id(p)]) for n, p in m._parameters.items() if p is not None and id(p) in keys)

    calls: list[CallRecord] = []
    items: list[list[tuple[str, int]]] = []
    first_call: dict[int, int] = {}
    for i, c in enumerate(rec.calls):
        m = c["module"]
        kernel, stride, detail = _module_facts(m)
        first_call.setdefault(id(m), i)
        calls.append(CallRecord(
            c["path"], c["parent"], c["depth"], type(m).__name__, c["is_leaf"], c["in_shape"],
            c.get("out_shape", ()), own(m), (), kernel, stride, detail, True, c["repeat"], c.get("out_full", ())))
        items.append(list(c["items"]))
    if not calls:  # a forward pass that never called the module (impossible through __call__)
        raise CaptureBug("the model's own call was not seen")

    # modules holding parameters that the forward pass never called
    uncalled_index: dict[int, int] = {}
    for name, m in module.named_modules():
        if not name or id(m) in rec.called or not any(True for _ in m.parameters()):
            continue
        parent_name = name.rpartition(".")[0]
        parent_mod = module.get_submodule(parent_name) if parent_name else module
        parent = uncalled_index.get(id(parent_mod), first_call.get(id(parent_mod), 0))
        kernel, stride, detail = _module_facts(m)
        index = len(calls)
        path = f"{calls[parent].path}.{name.rpartition('.')[2]}" if parent else name
        calls.append(CallRecord(path, parent, calls[parent].depth + 1 if parent else 0, type(m).__name__,
                                next(m.children(), None) is None, (), (), own(m), (), kernel, stride,
                                "not called", False))
        items.append([])
        items[parent].append(("call", index))
        uncalled_index[id(m)] = index
    calls = [
        CallRecord(**{**c.__dict__, "items": tuple(it)}) for c, it in zip(calls, items)
    ]

    units = _units(rec, calls)
    return Trace(
        calls=tuple(calls),
        ops=ops,
        op_owner=tuple(rec.op_owner),
        params=tuple(params),
        units=units,
        node_storage=tuple(rec.node_storage),
        storage_numel=tuple(rec.storage_numel),
        storage_bytes=tuple(rec.storage_bytes),
        input_nodes=input_nodes,
        output_nodes=output_nodes,
        input_shape=inputs[0].shape if inputs else (),
        output_shapes=tuple(per_sample(t.shape, batch) for t in outs),
        device=device,
        batch=batch,
        inputs=inputs,
        module_calls=tuple(c.get("tool") for c in rec.calls) + (None,) * (len(calls) - len(rec.calls)),
        functions=tuple(rec.functions),
        op_nodes=tuple(rec.op_nodes),
        call_outputs=tuple(c.get("outputs", ()) for c in rec.calls) + ((),) * (len(calls) - len(rec.calls)),
    )


def _dead(op: OpCall) -> OpCall:
    return replace(op, live=False)


def _live(rec: _Recorder, output_nodes: tuple[int, ...]) -> list[bool]:
    """Which operator calls contribute to the model's output (backwards from the output)."""
    live_nodes = set(output_nodes)
    live = [False] * len(rec.ops)
    for i in range(len(rec.ops) - 1, -1, -1):
        ins, outs = rec.op_nodes[i]
        if not outs or any(n in live_nodes for n in outs):
            live[i] = True
            live_nodes.update(ins)
    return live


def _units(rec: _Recorder, calls: list[CallRecord]) -> tuple[Unit, ...]:
    """Leaf module calls and operators run directly in containers, in execution order."""
    units: list[Unit] = []

    def walk(index: int) -> None:
        raw = rec.calls[index] if index < len(rec.calls) else None
        if raw is None:
            return
        if calls[index].is_leaf and index != 0:
            units.append(Unit(raw["inputs"], raw.get("outputs", ()), tuple(_all_ops(index)), index))
            return
        for kind, i in calls[index].items:
            if kind == "call":
                walk(i)
            else:
                ins, outs = rec.op_nodes[i]
                units.append(Unit(ins, outs, (i,), None))

    def _all_ops(index: int) -> list[int]:
        out: list[int] = []
        for kind, i in calls[index].items:
            out += _all_ops(i) if kind == "call" else [i]
        return out

    walk(0)
    return tuple(units)
