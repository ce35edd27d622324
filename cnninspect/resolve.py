"""Resolution: spec + variant + overrides -> a frozen, shape-annotated :class:`Model`.

Steps, in order, for each layer entry: evaluate ``when``; substitute ``$param`` values;
apply field defaults; scale channel fields by the width multiplier and round them with the
spec's rule (``fixed`` entries excepted); scale ``repeat`` by the depth multiplier
(``ceil(depth * n)``, strides only on the first repetition); expand the layer type into
primitive ops and containers; infer every shape. Every error names the spec file, line,
column and key path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from collections.abc import Mapping, Sequence

from . import limits
from .errors import Location, SpecError, UsageError, did_you_mean, one_of, shorten
from .expand import EXPANDERS
from .ir import Model, Node, Op, Origin, Seq, Settings
from .lang.fields import Field
from .lang.spec import LayerEntry, ParamRef, Spec, field_default
from .scaling import compound, round_channels, scale_repeat
from .scope import Expansion, Scope


@dataclass(frozen=True)
class Overrides:
    """Settings requested on top of a variant (command line or API)."""

    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    phi: float | None = None
    padding: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


def settings_for(spec: Spec, variant: str | None, overrides: Overrides | None = None) -> tuple[str | None, dict[str, Any]]:
    """Parameter values for a variant plus overrides; returns (variant name used, values)."""
    overrides = overrides or Overrides()
    if variant is None:
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
    for key, value in overrides.values.items():
        if key not in spec.params:
            raise UsageError(
                f"{spec.name} has no parameter '{key}'{did_you_mean(key, spec.params)}; "
                f"parameters: {one_of(spec.params)}"
            )
        try:
            values[key] = spec.params[key].kind.coerce(value)
        except ValueError as exc:
            raise UsageError(f"--set {key}: {exc}") from None
    if overrides.phi is not None:
        if any(v is not None for v in (overrides.width, overrides.depth, overrides.resolution)):
            raise UsageError("--phi sets width, depth and resolution together; drop --width/--depth/--resolution")
        if not -10.0 <= overrides.phi <= 20.0:
            raise UsageError(f"--phi must be between -10 and 20, got {overrides.phi:g}")
        for key, val in zip(("width", "depth", "resolution"), compound(overrides.phi, spec.default_resolution)):
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"--phi {overrides.phi:g} gives {key} {val:g}: {exc}") from None
    for key in ("width", "depth", "resolution"):
        val = getattr(overrides, key)
        if val is not None:
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"--{key}: {exc}") from None
    return variant, values


def resolve(spec: Spec, variant: str | None = None, overrides: Overrides | None = None) -> Model:
    """Resolve ``spec`` for a variant and overrides into a shape-annotated :class:`Model`."""
    overrides = overrides or Overrides()
    variant, values = settings_for(spec, variant, overrides)
    padding = overrides.padding or spec.padding_style
    if padding not in ("torch", "tf"):
        raise UsageError(f"--padding must be torch or tf, got {padding!r}")
    settings = Settings(
        width=float(values["width"]),
        depth=float(values["depth"]),
        resolution=int(values["resolution"]),
        padding=padding,
        values=MappingProxyType(dict(values)),
    )
    return Resolver(spec, settings).model(variant)


class Resolver:
    """Walks layer entries with the current settings, producing IR nodes."""

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
        expand = EXPANDERS[entry.type]
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
                expand(Expansion(self, scope, name, fields, width, stride_one))
            finally:
                scope.enter(*previous)
            return
        stage = scope.child(name, "", origin=origin, loc=entry.loc, path=entry.path)
        for i in range(repeat):
            first = i == 0 and not stride_one
            fi = fields if first else _stride_one(fields)
            expand(Expansion(self, stage, str(i), fi, width, not first))
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
        from .lang.fields import Int

        return Int(1, limits.MAX_REPEAT).coerce(value)


_REPEAT_KIND: Any = _RepeatKind()


def _stride_one(fields: dict[str, Any]) -> dict[str, Any]:
    if "stride" in fields and fields["stride"] not in (None, (1, 1)):
        fields = dict(fields)
        fields["stride"] = (1, 1)
    return fields


def _label(node: Node) -> str:
    return node.kind if isinstance(node, Op) else node.label


__all__ = ["Overrides", "resolve", "settings_for", "Resolver", "Scope", "Expansion"]
