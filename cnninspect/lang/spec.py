"""Spec loading and validation: YAML text -> frozen :class:`Spec`.

This stage checks structure and literal values (unknown keys and layer types with
did-you-mean suggestions, field types, required fields, parameter references). Values that
depend on parameters (``$name``) and everything shape-related are checked when a spec is
resolved for concrete settings (``resolve.py``), still with file:line:column locations.
The format is documented in ``docs/spec-format.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from .. import limits
from ..errors import Location, SpecError, did_you_mean, one_of, shorten
from .fields import REQUIRED, Bool, Branches, Choice, Field, Float, Int, Kind, Layers, Shortcut, Str
from .layertypes import COMMON_KEYS, LAYER_TYPES, TYPE_ALIASES, LayerType
from .yamlsrc import YNode, load_yaml_file, parse_yaml

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SPEC_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
BUILTIN_PARAMS = ("width", "depth", "resolution")
# Attributes of torch.nn.Sequential: a layer (= submodule) of one of these names cannot be
# registered by the builder. Kept here so that loading a spec never imports torch; a test
# checks the list against the installed torch. Names starting with '_' are refused as well.
RESERVED_LAYER_NAMES = frozenset(
    """T_destination add_module append apply bfloat16 buffers call_super_init children compile
    cpu cuda double dump_patches eval extend extra_repr float forward get_buffer get_extra_state
    get_parameter get_submodule half insert ipu load_state_dict modules mtia named_buffers
    named_children named_modules named_parameters parameters pop register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad""".split()
)


@dataclass(frozen=True)
class ParamRef:
    """A ``$name`` reference to a spec parameter, resolved per variant."""

    name: str
    loc: Location


@dataclass(frozen=True)
class ParamDecl:
    """A declared parameter: its default, value kind and, for strings, the allowed choices."""

    name: str
    default: Any
    kind: Kind
    help: str
    loc: Location

    @property
    def type_name(self) -> str:
        if isinstance(self.kind, Bool):
            return "bool"
        if isinstance(self.kind, Int):
            return "int"
        if isinstance(self.kind, Float):
            return "float"
        return "str"


@dataclass(frozen=True)
class Variant:
    name: str
    values: Mapping[str, Any]
    description: str
    loc: Location
    value_locs: Mapping[str, Location]


@dataclass(frozen=True)
class LayerEntry:
    """One entry of a ``layers`` list, as written (before parameter substitution)."""

    type: str
    fields: Mapping[str, Any]
    field_locs: Mapping[str, Location]
    name: str | None
    repeat: int | ParamRef | None
    when: Mapping[str, tuple[Any, ...]] | None
    fixed: bool
    min_width: float | None
    paper: Mapping[str, Any]
    loc: Location
    path: str

    @property
    def layer_type(self) -> LayerType:
        return LAYER_TYPES[self.type]


@dataclass(frozen=True)
class Rounding:
    """How scaled channel counts are rounded.

    ``floor``: ``max(minimum, int(width * c))`` (MobileNet v1).
    ``divisor``: round to the nearest multiple of ``divisor`` (at least ``minimum`` or the
    divisor), then add one divisor if that fell more than ``1 - min_ratio`` below the target
    (EfficientNet, MobileNet v2; timm's ``make_divisible``).
    """

    rule: str = "floor"
    divisor: int = 8
    min_ratio: float = 0.9
    minimum: int | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    citation: Mapping[str, Any]
    source: str
    input_channels: int
    default_resolution: int
    params: Mapping[str, ParamDecl]
    variants: Mapping[str, Variant]
    default_variant: str | None
    rounding: Rounding
    padding_style: str
    layers: tuple[LayerEntry, ...]
    paper: Mapping[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    layers_loc: Location | None = None  # where the top-level 'layers' list starts


TOP_KEYS = (
    "name",
    "title",
    "citation",
    "input",
    "params",
    "channel_rounding",
    "padding_style",
    "default_variant",
    "variants",
    "layers",
    "paper",
    "notes",
)
REQUIRED_TOP = ("name", "input", "layers")


class _Ctx:
    """Per-file parsing state."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.params: dict[str, ParamDecl] = {}
        self.refs: list[tuple[ParamRef, Field, str]] = []


def load_spec(path: str | Path, *, label: str | None = None) -> Spec:
    """Load and validate the spec file at ``path``; errors are :class:`SpecError`."""
    name = label or str(path)
    return spec_from_node(load_yaml_file(path, label=name), name)


def spec_from_text(text: str, source: str = "<string>") -> Spec:
    return spec_from_node(parse_yaml(text, source), source)


def spec_from_node(root: YNode, source: str) -> Spec:
    if not root.is_map:
        raise SpecError(f"a spec must be a YAML mapping, got {root.kind_name()}", root.loc)
    items = root.items or {}
    _check_keys(items, root.key_locs, TOP_KEYS, "", root.loc)
    for key in REQUIRED_TOP:
        if key not in items:
            raise SpecError(f"missing required key '{key}'", root.loc)
    ctx = _Ctx(source)
    name = _scalar(items["name"], "name", Str())
    if not SPEC_NAME_RE.match(name):
        raise SpecError(
            "spec names use lower-case letters, digits, '_' and '-' (they are typed on the "
            f"command line), got {name!r}",
            items["name"].loc,
            "name",
        )
    title = _scalar(items["title"], "title", Str()) if "title" in items else name
    citation = _free_mapping(items.get("citation"), "citation")
    in_node = items["input"]
    _need_map(in_node, "input")
    _check_keys(in_node.items or {}, in_node.key_locs, ("channels", "resolution"), "input", in_node.loc)
    for key in ("channels", "resolution"):
        if key not in (in_node.items or {}):
            raise SpecError(f"missing required key '{key}'", in_node.loc, "input")
    channels = _scalar(in_node.items["channels"], "input.channels", Int(1, limits.MAX_CHANNELS))
    resolution = _scalar(in_node.items["resolution"], "input.resolution", Int(1, limits.MAX_RESOLUTION))

    _parse_params(ctx, items.get("params"), resolution)
    rounding = _parse_rounding(items.get("channel_rounding"))
    padding_style = "torch"
    if "padding_style" in items:
        padding_style = _scalar(items["padding_style"], "padding_style", Choice(("torch", "tf")))
    layers = _parse_layers(ctx, items["layers"], "layers")
    if not layers:
        raise SpecError("'layers' is empty; a model needs at least one layer", items["layers"].loc, "layers")
    variants = _parse_variants(ctx, items.get("variants"))
    default_variant = None
    if "default_variant" in items:
        node = items["default_variant"]
        if not node.is_scalar or node.value is None:
            raise SpecError(f"must be the name of a variant, got {node.kind_name()}", node.loc, "default_variant")
        default_variant = str(node.value)
        if default_variant not in variants:
            raise SpecError(
                f"{default_variant!r} is not one of the spec's variants "
                f"({one_of(variants) or 'none declared'}){did_you_mean(default_variant, variants)}",
                node.loc,
                "default_variant",
            )
    _check_refs(ctx, variants)
    paper = _free_mapping(items.get("paper"), "paper")
    notes: tuple[str, ...] = ()
    if "notes" in items:
        raw = items["notes"].to_python()
        notes = tuple(str(n) for n in raw) if isinstance(raw, list) else (str(raw),)
    return Spec(
        name=name,
        title=title,
        citation=citation,
        source=source,
        input_channels=channels,
        default_resolution=resolution,
        params=dict(ctx.params),
        variants=variants,
        default_variant=default_variant,
        rounding=rounding,
        padding_style=padding_style,
        layers=layers,
        paper=paper,
        notes=notes,
        layers_loc=items["layers"].loc,
    )


# --- helpers ----------------------------------------------------------------------------


def _check_keys(
    items: Mapping[str, YNode], key_locs: Mapping[str, Location], allowed: tuple[str, ...], path: str, loc: Location
) -> None:
    for key in items:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise SpecError(
                f"unknown key '{key}'{did_you_mean(key, allowed)}; allowed here: {', '.join(allowed)}",
                key_locs.get(key, loc),
                where,
            )


def _need_map(node: YNode, path: str) -> None:
    if not node.is_map:
        raise SpecError(f"must be a mapping, got {node.kind_name()}", node.loc, path)


def _scalar(node: YNode, path: str, kind: Kind) -> Any:
    if not node.is_scalar:
        raise SpecError(f"must be {kind.description}, got {node.kind_name()}", node.loc, path)
    try:
        return kind.coerce(node.value)
    except ValueError as exc:
        raise SpecError(str(exc), node.loc, path) from None


def _free_mapping(node: YNode | None, path: str) -> Mapping[str, Any]:
    if node is None:
        return {}
    _need_map(node, path)
    return node.to_python()


def _parse_params(ctx: _Ctx, node: YNode | None, resolution: int) -> None:
    ctx.params["width"] = ParamDecl(
        "width", 1.0, Float(0, limits.MAX_WIDTH_MULT, low_open=True), "width multiplier (channels)", Location(ctx.source)
    )
    ctx.params["depth"] = ParamDecl(
        "depth", 1.0, Float(0, limits.MAX_DEPTH_MULT, low_open=True), "depth multiplier (repeats)", Location(ctx.source)
    )
    ctx.params["resolution"] = ParamDecl(
        "resolution", resolution, Int(1, limits.MAX_RESOLUTION), "input resolution (pixels)", Location(ctx.source)
    )
    if node is None:
        return
    _need_map(node, "params")
    for key, value in (node.items or {}).items():
        path = f"params.{key}"
        kloc = node.key_locs[key]
        if not NAME_RE.match(key):
            raise SpecError("parameter names must be identifiers (letters, digits, '_')", kloc, path)
        if key == "resolution":
            raise SpecError("set the default resolution in input.resolution", kloc, path)
        help_text = ""
        choices: tuple[str, ...] | None = None
        if value.is_map:
            vitems = value.items or {}
            _check_keys(vitems, value.key_locs, ("default", "choices", "help"), path, value.loc)
            if "default" not in vitems:
                raise SpecError("missing required key 'default'", value.loc, path)
            default_node = vitems["default"]
            if "help" in vitems:
                help_text = _scalar(vitems["help"], f"{path}.help", Str())
            if "choices" in vitems:
                cn = vitems["choices"]
                if not cn.is_seq or not cn.seq or not all(c.is_scalar for c in cn.seq):
                    raise SpecError("must be a list of values", cn.loc, f"{path}.choices")
                choices = tuple(str(c.value) for c in cn.seq)
        else:
            default_node = value
        if not default_node.is_scalar or default_node.value is None:
            raise SpecError(
                "a parameter default must be a number, a string or true/false",
                default_node.loc,
                path,
            )
        default = default_node.value
        kind: Kind
        if key in ("width", "depth"):
            kind = ctx.params[key].kind
            default = _scalar(default_node, path, kind)
        elif isinstance(default, bool):
            kind = Bool()
        elif isinstance(default, int):
            kind = Int(-limits.MAX_INT_FIELD, limits.MAX_INT_FIELD, what="an integer")
        elif isinstance(default, float):
            kind = Float(-1e9, 1e9, what="a number")
        else:
            kind = Choice(choices) if choices else Str()
            default = str(default)
            if choices and default not in choices:
                raise SpecError(f"default {default!r} is not one of the choices", default_node.loc, path)
        ctx.params[key] = ParamDecl(key, default, kind, help_text or ctx.params.get(key, _NO).help, kloc)


class _NoDecl:
    help = ""


_NO = _NoDecl()


def _parse_rounding(node: YNode | None) -> Rounding:
    if node is None:
        return Rounding()
    _need_map(node, "channel_rounding")
    items = node.items or {}
    _check_keys(items, node.key_locs, ("rule", "divisor", "min_ratio", "minimum"), "channel_rounding", node.loc)
    rule = "floor"
    if "rule" in items:
        rule = _scalar(items["rule"], "channel_rounding.rule", Choice(("floor", "divisor")))
    divisor = _scalar(items["divisor"], "channel_rounding.divisor", Int(1, 1024)) if "divisor" in items else 8
    min_ratio = (
        _scalar(items["min_ratio"], "channel_rounding.min_ratio", Float(0, 1, low_open=True))
        if "min_ratio" in items
        else 0.9
    )
    minimum = (
        _scalar(items["minimum"], "channel_rounding.minimum", Int(1, limits.MAX_CHANNELS)) if "minimum" in items else None
    )
    return Rounding(rule, divisor, min_ratio, minimum)


def _parse_variants(ctx: _Ctx, node: YNode | None) -> dict[str, Variant]:
    if node is None:
        return {}
    _need_map(node, "variants")
    out: dict[str, Variant] = {}
    for vname, vnode in (node.items or {}).items():
        path = f"variants.{vname}"
        vloc = node.key_locs[vname]
        if not SPEC_NAME_RE.match(vname):
            raise SpecError(
                "variant names use lower-case letters, digits, '_' and '-'", vloc, path
            )
        if vnode.is_scalar and vnode.value is None:
            out[vname] = Variant(vname, {}, "", vloc, {})
            continue
        _need_map(vnode, path)
        values: dict[str, Any] = {}
        locs: dict[str, Location] = {}
        description = ""
        for key, valnode in (vnode.items or {}).items():
            kloc = vnode.key_locs[key]
            if key == "description":
                description = _scalar(valnode, f"{path}.description", Str())
                continue
            if key not in ctx.params:
                raise SpecError(
                    f"variant sets unknown parameter '{key}'{did_you_mean(key, ctx.params)}; "
                    f"declared parameters: {one_of(ctx.params)}",
                    kloc,
                    f"{path}.{key}",
                )
            decl = ctx.params[key]
            values[key] = _scalar(valnode, f"{path}.{key}", decl.kind)
            locs[key] = valnode.loc
        out[vname] = Variant(vname, values, description, vloc, locs)
    return out


def _parse_layers(ctx: _Ctx, node: YNode, path: str) -> tuple[LayerEntry, ...]:
    if not node.is_seq:
        raise SpecError(f"must be a list of layers, got {node.kind_name()}", node.loc, path)
    return tuple(_parse_entry(ctx, item, f"{path}[{i}]") for i, item in enumerate(node.seq or ()))


def _lookup_type(key: str) -> str | None:
    if key in LAYER_TYPES:
        return key
    return TYPE_ALIASES.get(key)


def _parse_entry(ctx: _Ctx, node: YNode, path: str) -> LayerEntry:
    all_type_names = list(LAYER_TYPES) + list(TYPE_ALIASES)
    if node.is_scalar:
        if not isinstance(node.value, str):
            raise SpecError(f"a layer must be a mapping like '- conv: {{...}}', got {node.kind_name()}", node.loc, path)
        tname = _lookup_type(node.value)
        if tname is None:
            raise SpecError(
                f"unknown layer type '{node.value}'{did_you_mean(node.value, all_type_names)}; "
                "see 'cnninspect layer-types'",
                node.loc,
                path,
            )
        return _entry_fields(ctx, tname, None, node, {}, node.loc, path)
    if not node.is_map:
        raise SpecError(f"a layer must be a mapping like '- conv: {{...}}', got {node.kind_name()}", node.loc, path)
    items = node.items or {}
    type_keys = [k for k in items if _lookup_type(k) is not None]
    if not type_keys:
        unknown = [k for k in items if k not in COMMON_KEYS]
        if unknown:
            k = unknown[0]
            raise SpecError(
                f"unknown layer type '{k}'{did_you_mean(k, all_type_names + list(COMMON_KEYS))}; "
                "see 'cnninspect layer-types'",
                node.key_locs[k],
                path,
            )
        raise SpecError("entry has no layer type (e.g. '- conv: {out: 32, kernel: 3}')", node.loc, path)
    if len(type_keys) > 1:
        raise SpecError(
            f"entry names two layer types ({', '.join(type_keys)}); put each in its own list item",
            node.key_locs[type_keys[1]],
            path,
        )
    tkey = type_keys[0]
    for key in items:
        if key != tkey and key not in COMMON_KEYS:
            raise SpecError(
                f"unknown key '{key}'{did_you_mean(key, COMMON_KEYS)}; an entry has one layer type "
                f"plus optional {', '.join(COMMON_KEYS)}",
                node.key_locs[key],
                f"{path}.{key}",
            )
    return _entry_fields(ctx, _lookup_type(tkey) or tkey, items[tkey], node, items, node.key_locs[tkey], path)


def _entry_fields(
    ctx: _Ctx,
    tname: str,
    body: YNode | None,
    node: YNode,
    items: Mapping[str, YNode],
    type_loc: Location,
    path: str,
) -> LayerEntry:
    lt = LAYER_TYPES[tname]
    tpath = f"{path}.{tname}"
    values: dict[str, Any] = {}
    locs: dict[str, Location] = {}
    fmap = {f.name: f for f in lt.fields}
    if body is not None and not (body.is_scalar and body.value is None):
        if body.is_map:
            for key, vnode in (body.items or {}).items():
                if key not in fmap:
                    allowed = ", ".join(fmap) or "none"
                    raise SpecError(
                        f"'{tname}' has no field '{key}'{did_you_mean(key, fmap)}; its fields: {allowed}",
                        body.key_locs[key],
                        f"{tpath}.{key}",
                    )
                values[key] = _field_value(ctx, fmap[key], vnode, f"{tpath}.{key}")
                locs[key] = vnode.loc
        elif lt.primary is not None:
            f = fmap[lt.primary]
            values[f.name] = _field_value(ctx, f, body, f"{tpath}.{f.name}")
            locs[f.name] = body.loc
        else:
            raise SpecError(
                f"'{tname}' takes a mapping of fields ({', '.join(fmap) or 'none'}), got {body.kind_name()}",
                body.loc,
                tpath,
            )
    for f in lt.fields:
        if f.required and f.name not in values:
            raise SpecError(f"missing required field '{f.name}' ({f.kind.description})", type_loc, tpath)
    name = None
    if "name" in items:
        name = _scalar(items["name"], f"{path}.name", Str())
        if not NAME_RE.match(name):
            raise SpecError(
                "layer names must be identifiers (letters, digits, '_'; not starting with a digit)",
                items["name"].loc,
                f"{path}.name",
            )
        if name.startswith("_") or name in RESERVED_LAYER_NAMES:
            raise SpecError(
                f"the layer name '{name}' is reserved (PyTorch modules use it for their own "
                "attributes); choose another name",
                items["name"].loc,
                f"{path}.name",
            )
    repeat: int | ParamRef | None = None
    if "repeat" in items:
        repeat = _ref_or(ctx, items["repeat"], f"{path}.repeat", Field("repeat", Int(1, limits.MAX_REPEAT)))
    when = None
    if "when" in items:
        when = _parse_when(ctx, items["when"], f"{path}.when")
    fixed = False
    if "fixed" in items:
        fixed = _scalar(items["fixed"], f"{path}.fixed", Bool())
    min_width = None
    if "min_width" in items:
        min_width = _scalar(items["min_width"], f"{path}.min_width", Float(0, limits.MAX_WIDTH_MULT, low_open=True))
    paper = _free_mapping(items.get("paper"), f"{path}.paper")
    return LayerEntry(
        type=tname,
        fields=values,
        field_locs=locs,
        name=name,
        repeat=repeat,
        when=when,
        fixed=fixed,
        min_width=min_width,
        paper=paper,
        loc=node.loc,
        path=path,
    )


def _field_value(ctx: _Ctx, f: Field, node: YNode, path: str) -> Any:
    if isinstance(f.kind, Layers):
        layers = _parse_layers(ctx, node, path)
        if not layers:
            raise SpecError("the list is empty; it needs at least one layer", node.loc, path)
        return layers
    if isinstance(f.kind, Branches):
        if not node.is_seq or not node.seq:
            raise SpecError("must be a list of branches, each a list of layers", node.loc, path)
        branches = []
        for i, b in enumerate(node.seq):
            layers = _parse_layers(ctx, b, f"{path}[{i}]")
            if not layers:
                raise SpecError("a branch needs at least one layer", b.loc, f"{path}[{i}]")
            branches.append(layers)
        return tuple(branches)
    if isinstance(f.kind, Shortcut) and node.is_seq:
        layers = _parse_layers(ctx, node, path)
        if not layers:
            raise SpecError("a shortcut list needs at least one layer", node.loc, path)
        return layers
    return _ref_or(ctx, node, path, f)


def _ref_or(ctx: _Ctx, node: YNode, path: str, f: Field) -> Any:
    if node.is_scalar and isinstance(node.value, str) and node.value.startswith("$"):
        pname = node.value[1:]
        if pname not in ctx.params:
            raise SpecError(
                f"unknown parameter '${pname}'{did_you_mean(pname, ctx.params)}; declared: "
                f"{one_of(ctx.params)}",
                node.loc,
                path,
            )
        ref = ParamRef(pname, node.loc)
        ctx.refs.append((ref, f, path))
        return ref
    if node.is_map:
        raise SpecError(f"must be {f.kind.description}, got a mapping", node.loc, path)
    try:
        return f.kind.coerce(node.to_python())
    except ValueError as exc:
        raise SpecError(str(exc), node.loc, path) from None


def _parse_when(ctx: _Ctx, node: YNode, path: str) -> Mapping[str, tuple[Any, ...]]:
    if not node.is_map or not node.items:
        raise SpecError("must be a mapping of parameter: value (e.g. {aux: true})", node.loc, path)
    out: dict[str, tuple[Any, ...]] = {}
    for key, vnode in node.items.items():
        if key not in ctx.params:
            raise SpecError(
                f"unknown parameter '{key}'{did_you_mean(key, ctx.params)}; declared: {one_of(ctx.params)}",
                node.key_locs[key],
                f"{path}.{key}",
            )
        decl = ctx.params[key]
        raw = vnode.seq if vnode.is_seq else (vnode,)
        if not raw:
            raise SpecError("lists no values, so the layer would never be used", vnode.loc, f"{path}.{key}")
        vals = []
        for v in raw:
            vals.append(_scalar(v, f"{path}.{key}", decl.kind))
        out[key] = tuple(vals)
    return out


def _check_refs(ctx: _Ctx, variants: Mapping[str, Variant]) -> None:
    """Check every ``$param`` use against the default and each variant's value."""
    for ref, f, path in ctx.refs:
        decl = ctx.params[ref.name]
        candidates = [("its default", decl.default, decl.loc)]
        for v in variants.values():
            if ref.name in v.values:
                candidates.append((f"variant '{v.name}'", v.values[ref.name], v.value_locs[ref.name]))
        for who, value, vloc in candidates:
            try:
                f.kind.coerce(value)
            except ValueError as exc:
                where = f", line {vloc.line}" if vloc.line is not None else ""
                raise SpecError(
                    f"${ref.name} = {shorten(repr(value))} ({who}{where}): {exc}", ref.loc, path
                ) from None


def field_default(f: Field) -> Any:
    return None if f.default is REQUIRED else f.default
