"""Expressions in spec values: ``$c * 4``, ``round_to($x * 1.5, 8)``, ``2 if $index == 0 else 1``.

A YAML string that contains ``$`` is an expression. The grammar is Python's expression
syntax (parsed with :func:`ast.parse` in ``eval`` mode), cut down to a whitelist:

* numbers, strings, ``true``/``false`` as Python's ``True``/``False``;
* ``$name`` - a spec parameter, a block parameter, ``$in`` (channels entering the layer) or
  ``$index`` (the copy's index in a ``repeat``, from 0);
* ``+ - * / // % **`` (``**`` with exponents up to 64), unary ``-``/``+``, ``not``;
* numbers up to :data:`MAX_MAGNITUDE` in size, written or computed;
* comparisons ``== != < <= > >=``, ``and``/``or``, ``A if C else B``;
* the functions of :data:`FUNCTIONS` (``min``, ``max``, ``round``, ``floor``, ``ceil``,
  ``int``, ``abs``, ``round_to``, ``make_divisible``), positional arguments only.

Nothing else parses (no attributes, subscripts, lambdas, comprehensions or other names), and
nothing is ever passed to Python's ``eval``: :func:`evaluate` walks the checked tree itself.
Every evaluation is bounded in work: each number, written or computed, is at most
:data:`MAX_MAGNITUDE`; every function argument that drives work (``round``'s digits, ``**``'s
exponent) has a range, checked before the call; and one evaluation may take at most
:data:`MAX_STEPS` steps, each operation charged for the size of its operands
(:class:`Budget`), so no expression can run for more than a moment. Every error carries the
0-based offset of the offending part, so a spec error can point at its column.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from ..errors import Location, SpecError, did_you_mean, shorten

MAX_LENGTH = 500
MAX_MAGNITUDE = 10**15
MAX_EXPONENT = 64  # of ``**``
MAX_NDIGITS = 18  # of ``round``: every value is below 10**18, so more digits change nothing
MAX_STEPS = 20_000  # work units of one evaluation (see Budget)
BUILTIN_NAMES = ("in", "index")
_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class ExprError(ValueError):
    """An expression problem at ``offset`` (0-based, in the expression's text); ``expr`` is
    the expression, once known (set by :meth:`Computed.evaluate`)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset
        self.expr: Expr | None = None


def _number(x: Any) -> float | int:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"expects a number, got {_show(x)}")
    return x


def round_to(x: Any, divisor: Any) -> int:
    """The multiple of ``divisor`` nearest to ``x`` (halves to even, as Python's round;
    RegNet's width quantisation)."""
    x, divisor = _number(x), _number(divisor)
    if divisor <= 0:
        raise ValueError("the divisor must be positive")
    return int(round(x / divisor) * divisor)


def make_divisible(x: Any, divisor: Any, min_ratio: Any = 0.9, minimum: int | None = None) -> int:
    """torchvision's and timm's ``_make_divisible``: the nearest multiple of ``divisor`` (at
    least ``minimum``, by default ``divisor``), one more multiple if that is below
    ``min_ratio`` of ``x``. The width scaling's ``divisor`` rounding is this function."""
    x, divisor, min_ratio = _number(x), _number(divisor), _number(min_ratio)
    if divisor <= 0:
        raise ValueError("the divisor must be positive")
    new = max(minimum or divisor, int(x + divisor / 2) // divisor * divisor)
    if new < min_ratio * x:
        new += divisor
    return int(new)


def _round(x: Any, ndigits: Any = None) -> Any:
    x = _number(x)
    if ndigits is None:
        return round(x)
    digits = _number(ndigits)
    if digits != int(digits):
        raise ValueError(f"needs a whole number of digits, got {digits:g}")
    return round(x, int(digits))


@dataclass(frozen=True)
class Function:
    """A function expressions may call. ``bounds``: for an argument position whose value
    drives the work (``round``'s digits), the inclusive range allowed, checked before the call."""

    fn: Callable[..., Any]
    min_args: int
    max_args: int
    help: str
    bounds: Mapping[int, tuple[int, int]] = field(default_factory=dict)


def _len(x: Any) -> int:
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"expects a list, got {shorten(repr(x))}")
    return len(x)


