"""The JSON Schema of the spec format, generated from the field registry.

Every layer type's fields come from :data:`~cnninspect.lang.layertypes.LAYER_TYPES` (their
kinds' :meth:`~cnninspect.lang.fields.Kind.json_schema`), so the schema cannot drift from
what the loader accepts; a test validates every bundled spec and the documentation's
examples with it, and checks which malformed specs it catches. ``cnninspect schema`` prints
it; the package ships the same text as ``cnninspect/lang/spec.schema.json`` (a test keeps
the file current), for editors: VS Code's YAML extension reads a first-line comment
``# yaml-language-server: $schema=PATH`` and then completes and checks specs as they are
typed, with each field's help as its description.

The schema is as strict as JSON Schema can be about a spec with no user-defined blocks
(unknown layer types and fields are errors there). In a spec that declares ``blocks`` or
uses ``include``/``extends``, an entry may also call a block the schema cannot know, so any
other name is accepted as a call. What needs evaluation (expressions, shapes, variants) is
left to ``cnninspect``, whose errors are located the same way.
"""

from __future__ import annotations

import json
from typing import Any

from ..base import limits
from .fields import EXPRESSION, Branches, Field, Layers, Schema, Shortcut
from .layertypes import COMMON_KEYS, LAYER_TYPES, TYPE_ALIASES
from .spec import BLOCK_PARAM_KEYS, NAME_RE, RESERVED_LAYER_NAMES, SPEC_NAME_RE, TABLE_KEY, TABLE_KEYS, TOP_KEYS

SCHEMA_ID = "https://cnninspect.invalid/spec.schema.json"
MODES = ("strict", "open")  # open: the spec may call user-defined blocks


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _layers_ref(mode: str) -> str:
    return f"#/$defs/layers_{mode}"


def _value(f: Field, mode: str) -> Schema:
    schema = f.kind.json_schema(_layers_ref(mode))
    if not isinstance(f.kind, Layers) and "$ref" not in schema:
        schema = {"anyOf": [schema, EXPRESSION]}
    description = f.help + (" (width-scaled channels)" if f.channels else "")
    default = _json_default(f.default) if not f.required else None
    out = {**schema, "description": description}
    if default is not None:
        out["default"] = default
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value if isinstance(value, (int, float, str, bool)) else None


def _common(mode: str) -> dict[str, Schema]:
    return {
        "name": {"type": "string", "pattern": NAME_RE.pattern, "not": {"anyOf": [
            {"pattern": "^_"}, {"enum": sorted(RESERVED_LAYER_NAMES)}]}, "description": "module name"},
        "repeat": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": limits.MAX_REPEAT}, EXPRESSION],
                   "description": "a stage of this many copies (depth-scaled); later copies stride 1"},
        "when": {"anyOf": [{"type": "object", "minProperties": 1, "additionalProperties": {
            "anyOf": [{"type": ["number", "string", "boolean"]}, {"type": "array", "minItems": 1}]}}, EXPRESSION],
                 "description": "only when parameters have these values, or a condition"},
        "fixed": {"type": "boolean", "description": "channels not width-scaled"},
        "min_width": {"type": "number", "exclusiveMinimum": 0, "description": "scale by max(width, this)"},
        "paper": {"type": "object", "description": "labels for --format paper"},
    }


def _fields_object(name: str, mode: str) -> Schema:
    lt = LAYER_TYPES[name]
    obj: Schema = {
        "type": "object",
        "properties": {f.name: _value(f, mode) for f in lt.fields},
        "additionalProperties": False,
    }
    required = [f.name for f in lt.fields if f.required]
    if required:
        obj["required"] = required
    options: list[Schema] = [obj]
    if not required:
        options.append({"type": "null"})
    if lt.primary is not None:
        options.append(_value({f.name: f for f in lt.fields}[lt.primary], mode))
    return {"anyOf": options, "description": lt.help} if len(options) > 1 else {**obj, "description": lt.help}


def _nested(name: str) -> bool:
    """Does the type hold layer lists (whose entries depend on the mode)?"""
    return any(isinstance(f.kind, (Layers, Branches, Shortcut)) for f in LAYER_TYPES[name].fields)


def _suffix(name: str, mode: str) -> str:
    return f"_{mode}" if _nested(name) else ""


def _entry(key: str, name: str, mode: str) -> Schema:
    return {
        "type": "object",
        "properties": {key: _ref(f"fields_{name}{_suffix(name, mode)}"), **_common(mode)},
        "required": [key],
        "additionalProperties": False,
    }


def _table(mode: str) -> Schema:
    table = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": "the layer type or block of every row"},
            "columns": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}},
            "rows": {"type": "array", "minItems": 1, "items": {"type": "array"}},
            "fields": {"type": "object", "description": "values shared by every row"},
        },
        "required": ["type", "columns", "rows"],
        "additionalProperties": False,
    }
    assert set(table["properties"]) == set(TABLE_KEYS)
    common = {k: v for k, v in _common(mode).items() if k != "repeat"}
    return {
        "type": "object",
        "properties": {TABLE_KEY: table, **common},
        "required": [TABLE_KEY],
        "additionalProperties": False,
        "description": "a stage list as a table: one entry per row",
    }


def _type_keys() -> list[str]:
    return [*LAYER_TYPES, *TYPE_ALIASES]


def _block_call(mode: str) -> Schema:
    return {
        "type": "object",
        "description": "a call of a user-defined block: its name, then its arguments",
        "propertyNames": {"not": {"enum": [*_type_keys(), TABLE_KEY]}},
        "not": {"propertyNames": {"enum": list(COMMON_KEYS)}},
        "properties": _common(mode),
        "additionalProperties": {"type": ["object", "null"]},
    }


