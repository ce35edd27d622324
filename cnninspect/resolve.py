"""Resolution: spec + variant + overrides -> a frozen, shape-annotated :class:`Model`.

Steps, in order, for each layer entry: evaluate ``when``; substitute ``$param`` values;
apply field defaults; scale channel fields by the width multiplier and round them with the
spec's rule (``fixed`` entries excepted); scale ``repeat`` by the depth multiplier
(``ceil(depth * n)``, strides only on the first repetition); expand the layer type into
primitive ops and containers; infer every shape. Every error names the spec file, line,
column and key path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from collections.abc import Mapping, Sequence

from . import limits
from .errors import Location, SpecError, UsageError, did_you_mean, one_of, shorten
from .fields import Field
from .ir import Concat, Gate, Model, Node, Op, Origin, Residual, Seq, Settings, Side
from .ops import ACTIVATIONS, OPS, Shape, ShapeError, fmt_shape, resolve_padding
from .scaling import compound, round_channels, scale_repeat
from .spec import LayerEntry, ParamRef, Spec, field_default


@dataclass(frozen=True)
class Overrides:
    """Settings requested on top of a variant (command line, ``@key=value``, check files, API).

    ``origin`` only changes how errors name a setting: ``option`` (``--width``,
    ``--set num_classes``), ``@`` (``@width``) or a key path prefix such as
    ``checks[0].settings`` (``checks[0].settings.width``).
    """

    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    phi: float | None = None
    padding: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "option"

    def name(self, key: str) -> str:
        """How the user wrote the setting ``key``."""
        builtin = key in ("width", "depth", "resolution", "phi", "padding")
        if self.origin == "option":
            return f"--{key}" if builtin else f"--set {key}"
        if self.origin == "@":
            return f"@{key}"
        return f"{self.origin}.{key}"


BUILTIN_SCALES = ("width", "depth", "resolution")


def settings_for(spec: Spec, variant: str | None, overrides: Overrides | None = None) -> tuple[str | None, dict[str, Any]]:
    """Parameter values for a variant plus overrides; returns (variant name used, values).

    Precedence, printed with the model (``Settings.overridden``): a parameter's default, then
    the variant's value (the spec's default variant unless ``--phi`` is given), then an
    explicit setting. Setting one value two ways (``--set width``
    and ``--width``) and ``--phi`` on a variant that fixes width, depth or resolution are
    refused rather than silently resolved.
    """
    overrides = overrides or Overrides()
    if variant is None and overrides.phi is None:
        # --phi without a variant is a point of the compound rule, not the default variant
        variant = spec.default_variant
    values = {name: decl.default for name, decl in spec.params.items()}
    if variant is not None:
        if variant not in spec.variants:
            available = one_of(spec.variants) or "this spec has no variants"
            raise UsageError(
                f"unknown variant '{variant}' of {spec.name}{did_you_mean(variant, spec.variants)}; "
                f"available: {available}"
            )
        values.update(spec.variants[variant].values)
    for key in BUILTIN_SCALES:
        direct = getattr(overrides, key)
        if key in overrides.values and direct is not None:
            raise UsageError(
                f"{key} is set twice: --set {key}={_fmt(overrides.values[key])} and {overrides.name(key)} "
                f"{_fmt(direct)}; give it once"
            )
    for key, value in overrides.values.items():
        if key not in spec.params:
            raise UsageError(
                f"{overrides.name(key)}: {spec.name} has no parameter '{key}'{did_you_mean(key, spec.params)}; "
                f"parameters: {one_of(spec.params)}"
            )
        try:
            values[key] = spec.params[key].kind.coerce(value)
        except ValueError as exc:
            raise UsageError(f"{overrides.name(key)}: {exc}") from None
    if overrides.phi is not None:
        phi_name = overrides.name("phi")
        given = [overrides.name(k) for k in BUILTIN_SCALES if getattr(overrides, k) is not None or k in overrides.values]
        if given:
            raise UsageError(f"{phi_name} sets width, depth and resolution together; drop {', '.join(given)}")
        fixed = [k for k in BUILTIN_SCALES if variant is not None and k in spec.variants[variant].values]
        if fixed:
            raise UsageError(
                f"{phi_name} conflicts with variant '{variant}', which sets {', '.join(fixed)}; use {spec.name} "
                f"{phi_name}{' ' if overrides.origin == 'option' else '='}{_fmt(overrides.phi)} without the variant, "
                "or the variant without phi"
            )
        if not -10.0 <= overrides.phi <= 20.0:
            raise UsageError(f"{phi_name} must be between -10 and 20, got {_fmt(overrides.phi)}")
        for key, val in zip(BUILTIN_SCALES, compound(overrides.phi, spec.default_resolution)):
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"{phi_name} {_fmt(overrides.phi)} gives {key} {_fmt(val)}: {exc}") from None
    for key in BUILTIN_SCALES:
        val = getattr(overrides, key)
        if val is not None:
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"{overrides.name(key)}: {exc}") from None
    return variant, values


def overridden_values(spec: Spec, variant: str | None, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Values the variant sets that an explicit setting replaced: name -> (variant's, used)."""
    if variant is None:
        return {}
    own = spec.variants[variant].values
    return {k: (own[k], values[k]) for k in own if values.get(k) != own[k]}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve(spec: Spec, variant: str | None = None, overrides: Overrides | None = None) -> Model:
    """Resolve ``spec`` for a variant and overrides into a shape-annotated :class:`Model`."""
    variant, settings = resolved_settings(spec, variant, overrides)
    return Resolver(spec, settings).model(variant)


