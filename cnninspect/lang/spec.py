"""Spec loading and validation: YAML text -> frozen :class:`Spec`.

This stage composes the files a spec extends or includes (``compose.py``), then checks
structure and literal values: unknown keys and layer types with did-you-mean suggestions,
field types, required fields, user-defined blocks and their parameters, tables, and every
expression (syntax, names, and the value it gives for the default and each variant where it
depends on spec parameters only). Values that depend on a block's arguments, on ``$in`` or
``$index``, and everything shape-related are checked when a spec is resolved for concrete
settings (``resolve.py``), still with file:line:column locations. The format is documented
in ``docs/spec-format.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator, Mapping

from .. import limits
from ..errors import Location, SpecError, did_you_mean, one_of, shorten
from .compose import compose
from .expr import BUILTIN_NAMES, Computed, Expr, ExprError, is_expression, parse
from .fields import ANY, REQUIRED, Bool, Branches, Choice, Field, Float, Int, Kind, Layers, LoopName, Shortcut, Str
from .layertypes import COMMON_KEYS, LAYER_TYPES, TYPE_ALIASES, LayerType
from .yamlsrc import YNode, load_yaml_file, parse_yaml, require_document

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
TABLE_KEY = "table"
TABLE_KEYS = ("type", "columns", "rows", "fields")
BLOCK_KEYS = ("params", "layers", "help", "label")
BLOCK_PARAM_KEYS = ("default", "help", "channels")
# a value in one of these is a literal (or, with '$', an expression); never layers
Value = Any


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
    """One entry of a ``layers`` list, as written (before parameter substitution).

    Field values are literals already validated by their kind, or :class:`Computed` values
    holding expressions. ``call`` marks an entry that uses a user-defined block (its
    ``fields`` are the block's arguments); ``when`` is a mapping of parameter -> allowed
    values or a condition expression.
    """

    type: str
    fields: Mapping[str, Any]
    field_locs: Mapping[str, Location]
    name: str | None
    repeat: int | Computed | None
    when: Mapping[str, tuple[Any, ...]] | Computed | None
    fixed: bool
    min_width: float | None
    paper: Mapping[str, Any]
    loc: Location
    path: str
    call: bool = False

    @property
    def layer_type(self) -> LayerType:
        return LAYER_TYPES[self.type]


@dataclass(frozen=True)
class BlockParam:
    """A parameter of a user-defined block. ``channels``: a channel count, width-scaled and
    rounded once, at the call (the block's layers then use it as it is)."""

    name: str
    default: Any  # REQUIRED, a literal or a Computed (evaluated at the call, with $in)
    help: str
    channels: bool
    loc: Location

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class BlockDef:
    """A user-defined, parameterised block: used like a layer type (``- fire: {...}``)."""

    name: str
    help: str
    params: Mapping[str, BlockParam]
    layers: tuple[LayerEntry, ...]
    label: str
    loc: Location

    def label_for(self, args: Mapping[str, Any]) -> str:
        """The label with ``{param}`` replaced by the call's values (``Fire 16/64``)."""
        return re.sub(r"\{(\w+)\}", lambda m: _fmt(args.get(m.group(1), m.group(0))), self.label)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    return str(value)


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
    blocks: Mapping[str, BlockDef] = field(default_factory=dict)


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
    "blocks",
    "layers",
    "paper",
    "notes",
    "extends",
    "include",
)
REQUIRED_TOP = ("name", "input", "layers")


class _Ctx:
    """Per-spec parsing state. ``block`` is the block whose layers are being read (its
    parameters are names too)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.params: dict[str, ParamDecl] = {}
        self.block_names: dict[str, Location] = {}
        self.block: tuple[str, Mapping[str, BlockParam]] | None = None
        # computed values outside blocks, checked against the default and every variant
        self.computed: list[tuple[Computed, Field, str]] = []

        # names bound by an enclosing concat's 'each' (its 'as' name and NAME_index)
        self.loop_names: list[str] = []

    def names(self) -> set[str]:
        own = set(self.block[1]) if self.block else set()
        return set(self.params) | own | set(BUILTIN_NAMES) | set(self.loop_names)


def load_spec(path: str | Path, *, label: str | None = None) -> Spec:
    """Load and validate the spec file at ``path`` (and the files it extends or includes);
    errors are :class:`SpecError`."""
    name = label or str(path)
    return spec_from_node(load_yaml_file(path, label=name), name, Path(path).resolve().parent)


def spec_from_text(text: str, source: str = "<string>", base_dir: str | Path | None = None) -> Spec:
    """A spec from YAML text; ``extends``/``include`` paths are relative to ``base_dir``
    (default: the working directory)."""
    return spec_from_node(parse_yaml(text, source), source, Path(base_dir or Path.cwd()))


def spec_from_node(root: YNode, source: str, base_dir: Path | None = None) -> Spec:
    require_document(root, TOP_KEYS, "a spec")
    _check_keys(root.items or {}, root.key_locs, TOP_KEYS, "", root.loc)
    root = compose(root, source, base_dir or Path.cwd(), TOP_KEYS)
    items = root.items or {}
    _check_keys(items, root.key_locs, TOP_KEYS, "", root.loc)  # what the files extended brought
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
    blocks = _parse_blocks(ctx, items.get("blocks"))
    layers = _parse_layers(ctx, items["layers"], "layers")
    if not layers:
        raise SpecError("'layers' is empty; a model needs at least one layer", items["layers"].loc, "layers")
    for entries in (layers, *(b.layers for b in blocks.values())):
        _check_calls(blocks, entries)
    _refuse_deep_nesting(blocks, layers)
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
    _check_computed(ctx, variants)
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
        blocks=blocks,
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
        if key in BUILTIN_NAMES:
            raise SpecError(f"'${key}' is built in (see docs/spec-format.md); choose another name", kloc, path)
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


# --- blocks -------------------------------------------------------------------------------


def _parse_blocks(ctx: _Ctx, node: YNode | None) -> dict[str, BlockDef]:
    if node is None:
        return {}
    if not node.is_map:
        raise SpecError(f"must be a mapping of block definitions, got {node.kind_name()}", node.loc, "blocks")
    items = node.items or {}
    all_types = list(LAYER_TYPES) + list(TYPE_ALIASES)
    for bname in items:
        kloc = node.key_locs[bname]
        if not NAME_RE.match(bname):
            raise SpecError("block names must be identifiers (letters, digits, '_')", kloc, f"blocks.{bname}")
        if bname in all_types or bname in COMMON_KEYS or bname == TABLE_KEY:
            raise SpecError(f"'{bname}' is a built-in name; choose another block name", kloc, f"blocks.{bname}")
        ctx.block_names[bname] = kloc
    blocks = {bname: _parse_block(ctx, bname, bnode, node.key_locs[bname]) for bname, bnode in items.items()}
    _refuse_recursion(blocks)
    return blocks


def _parse_block(ctx: _Ctx, bname: str, node: YNode, kloc: Location) -> BlockDef:
    path = f"blocks.{bname}"
    _need_map(node, path)
    items = node.items or {}
    _check_keys(items, node.key_locs, BLOCK_KEYS, path, node.loc)
    if "layers" not in items:
        raise SpecError("missing required key 'layers'", node.loc, path)
    params = _parse_block_params(ctx, items.get("params"), f"{path}.params")
    help_text = _scalar(items["help"], f"{path}.help", Str()) if "help" in items else ""
    label = _scalar(items["label"], f"{path}.label", Str()) if "label" in items else bname
    for m in re.finditer(r"\{(\w+)\}", label):
        if m.group(1) not in params:
            raise SpecError(
                f"the label names '{{{m.group(1)}}}', which is not a parameter of the block", items["label"].loc,
                f"{path}.label",
            )
    outer, ctx.block = ctx.block, (bname, params)
    try:
        layers = _parse_layers(ctx, items["layers"], f"{path}.layers")
    finally:
        ctx.block = outer
    if not layers:
        raise SpecError("the list is empty; a block needs at least one layer", items["layers"].loc, f"{path}.layers")
    return BlockDef(bname, help_text, params, layers, label, kloc)


def _parse_block_params(ctx: _Ctx, node: YNode | None, path: str) -> dict[str, BlockParam]:
    if node is None:
        return {}
    out: dict[str, BlockParam] = {}
    if node.is_seq:  # params: [squeeze, expand] - all required
        for i, item in enumerate(node.seq or ()):
            if not item.is_scalar or not isinstance(item.value, str):
                raise SpecError(f"must be a parameter name, got {item.kind_name()}", item.loc, f"{path}[{i}]")
            _check_block_param_name(item.value, item.loc, f"{path}[{i}]", out)
            out[item.value] = BlockParam(item.value, REQUIRED, "", False, item.loc)
        return out
    if not node.is_map:
        raise SpecError(f"must be a list of names or a mapping of parameters, got {node.kind_name()}", node.loc, path)
    for key, value in (node.items or {}).items():
        kloc = node.key_locs[key]
        ppath = f"{path}.{key}"
        _check_block_param_name(key, kloc, ppath, out)
        default: Any = REQUIRED
        help_text = ""
        channels = False
        if value.is_map:
            vitems = value.items or {}
            _check_keys(vitems, value.key_locs, BLOCK_PARAM_KEYS, ppath, value.loc)
            if "default" in vitems:
                default = _literal_or_computed(ctx, vitems["default"], f"{ppath}.default", check_names=False)
            if "help" in vitems:
                help_text = _scalar(vitems["help"], f"{ppath}.help", Str())
            if "channels" in vitems:
                channels = _scalar(vitems["channels"], f"{ppath}.channels", Bool())
        elif not (value.is_scalar and value.value is None):
            default = _literal_or_computed(ctx, value, ppath, check_names=False)
        out[key] = BlockParam(key, default, help_text, channels, kloc)
    for p in out.values():  # a default may use $in, spec parameters and earlier parameters
        if isinstance(p.default, Computed):
            earlier = set(list(out)[: list(out).index(p.name)])
            _check_names(p.default, set(ctx.params) | set(BUILTIN_NAMES) | earlier, f"{path}.{p.name}")
    return out


def _check_block_param_name(name: str, loc: Location, path: str, seen: Mapping[str, Any]) -> None:
    if not NAME_RE.match(name):
        raise SpecError("parameter names must be identifiers (letters, digits, '_')", loc, path)
    if name in BUILTIN_NAMES:
        raise SpecError(f"'${name}' is built in; choose another parameter name", loc, path)
    if name in seen:
        raise SpecError(f"parameter '{name}' is declared twice", loc, path)


def _calls(entries: tuple[LayerEntry, ...]) -> Iterator[LayerEntry]:
    """Every block call in ``entries``, nested lists included."""
    for e in entries:
        if e.call:
            yield e
        for value in e.fields.values():
            for nested in nested_lists(value):
                yield from _calls(nested)


def nested_lists(value: Any) -> Iterator[tuple[LayerEntry, ...]]:
    """The lists of layer entries inside a field's value (a container's layers or branches)."""
    if isinstance(value, tuple) and value and all(isinstance(v, LayerEntry) for v in value):
        yield value
    elif isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        for v in value:
            yield from nested_lists(v)


def _check_calls(blocks: Mapping[str, BlockDef], entries: tuple[LayerEntry, ...]) -> None:
    """Every call names parameters of its block and gives the required ones."""
    for call in _calls(entries):
        params = blocks[call.type].params
        for arg in call.fields:
            if arg not in params:
                raise SpecError(
                    f"block '{call.type}' has no parameter '{arg}'{did_you_mean(arg, params)}; its parameters: "
                    f"{', '.join(params) or 'none'}",
                    call.field_locs[arg],
                    f"{call.path}.{call.type}.{arg}",
                )
        missing = [p.name for p in params.values() if p.required and p.name not in call.fields]
        if missing:
            raise SpecError(f"missing required argument '{missing[0]}' of block '{call.type}'", call.loc,
                            f"{call.path}.{call.type}")


def _refuse_recursion(blocks: Mapping[str, BlockDef]) -> None:
    """A block that uses itself, directly or through others, never ends expanding."""
    block_order(blocks)


def block_order(blocks: Mapping[str, BlockDef]) -> list[str]:
    """The block names, each after every block it calls (a depth-first walk of the call
    graph without recursion, so a chain of thousands of blocks is walked too); a block that
    uses itself, directly or through others, is refused with the cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in blocks:
        if start in state:
            continue
        state[start] = 1
        stack: list[tuple[str, Iterator[LayerEntry]]] = [(start, _calls(blocks[start].layers))]
        while stack:
            name, calls = stack[-1]
            for call in calls:
                if state.get(call.type) == 1:
                    cycle = " -> ".join([n for n, _ in stack] + [call.type])
                    raise SpecError(f"block '{call.type}' uses itself ({cycle}); blocks cannot recurse", call.loc,
                                    call.path)
                if call.type not in state:
                    state[call.type] = 1
                    stack.append((call.type, _calls(blocks[call.type].layers)))
                    break
            else:
                stack.pop()
                state[name] = 2
                order.append(name)
    return order