FUNCTIONS: dict[str, Function] = {
    "min": Function(lambda *a: min(_number(x) for x in a), 1, 64, "the smallest argument"),
    "max": Function(lambda *a: max(_number(x) for x in a), 1, 64, "the largest argument"),
    "round": Function(_round, 1, 2, "Python's round: to the nearest integer, halves to even",
                      {1: (-MAX_NDIGITS, MAX_NDIGITS)}),
    "floor": Function(lambda x: math.floor(_number(x)), 1, 1, "round down to an integer"),
    "ceil": Function(lambda x: math.ceil(_number(x)), 1, 1, "round up to an integer"),
    "int": Function(lambda x: int(_number(x)), 1, 1, "round towards zero to an integer"),
    "abs": Function(lambda x: abs(_number(x)), 1, 1, "absolute value"),
    "round_to": Function(round_to, 2, 2, round_to.__doc__ or ""),
    "make_divisible": Function(make_divisible, 2, 3, make_divisible.__doc__ or ""),
    "len": Function(_len, 1, 1, "the number of values in a list (a block parameter such as kernels: [3, 5, 7])"),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
    ast.Constant, ast.Load, ast.And, ast.Or, ast.USub, ast.UAdd, ast.Not, *_BINARY, *_COMPARE,
)


@dataclass(frozen=True)
class Expr:
    """A parsed expression. ``loc`` is where its text starts in the spec (line and column)."""

    text: str
    loc: Location
    names: frozenset[str]
    tree: ast.Expression = field(compare=False, repr=False)

    def evaluate(self, env: Mapping[str, Any], budget: int = MAX_STEPS) -> Any:
        """The value for the variables in ``env`` (names without ``$``), in at most
        ``budget`` work units (:class:`Budget`); raises :class:`ExprError` with the offset of
        the part that failed."""
        return _eval(self.tree.body, env, Budget(budget))

    def at(self, offset: int) -> Location:
        """The location of character ``offset`` of the expression."""
        if self.loc.line is None or self.loc.column is None:
            return self.loc
        return Location(self.loc.file, self.loc.line, self.loc.column + offset)

    def error(self, exc: ExprError, path: str | None, prefix: str = "") -> SpecError:
        return SpecError(f"{prefix}{exc} (in {shorten(self.text)!r})", self.at(exc.offset), path)

    @property
    def is_name(self) -> bool:
        """Just ``$name`` (a parameter reference)."""
        return isinstance(self.tree.body, ast.Name)


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def parse(text: str, loc: Location) -> Expr:
    """Parse and check ``text`` (a string containing ``$``); errors are :class:`ExprError`."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression of {len(text):,} characters; the limit is {MAX_LENGTH}", MAX_LENGTH)
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isprintable() or ch in " \t")):
            raise ExprError(f"character {ch!r} is not allowed in an expression", i)
    source = _NAME.sub(lambda m: "_" + m.group(1), text)  # same length: columns are kept
    stray = source.find("$")
    if stray >= 0:
        raise ExprError("'$' must be followed by a parameter name", stray)
    indent = len(source) - len(source.lstrip())
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        # Python gives no offset for an expression that stops short: point at its end
        offset = indent + exc.offset - 1 if exc.offset else len(text)
        raise ExprError(f"not a valid expression ({exc.msg})", min(offset, len(text))) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        offset = indent + getattr(node, "col_offset", 0)
        if not isinstance(node, _ALLOWED):
            if type(node) in _UNSUPPORTED_OPERATORS:
                raise ExprError(_UNSUPPORTED_OPERATORS[type(node)], _operator_offset(tree, node, indent))
            raise ExprError(f"{_describe(node)} is not allowed in an expression", offset)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str)):
                raise ExprError(f"the constant {node.value!r} is not allowed", offset)
            if not isinstance(node.value, str):
                _checked(node.value, offset)
        if isinstance(node, ast.Call):
            _check_call(node, indent, text)
        if isinstance(node, ast.Name) and not _is_call_target(tree, node):
            if not node.id.startswith("_"):
                hint = f"; write ${node.id} for a parameter" if node.id not in FUNCTIONS else " without arguments"
                raise ExprError(f"unknown name '{node.id}'{hint}", offset)
            names.add(node.id[1:])
    _shift(tree, indent)
    return Expr(text, loc, frozenset(names), tree)


def _shift(tree: ast.AST, indent: int) -> None:
    if indent:
        for node in ast.walk(tree):
            if hasattr(node, "col_offset"):
                node.col_offset += indent


def _is_call_target(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def _check_call(node: ast.Call, indent: int, text: str) -> None:
    offset = indent + node.col_offset
    is_param = isinstance(node.func, ast.Name) and text[indent + node.func.col_offset:].startswith("$")
    if not isinstance(node.func, ast.Name) or is_param:
        raise ExprError(f"only named functions can be called, not {_describe(node.func)}; functions: "
                        f"{', '.join(FUNCTIONS)}", offset)
    if node.func.id not in FUNCTIONS:
        name = node.func.id
        raise ExprError(
            f"unknown function '{name}'{did_you_mean(name, FUNCTIONS)}; functions: {', '.join(FUNCTIONS)}", offset
        )
    if node.keywords:
        raise ExprError(f"{node.func.id}() takes positional arguments only", offset)
    fn = FUNCTIONS[node.func.id]
    if not fn.min_args <= len(node.args) <= fn.max_args:
        want = str(fn.min_args) if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
        raise ExprError(f"{node.func.id}() takes {want} arguments, got {len(node.args)}", offset)


# Python operators an expression does not take, with what to write instead (operator nodes
# have no position of their own: the error points at the expression that uses them)
_UNSUPPORTED_OPERATORS: dict[type, str] = {
    ast.In: "'in' is not supported in an expression; compare one value at a time: "
            "$k == 3 or $k == 5",
    ast.NotIn: "'not in' is not supported in an expression; compare one value at a time: "
               "$k != 3 and $k != 5",
    ast.Is: "'is' is not supported in an expression; use ==",
    ast.IsNot: "'is not' is not supported in an expression; use !=",
    ast.BitAnd: "'&' is not supported in an expression; use 'and'",
    ast.BitOr: "'|' is not supported in an expression; use 'or'",
    ast.Invert: "'~' is not supported in an expression; use 'not'",
    ast.BitXor: "'^' is not supported in an expression; for a power use **",
    ast.LShift: "'<<' is not supported in an expression; multiply by a power of 2 (* 2 ** n)",
    ast.RShift: "'>>' is not supported in an expression; divide by a power of 2 (// 2 ** n)",
    ast.MatMult: "'@' is not supported in an expression",
}


def _operator_offset(tree: ast.AST, op: ast.AST, indent: int) -> int:
    """The column of the expression that uses operator ``op`` (operators have none)."""
    for node in ast.walk(tree):
        if op in getattr(node, "ops", ()) or getattr(node, "op", None) is op:
            return indent + getattr(node, "col_offset", 0)
    return indent


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "an attribute ('.')", ast.Subscript: "indexing ('[...]')", ast.Lambda: "lambda",
        ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a mapping", ast.Starred: "'*'",
        ast.Call: "the result of a call", ast.Name: "a parameter",
    }
    return names.get(type(node), f"'{type(node).__name__}'")


class Budget:
    """The work one evaluation may still do, in units of about one machine-word operation.

    Every node evaluated costs one unit; arithmetic on integers costs by the size of its
    operands in 64-bit words (a sum ``a + b``, a product or division ``a * b``, a power the
    square of its result's words; a function call the words of its arguments), charged
    *before* the operation runs, so an operation that would exceed the budget never starts.
    """

    def __init__(self, units: int) -> None:
        self.left = units

    def charge(self, units: int, offset: int) -> None:
        self.left -= units
        if self.left < 0:
            raise ExprError("the expression needs too much work to evaluate; simplify it", offset)


def _words(x: Any) -> int:
    return int(x).bit_length() // 64 + 1 if isinstance(x, int) else 1


def _cost(op: type, left: Any, right: Any) -> int:
    """Work units of ``left <op> right`` (both numbers), from the size of the operands."""
    a, b = _words(left), _words(right)
    if op is ast.Pow:
        result = int(left).bit_length() * min(abs(int(right)), MAX_EXPONENT) // 64 + 1 if isinstance(left, int) else 1
        return result * result
    if op in (ast.Add, ast.Sub):
        return a + b
    return a * b


def _show(value: Any) -> str:
    """A value for a message: a huge integer by its number of digits (Python refuses to
    print one of more than 4,300 digits, and nobody reads one)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
    return shorten(f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else repr(value))


def _checked(value: Any, offset: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, complex):
        raise ExprError("the result is not a real number", offset)
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"the value {_show(value)} is too large (limit {MAX_MAGNITUDE:,})", offset)
    if isinstance(value, float) and (not math.isfinite(value) or abs(value) > MAX_MAGNITUDE):
        raise ExprError(f"the value {value:g} is out of range", offset)
    return value