def resolved_settings(spec: Spec, variant: str | None = None,
                      overrides: Overrides | None = None) -> tuple[str | None, Settings]:
    """The variant used and the :class:`Settings` ``resolve`` resolves with (checked)."""
    overrides = overrides or Overrides()
    variant, values = settings_for(spec, variant, overrides)
    padding = overrides.padding or spec.padding_style
    if padding not in ("torch", "tf"):
        raise UsageError(f"{overrides.name('padding')}: must be torch or tf, got {shorten(repr(padding))}")
    settings = Settings(
        width=float(values["width"]),
        depth=float(values["depth"]),
        resolution=int(values["resolution"]),
        padding=padding,
        values=MappingProxyType(dict(values)),
        overridden=MappingProxyType(overridden_values(spec, variant, values)),
    )
    return variant, settings


class Resolver:
    """Walks layer entries with the current settings, producing IR nodes.

    Parameter values are read only through ``settings.values`` (item access): the fast
    totals path (``cnninspect/totals.py``) records those reads to learn whether a model
    depends on its resolution other than through its input shape.
    """

    def __init__(self, spec: Spec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.values = settings.values
        self.op_count = 0
        self.input_shape = (spec.input_channels, settings.resolution, settings.resolution)

    def model(self, variant: str | None) -> Model:
        in_shape = self.input_shape
        origin = Origin(self.spec.source, None, "layers")
        loc = self.spec.layers_loc or Location(self.spec.source)
        root = Scope(self, "", "model", in_shape, origin, loc, "layers")
        self.entries(root, self.spec.layers, width=self.settings.width, stride_one=False)
        node = root.close()
        assert isinstance(node, Seq)
        return Model(
            name=self.spec.name,
            title=self.spec.title,
            variant=variant,
            citation=self.spec.citation,
            source=self.spec.source,
            settings=self.settings,
            input_shape=in_shape,
            root=node,
            paper=self.spec.paper,
        )

    # -- entries ------------------------------------------------------------------------

    def entries(self, scope: Scope, entries: Sequence[LayerEntry], *, width: float | None, stride_one: bool) -> None:
        """Resolve entries into ``scope``; ``width`` None means fixed (no scaling, no rounding)."""
        for index, entry in enumerate(entries):
            self.entry(scope, entry, index, width=width, stride_one=stride_one)

    def entry(self, scope: Scope, entry: LayerEntry, index: int, *, width: float | None, stride_one: bool) -> None:
        if entry.when is not None and not all(self.values[k] in allowed for k, allowed in entry.when.items()):
            return
        if entry.fixed:
            width = None
        elif entry.min_width is not None and width is not None:
            width = max(width, entry.min_width)
        lt = entry.layer_type
        fields = self.fields(entry, width)
        name = entry.name or f"{entry.type}{index}"
        if name in scope.names:
            auto = "" if entry.name else f" (an entry without 'name' is called <type><position>, here '{name}')"
            raise SpecError(
                f"the name '{name}' is used twice in the same list{auto}; give this layer another name",
                entry.loc,
                entry.path,
            )
        origin = Origin(self.spec.source, entry.loc.line, entry.path, entry.type, MappingProxyType(dict(entry.paper)))
        repeat = None
        if entry.repeat is not None:
            n = self.value(entry.repeat, Field("repeat", _REPEAT_KIND), entry.path + ".repeat", entry.loc)
            repeat = scale_repeat(n, self.settings.depth)
            if repeat > limits.MAX_REPEAT:
                raise SpecError(
                    f"repeat {n:,} x depth {self.settings.depth:g} = {repeat:,} exceeds the limit of "
                    f"{limits.MAX_REPEAT:,}",
                    entry.loc,
                    entry.path + ".repeat",
                )
        if repeat is None:
            if stride_one:
                fields = _stride_one(fields)
            previous = scope.enter(origin, entry.loc, entry.path)
            try:
                lt.expand(Expansion(self, scope, name, fields, width, stride_one))
            finally:
                scope.enter(*previous)
            return
        stage = scope.child(name, "", origin=origin, loc=entry.loc, path=entry.path)
        for i in range(repeat):
            first = i == 0 and not stride_one
            fi = fields if first else _stride_one(fields)
            lt.expand(Expansion(self, stage, str(i), fi, width, not first))
        first_child = stage.nodes[0]
        stage.label = f"{_label(first_child)} x{repeat}"
        stage.close(attach=True, repeat=repeat)

    def fields(self, entry: LayerEntry, width: float | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in entry.layer_type.fields:
            if f.name in entry.fields:
                raw = entry.fields[f.name]
                loc = entry.field_locs.get(f.name, entry.loc)
                value = self.value(raw, f, f"{entry.path}.{entry.type}.{f.name}", loc)
            else:
                value = field_default(f)
            if f.channels and value is not None and width is not None:
                value = self.channels(value, width, entry, f)
            out[f.name] = value
        return out

    def value(self, raw: Any, f: Field, path: str, loc: Location) -> Any:
        if not isinstance(raw, ParamRef):
            return raw
        value = self.values[raw.name]
        try:
            return f.kind.coerce(value)
        except ValueError as exc:
            raise SpecError(f"${raw.name} = {shorten(repr(value))}: {exc}", raw.loc, path) from None

    def channels(self, value: int, width: float, entry: LayerEntry, f: Field) -> int:
        scaled = round_channels(value, width, self.spec.rounding)
        if scaled > limits.MAX_CHANNELS:
            raise SpecError(
                f"{value} channels x width {width:g} = {scaled:,} exceeds the limit of {limits.MAX_CHANNELS:,}",
                entry.field_locs.get(f.name, entry.loc),
                f"{entry.path}.{entry.type}.{f.name}",
            )
        return scaled

    def count_op(self, loc: Location, path: str) -> None:
        self.op_count += 1
        if self.op_count > limits.MAX_OPS:
            raise SpecError(
                f"the model expands to more than {limits.MAX_OPS:,} operations; lower repeat/depth",
                loc,
                path,
            )


class _RepeatKind:
    description = "a positive integer"

    def coerce(self, value: Any) -> int:
        from .fields import Int

        return Int(1, limits.MAX_REPEAT).coerce(value)


_REPEAT_KIND: Any = _RepeatKind()


def _stride_one(fields: dict[str, Any]) -> dict[str, Any]:
    if "stride" in fields and fields["stride"] not in (None, (1, 1)):
        fields = dict(fields)
        fields["stride"] = (1, 1)
    return fields


def _label(node: Node) -> str:
    return node.kind if isinstance(node, Op) else node.label


@dataclass
class Expansion:
    """What a layer type's ``expand`` function receives.

    ``f`` holds the entry's fields (parameters substituted, defaults applied, channels
    scaled); ``scope`` is where the resulting node must be attached, under ``name``.
    """

    resolver: Resolver
    scope: Scope
    name: str
    f: dict[str, Any]
    width: float | None  # None inside a ``fixed`` entry
    stride_one: bool

    def entries(self, scope: Scope, entries: Sequence[LayerEntry]) -> None:
        """Resolve nested layer entries (a residual body, a branch) into ``scope``."""
        self.resolver.entries(scope, entries, width=self.width, stride_one=self.stride_one)

    @property
    def padding_style(self) -> str:
        return self.resolver.settings.padding


class Scope:
    """Builds the children of one container, tracking the running shape."""

    def __init__(
        self,
        resolver: Resolver,
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
        return s

    def branch(self, name: str, label: str, shape: Shape | None = None) -> Scope:
        """A detached scope on the same input (for residual bodies and branches)."""
        s = Scope(self.resolver, name, label, shape or self.shape, self.origin, self.loc, self.path)
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

    # -- primitives ---------------------------------------------------------------------

    def op(self, name: str, kind: str, **attrs: Any) -> Op:
        optype = OPS[kind]
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
        for pname, (numel, _trainable) in OPS[kind].params(attrs, self.shape).items():
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
    ) -> Op:
        if len(self.shape) != 3:
            raise self.error(
                f"convolution needs a feature map but its input is the flat vector {fmt_shape(self.shape)}"
            )
        in_ch = self.shape[0]
        try:
            pad, tag = resolve_padding(padding, self.resolver.settings.padding, self.shape[1:], kernel, stride)
        except ShapeError as exc:
            raise self.error(str(exc), "padding") from None
        common = dict(in_ch=in_ch, out_ch=out, kernel=kernel, stride=stride, pad=pad, pad_tag=tag, bias=bias)
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
               bias=(not bn) if bias is None else bias, connections=connections)
        if bn:
            s.op("bn", "bn2d", ch=out)
        if act is not None:
            s.op("act", "act", fn=act)
        return s.close(attach=True, collapse=True)

    def activation(self, name: str, fn: str) -> Op:
        if fn not in ACTIVATIONS:  # pragma: no cover - validated by the field kind
            raise self.error(f"unknown activation {fn!r}")
        return self.op(name, "act", fn=fn)

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
    ) -> Node:
        """Attach ``post(body(x) + shortcut(x))``.

        ``shortcut`` is ``identity``, ``projection`` (1x1 convolution with the stride that
        matches the body, plus batch norm), ``auto`` (identity when the body keeps the shape,
        else projection), ``skip-auto`` (identity when it keeps the shape, else no skip at all),
        ``none`` (no skip) or a resolved node.
        """
        in_shape = self.shape
        mode = shortcut if isinstance(shortcut, str) else "custom"
        if mode == "auto":
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
        if sc.out_shape != body.out_shape:
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
            post_node = Op("post", "act", {"fn": post}, out_shape, out_shape, self.origin)
            self.resolver.count_op(self.loc, self.path)
        return self.add(Residual(name, body, sc, post_node, label, in_shape, out_shape, self.origin))

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

    def concat(self, name: str, label: str, branches: Sequence[Node]) -> Node:
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


__all__ = ["Overrides", "resolve", "resolved_settings", "settings_for", "Resolver", "Scope", "Expansion"]
