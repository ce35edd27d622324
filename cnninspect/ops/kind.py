"""The op-kind record: everything cnninspect knows about one primitive operation.

A resolved model's leaves are ops of a *kind* (``conv2d``, ``bn2d``, ``act`` ...). Each kind
is one :class:`OpKind` record, registered once in :data:`cnninspect.ops.kinds.KINDS` from a
file per family (``ops/kinds/conv.py``, ``norm.py``, ``pool.py`` ...). Every consumer asks
the record (or its :class:`Role`) instead of comparing kind names:

* the resolver its shape rule and parameter formula, the builder the ``nn.Module`` it makes
  (:class:`ModuleRecipe`: a class name and its arguments; no torch here);
* the conventions its count (:class:`Counts`: one rule per convention; ``torchinfo`` is
  derived from the parameters in one place, :func:`cnninspect.ops.counting.torchinfo_macs`);
* the memory simulation what it saves for backward and whether it is a view (:class:`Saves`);
* the receptive-field walk its geometry (:class:`Window` or :data:`GLOBAL`);
* the totals fast path how it follows a new input shape (:class:`ReshapeRule`);
* renderers and ``explain`` its title, role, ``reduce`` word and table detail.

Conventions for every rule: shapes are per sample, batch excluded (``(C, H, W)`` for maps,
``(F,)`` for vectors); counts are mult-adds for a batch of one; element counts are per
sample. Pure Python, no torch.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Union
from collections.abc import Callable, Mapping

from .formulas import NOTHING, Formula, ParamRule
from .primitives import Attrs, ParamCounts, Shape, adaptive_size, adaptive_windows

# --- roles -------------------------------------------------------------------------------


class Role(enum.Enum):
    """What an op does to its input, the closed set renderers and analyses branch on.

    ``CONV``: learned weights over a sliding window. ``DENSE``: learned weights over every
    input feature at a position (fully connected, RBF units). ``POOL``: a sliding window that
    pools (max, average; LeNet's subsampling scales the average by a learned coefficient).
    ``GLOBAL``: reduces the whole map (global or adaptive pooling, a mean). ``NORM``:
    normalises with statistics of its input. ``ACTIVATION``: a function of each element.
    ``CLASSIFIER``: turns a vector of scores into probabilities (softmax). ``ELEMENTWISE``:
    per-element work that is neither (identity, dropout, a learned scale). ``LAYOUT``: moves
    or selects elements without arithmetic (flatten, permute, split, shuffle, a concat's
    ``from``).
    """

    CONV = "conv"
    DENSE = "dense"
    POOL = "pool"
    GLOBAL = "global"
    NORM = "norm"
    ACTIVATION = "activation"
    CLASSIFIER = "classifier"
    ELEMENTWISE = "elementwise"
    LAYOUT = "layout"


# the op classes ``explain`` totals by, derived from the role (convolutions split by shape)
OP_CLASS_NAMES = (
    "conv", "depthwise conv", "pointwise conv", "linear", "norm", "pooling", "elementwise", "activation", "reshape",
)
_ROLE_CLASS = {
    Role.DENSE: "linear", Role.POOL: "pooling", Role.GLOBAL: "pooling", Role.NORM: "norm",
    Role.ACTIVATION: "activation", Role.CLASSIFIER: "activation", Role.ELEMENTWISE: "elementwise",
    Role.LAYOUT: "reshape",
}


def _conv_class(attrs: Attrs) -> str:
    g = attrs.get("groups", 1)
    if g > 1 and attrs["in_ch"] // g == 1:
        return "depthwise conv"
    if tuple(attrs["kernel"]) == (1, 1) and g == 1 and "connections" not in attrs:
        return "pointwise conv"
    return "conv"


# --- what a counting rule sees ----------------------------------------------------------------


@dataclass(frozen=True)
class OpFacts:
    """What a counting rule may look at: the op, its shapes and its parameter tensors by name."""

    kind: str
    attrs: Mapping[str, Any]
    in_shape: Shape
    out_shape: Shape
    params: Mapping[str, tuple[int, bool]]
    torch_class: str
    side_branch: bool = False  # inside a side output (auxiliary classifier)


Rule = Callable[[OpFacts], Formula]


@dataclass(frozen=True)
class Counts:
    """The kind's count in each convention named after a field; ``None`` means the convention
    deliberately does not count it (every output then says so, never a silent zero).
    ``torchinfo`` is not here: it counts every kind from its parameters and module class
    (:func:`cnninspect.ops.counting.torchinfo_macs`)."""

    paper: Rule | None = None
    fvcore: Rule | None = None
    ptflops: Rule | None = None
    thop: Rule | None = None
    flopcounter: Rule | None = None


NOT_COUNTED = Counts()

# --- memory behaviour ------------------------------------------------------------------------

INDEX_BYTES = 8  # int64 indices (max pooling)
MASK_BYTES = 1  # bool dropout masks
STAT_BYTES = 4  # float32 batch-norm statistics, optimizer step counters


@dataclass(frozen=True)
class Saves:
    """What autograd keeps for backward of one op, per sample unless said otherwise."""

    input: bool = False
    output: bool = False
    extra: int = 0  # elements of other tensors in the activation dtype (padded copies, intermediates)
    index_bytes: int = 0  # int64 indices and bool masks, whatever the activation dtype
    constant_bytes: int = 0  # independent of the batch: float32 statistics, index lists
    stops_grad: bool = False  # the output needs no gradient (a step function)


SAVES_NOTHING = Saves()
SAVES_INPUT = Saves(input=True)
SAVES_OUTPUT = Saves(output=True)
SavesRule = Callable[[Attrs, Shape, Shape], Saves]
AliasRule = Callable[[Attrs, bool], bool]  # (attrs, training) -> the output is the input tensor


def const(s: Saves) -> SavesRule:
    return lambda attrs, i, o: s


def never(attrs: Attrs, training: bool) -> bool:
    return False


def always(attrs: Attrs, training: bool) -> bool:
    return True


def no_buffers(attrs: Attrs) -> tuple[int, int]:
    return (0, 0)


def norm_buffers(attrs: Attrs) -> tuple[int, int]:
    """Batch norm's running mean and variance (floats) and its step count (int64)."""
    return (2 * attrs["ch"], 1)


# --- memory traffic ----------------------------------------------------------------------------

Moves = tuple[int, int]  # (activation elements read, elements written) per sample
TrafficRule = Callable[[Attrs, Shape, Shape], Moves]


def streams(attrs: Attrs, i: Shape, o: Shape) -> Moves:
    """The op reads its input once and writes its output once (ideal reuse: a kernel never
    reads an element twice from memory). Parameters are added apart, once per batch."""
    return math.prod(i), math.prod(o)


# --- receptive-field geometry ----------------------------------------------------------------

HW = tuple[int, int]


class Global:
    """Every unit depends on the whole input, at any resolution (through global pooling)."""

    def __repr__(self) -> str:
        return "GLOBAL"


GLOBAL = Global()


@dataclass(frozen=True)
class Window:
    """How an op maps positions: kernel, stride, padding before the input (top, left), dilation.

    A pointwise op (activation, batch norm, a fully connected layer on a vector) is the
    1x1 window with stride 1.
    """

    kernel: HW
    stride: HW = (1, 1)
    pad: HW = (0, 0)
    dilation: HW = (1, 1)

    def span(self, axis: int) -> int:
        return self.dilation[axis] * (self.kernel[axis] - 1) + 1


POINTWISE = Window((1, 1))
FieldRule = Callable[[Attrs, Shape], Union[Window, Global]]


def window(attrs: Attrs, shape: Shape) -> Window:
    """A sliding window read from the op's ``kernel``, ``stride``, ``pad`` and ``dilation``."""
    top, _bottom, left, _right = attrs["pad"]
    return Window(attrs["kernel"], attrs["stride"], (top, left), attrs.get("dilation", (1, 1)))


def pointwise(attrs: Attrs, shape: Shape) -> Window:
    return POINTWISE


def whole_map(attrs: Attrs, shape: Shape) -> Window:
    """Flatten: the vector depends on every position of the map, like a window over all of it
    (the way a fully connected layer is a convolution with the map's size as its kernel)."""
    return Window((shape[1], shape[2])) if len(shape) == 3 else POINTWISE


def global_pool(attrs: Attrs, shape: Shape) -> Window | Global:
    """Global pooling, or (with a ``size``) adaptive pooling to a fixed output size: the
    window of the smallest stride-``max(1, n // out)`` grid containing every window PyTorch
    pools (exact when the size divides the input: kernel = stride = n / out; a bound otherwise,
    where the windows differ in size)."""
    if "size" not in attrs or len(shape) != 3:
        return GLOBAL
    axes = [adaptive_axis(n, out) for n, out in zip(shape[1:], adaptive_size(attrs))]
    return Window((axes[0][0], axes[1][0]), (axes[0][1], axes[1][1]), (axes[0][2], axes[1][2]))


def adaptive_axis(n: int, out: int) -> tuple[int, int, int]:
    """(kernel, stride, padding before) of the uniform window that contains every adaptive
    window ``[floor(j n / out), ceil((j + 1) n / out))`` of one axis."""
    stride = max(1, n // out)
    wins = adaptive_windows(n, out)
    pad = max(j * stride - a for j, (a, _b) in enumerate(wins))
    kernel = max(b - (j * stride - pad) for j, (_a, b) in enumerate(wins))
    return kernel, stride, pad


# --- attributes read from a captured call --------------------------------------------------------

CallAttrs = Callable[[Any], Union[Attrs, None]]  # an OpCall of a work operator -> attrs, or None


def call_pair(v: Any, default: HW) -> HW:
    """An aten argument for two spatial axes (``3``, ``[3]``, ``[3, 2]``; empty: ``default``)."""
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) in (1, 2):
        return (int(v[0]), int(v[-1]))
    return default


def call_window(kernel: HW, stride: Any, padding: Any, dilation: Any = 1) -> Attrs:
    """The window attributes (:func:`window`) of an aten call's kernel, stride (empty: the
    kernel, as PyTorch's pooling), symmetric padding and dilation."""
    top, left = call_pair(padding, (0, 0))
    return {"kernel": kernel, "stride": call_pair(stride, kernel), "pad": (top, top, left, left),
            "dilation": call_pair(dilation, (1, 1))}


def no_call_attrs(call: Any) -> Attrs | None:
    return None


# --- the totals fast path ----------------------------------------------------------------------


class Unsupported(Exception):
    """The template cannot be re-shaped to this input; the point is resolved in full."""


@dataclass(frozen=True)
class ReshapeRule:
    """How an op kind follows a new input shape (``cnninspect.measure.totals``).

    ``attrs(attrs, shape)`` returns the attributes the resolver would give the op on input
    ``shape`` (the same mapping when none depends on it) or raises :class:`Unsupported`.
    ``spatial`` says what the op does to the height and width, for ``fit``'s proof that
    pruning is sound: ``same`` (kept), ``window`` (a sliding window with the attributes
    ``kernel``, ``stride``, ``pad`` and optional ``ceil_mode``), ``global`` (to 1x1, or an
    adaptive pool's fixed ``size``) or ``flat`` (makes or works on a flat vector). Counts of
    the kind must not decrease when its input or output grows (every registered convention
    and parameter rule is a non-negative multiple of an output or input size, plus a constant).
    """

    attrs: Callable[[Attrs, Shape], Attrs]
    spatial: str


def keep(attrs: Attrs, shape: Shape) -> Attrs:
    return attrs


KEEP_SAME = ReshapeRule(keep, "same")

# --- the module it builds ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleRecipe:
    """The ``nn.Module`` an op builds, torch-free: the class name (a class of
    ``cnninspect.build.modules`` when it defines one, else of ``torch.nn``), positional and
    keyword arguments. An argument that is itself a :class:`ModuleRecipe` is built first (a
    module with a child, like timm's ``BatchNormAct2d`` and its activation)."""

    cls: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leaf(self) -> bool:
        """No child modules: no argument is a module."""
        return not any(isinstance(v, ModuleRecipe) for v in (*self.args, *self.kwargs.values()))


# --- the record ------------------------------------------------------------------------------------


def no_detail(attrs: Attrs) -> str:
    return ""


@dataclass(frozen=True)
class OpKind:
    """One primitive operation, everything about it in one place.

    ``kind`` is its name in the resolved graph; ``title`` a phrase for people (``explain``,
    messages); ``role`` what it does (:class:`Role`). ``infer`` maps (attrs, input shape) to
    the output shape or raises :class:`~cnninspect.ops.primitives.ShapeError`. ``params``
    gives its parameter tensors as a formula of the attributes alone (never the input's
    size), whose terms are caused by the tensor's name in the module's ``named_parameters``
    (``None``: no parameters); ``fixed`` names tensors that are not trainable. ``module`` is the ``nn.Module`` the builder makes. ``counts`` its
    mult-adds per convention. ``saves``/``alias``/``buffers``: what autograd keeps for
    backward, whether the output is the input tensor itself in a mode (a view or a no-op),
    and its buffer elements (float, int64). ``field``: receptive-field geometry. ``reshape``:
    the totals fast path's rule (``None``: such models always resolve in full). ``aten``: the
    aten operators a forward pass of its module dispatches for its work, by packet name.
    ``channels_last``: may run on an ``H x W x C`` tensor inside a channels-last block.
    ``from_call``: the attributes its ``field`` and its counting rules read, from one captured
    call of one of its ``aten`` operators (an :class:`~cnninspect.ops.aten_rules.OpCall`), or
    ``None`` when the call is not this kind's work in a form the record describes (a
    transposed convolution, a matrix product of two activations, a 1-d pool); a Python
    model's receptive fields and its counts in the operator conventions use it
    (:mod:`cnninspect.ops.lowering`).
    ``traffic``: the activation elements it reads and writes per sample
    (:mod:`cnninspect.measure.traffic` adds its parameters and float buffers, read once per
    batch; an op whose output is its input at inference moves nothing, whatever its rule).
    ``reduce``: what each output computes from the inputs it sees (``explain`` and paper
    tables); ``detail``: short facts for the summary table; ``teach``: ``explain KIND``
    works one by hand.
    """

    kind: str
    title: str
    role: Role
    infer: Callable[[Attrs, Shape], Shape]
    module: Callable[[Attrs], ModuleRecipe]
    params: ParamRule | None = None
    fixed: frozenset[str] = frozenset()
    counts: Counts = NOT_COUNTED
    saves: SavesRule = const(SAVES_NOTHING)
    alias: AliasRule = never
    buffers: Callable[[Attrs], tuple[int, int]] = no_buffers
    field: FieldRule = pointwise
    reshape: ReshapeRule | None = KEEP_SAME
    aten: tuple[str, ...] = ()
    traffic: TrafficRule = streams
    channels_last: bool = False
    from_call: CallAttrs = no_call_attrs
    reduce: str = ""
    detail: Callable[[Attrs], str] = no_detail
    teach: bool = False

    def param_formula(self, attrs: Attrs) -> Formula:
        """The op's parameters as a formula."""
        return NOTHING if self.params is None else self.params(attrs)

    def param_counts(self, attrs: Attrs) -> ParamCounts:
        """Parameter tensors by name as (numel, trainable), like the module's ``named_parameters``."""
        out: dict[str, tuple[int, bool]] = {}
        for t in self.param_formula(attrs).terms:
            numel = out.get(t.cause, (0, True))[0] + t.value
            out[t.cause] = (numel, t.cause not in self.fixed)
        return out

    def torch_class(self, attrs: Attrs) -> str:
        """The class name of the module the builder makes."""
        return self.module(attrs).cls

    def op_class(self, attrs: Attrs) -> str:
        """The op class ``explain`` totals it under (:data:`OP_CLASS_NAMES`)."""
        return _conv_class(attrs) if self.role is Role.CONV else _ROLE_CLASS[self.role]

    @property
    def weight_layer(self) -> bool:
        """A layer of a paper's depth: convolution, fully connected, or a pooling window with
        learned coefficients (LeNet's subsampling); not normalisation."""
        return self.role in (Role.CONV, Role.DENSE) or (self.role is Role.POOL and self.params is not None)

    def kernel_stride(self, attrs: Attrs, in_shape: Shape) -> tuple[HW | None, HW | None]:
        """Kernel and stride for display; global pools report their whole input window, an
        adaptive pool its window when the size divides the input (else none)."""
        if self.role is Role.GLOBAL and len(in_shape) == 3:
            if "size" in attrs:
                (oh, ow), (h, w) = adaptive_size(attrs), in_shape[1:]
                if h % oh or w % ow:
                    return None, None
                return (h // oh, w // ow), (h // oh, w // ow)
            return (in_shape[1], in_shape[2]), (1, 1)
        return attrs.get("kernel"), attrs.get("stride")


KINDS: dict[str, OpKind] = {}


def register_kind(k: OpKind) -> OpKind:
    """Add a record to :data:`KINDS` (import :mod:`cnninspect.ops.kinds` for the full registry)."""
    if k.kind in KINDS:
        raise ValueError(f"op kind {k.kind!r} registered twice")
    KINDS[k.kind] = k
    return k