def _nesting(entries: tuple[LayerEntry, ...], depth: Mapping[str, int]) -> int:
    """How many levels ``entries`` expand into: one per list, block call and container."""
    levels = 0
    for e in entries:
        inner = depth[e.type] if e.call else max(
            (_nesting(n, depth) for v in e.fields.values() for n in nested_lists(v)), default=0)
        levels = max(levels, 1 + inner)
    return levels


def _refuse_deep_nesting(blocks: Mapping[str, BlockDef], layers: tuple[LayerEntry, ...]) -> None:
    """Blocks calling blocks (and containers inside them) nest at most
    :data:`~cnninspect.limits.MAX_NESTING` levels: every level is a level of the model's tree
    that resolution, analysis and rendering walk."""
    depth: dict[str, int] = {}
    for name in block_order(blocks):
        depth[name] = _nesting(blocks[name].layers, depth)
    for e in layers:
        levels = _nesting((e,), depth)
        if levels > limits.MAX_NESTING:
            chain = [e.type] if e.call else []
            while chain and len(chain) < 4:
                deeper = [c.type for c in _calls(blocks[chain[-1]].layers) if depth[c.type] == depth[chain[-1]] - 1]
                if not deeper:
                    break
                chain.append(deeper[0])
            via = f" (block {' -> '.join(chain)} -> ...)" if chain else ""
            raise SpecError(f"this layer nests {levels:,} levels deep{via}; the limit is {limits.MAX_NESTING}",
                            e.loc, e.path)


