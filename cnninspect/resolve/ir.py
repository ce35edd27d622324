"""The resolved model: a frozen tree of primitive ops and structural containers.

Resolution (``resolver.py``) turns a spec plus parameter values into this tree: every
parameter substituted, channels scaled and rounded, repeats expanded, blocks expanded into
primitives, and every input/output shape inferred. The builder turns it into an
``nn.Module`` whose qualified module names are exactly the node paths here; the analysis
turns it into a report. Containers describe how data flows:

* :class:`Seq` - children one after another;
* :class:`Residual` - ``post(body(x) + shortcut(x))``;
* :class:`Concat` - branches on the same input, concatenated along channels;
* :class:`Gate` - ``x * branch(x)`` (squeeze-and-excitation);
* :class:`Side` - a side branch (auxiliary classifier) computed from ``x``; ``x`` flows on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Union
from collections.abc import Iterator, Mapping

from ..ops.primitives import Shape


@dataclass(frozen=True)
class Origin:
    """Where a node came from: spec file, 1-based line, key path (``layers[3].body[0]``).

    ``calls``: for a node made inside a user-defined block, the block calls that led to it as
    ``(file, line)``, the call written in ``layers`` first, then each call inside a block
    (empty outside blocks). ``file`` and ``line`` stay the entry's own place (in the block).
    """

    file: str
    line: int | None
    path: str
    entry_type: str | None = None
    paper: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    calls: tuple[tuple[str, int | None], ...] = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    @property
    def located(self) -> str:
        """Where to look first: ``spec.yaml:125, block at 74`` for a layer made by the block
        call at line 125 from the entry at line 74 (nested calls: ``block at 50 > 74``); a
        line in another file is given with its file. Outside blocks, ``str(self)``."""
        if not self.calls:
            return str(self)
        (file, line), inner = self.calls[0], [*self.calls[1:], (self.file, self.line)]
        chain = " > ".join(str(n) if f == file else f"{f}:{n}" for f, n in inner)
        return f"{file}:{line}, block at {chain}"


@dataclass(frozen=True)
class Op:
    """A primitive operation; ``kind`` is a key of :data:`cnninspect.ops.kinds.KINDS`."""

    name: str
    kind: str
    attrs: Mapping[str, Any]
    in_shape: Shape
    out_shape: Shape
    origin: Origin

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, MappingProxyType):
            object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))


@dataclass(frozen=True)
class Seq:
    name: str
    children: tuple[Node, ...]
    label: str
    in_shape: Shape
    out_shape: Shape
    origin: Origin
    repeat: int | None = None  # set when this sequence expands a ``repeat`` entry


@dataclass(frozen=True)
class Residual:
    """``post(body(x) + shortcut(x))``; ``partial``: the shortcut, with fewer channels, is
    added to the body output's first channels only (ReXNet's ``x[:, :C_in] += shortcut``)."""

    name: str
    body: Node
    shortcut: Node
    post: Node | None
    label: str
    in_shape: Shape
    out_shape: Shape
    origin: Origin
    partial: bool = False


@dataclass(frozen=True)
class Concat:
    name: str
    branches: tuple[Node, ...]
    label: str
    in_shape: Shape
    out_shape: Shape
    origin: Origin


@dataclass(frozen=True)
class Gate:
    name: str
    branch: Node
    label: str
    in_shape: Shape
    out_shape: Shape
    origin: Origin


@dataclass(frozen=True)
class Side:
    name: str
    branch: Node
    label: str
    in_shape: Shape
    out_shape: Shape
    origin: Origin


Node = Union[Op, Seq, Residual, Concat, Gate, Side]
Container = Union[Seq, Residual, Concat, Gate, Side]


def children(node: Node) -> tuple[Node, ...]:
    """Direct children in execution order (the order the builder registers submodules)."""
    if isinstance(node, Op):
        return ()
    if isinstance(node, Seq):
        return node.children
    if isinstance(node, Residual):
        return (node.body, node.shortcut) + ((node.post,) if node.post is not None else ())
    if isinstance(node, Concat):
        return node.branches
    return (node.branch,)


def structure(node: Node) -> str:
    """The container's data-flow type: seq, residual, concat, gate, side (or op)."""
    return {Op: "op", Seq: "seq", Residual: "residual", Concat: "concat", Gate: "gate", Side: "side"}[
        type(node)
    ]


@dataclass(frozen=True)
class Settings:
    """The parameter values a model was resolved with."""

    width: float
    depth: float
    resolution: int
    padding: str
    values: Mapping[str, Any] = field(default_factory=dict)
    # explicit settings that replace the variant's (or the spec's default) value:
    # name -> (that value, the value used); shown with the model so no override is silent
    overridden: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """A fully resolved model: spec identity, the settings used and the node tree."""

    name: str
    title: str
    variant: str | None
    citation: Mapping[str, Any]
    source: str
    settings: Settings
    input_shape: Shape
    root: Seq
    paper: Mapping[str, Any]

    @property
    def output_shape(self) -> Shape:
        return self.root.out_shape

    @property
    def label(self) -> str:
        return f"{self.name}:{self.variant}" if self.variant else self.name


def walk(node: Node, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, int, Node]]:
    """Pre-order (qualified name, depth, node); the root itself is skipped."""
    for child in children(node):
        qual = f"{prefix}.{child.name}" if prefix else child.name
        yield qual, depth, child
        yield from walk(child, qual, depth + 1)


def ops(node: Node, prefix: str = "") -> Iterator[tuple[str, Op]]:
    for qual, _, n in walk(node, prefix):
        if isinstance(n, Op):
            yield qual, n
