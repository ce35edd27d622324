"""Declarative field types for spec entries.

A layer type declares its fields (name, kind, default, help). The same declarations drive
parsing, validation, default filling, error messages and ``cnninspect layer-types``. A kind's
:meth:`Kind.coerce` turns a plain Python value into the validated value or raises
``ValueError`` with a message meant for a person; callers attach file, line and key path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

from ..base import limits
from ..base.errors import shorten
from ..ops.primitives import ACTIVATION_ALIASES, ACTIVATIONS, activation_text, parse_activation
from .expr import BUILTIN_NAMES


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict,)):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return shorten(repr(value))
    return shorten(str(value))


Schema = dict[str, Any]
# A string containing '$' is an expression (``expr.py``); any value may be one.
EXPRESSION: Schema = {"type": "string", "pattern": "[$]", "description": "an expression, e.g. $c * 4"}


class Kind:
    """How one field's value is validated. Subclasses implement :meth:`coerce` and
    :meth:`json_schema` (the same rule for editors: ``cnninspect schema``)."""

    description = "a value"

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def json_schema(self, layers: str) -> Schema:
        """The JSON Schema of the values :meth:`coerce` accepts (expressions aside);
        ``layers`` is the ``$ref`` of a list of layer entries."""
        raise NotImplementedError


class AnyValue(Kind):
    """Any value as written: a block's argument, validated where the block uses it."""

    description = "a value"

    def coerce(self, value: Any) -> Any:
        return value

    def json_schema(self, layers: str) -> Schema:
        return {}


ANY = AnyValue()