# --- layers -------------------------------------------------------------------------------


def _parse_layers(ctx: _Ctx, node: YNode, path: str) -> tuple[LayerEntry, ...]:
    if not node.is_seq:
        raise SpecError(f"must be a list of layers, got {node.kind_name()}", node.loc, path)
    out: list[LayerEntry] = []
    for i, item in enumerate(node.seq or ()):
        if item.is_map and TABLE_KEY in (item.items or {}):
            out.extend(_parse_table(ctx, item, f"{path}[{i}]"))
        else:
            out.append(_parse_entry(ctx, item, f"{path}[{i}]"))
    return tuple(out)


def _lookup_type(ctx: _Ctx, key: str) -> str | None:
    if key in LAYER_TYPES or key in ctx.block_names:
        return key
    return TYPE_ALIASES.get(key)


def _type_names(ctx: _Ctx) -> list[str]:
    return list(LAYER_TYPES) + list(TYPE_ALIASES) + list(ctx.block_names)


def _parse_entry(ctx: _Ctx, node: YNode, path: str) -> LayerEntry:
    if node.is_scalar:
        if not isinstance(node.value, str):
            raise SpecError(f"a layer must be a mapping like '- conv: {{...}}', got {node.kind_name()}", node.loc, path)
        tname = _lookup_type(ctx, node.value)
        if tname is None:
            raise SpecError(
                f"unknown layer type '{node.value}'{did_you_mean(node.value, _type_names(ctx))}; "
                "see 'cnninspect layer-types'",
                node.loc,
                path,
            )
        return _entry_fields(ctx, tname, None, node, {}, node.loc, path)
    if not node.is_map:
        raise SpecError(f"a layer must be a mapping like '- conv: {{...}}', got {node.kind_name()}", node.loc, path)
    items = node.items or {}
    type_keys = [k for k in items if _lookup_type(ctx, k) is not None]
    if not type_keys:
        unknown = [k for k in items if k not in COMMON_KEYS]
        if unknown:
            k = unknown[0]
            raise SpecError(
                f"unknown layer type '{k}'{did_you_mean(k, _type_names(ctx) + list(COMMON_KEYS))}; "
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
    _only_common_keys(node, tkey, "one layer type", path)
    return _entry_fields(ctx, _lookup_type(ctx, tkey) or tkey, items[tkey], node, items, node.key_locs[tkey], path)


def _only_common_keys(node: YNode, main: str, what: str, path: str) -> None:
    """Refuse any key of an entry besides ``main`` and the common keys."""
    for key in node.items or {}:
        if key != main and key not in COMMON_KEYS:
            raise SpecError(
                f"unknown key '{key}'{did_you_mean(key, COMMON_KEYS)}; an entry has {what} plus optional "
                f"{', '.join(COMMON_KEYS)}",
                node.key_locs[key],
                f"{path}.{key}",
            )


def _entry_fields(
    ctx: _Ctx,
    tname: str,
    body: YNode | None,
    node: YNode,
    items: Mapping[str, YNode],
    type_loc: Location,
    path: str,
) -> LayerEntry:
    call = tname not in LAYER_TYPES
    tpath = f"{path}.{tname}"
    values: dict[str, Any] = {}
    locs: dict[str, Location] = {}
    if call:
        fmap: dict[str, Field] | None = None
        primary = None
    else:
        lt = LAYER_TYPES[tname]
        fmap = {f.name: f for f in lt.fields}
        primary = lt.primary
    loop = _loop_names(fmap, body, tpath)
    ctx.loop_names.extend(loop)
    try:
        _read_fields(ctx, tname, body, fmap, primary, call, values, locs, tpath)
    finally:
        del ctx.loop_names[len(ctx.loop_names) - len(loop):]
    if fmap is not None:
        for f in fmap.values():
            if f.required and f.name not in values:
                raise SpecError(f"missing required field '{f.name}' ({f.kind.description})", type_loc, tpath)
    name = None
    if "name" in items:
        name = _scalar(items["name"], f"{path}.name", Str())
        _check_layer_name(name, items["name"].loc, f"{path}.name")
    repeat: int | Computed | None = None
    if "repeat" in items:
        repeat = _field_value(ctx, Field("repeat", Int(1, limits.MAX_REPEAT)), items["repeat"], f"{path}.repeat")
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
        call=call,
    )