def _eval(node: ast.AST, env: Mapping[str, Any], budget: Budget) -> Any:
    offset = getattr(node, "col_offset", 0)
    budget.charge(1, offset)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        name = node.id[1:]
        if name not in env:
            raise ExprError(f"unknown parameter '${name}'{did_you_mean(name, env)}", offset)
        return env[name]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env, budget)
        if isinstance(node.op, ast.Not):
            return not _truth(value, offset)
        _arith(value, offset)
        return _checked(-value if isinstance(node.op, ast.USub) else +value, offset)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env, budget), _eval(node.right, env, budget)
        op = type(node.op)
        if op is ast.Add and isinstance(left, str) and isinstance(right, str):
            return left + right
        _arith(left, node.left.col_offset)
        _arith(right, node.right.col_offset)
        if op in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
            raise ExprError("division by zero", node.right.col_offset)
        if op is ast.Pow and (abs(right) > MAX_EXPONENT or (left == 0 and right < 0)):
            raise ExprError(f"the exponent {right} is out of range", node.right.col_offset)
        budget.charge(_cost(op, left, right), offset)
        try:
            return _checked(_BINARY[op](left, right), offset)
        except (OverflowError, ZeroDivisionError):
            raise ExprError("the result is out of range", offset) from None
    if isinstance(node, ast.BoolOp):
        result = True if isinstance(node.op, ast.And) else False
        for v in node.values:
            result = _truth(_eval(v, env, budget), v.col_offset)
            if result is not isinstance(node.op, ast.And):
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, budget)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, budget)
            if type(op) not in (ast.Eq, ast.NotEq) and (isinstance(left, str) != isinstance(right, str)):
                raise ExprError(f"cannot order {_show(left)} and {_show(right)}", comp.col_offset)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        test = _truth(_eval(node.test, env, budget), node.test.col_offset)
        return _eval(node.body if test else node.orelse, env, budget)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, env, budget) for a in node.args]
        fn = FUNCTIONS[node.func.id]
        for i, (low, high) in fn.bounds.items():
            if i < len(args) and isinstance(args[i], (int, float)) and not low <= args[i] <= high:
                raise ExprError(f"{node.func.id}(): argument {i + 1} is {_show(args[i])}, outside {low} to {high}",
                                node.args[i].col_offset)
        budget.charge(sum(_words(a) for a in args if isinstance(a, (int, float))), offset)
        try:
            return _checked(fn.fn(*args), offset)
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ExprError):
                raise
            raise ExprError(f"{node.func.id}() {exc}", offset) from None
    raise ExprError(f"{_describe(node)} is not allowed in an expression", offset)  # pragma: no cover


