"""What one captured forward pass of an ``nn.Module`` recorded: plain frozen data, no torch.

:mod:`cnninspect.capture.forward` fills a :class:`Trace` from a real forward pass (on the meta
device or the CPU); :mod:`cnninspect.capture.module_analysis` turns it into a report under any
counting convention, so one capture serves every convention, ``compare`` and ``sweep``.

* :class:`CallRecord` - one call of a submodule (``calls[0]`` is the model itself), with
  the module's own parameters, its shapes, and in execution order its child calls and the
  operators it ran itself (``items``); modules holding parameters that were never called
  are recorded too (``called=False``), so parameters always add up.
* :class:`~cnninspect.ops.aten_rules.OpCall` - one aten operator call; ``op_owner[i]`` is the
  call it ran in.
* The data flow between layers, for activation memory and depth: every tensor version is a
  *node* stored in a *storage*; a :class:`Unit` is a leaf module call or an operator called
  directly in a container, with the nodes it consumed and produced.

Shapes of calls are per sample (the batch dimension removed); operator shapes are full, and
operator counts are for the whole batch the model ran on (``Trace.batch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping

from ..ops.aten_rules import OpCall
from ..ops.module_tools import FunctionCall, ModuleCall

Shape = tuple[int, ...]


def per_sample(shape: tuple[int, ...], batch: int = 1) -> Shape:
    """Drop the batch dimension (of size ``batch``) from a full shape."""
    s = tuple(int(d) for d in shape)
    return s[1:] if len(s) >= 2 and s[0] == batch else s


@dataclass(frozen=True)
class ParamInfo:
    """A parameter tensor, once per identity (tied weights are one parameter)."""

    numel: int
    trainable: bool
    masked: int | None = None  # a pruned parameter (``weight_orig``): the ones of its ``weight_mask``
    nbytes: int = 0  # at its dtype


@dataclass(frozen=True)
class CallRecord:
    path: str
    parent: int | None
    depth: int
    torch_class: str
    is_leaf: bool
    in_shape: Shape
    out_shape: Shape
    # the module's own parameters (not its submodules'): (attribute name, index into Trace.params)
    own_params: tuple[tuple[str, int], ...] = ()
    items: tuple[tuple[str, int], ...] = ()  # ("call", index) | ("op", index), in execution order
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    detail: str = ""
    called: bool = True
    repeat: int = 1  # k for the k-th call of the same module object in the same place
    out_full: Shape = ()  # the first output's full shape, batch included


@dataclass(frozen=True)
class Unit:
    """A layer of the data-flow graph: a leaf module call or an operator run in a container."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ops: tuple[int, ...]  # operator calls inside (for a leaf call, all of them)
    call: int | None = None  # the leaf call, or None for an operator run in a container


@dataclass(frozen=True)
class InputInfo:
    """A tensor passed to the forward pass: the argument it went to, per-sample shape, dtype."""

    name: str
    shape: Shape
    dtype: str


@dataclass(frozen=True)
class Trace:
    calls: tuple[CallRecord, ...]
    ops: tuple[OpCall, ...]
    op_owner: tuple[int, ...]
    params: tuple[ParamInfo, ...]
    units: tuple[Unit, ...]
    node_storage: tuple[int, ...]
    storage_numel: tuple[int, ...]
    input_nodes: tuple[int, ...]
    output_nodes: tuple[int, ...]
    input_shape: Shape  # per sample
    output_shapes: tuple[Shape, ...]  # per sample, every tensor the model returns
    device: str  # "meta" or "cpu"
    fallback: str = ""  # why the meta device was not used
    notes: tuple[str, ...] = field(default_factory=tuple)
    storage_bytes: tuple[int, ...] = ()  # bytes of each storage at its dtype
    batch: int = 1  # the batch the forward pass ran on: counts are per batch of this size
    inputs: tuple[InputInfo, ...] = ()  # every tensor input, in the order passed
    # what ptflops's and thop's hooks see: each call (None when not called), watched functions
    module_calls: tuple[ModuleCall | None, ...] = ()
    functions: tuple[FunctionCall, ...] = ()
    op_nodes: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = ()  # per operator: (input nodes, output nodes)
    call_outputs: tuple[tuple[int, ...], ...] = ()  # per call: the nodes it returned

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0] if self.output_shapes else ()

    def call_params(self) -> Mapping[int, tuple[tuple[str, int], ...]]:
        return {i: c.own_params for i, c in enumerate(self.calls) if c.own_params}