def _loop_names(fmap: Mapping[str, Field] | None, body: YNode | None, path: str) -> list[str]:
    """The names a field of kind :class:`LoopName` binds for the entry's nested layers
    (``as: k``: ``k`` and ``k_index``; the field's default when not written)."""
    out: list[str] = []
    for f in (fmap or {}).values():
        if isinstance(f.kind, LoopName):
            name = f.default
            if body is not None and body.is_map and f.name in (body.items or {}):
                name = _scalar((body.items or {})[f.name], f"{path}.{f.name}", f.kind)
            out += [name, f"{name}_index"]
    return out


def _read_fields(
    ctx: _Ctx,
    tname: str,
    body: YNode | None,
    fmap: Mapping[str, Field] | None,
    primary: str | None,
    call: bool,
    values: dict[str, Any],
    locs: dict[str, Location],
    tpath: str,
) -> None:
    """The fields of an entry's body (a mapping, or the primary field's value) into ``values``."""
    if body is not None and not (body.is_scalar and body.value is None):
        if body.is_map:
            for key, vnode in (body.items or {}).items():
                if fmap is not None and key not in fmap:
                    allowed = ", ".join(fmap) or "none"
                    raise SpecError(
                        f"'{tname}' has no field '{key}'{did_you_mean(key, fmap)}; its fields: {allowed}",
                        body.key_locs[key],
                        f"{tpath}.{key}",
                    )
                f = fmap[key] if fmap is not None else Field(key, ANY)
                values[key] = _field_value(ctx, f, vnode, f"{tpath}.{key}")
                locs[key] = vnode.loc
        elif primary is not None and fmap is not None:
            f = fmap[primary]
            values[f.name] = _field_value(ctx, f, body, f"{tpath}.{f.name}")
            locs[f.name] = body.loc
        else:
            what = "arguments (its parameters)" if call else f"fields ({', '.join(fmap or {}) or 'none'})"
            raise SpecError(f"'{tname}' takes a mapping of {what}, got {body.kind_name()}", body.loc, tpath)