def _arith(value: Any, offset: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"arithmetic needs numbers, got {_show(value)}", offset)


def _truth(value: Any, offset: int) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"a condition must be true or false, got {_show(value)}", offset)
    return value


# --- values that contain expressions -------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    """A field value written with expressions (``$c * 4``, or ``[1, $k]`` with one inside a
    list): evaluated for each variant and block call, then validated by the field's kind."""

    template: Any  # an Expr, or a tuple of templates and plain values
    loc: Location

    def exprs(self) -> Iterator[Expr]:
        yield from _exprs(self.template)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n for e in self.exprs() for n in e.names)

    @property
    def text(self) -> str:
        return _text(self.template)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The plain value (lists for YAML lists); an :class:`ExprError` names the failing
        expression in its ``expr``."""
        return _substitute(self.template, env)


def _exprs(t: Any) -> Iterator[Expr]:
    if isinstance(t, Expr):
        yield t
    elif isinstance(t, tuple):
        for x in t:
            yield from _exprs(x)


def _text(t: Any) -> str:
    if isinstance(t, Expr):
        return t.text
    if isinstance(t, tuple):
        return "[" + ", ".join(_text(x) for x in t) + "]"
    return repr(t)


def _substitute(t: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(t, Expr):
        try:
            return t.evaluate(env)
        except ExprError as exc:
            exc.expr = t
            raise
    if isinstance(t, tuple):
        return [_substitute(x, env) for x in t]
    return t