def _layers(mode: str) -> Schema:
    entries: list[Schema] = [_ref(f"entry_{k}{_suffix(TYPE_ALIASES.get(k, k), mode)}") for k in _type_keys()]
    entries.append(_ref(f"table_{mode}"))
    shorthand = [n for n in _type_keys() if not any(f.required for f in LAYER_TYPES[TYPE_ALIASES.get(n, n)].fields)]
    entries.append({"enum": shorthand, "description": "a layer type without fields"})
    if mode == "open":
        entries.append(_block_call(mode))
        entries.append({"type": "string", "pattern": NAME_RE.pattern, "description": "a block without arguments"})
    return {"type": "array", "minItems": 1, "items": {"anyOf": entries}}


def _scalar_param() -> Schema:
    return {"type": ["number", "string", "boolean"]}


def _blocks() -> Schema:
    param = {
        "anyOf": [
            {"type": "null"},
            _scalar_param(),
            {"type": "array", "description": "a list default (kernels: [3, 5, 7]), for a concat's 'each'"},
            {
                "type": "object",
                "properties": {
                    "default": {"type": ["number", "string", "boolean", "array"]},
                    "help": {"type": "string"},
                    "channels": {"type": "boolean", "description": "a channel count, width-scaled at the call"},
                },
                "additionalProperties": False,
            },
        ]
    }
    assert set(param["anyOf"][3]["properties"]) == set(BLOCK_PARAM_KEYS)
    block = {
        "type": "object",
        "properties": {
            "help": {"type": "string"},
            "label": {"type": "string", "description": "display name; {param} takes the call's value"},
            "params": {"anyOf": [
                {"type": "array", "items": {"type": "string", "pattern": NAME_RE.pattern}},
                {"type": "object", "propertyNames": {"pattern": NAME_RE.pattern}, "additionalProperties": param},
            ]},
            "layers": {"$ref": _layers_ref("open")},
        },
        "required": ["layers"],
        "additionalProperties": False,
    }
    return {"type": "object", "propertyNames": {"pattern": NAME_RE.pattern}, "additionalProperties": block}


def _top() -> dict[str, Schema]:
    files = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    props: dict[str, Schema] = {
        "name": {"type": "string", "pattern": SPEC_NAME_RE.pattern},
        "title": {"type": "string"},
        "citation": {"type": "object"},
        "input": {
            "type": "object",
            "properties": {
                "channels": {"type": "integer", "minimum": 1, "maximum": limits.MAX_CHANNELS},
                "resolution": {"type": "integer", "minimum": 1, "maximum": limits.MAX_RESOLUTION},
            },
            "required": ["channels", "resolution"],
            "additionalProperties": False,
        },
        "params": {
            "type": "object",
            "propertyNames": {"pattern": NAME_RE.pattern},
            "additionalProperties": {"anyOf": [
                _scalar_param(),
                {
                    "type": "object",
                    "properties": {"default": _scalar_param(), "choices": {"type": "array", "minItems": 1},
                                   "help": {"type": "string"}},
                    "required": ["default"],
                    "additionalProperties": False,
                },
            ]},
        },
        "channel_rounding": {
            "type": "object",
            "properties": {
                "rule": {"enum": ["floor", "divisor"]},
                "divisor": {"type": "integer", "minimum": 1, "maximum": 1024},
                "min_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "minimum": {"type": "integer", "minimum": 1},
            },
            "additionalProperties": False,
        },
        "padding_style": {"enum": ["torch", "tf"]},
        "default_variant": {"type": ["string", "number"]},
        "variants": {
            "type": "object",
            "propertyNames": {"pattern": SPEC_NAME_RE.pattern},
            "additionalProperties": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
                "width": {"type": "number", "exclusiveMinimum": 0, "maximum": limits.MAX_WIDTH_MULT},
                "depth": {"type": "number", "exclusiveMinimum": 0, "maximum": limits.MAX_DEPTH_MULT},
                "resolution": {"type": "integer", "minimum": 1, "maximum": limits.MAX_RESOLUTION},
                "description": {"type": "string"},
            }}]},
        },
        "blocks": _blocks(),
        "layers": {"type": "array", "minItems": 1},
        "paper": {"type": "object"},
        "notes": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        "extends": {"type": "string", "description": "a spec file this one builds on"},
        "include": files,
    }
    assert tuple(props) == TOP_KEYS, "every top-level key needs a schema"
    return props


def json_schema() -> Schema:
    """The schema, as a JSON-ready dict."""
    defs: dict[str, Schema] = {}
    for mode in MODES:
        defs[f"layers_{mode}"] = _layers(mode)
        defs[f"table_{mode}"] = _table(mode)
        for name in LAYER_TYPES:
            defs[f"fields_{name}{_suffix(name, mode)}"] = _fields_object(name, mode)
        for key in _type_keys():
            name = TYPE_ALIASES.get(key, key)
            defs[f"entry_{key}{_suffix(name, mode)}"] = _entry(key, name, mode)
    composed = {"anyOf": [{"required": ["blocks"]}, {"required": ["include"]}, {"required": ["extends"]}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cnninspect spec",
        "description": "A CNN architecture for cnninspect (docs/spec-format.md).",
        "type": "object",
        "properties": _top(),
        "additionalProperties": False,
        "if": composed,
        "then": {"properties": {"layers": {"$ref": _layers_ref("open")}}},
        "else": {"properties": {"layers": {"$ref": _layers_ref("strict")}}, "required": ["name", "input", "layers"]},
        "$defs": defs,
    }


def schema_text() -> str:
    """The schema as the JSON text ``cnninspect schema`` prints and the package ships."""
    return json.dumps(json_schema(), indent=1, sort_keys=False) + "\n"