def _check_layer_name(name: str, loc: Location, path: str) -> None:
    if not NAME_RE.match(name):
        raise SpecError("layer names must be identifiers (letters, digits, '_'; not starting with a digit)", loc, path)
    if name.startswith("_") or name in RESERVED_LAYER_NAMES:
        raise SpecError(
            f"the layer name '{name}' is reserved (PyTorch modules use it for their own attributes); choose another name",
            loc,
            path,
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
    value = _literal_or_computed(ctx, node, path, kind=f.kind)
    if isinstance(value, Computed) and ctx.block is None:
        ctx.computed.append((value, f, path))
    return value


def _literal_or_computed(ctx: _Ctx, node: YNode, path: str, kind: Kind | None = None, check_names: bool = True) -> Any:
    """A field value: a literal validated by ``kind`` now, or a :class:`Computed` when it
    contains expressions (validated once their names have values)."""
    if node.is_map:
        raise SpecError(f"must be {kind.description if kind else 'a value'}, got a mapping", node.loc, path)
    template = _template(node, path)
    if _has_expr(template):
        computed = Computed(template, node.loc)
        if check_names:
            _check_names(computed, ctx.names(), path)
        return computed
    if kind is None:
        return node.to_python()
    try:
        return kind.coerce(node.to_python())
    except ValueError as exc:
        raise SpecError(str(exc), node.loc, path) from None


def _template(node: YNode, path: str) -> Any:
    if node.is_seq:
        return tuple(_template(v, f"{path}[{i}]") for i, v in enumerate(node.seq or ()))
    if node.is_map:
        raise SpecError("a mapping is not allowed inside this value", node.loc, path)
    if is_expression(node.value):
        try:
            return parse(node.value, node.text_loc)
        except ExprError as exc:
            loc = node.text_loc
            at = Location(loc.file, loc.line, loc.column + exc.offset) if loc.column is not None else loc
            raise SpecError(f"{exc} (in {shorten(node.value)!r})", at, path) from None
    return node.value


def _has_expr(template: Any) -> bool:
    if isinstance(template, Expr):
        return True
    return isinstance(template, tuple) and any(_has_expr(t) for t in template)


def _check_names(computed: Computed, known: set[str], path: str) -> None:
    for expr in computed.exprs():
        for name in sorted(expr.names):
            if name not in known:
                offset = _name_offset(expr.text, name)
                raise SpecError(
                    f"unknown parameter '${name}'{did_you_mean(name, known)}; declared: {one_of(known)}",
                    expr.at(offset),
                    path,
                )


def _name_offset(text: str, name: str) -> int:
    m = re.search(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", text)
    return m.start() if m else 0


def _parse_when(ctx: _Ctx, node: YNode, path: str) -> Mapping[str, tuple[Any, ...]] | Computed:
    if node.is_scalar and is_expression(node.value):
        computed = _literal_or_computed(ctx, node, path)
        if isinstance(computed, Computed):
            return computed
    if not node.is_map or not node.items:
        raise SpecError(
            "must be a mapping of parameter: value (e.g. {aux: true}) or a condition (e.g. \"$stride == 2\")",
            node.loc,
            path,
        )
    own = ctx.block[1] if ctx.block else {}
    out: dict[str, tuple[Any, ...]] = {}
    for key, vnode in node.items.items():
        if key not in ctx.params and key not in own:
            known = set(ctx.params) | set(own)
            raise SpecError(
                f"unknown parameter '{key}'{did_you_mean(key, known)}; declared: {one_of(known)}",
                node.key_locs[key],
                f"{path}.{key}",
            )
        raw = vnode.seq if vnode.is_seq else (vnode,)
        if not raw:
            raise SpecError("lists no values, so the layer would never be used", vnode.loc, f"{path}.{key}")
        kind: Kind = ctx.params[key].kind if key not in own else ANY
        out[key] = tuple(_scalar(v, f"{path}.{key}", kind) for v in raw)
    return out


# --- tables -------------------------------------------------------------------------------


def _parse_table(ctx: _Ctx, node: YNode, path: str) -> list[LayerEntry]:
    """A stage list as a table: one entry of ``type`` per row, its fields from ``columns``
    (plus ``repeat`` and ``name`` columns) and the shared ``fields``; named ``NAME1``,
    ``NAME2``, ... after the table's ``name``."""
    items = node.items or {}
    tpath = f"{path}.{TABLE_KEY}"
    _only_common_keys(node, TABLE_KEY, "'table'", path)
    if "repeat" in items:
        raise SpecError("a table repeats rows with a 'repeat' column, not a 'repeat' key", node.key_locs["repeat"],
                        f"{path}.repeat")
    table = items[TABLE_KEY]
    _need_map(table, tpath)
    titems = table.items or {}
    _check_keys(titems, table.key_locs, TABLE_KEYS, tpath, table.loc)
    for key in ("type", "columns", "rows"):
        if key not in titems:
            raise SpecError(f"missing required key '{key}'", table.loc, tpath)
    tnode = titems["type"]
    tname = _lookup_type(ctx, tnode.value) if tnode.is_scalar and isinstance(tnode.value, str) else None
    if tname is None:
        raise SpecError(
            f"unknown layer type {shorten(repr(tnode.value))}{did_you_mean(str(tnode.value), _type_names(ctx))}",
            tnode.loc,
            f"{tpath}.type",
        )
    cnode = titems["columns"]
    if not cnode.is_seq or not cnode.seq or not all(c.is_scalar and isinstance(c.value, str) for c in cnode.seq):
        raise SpecError("must be a list of field names", cnode.loc, f"{tpath}.columns")
    columns = [str(c.value) for c in cnode.seq]
    if len(set(columns)) != len(columns):
        raise SpecError("a column is named twice", cnode.loc, f"{tpath}.columns")
    shared = titems.get("fields")
    if shared is not None:
        _need_map(shared, f"{tpath}.fields")
        both = [c for c in columns if c in (shared.items or {})]
        if both:
            raise SpecError(f"'{both[0]}' is both a column and a shared field; keep one", shared.key_locs[both[0]],
                            f"{tpath}.fields.{both[0]}")
    rnode = titems["rows"]
    if not rnode.is_seq or not rnode.seq:
        raise SpecError("must be a non-empty list of rows", rnode.loc, f"{tpath}.rows")
    base_name = None
    if "name" in items:
        base_name = _scalar(items["name"], f"{path}.name", Str())
        _check_layer_name(base_name, items["name"].loc, f"{path}.name")
    out = []
    for r, row in enumerate(rnode.seq):
        rpath = f"{tpath}.rows[{r}]"
        if not row.is_seq or len(row.seq or ()) != len(columns):
            got = f"{len(row.seq or ())} values" if row.is_seq else row.kind_name()
            raise SpecError(f"a row needs {len(columns)} values ({', '.join(columns)}), got {got}", row.loc, rpath)
        cells = dict(zip(columns, row.seq or ()))
        body_items = dict(shared.items or {}) if shared is not None else {}
        body_locs = dict(shared.key_locs) if shared is not None else {}
        entry_items: dict[str, YNode] = {k: v for k, v in items.items() if k not in (TABLE_KEY, "name")}
        for col, cell in cells.items():
            if col in ("repeat", "name"):
                entry_items[col] = cell
            else:
                body_items[col] = cell
                body_locs[col] = cell.loc
        if "name" not in cells and base_name is not None:
            entry_items["name"] = YNode(row.loc, value=f"{base_name}{r + 1}")
        body = YNode(row.loc, items=body_items, key_locs=body_locs)
        out.append(_entry_fields(ctx, tname, body, row, entry_items, row.loc, rpath))
    return out


# --- expressions that depend only on spec parameters -------------------------------------------


def _check_computed(ctx: _Ctx, variants: Mapping[str, Variant]) -> None:
    """Evaluate every computed value outside blocks that needs spec parameters only, for the
    default and for each variant, and validate it with its field's kind."""
    for computed, f, path in ctx.computed:
        if not computed.names <= set(ctx.params):
            continue  # needs $in or $index: checked when resolved
        defaults = {name: decl.default for name, decl in ctx.params.items()}
        candidates = [("its default", defaults, None)]
        for v in variants.values():
            if computed.names & set(v.values):
                name = sorted(computed.names & set(v.values))[0]
                candidates.append((f"variant '{v.name}'", {**defaults, **v.values}, v.value_locs[name]))
        for who, values, vloc in candidates:
            where = f", line {vloc.line}" if vloc is not None and vloc.line is not None else ""
            try:
                value = computed.evaluate(values)
            except ExprError as exc:
                assert exc.expr is not None
                raise exc.expr.error(exc, path, prefix=f"{who}{where}: ") from None
            try:
                f.kind.coerce(value)
            except ValueError as exc:
                raise SpecError(f"{computed.text} = {shorten(repr(value))} ({who}{where}): {exc}",
                                computed.loc, path) from None


def field_default(f: Field) -> Any:
    return None if f.default is REQUIRED else f.default
