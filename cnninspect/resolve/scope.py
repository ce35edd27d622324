"""The resolver's building API: a :class:`Scope` builds the children of one IR container
while tracking the running shape, and an :class:`Expansion` is what a layer type's expansion
function (``cnninspect/resolve/expand.py``) receives.

Every primitive goes through :meth:`Scope.op`, which infers its output shape with the op
registry (``ops/primitives.py``) and turns a shape problem into a located :class:`SpecError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Protocol
from collections.abc import Mapping, Sequence

from ..base import limits
from ..base.errors import Location, SpecError
from .ir import Concat, Gate, Node, Op, Origin, Residual, Seq, Settings, Side, children
from ..ops.kinds import KINDS, Role
from ..ops.primitives import Shape, ShapeError, activation_attrs, fmt_shape, resolve_padding


class Walker(Protocol):
    """What scopes and expansions need from the resolver that walks the entries."""

    settings: Settings
    input_shape: Shape

    def count_op(self, loc: Location, path: str) -> None: ...

    def entries(
        self, scope: Scope, entries: Sequence[Any], *, width: float | None, stride_one: bool, env: Any
    ) -> None: ...


@dataclass
class Expansion:
    """What a layer type's ``expand`` function receives.

    ``f`` holds the entry's fields (parameters substituted, defaults applied, channels
    scaled); ``scope`` is where the resulting node must be attached, under ``name``.
    """

    resolver: Walker
    scope: Scope
    name: str
    f: dict[str, Any]
    width: float | None  # None inside a ``fixed`` entry
    stride_one: bool
    env: Any = None  # the names nested entries' expressions see (``resolve.Env``)

    def entries(self, scope: Scope, entries: Sequence[Any]) -> None:
        """Resolve nested layer entries (a residual body, a branch) into ``scope``."""
        self.resolver.entries(scope, entries, width=self.width, stride_one=self.stride_one, env=self.env)

    @property
    def padding_style(self) -> str:
        return self.resolver.settings.padding


class Scope:
    """Builds the children of one container, tracking the running shape."""

    def __init__(
        self,
        resolver: Walker,
        name: str,
        label: str,
        shape: Shape,
        origin: Origin,
        loc: Location,
        path: str,
    ) -> None:
        self.resolver = resolver
        self.name = name
        self.label = label
        self.in_shape = shape
        self.shape = shape
        self.origin = origin
        self.loc = loc
        self.path = path
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.parent: Scope | None = None
        # inside a ``channels_last`` block the running tensor is H x W x C
        self.channels_last = False
        # for a concat's 'from' (:meth:`point`): this container's module path, the scope it is
        # nested in, the entry being expanded here and the names (and lines) of this list's entries
        self.qual = ""
        self.outer: Scope | None = None
        self.current: str | None = None
        self.listed: dict[str, tuple[int, int | None]] = {}
        self.at = 0  # the position of the entry being resolved in that list

    # -- structure ----------------------------------------------------------------------

    def enter(self, origin: Origin, loc: Location, path: str) -> tuple[Origin, Location, str]:
        """Point error locations and origins at a new entry; returns the previous ones."""
        previous = (self.origin, self.loc, self.path)
        self.origin, self.loc, self.path = origin, loc, path
        return previous

    def child(self, name: str, label: str, *, origin: Origin | None = None, loc: Location | None = None, path: str | None = None) -> Scope:
        """A nested scope starting at the current shape; ``close(attach=True)`` adds it here."""
        s = Scope(
            self.resolver, name, label, self.shape, origin or self.origin, loc or self.loc, path or self.path
        )
        s.parent = self
        s.channels_last = self.channels_last
        s.qual, s.outer = _join(self.qual, name), self
        return s

    def branch(self, name: str, label: str, shape: Shape | None = None) -> Scope:
        """A detached scope on the same input (for residual bodies and branches)."""
        s = Scope(self.resolver, name, label, shape or self.shape, self.origin, self.loc, self.path)
        s.channels_last = self.channels_last
        s.qual, s.outer = _join(self.qual, self.current or "", name), self
        return s

    def add(self, node: Node) -> Node:
        if node.name in self.names:
            raise SpecError(f"the name '{node.name}' is used twice in the same list", self.loc, self.path)
        self.names.add(node.name)
        self.nodes.append(node)
        self.shape = node.out_shape
        return node

    def close(self, *, attach: bool = False, collapse: bool = False, repeat: int | None = None) -> Node:
        if not self.nodes:
            raise SpecError(
                "no layers left: every entry of this list is disabled by its 'when' for these parameter values",
                self.loc,
                self.path,
            )
        node: Node
        if collapse and len(self.nodes) == 1 and isinstance(self.nodes[0], Op):
            node = replace(self.nodes[0], name=self.name)
        else:
            node = Seq(self.name, tuple(self.nodes), self.label, self.in_shape, self.shape, self.origin, repeat)
        if attach:
            assert self.parent is not None
            self.parent.add(node)
        return node

    def error(self, message: str, field: str | None = None) -> SpecError:
        path = f"{self.path}.{self.origin.entry_type}.{field}" if field and self.origin.entry_type else self.path
        return SpecError(message, self.loc, path)

    def point(self, ref: str, field: str) -> tuple[str, Node]:
        """The module path and node of the earlier entry ``ref`` names (a concat's ``from``):
        its first name is looked up among the finished entries of this list, then of each
        enclosing list outward (through block calls); the rest of a dotted name goes down
        the module path. Naming an entry not made yet (later in a list, or one that contains
        this concat) is refused."""
        first, *rest = ref.split(".")
        s: Scope | None = self
        while s is not None:
            node = next((n for n in s.nodes if n.name == first), None)
            if node is not None:
                return self._inside(s, node, first, rest, ref, field)
            if first == s.current:
                what = "this concat itself" if s is self else "an entry that contains this concat"
                raise self.error(f"'{ref}' names {what}, whose output is not made yet (a cycle); "
                                 "'from' takes earlier entries", field)
            if first in s.listed:
                index, line = s.listed[first]
                at = f" (line {line})" if line is not None else ""
                if index < s.at:
                    raise self.error(f"'{ref}': the entry '{first}'{at} is switched off by its 'when' here", field)
                raise self.error(f"'{ref}' is used before it is defined: '{first}' comes later{at}; 'from' "
                                 "takes earlier entries", field)
            s = s.outer
        raise self.error(f"unknown name '{first}': no earlier entry of this list or an enclosing one is "
                         "called that", field)

    def _inside(self, s: Scope, node: Node, first: str, rest: list[str], ref: str, field: str) -> tuple[str, Node]:
        qual, parent = _join(s.qual, first), True  # the last name must be an entry of a list
        for part in rest:
            child = next((c for c in children(node) if c.name == part), None)
            if child is None:
                names = ", ".join(c.name for c in children(node)) or "nothing inside"
                raise self.error(f"'{ref}': '{qual}' has no part '{part}' (it has: {names})", field)
            parent = isinstance(node, Seq)
            node, qual = child, _join(qual, part)
        if not parent:
            raise self.error(f"'{ref}' names a part of a structure, not an entry of a list; name an entry "
                             f"inside it", field)
        return qual, node

    # -- primitives ---------------------------------------------------------------------

    def op(self, name: str, kind: str, **attrs: Any) -> Op:
        optype = KINDS[kind]
        if self.channels_last and not optype.channels_last:
            raise self.not_channels_last(optype.title)
        try:
            out = optype.infer(attrs, self.shape)
        except ShapeError as exc:
            raise SpecError(f"{exc} (model input {fmt_shape(self.resolver.input_shape)})", self.loc, self.path) from None
        self.resolver.count_op(self.loc, self.path)
        self._check_size(kind, attrs, out)
        op = Op(name, kind, attrs, self.shape, out, self.origin)
        self.add(op)
        return op

    def _check_size(self, kind: str, attrs: Mapping[str, Any], out: Shape) -> None:
        """Refuse tensors too big for any engine (PyTorch cannot even describe them)."""
        limit = limits.MAX_TENSOR_ELEMENTS
        if math.prod(out) > limit:
            raise self.error(
                f"this layer's output {fmt_shape(out)} would have {math.prod(out):,} values, more than "
                f"the limit of {limit:,}; check the channels, padding and resolution"
            )
        for pname, (numel, _trainable) in KINDS[kind].param_counts(attrs).items():
            if numel > limit:
                raise self.error(
                    f"this layer's {pname} would have {numel:,} values (input {fmt_shape(self.shape)}), "
                    f"more than the limit of {limit:,}; check the channels and sizes"
                )

    def conv(
        self,
        name: str,
        *,
        out: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        padding: Any = "same",
        groups: int = 1,
        bias: bool = True,
        connections: tuple[tuple[int, ...], ...] | None = None,
        dilation: tuple[int, int] = (1, 1),
    ) -> Op:
        if len(self.shape) != 3:
            raise self.error(
                f"convolution needs a feature map but its input is the flat vector {fmt_shape(self.shape)}"
            )
        in_ch = self.shape[0]
        try:
            pad, tag = resolve_padding(padding, self.resolver.settings.padding, self.shape[1:], kernel, stride, dilation)
        except ShapeError as exc:
            raise self.error(str(exc), "padding") from None
        common = dict(in_ch=in_ch, out_ch=out, kernel=kernel, stride=stride, pad=pad, pad_tag=tag, bias=bias)
        if dilation != (1, 1):
            if connections is not None:
                raise self.error("a connection-table convolution cannot be dilated", "dilation")
            common["dilation"] = dilation
        if connections is not None:
            if len(connections) != out:
                raise self.error(
                    f"the connection table has {len(connections)} rows but the layer has {out} output maps",
                    "connections",
                )
            return self.op(name, "conv_table", connections=connections, **common)
        return self.op(name, "conv2d", groups=groups, **common)

    def conv_unit(
        self,
        name: str,
        label: str,
        *,
        out: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        padding: Any = "same",
        groups: int = 1,
        bias: bool | None = None,
        bn: bool = False,
        act: str | None = None,
        connections: tuple[tuple[int, ...], ...] | None = None,
        depthwise: bool = False,
        dilation: tuple[int, int] = (1, 1),
    ) -> Node:
        """Convolution, optional batch norm, optional activation, under one name."""
        s = self.child(name, label)
        if depthwise:
            if len(self.shape) != 3:
                raise self.error(
                    "a depthwise convolution needs a feature map but its input is the flat vector "
                    f"{fmt_shape(self.shape)}"
                )
            out = groups = self.shape[0]
        s.conv("conv", out=out, kernel=kernel, stride=stride, padding=padding, groups=groups,
               bias=(not bn) if bias is None else bias, connections=connections, dilation=dilation)
        if bn:
            s.op("bn", "bn2d", ch=out)
        if act is not None:
            s.activation("act", act)
        return s.close(attach=True, collapse=True)

    def activation_attrs(self, value: str, field: str | None = None, shape: Shape | None = None) -> dict[str, Any]:
        """The ``act`` op's attributes for an activation value (``relu``,
        ``leaky_relu(negative_slope=0.1)``) on the running tensor (or ``shape``)."""
        shape = self.shape if shape is None else shape
        try:
            attrs = activation_attrs(value, shape[0] if shape else None)
        except ShapeError as exc:
            raise self.error(str(exc), field) from None
        if self.channels_last and attrs.get("num_parameters", 1) != 1:
            raise self.error("prelu with one slope per channel cannot run on the channels-last tensor "
                             f"{fmt_shape(self.shape)} (PyTorch's slopes run along dimension 1)", field)
        return attrs

    def activation(self, name: str, value: str, field: str | None = None) -> Op:
        """An activation op from its value (``relu``, ``leaky_relu(negative_slope=0.1)``)."""
        return self.op(name, "act", **self.activation_attrs(value, field))

    # -- structure helpers --------------------------------------------------------------

    def residual(
        self,
        name: str,
        label: str,
        body: Node,
        shortcut: str | Node,
        *,
        post: str | None = None,
        projection_bn: bool = True,
        partial: bool = False,
    ) -> Node:
        """Attach ``post(body(x) + shortcut(x))``.

        ``shortcut`` is ``identity``, ``projection`` (1x1 convolution with the stride that
        matches the body, plus batch norm), ``auto`` (identity when the body keeps the shape,
        else projection), ``skip-auto`` (identity when it keeps the shape, else no skip at all),
        ``none`` (no skip) or a resolved node. With ``partial`` the shortcut may have fewer
        channels than the body: it is added to the body output's first channels (ReXNet).
        """
        in_shape = self.shape
        mode = shortcut if isinstance(shortcut, str) else "custom"
        if mode == "auto" and partial:
            mode = "identity" if _adds_to_first(in_shape, body.out_shape) else "projection"
        elif mode == "auto":
            mode = "identity" if body.out_shape == in_shape else "projection"
        elif mode == "skip-auto":
            mode = "identity" if body.out_shape == in_shape else "none"
        if mode == "none":
            if isinstance(body, Seq):
                body = replace(body, name=name, label=label)
            else:
                body = Seq(name, (body,), label, in_shape, body.out_shape, self.origin)
            return self.add(body)
        sc: Node
        if mode == "identity":
            sc = Op("shortcut", "identity", {}, in_shape, in_shape, self.origin)
            self.resolver.count_op(self.loc, self.path)
        elif mode == "projection":
            sc = self._projection(in_shape, body.out_shape, projection_bn)
        else:
            assert not isinstance(shortcut, str)
            sc = shortcut
        if partial and not _adds_to_first(sc.out_shape, body.out_shape):
            raise self.error(
                f"a partial residual adds the shortcut to the body output's first channels, so it needs "
                f"at most the body's channels and the same size; the body gives "
                f"{fmt_shape(body.out_shape)} and the shortcut {fmt_shape(sc.out_shape)}",
                "partial",
            )
        if not partial and sc.out_shape != body.out_shape:
            raise self.error(
                f"residual add needs equal shapes, but the body gives {fmt_shape(body.out_shape)} and "
                f"the shortcut gives {fmt_shape(sc.out_shape)}"
                + ("; use shortcut: projection (or auto)" if mode == "identity" else ""),
                "shortcut",
            )
        body = replace(body, name="body")
        sc = replace(sc, name="shortcut")
        post_node = None
        out_shape = body.out_shape
        if post is not None:
            post_node = Op("post", "act", self.activation_attrs(post, "post", out_shape), out_shape, out_shape, self.origin)
            self.resolver.count_op(self.loc, self.path)
        return self.add(Residual(name, body, sc, post_node, label, in_shape, out_shape, self.origin, partial))

    def _projection(self, in_shape: Shape, out_shape: Shape, bn: bool) -> Node:
        if len(in_shape) != 3 or len(out_shape) != 3:
            raise self.error("a projection shortcut needs feature maps on both ends", "shortcut")
        # a 1x1 convolution with stride s gives ceil(n / s); the smallest stride that can map n to m
        # is ceil(n / m) (7 -> 4 needs stride 2, as in a ResNet on odd feature-map sizes)
        sh, sw = -(-in_shape[1] // out_shape[1]), -(-in_shape[2] // out_shape[2])
        if -(-in_shape[1] // sh) != out_shape[1] or -(-in_shape[2] // sw) != out_shape[2]:
            raise self.error(
                f"no 1x1 strided projection maps {fmt_shape(in_shape)} to {fmt_shape(out_shape)}",
                "shortcut",
            )
        s = self.branch("shortcut", "Projection", in_shape)
        s.conv("conv", out=out_shape[0], kernel=(1, 1), stride=(sh, sw), padding="valid", bias=not bn)
        if bn:
            s.op("bn", "bn2d", ch=out_shape[0])
        return s.close(collapse=True)

    def not_channels_last(self, what: str) -> SpecError:
        # the kinds with learned parameters along the last dimension that may run channels-last
        over_last = ", ".join(k.kind for k in KINDS.values()
                              if k.channels_last and k.params is not None and k.role is not Role.ACTIVATION)
        return self.error(
            f"{what} cannot run on the channels-last tensor {fmt_shape(self.shape)} (H x W x C) inside "
            f"'channels_last'; only layers over the last dimension ({over_last}) and "
            "elementwise ones can; end the channels_last block first"
        )

    def concat(self, name: str, label: str, branches: Sequence[Node]) -> Node:
        if self.channels_last:
            raise self.not_channels_last("concatenation along channels")
        in_shape = self.shape
        shapes = [b.out_shape for b in branches]
        first = shapes[0]
        if any(len(s) != len(first) or s[1:] != first[1:] for s in shapes):
            raise self.error(
                "concatenated branches must agree on every dimension but channels; got "
                + ", ".join(f"{b.name}: {fmt_shape(s)}" for b, s in zip(branches, shapes))
            )
        out = (sum(s[0] for s in shapes),) + tuple(first[1:])
        return self.add(Concat(name, tuple(branches), label, in_shape, out, self.origin))

    def gate(self, name: str, label: str, branch: Node) -> Node:
        if self.channels_last:
            raise self.not_channels_last("a gate")
        in_shape = self.shape
        g = branch.out_shape
        ok = len(g) == len(in_shape) and g[0] == in_shape[0] and all(
            a in (1, b) for a, b in zip(g[1:], in_shape[1:])
        )
        if not ok:
            raise self.error(
                f"a gate multiplies its input ({fmt_shape(in_shape)}) by the branch output, which must "
                f"have the same channels and size 1 or equal elsewhere; got {fmt_shape(g)}"
            )
        return self.add(Gate(name, replace(branch, name="branch"), label, in_shape, in_shape, self.origin))

    def side(self, name: str, label: str, branch: Node) -> Node:
        return self.add(Side(name, replace(branch, name="branch"), label, self.shape, self.shape, self.origin))


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _adds_to_first(sc: Shape, out: Shape) -> bool:
    """Can a shortcut of shape ``sc`` be added to the first channels of ``out``?"""
    return len(sc) == len(out) == 3 and sc[0] <= out[0] and sc[1:] == out[1:]
