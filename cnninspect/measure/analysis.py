"""Analysis: a resolved model (plus, optionally, measurements of its built module) -> Report.

Two engines feed the same report builder:

* ``spec`` (the default everywhere): shapes from resolution and parameter counts from the op
  rules; pure Python, no torch import.
* ``meta`` (``build/torch_engine.py``, ``--engine meta``): the builder's real ``nn.Module`` on
  PyTorch's meta device, walked with forward hooks; shapes are measured and parameters read
  from the module, no weight is allocated and no arithmetic is done.

The tests prove both engines agree on every bundled spec and variant and on random specs.
Mult-adds are counted by a :mod:`~cnninspect.ops.conventions` convention, batch size 1, and
always stored as multiply-adds (FLOPs = 2 x mult-adds are derived when rendering).

A report of a Python ``nn.Module`` (:mod:`cnninspect.capture.module_analysis`) has the same rows and
totals; it has no resolved spec (``model`` is ``None``) and describes its model through
:class:`Subject`, which every report has, and may list operators its convention could not
count (``uncounted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from collections.abc import Mapping

from ..ops.conventions import Convention, get_convention
from ..ops.kind import OpFacts
from ..ops.kinds import KINDS
from ..ops.lowering import LoweredGraph
from ..resolve.ir import Concat, Gate, Model, Node, Op, Origin, Residual, Seq, Side, children, ops, structure
from .memory import simulate
from ..ops.primitives import Shape

BYTES_PER_ELEMENT = 4  # float32 activations


@dataclass(frozen=True)
class Observed:
    """Measured facts about one node: shapes, and for ops the parameter tensors and class."""

    in_shape: Shape
    out_shape: Shape
    params: Mapping[str, tuple[int, bool]] = field(default_factory=dict)
    torch_class: str = ""


@dataclass(frozen=True)
class Row:
    """One row of the layer table: a primitive op (``is_leaf``) or a container (aggregates)."""

    name: str
    depth: int
    is_leaf: bool
    type: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    kernel: tuple[int, int] | None
    stride: tuple[int, int] | None
    params: int
    trainable_params: int
    mult_adds: int
    origin: Origin | None  # the spec entry it came from (None for a Python module's rows)
    detail: str = ""
    side_branch: bool = False  # inside a side output (auxiliary classifier)


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    mult_adds: int
    peak_activation_elements: int
    largest_activation_elements: int
    # a Python model's peak activations and weights at the dtypes it ran with (None: fp32)
    activation_bytes: int | None = None
    param_bytes: int | None = None

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def peak_activation_bytes(self) -> int:
        if self.activation_bytes is not None:
            return self.activation_bytes
        return self.peak_activation_elements * BYTES_PER_ELEMENT


@dataclass(frozen=True)
class Subject:
    """The model a report describes, whatever it came from: what every renderer needs.

    ``source`` is ``spec`` (a resolved YAML spec) or ``python`` (an ``nn.Module``);
    ``settings`` is the JSON ``settings`` object (width, depth, resolution, padding and
    parameters for a spec; resolution and constructor arguments for a module).
    """

    name: str
    title: str
    label: str
    variant: str | None
    citation: Mapping[str, Any]
    input_shape: Shape
    output_shape: Shape
    depth: int
    settings: Mapping[str, Any]
    source: str = "spec"
    reference: str = ""  # a Python model reference as written (file.py:Net, torchvision:resnet50)
    device: str = ""  # where a module was run: meta or cpu
    fallback: str = ""  # why a module did not run on the meta device
    batch: int = 1  # the batch the counts are for (a module run on a batch of several)
    notes: tuple[str, ...] = ()  # what the run observed (a forward pass returning None)


def spec_subject(model: Model) -> Subject:
    s = model.settings
    return Subject(
        model.name, model.title, model.label, model.variant, model.citation, model.input_shape,
        model.output_shape, weight_depth(model),
        {"width": s.width, "depth": s.depth, "resolution": s.resolution, "padding": s.padding,
         "params": {k: v for k, v in s.values.items() if k not in ("width", "depth", "resolution")},
         "overridden": {k: {"variant": old, "used": new} for k, (old, new) in s.overridden.items()}},
    )


@dataclass(frozen=True)
class Report:
    model: Model | None  # the resolved spec; None for a Python module
    convention: Convention
    engine: str
    rows: tuple[Row, ...]
    totals: Totals
    described: Subject | None = None  # given for Python modules; derived from ``model`` for specs
    uncounted: tuple[tuple[str, int], ...] = ()  # operators the convention could not count: (name, calls)
    # a Python module's rows: what each shows, ("call", i) or ("op", i) into its trace (None: a parameter)
    sources: tuple[tuple[str, int] | None, ...] = ()
    # a Python module's operators lowered onto the op records (:mod:`cnninspect.ops.lowering`)
    lowered: LoweredGraph | None = None

    @cached_property
    def subject(self) -> Subject:
        if self.described is not None:
            return self.described
        assert self.model is not None
        return spec_subject(self.model)

    @property
    def layers(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.is_leaf)

    @property
    def blocks(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if not r.is_leaf)

    @property
    def output_shape(self) -> Shape:
        return self.subject.output_shape


def spec_observations(model: Model) -> dict[str, Observed]:
    """Observations straight from the resolved model (the ``spec`` engine)."""
    from ..resolve.ir import walk

    out: dict[str, Observed] = {}
    for qual, _depth, node in walk(model.root):
        if isinstance(node, Op):
            optype = KINDS[node.kind]
            out[qual] = Observed(
                node.in_shape,
                node.out_shape,
                optype.param_counts(node.attrs),
                optype.torch_class(node.attrs),
            )
        else:
            out[qual] = Observed(node.in_shape, node.out_shape)
    return out


def analyze(
    model: Model,
    convention: str | Convention = "paper",
    *,
    observations: Mapping[str, Observed] | None = None,
    engine: str = "spec",
) -> Report:
    """Build the :class:`Report` of ``model`` under ``convention``."""
    conv = get_convention(convention) if isinstance(convention, str) else convention
    obs = observations if observations is not None else spec_observations(model)
    rows: list[Row] = []

    def visit(node: Node, qual: str, depth: int, side: bool) -> tuple[int, int, int]:
        o = obs[qual]
        if isinstance(node, Op):
            params = sum(n for n, _ in o.params.values())
            trainable = sum(n for n, t in o.params.values() if t)
            facts = OpFacts(node.kind, node.attrs, o.in_shape, o.out_shape, o.params, o.torch_class, side)
            macs = conv.count(facts)
            kernel, stride = KINDS[node.kind].kernel_stride(node.attrs, o.in_shape)
            rows.append(
                Row(qual, depth, True, o.torch_class, node.kind, o.in_shape, o.out_shape, kernel, stride,
                    params, trainable, macs, node.origin, KINDS[node.kind].detail(node.attrs), side)
            )
            return params, trainable, macs
        index = len(rows)
        rows.append(None)  # type: ignore[arg-type]  # placeholder, filled after the children
        p = t = m = 0
        inner = side or isinstance(node, Side)
        for child in children(node):
            cp, ct, cm = visit(child, f"{qual}.{child.name}" if qual else child.name, depth + 1, inner)
            p, t, m = p + cp, t + ct, m + cm
        rows[index] = Row(qual, depth, False, node.label, structure(node), o.in_shape, o.out_shape, None,
                          None, p, t, m, node.origin, container_detail(node), side)
        return p, t, m

    totp = tott = totm = 0
    for child in model.root.children:
        cp, ct, cm = visit(child, child.name, 0, False)
        totp, tott, totm = totp + cp, tott + ct, totm + cm
    del visit  # a recursive closure is a reference cycle: break it, so its cells die with this call
    peak, largest = activation_memory(model, obs)
    totals = Totals(totp, tott, totm, peak, largest)
    return Report(model, conv, engine, tuple(rows), totals)


def container_detail(node: Node) -> str:
    if isinstance(node, Residual):
        sc = node.shortcut
        leaves = [sc] if isinstance(sc, Op) else [op for _, op in ops(sc)]
        kind = "identity" if all(op.kind == "identity" for op in leaves) else "projection"
        return f"+ {kind} shortcut" + (" to the first channels" if node.partial else "")
    if isinstance(node, Concat):
        n = len(node.branches)
        return f"concat {n} branch{'es' if n != 1 else ''}"
    if isinstance(node, Gate):
        return "x * gate(x)"
    if isinstance(node, Side):
        return "side output"
    return ""


def activation_memory(model: Model, obs: Mapping[str, Observed]) -> tuple[int, int]:
    """Peak live activation elements and the largest single tensor, inference at batch 1
    (the simulation of :func:`cnninspect.measure.memory.simulate`; model input included, weights
    excluded)."""
    trace = simulate(model, shapes=obs)
    return trace.peak_elements, trace.largest_elements


def weight_depth(model: Model) -> int:
    """The longest input-to-output path counted in weight layers (conv, FC, LeNet's trainable
    subsampling and RBF units; not batch norm), the way papers count depth: VGG-16 is 16,
    ResNet-50 50 (projection shortcuts are parallel to the main path), GoogLeNet 22 and
    MobileNet v1 28. Side branches (auxiliary classifiers) do not reach the output.
    """

    def longest(node: Node) -> int:
        if isinstance(node, Op):
            return 1 if KINDS[node.kind].weight_layer else 0
        if isinstance(node, Seq):
            return sum(longest(c) for c in node.children)
        if isinstance(node, Residual):
            post = longest(node.post) if node.post is not None else 0
            return max(longest(node.body), longest(node.shortcut)) + post
        if isinstance(node, Concat):
            return max(longest(b) for b in node.branches)
        if isinstance(node, Gate):
            return longest(node.branch)
        return 0  # Side

    depth = longest(model.root)
    del longest  # a recursive closure is a reference cycle: break it
    return depth