class Int(Kind):
    """An integer within ``[minimum, maximum]``; booleans and floats with a fraction are refused."""

    def __init__(self, minimum: int = 1, maximum: int = limits.MAX_INT_FIELD, what: str | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.description = what or (
            "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        )

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"must be {self.description}, got {value:g}")
            value = int(value)
        if value < self.minimum:
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        if value > self.maximum:
            raise ValueError(f"{shorten(f'{value:,}')} is too large (limit {self.maximum:,})")
        return int(value)

    def json_schema(self, layers: str) -> Schema:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


class Float(Kind):
    """A finite number in a range; ``low_open``/``high_open`` exclude the bounds."""

    def __init__(
        self,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        high_open: bool = False,
        what: str | None = None,
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        self.description = what or f"a number in {lo}{low:g}, {high:g}{hi}"

    def coerce(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        try:
            v = float(value)
        except OverflowError:  # an integer with hundreds of digits
            raise ValueError(f"must be {self.description}, got {_describe(value)}") from None
        if not math.isfinite(v):
            raise ValueError(f"must be {self.description}, got {v}")
        if v < self.low or (self.low_open and v == self.low) or v > self.high or (
            self.high_open and v == self.high
        ):
            raise ValueError(f"must be {self.description}, got {v:g}")
        return v

    def json_schema(self, layers: str) -> Schema:
        out: Schema = {"type": "number"}
        out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out


class Bool(Kind):
    description = "true or false"

    def coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {_describe(value)}")
        return value

    def json_schema(self, layers: str) -> Schema:
        return {"type": "boolean"}


class Str(Kind):
    description = "a string"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be a non-empty string, got {_describe(value)}")
        return value

    def json_schema(self, layers: str) -> Schema:
        return {"type": "string", "minLength": 1}


class Choice(Kind):
    """One of a fixed set of names (case-insensitive); ``aliases`` map extra spellings."""

    def __init__(self, choices: Sequence[str], aliases: dict[str, str] | None = None) -> None:
        self.choices = tuple(choices)
        self.aliases = dict(aliases or {})
        self.description = "one of " + ", ".join(self.choices)

    def coerce(self, value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        key = value.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self.choices:
            from ..base.errors import did_you_mean

            hint = did_you_mean(key, list(self.choices) + list(self.aliases))
            raise ValueError(f"unknown value {shorten(repr(value))}{hint}; expected {self.description}")
        return key

    def json_schema(self, layers: str) -> Schema:
        return {"enum": [*self.choices, *self.aliases]}


class ActivationKind(Kind):
    """An activation function: a registered name (case-insensitive, aliases too) or a call
    with its parameters, ``leaky_relu(negative_slope=0.1)`` / ``leaky_relu(0.1)``; the value
    is the canonical spelling (only parameters that differ from their defaults)."""

    def __init__(self) -> None:
        self.choices = tuple(ACTIVATIONS)
        self.aliases = dict(ACTIVATION_ALIASES)
        self.description = "an activation (" + ", ".join(self.choices) + "), with parameters as name(param=value)"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be an activation name, got {_describe(value)}")
        try:
            name, params = parse_activation(value)
        except KeyError:
            from ..base.errors import did_you_mean

            key = value.strip().lower().partition("(")[0].strip()
            hint = did_you_mean(key, list(self.choices) + list(self.aliases))
            raise ValueError(f"unknown activation {shorten(repr(value))}{hint}; expected one of "
                             + ", ".join(self.choices)) from None
        return activation_text(name, params)

    def json_schema(self, layers: str) -> Schema:
        names = [*self.choices, *self.aliases]
        call = "^(" + "|".join(names) + r")\(.*\)$"
        return {"anyOf": [{"enum": names}, {"type": "string", "pattern": call}]}


class Pair(Kind):
    """An integer or ``[h, w]`` pair of integers (kernel sizes, strides)."""

    def __init__(self, minimum: int = 1, maximum: int = limits.MAX_KERNEL, what: str = "size") -> None:
        self.inner = Int(minimum, maximum)
        self.description = f"a {what}: an integer or [height, width]"

    def coerce(self, value: Any) -> tuple[int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"must be {self.description}, got a list of {len(value)}")
            return (self.inner.coerce(value[0]), self.inner.coerce(value[1]))
        v = self.inner.coerce(value)
        return (v, v)

    def json_schema(self, layers: str) -> Schema:
        one = self.inner.json_schema(layers)
        pair = {"type": "array", "items": {"anyOf": [one, EXPRESSION]}, "minItems": 2, "maxItems": 2}
        return {"anyOf": [one, pair]}


class Padding(Kind):
    """``same``, ``valid``, an integer or ``[h, w]`` (symmetric)."""

    description = "'same', 'valid', an integer or [height, width]"

    def coerce(self, value: Any) -> str | tuple[int, int]:
        if isinstance(value, str):
            v = value.strip().lower()
            if v in ("same", "valid"):
                return v
            raise ValueError(f"must be {self.description}, got {value!r}")
        try:
            return Pair(0, limits.MAX_KERNEL, "padding").coerce(value)
        except ValueError:
            raise ValueError(f"must be {self.description}, got {_describe(value)}") from None

    def json_schema(self, layers: str) -> Schema:
        return {"anyOf": [{"enum": ["same", "valid"]}, Pair(0, limits.MAX_KERNEL).json_schema(layers)]}


class OptionalKind(Kind):
    """``null``/``none`` mean absent; anything else goes to the inner kind.

    ``false`` also means absent (``act: false``: no activation) unless the inner kind takes
    booleans itself: then ``false`` is a value like any other, never "not set".
    """

    def __init__(self, inner: Kind, absent: str = "none") -> None:
        self.inner = inner
        self.description = f"{inner.description}, or null for {absent}"

    def coerce(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        if value is False and not isinstance(self.inner, Bool):
            return None
        return self.inner.coerce(value)

    def json_schema(self, layers: str) -> Schema:
        absent: list[Schema] = [{"type": "null"}, {"enum": ["none"]}]
        if not isinstance(self.inner, Bool):
            absent.append({"const": False})
        return {"anyOf": [self.inner.json_schema(layers), *absent]}


class IntTable(Kind):
    """A list of non-empty lists of distinct non-negative integers (a connection table)."""

    description = "a list of lists of input-channel indices"

    def coerce(self, value: Any) -> tuple[tuple[int, ...], ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, (list, tuple)) or not row:
                raise ValueError(f"row {i} must be a non-empty list of channel indices")
            ints = []
            for x in row:
                if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                    raise ValueError(f"row {i}: {_describe(x)} is not a channel index")
                ints.append(x)
            if len(set(ints)) != len(ints):
                raise ValueError(f"row {i} lists a channel twice")
            rows.append(tuple(ints))
        return tuple(rows)

    def json_schema(self, layers: str) -> Schema:
        row = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 0}}
        return {"type": "array", "minItems": 1, "items": row}


class ValueList(Kind):
    """A non-empty list of plain values (numbers, strings, booleans or [h, w] pairs), at most
    ``maximum`` long: what a ``concat`` makes one branch per value of (``each: $kernels``)."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.description = f"a list of 1 to {maximum} values"

    def coerce(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        if len(value) > self.maximum:
            raise ValueError(f"has {len(value)} values, more than the limit of {self.maximum}")
        for v in value:
            if isinstance(v, dict) or v is None:
                raise ValueError(f"must be {self.description}, got {_describe(v)} in it")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)

    def json_schema(self, layers: str) -> Schema:
        return {"type": "array", "minItems": 1, "maxItems": self.maximum}


class LoopName(Kind):
    """The name a ``concat``'s ``each`` value goes by in its branch: ``as: k`` gives ``$k``
    (the value) and ``$k_index`` (its position, from 0)."""

    description = "a name (letters, digits, '_'; not starting with a digit)"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        if value in BUILTIN_NAMES:
            raise ValueError(f"'{value}' is a built-in name ($in, $index); choose another")
        return value

    def json_schema(self, layers: str) -> Schema:
        return {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"}


class PointNames(Kind):
    """A non-empty list of earlier entries' names, at most ``maximum`` long: what a
    ``concat`` takes with ``from`` (``[tree2, tree1, down.branch.pool]``; a dotted name goes
    into the entry the first name is, by its module path)."""

    pattern = r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*"

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.description = f"a list of 1 to {maximum} entry names"

    def coerce(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"must be {self.description}, got {_describe(value)}")
        if len(value) > self.maximum:
            raise ValueError(f"has {len(value)} names, more than the limit of {self.maximum}")
        for v in value:
            if not isinstance(v, str) or not re.fullmatch(self.pattern, v):
                raise ValueError(f"must be {self.description} (a name, or a dotted path such as "
                                 f"tree1.shortcut.pool), got {_describe(v)} in it")
        return tuple(value)

    def json_schema(self, layers: str) -> Schema:
        return {"type": "array", "minItems": 1, "maxItems": self.maximum,
                "items": {"type": "string", "pattern": f"^{self.pattern}$"}}


class Layers(Kind):
    """A nested list of layer entries; parsed by the spec loader, not coerced here."""

    description = "a list of layers"

    def coerce(self, value: Any) -> Any:  # pragma: no cover - handled structurally
        return value

    def json_schema(self, layers: str) -> Schema:
        return {"$ref": layers}


class Shortcut(Kind):
    """``auto``, ``identity``, ``projection``, ``none`` or a list of layers."""

    choices = ("auto", "identity", "projection", "none")
    description = "auto, identity, projection, none, or a list of layers"

    def coerce(self, value: Any) -> Any:
        if value is None:
            return "none"
        return Choice(self.choices).coerce(value)

    def json_schema(self, layers: str) -> Schema:
        return {"anyOf": [{"enum": list(self.choices)}, {"type": "null"}, {"$ref": layers}]}


@dataclass(frozen=True)
class Field:
    """One field of a layer type.

    ``channels`` marks channel counts that the width multiplier scales (unless the entry is
    ``fixed: true``). ``stride`` marks the field that repeated stages force to 1 after their
    first repetition.
    """

    name: str
    kind: Kind
    default: Any = REQUIRED
    help: str = ""
    channels: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def nested(self) -> bool:
        return isinstance(self.kind, Layers)




class Branches(Kind):
    """A list of branches, each a list of layer entries (``concat``)."""

    description = "a list of branches, each a list of layers"

    def coerce(self, value: Any) -> Any:  # pragma: no cover - handled structurally
        return value

    def json_schema(self, layers: str) -> Schema:
        return {"type": "array", "minItems": 1, "items": {"$ref": layers}}
