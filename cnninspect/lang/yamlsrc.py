"""Safe, located YAML loading.

PyYAML only *composes* the document into nodes here; we never let it construct Python
objects. Every value becomes a :class:`YNode` that remembers where it came from, so any later
validation error can name file, line, column and key path. Only the plain YAML types are
accepted (mappings, sequences, strings, integers, floats, booleans, null); any other tag,
``!!python/object`` included, is rejected. Size limits keep hostile files (huge files, alias
bombs, deep nesting) from exhausting memory.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Optional
from collections.abc import Iterator

import yaml

from ..base.errors import Location, SpecError, did_you_mean, shorten
from ..base.files import describe_os_error
from ..base.numbers import NumberError, yaml_plain_number

MAX_FILE_BYTES = 1_000_000
# Aliases (``*a``) repeat a value without repeating its text: a small file can expand to
# billions of values (the "billion laughs" attack). A document's own values are bounded by
# MAX_FILE_BYTES; the values aliases add on top of them are bounded by MAX_ALIAS_VALUES.
MAX_ALIAS_VALUES = 100_000
MAX_NESTING = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class YNode:
    """A located YAML value: scalar (``value``), mapping (``items``) or sequence (``seq``)."""

    loc: Location
    value: Any = None
    items: dict[str, YNode] | None = None
    key_locs: dict[str, Location] = field(default_factory=dict)
    seq: tuple[YNode, ...] | None = None
    style: str | None = None  # a scalar's YAML style: None (plain), "'", '"', "|" or ">"

    @property
    def text_loc(self) -> Location:
        """Where a scalar's text starts: after the opening quote of a quoted scalar."""
        if self.style in ("'", '"') and self.loc.column is not None:
            return Location(self.loc.file, self.loc.line, self.loc.column + 1)
        return self.loc

    @property
    def is_map(self) -> bool:
        return self.items is not None

    @property
    def is_seq(self) -> bool:
        return self.seq is not None

    @property
    def is_scalar(self) -> bool:
        return self.items is None and self.seq is None

    def kind_name(self) -> str:
        """A human name of the value's YAML type, for error messages."""
        if self.is_map:
            return "a mapping"
        if self.is_seq:
            return "a list"
        return describe_scalar(self.value)

    def kind(self) -> str:
        """The value's YAML type without its content (``a string``), for a file that may not
        be a spec: its content is never quoted."""
        if self.is_map:
            return "a mapping"
        if self.is_seq:
            return "a list"
        if self.value is None:
            return "null"
        if isinstance(self.value, bool):
            return "a boolean"
        return "a number" if isinstance(self.value, (int, float)) else "a string"

    def to_python(self) -> Any:
        """The plain Python value (dicts, lists, scalars), without locations."""
        if self.items is not None:
            return {k: v.to_python() for k, v in self.items.items()}
        if self.seq is not None:
            return [v.to_python() for v in self.seq]
        return self.value

    def walk(self) -> Iterator[YNode]:
        yield self
        if self.items is not None:
            for v in self.items.values():
                yield from v.walk()
        if self.seq is not None:
            for v in self.seq:
                yield from v.walk()


def describe_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {shorten(str(value))}"
    if isinstance(value, float):
        return f"the number {value:g}"
    return f"the string {shorten(repr(value))}"


def read_text(path: str | os.PathLike[str], *, label: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 spec file: a regular file of at most ``max_bytes`` bytes.

    Never reads more than ``max_bytes + 1`` bytes whatever the file is, and refuses
    directories, devices (``/dev/zero``), FIFOs and sockets before opening them, so no input
    can block or exhaust memory. Every error is a one-line :class:`SpecError` naming the file.
    """
    loc = Location(shorten(label or str(path), 100))
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SpecError(describe_os_error(exc), loc) from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError("is a directory, not a YAML file", loc)
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise SpecError(f"is {kind}, not a regular file; to read a spec from a pipe, give '-' for standard input", loc)
    if st.st_size > max_bytes:
        raise SpecError(_too_big(st.st_size, max_bytes), loc)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SpecError(f"cannot read file: {describe_os_error(exc)}", loc) from None
    if len(data) > max_bytes:  # the file grew after stat
        raise SpecError(_too_big(len(data), max_bytes, at_least=True), loc)
    return decode_utf8(data, loc.file)


def read_stream(stream: BinaryIO, label: str, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a spec from a binary stream (standard input), at most ``max_bytes`` bytes."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SpecError(_too_big(len(data), max_bytes, at_least=True), Location(label))
    return decode_utf8(data, label)


def _too_big(size: int, max_bytes: int, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"file is {more}{size / 1e6:.1f} MB; spec files are limited to {max_bytes / 1e6:.1f} MB"


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1  # in characters
        raise SpecError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            Location(name, line, column),
        ) from None


def parse_yaml(text: str, name: str) -> YNode:
    """Compose ``text`` and convert it to a :class:`YNode` tree (safe: no object construction)."""
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise SpecError("file is empty; expected a YAML mapping", Location(name, 1, 1))
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, name) from None
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError(
            f"the character U+{code:04X} is not allowed in YAML ({exc.reason}); remove it",
            _text_loc(name, text, text.find(chr(code))),
        ) from None
    except UnicodeError as exc:  # lone surrogates in text given as a Python string
        start = exc.start if isinstance(exc, UnicodeEncodeError) else -1
        raise SpecError("text is not valid Unicode (lone surrogate)", _text_loc(name, text, start)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", Location(name)) from None
    except RecursionError:  # the pure-Python loader on very deep nesting
        raise SpecError(f"nesting deeper than {MAX_NESTING} levels", Location(name)) from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise SpecError("file is empty; expected a YAML mapping", Location(name, 1, 1))
    if len(documents) > 1:
        second = documents[1]
        raise SpecError(
            "file holds several YAML documents ('---'); put one spec per file",
            _loc(name, second),
        )
    root = documents[0]
    limit = _check_expansion(root, name)
    counter = [0, limit]
    return _convert(root, name, counter, 0, None)


def _text_loc(name: str, text: str, index: int) -> Location:
    """The location of character ``index`` of ``text`` (just the file when unknown)."""
    if index < 0:
        return Location(name)
    line_start = text.rfind("\n", 0, index) + 1
    return Location(name, text.count("\n", 0, index) + 1, index - line_start + 1)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, name: str) -> SpecError:
    """A located one-line message for a YAML syntax error, with a hint where one helps."""
    mark = exc.problem_mark or exc.context_mark
    loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    lines = text.split("\n")
    if mark is not None and mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
        return SpecError("YAML syntax error: tab character; YAML indentation must use spaces", loc)
    problem = exc.problem or exc.context or "invalid YAML"
    bare = _bare_item_before(lines, mark.line) if mark is not None and "mapping values" in problem else None
    if bare is not None:
        return SpecError(
            f"YAML syntax error: {problem}: '- {bare}' is a plain name, so the keys under it have no "
            f"mapping to go in; write '- {bare}: {{}}' to give it keys such as 'when' or 'name'",
            loc,
        )
    cmark = exc.context_mark
    if exc.problem and exc.context and cmark is not None and mark is not None and cmark.line != mark.line:
        # e.g. "did not find expected ',' or '}' (while parsing a flow mapping started at line 4)"
        problem += f" ({exc.context} started at line {cmark.line + 1})"
    return SpecError(f"YAML syntax error: {problem}", loc)


_BARE_ITEM = re.compile(r"^\s*(?:-\s+)+([A-Za-z_][A-Za-z0-9_]*)\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*:")


def _bare_item_before(lines: list[str], line: int) -> str | None:
    """The name of a list item written as a bare name (``- identity``) on the line before
    ``line``, when ``line`` holds a key meant for it (``when: ...``); else None."""
    if line >= len(lines) or not _KEY_LINE.match(lines[line]):
        return None
    for previous in reversed(lines[:line]):
        if previous.strip() and not previous.lstrip().startswith("#"):
            m = _BARE_ITEM.match(previous)
            return m.group(1) if m else None
    return None


YAML_SUFFIXES = (".yaml", ".yml")


def load_yaml_file(path: str | os.PathLike[str], *, label: str | None = None) -> YNode:
    """Read and parse a YAML file. A file not named ``*.yaml``/``*.yml`` may be anything (a
    password file, a token): a parse error in it says where, but quotes none of it."""
    name = shorten(label or str(path), 100)
    text = read_text(path, label=name)
    try:
        return parse_yaml(text, name)
    except SpecError as exc:
        if str(path).lower().endswith(YAML_SUFFIXES):
            raise
        raise SpecError("is not a YAML file (its content is not shown: the file is not named .yaml or .yml)",
                        exc.loc) from None


def require_document(root: YNode, keys: tuple[str, ...], what: str) -> None:
    """Refuse ``root`` unless it is a mapping with at least one of ``keys`` (or a near miss
    of one: a typo), without quoting any of it: until it is known to be ``what`` (a spec, an
    expectations file), a file is treated as possibly secret."""
    if not root.is_map:
        raise SpecError(f"is not {what}: it holds {root.kind()}, not a YAML mapping (its content is not shown)",
                        root.loc)
    if not any(k in keys or did_you_mean(k, keys) for k in root.items or {}):
        raise SpecError(f"is not {what}: none of its keys is one of {', '.join(keys)} (its content is not shown)",
                        root.loc)


def _loc(name: str, node: yaml.Node) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1)


# A key path as a linked list, formatted only for an error: (parent, "key" or "[3]") or None.
_Path = Optional[tuple[Any, str]]


def _path_str(path: _Path) -> str | None:
    parts: list[str] = []
    while path is not None:
        path, part = path
        parts.append(part)
    text = "".join(reversed(parts)).lstrip(".")
    return text or None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [c for pair in node.value for c in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _own_size(root: yaml.Node) -> int:
    """How many distinct values the document holds (each aliased node once)."""
    seen: set[int] = set()
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth <= MAX_NESTING:  # deeper documents are refused by _convert
            stack.extend((c, depth + 1) for c in _children(node))
    return len(seen)


def _expanded_size(node: yaml.Node, memo: dict[int, int], cap: int, depth: int = 0) -> int:
    """How many values ``node`` becomes once aliases are expanded (a shared node counted once
    per use), counting no further than ``cap``. A node that contains itself (``&a [*a]``)
    counts as more than ``cap``."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = cap + 1  # while in progress: a cycle back to this node is infinite
    size = 1
    if depth <= MAX_NESTING:
        for child in _children(node):
            size += _expanded_size(child, memo, cap, depth + 1)
            if size > cap:
                break
    memo[key] = size
    return size


def _check_expansion(root: yaml.Node, name: str) -> int:
    """Refuse alias bombs before expanding them (walking down to the node that blows up);
    returns how many values the expanded document has."""
    own = _own_size(root)
    cap = own + MAX_ALIAS_VALUES
    memo: dict[int, int] = {}
    size = _expanded_size(root, memo, cap)
    if size <= cap:
        return size
    node, path = root, None
    seen = {id(root)}
    while True:
        if isinstance(node, yaml.MappingNode):
            children = [(v, (path, f".{k.value}")) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(v, (path, f"[{i}]")) for i, v in enumerate(node.value)]
        else:
            children = []
        big = [(c, p) for c, p in children if memo.get(id(c), 0) > MAX_ALIAS_VALUES]
        if not big:
            break
        if id(big[0][0]) in seen:
            raise SpecError(
                "an alias here refers back to a value that contains it (a recursive anchor), so the "
                "document never ends; refusing to load",
                _loc(name, node),
                _path_str(path),
            )
        node, path = big[0]
        seen.add(id(node))
    raise SpecError(
        f"aliases ('*name') expand the document by more than {MAX_ALIAS_VALUES:,} values (an alias "
        "bomb?); refusing to load",
        _loc(name, node),
        _path_str(path),
    )


def _convert(node: yaml.Node, name: str, counter: list[int], depth: int, path: _Path) -> YNode:
    """Convert a composed node; ``path`` is its key path (``layers[3].conv``) for errors.
    ``counter`` is [values converted so far, values the document expands to]."""
    counter[0] += 1
    loc = _loc(name, node)
    assert counter[0] <= counter[1], "values beyond the size _check_expansion measured"
    if depth > MAX_NESTING:
        raise SpecError(f"nesting deeper than {MAX_NESTING} levels", loc, _path_str(path))
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            raise _bad_tag(node, loc, _path_str(path))
        items: dict[str, YNode] = {}
        key_locs: dict[str, Location] = {}
        for key_node, value_node in node.value:
            kloc = _loc(name, key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(
                    "YAML merge keys ('<<') are not supported; write the keys out", kloc, _path_str(path)
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("mapping keys must be plain names, not lists or mappings", kloc, _path_str(path))
            key_val = _scalar(key_node, kloc, path)
            if key_val is None or isinstance(key_val, (list, dict)):
                raise SpecError("mapping keys must be plain names", kloc, _path_str(path))
            key = str(key_val).lower() if isinstance(key_val, bool) else str(key_val)
            sub = (path, f".{key}")
            if key in items:
                raise SpecError(f"duplicate key '{key}'", kloc, _path_str(sub))
            items[key] = _convert(value_node, name, counter, depth + 1, sub)
            key_locs[key] = kloc
        return YNode(loc, items=items, key_locs=key_locs)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise _bad_tag(node, loc, _path_str(path))
        return YNode(
            loc,
            seq=tuple(_convert(v, name, counter, depth + 1, (path, f"[{i}]")) for i, v in enumerate(node.value)),
        )
    assert isinstance(node, yaml.ScalarNode)
    return YNode(loc, value=_scalar(node, loc, path), style=node.style)


def _bad_tag(node: yaml.Node, loc: Location, path: str | None) -> SpecError:
    return SpecError(
        f"YAML tag '{shorten(node.tag)}' is not allowed; specs may only use plain mappings, lists, "
        "strings, numbers, booleans and null",
        loc,
        path,
    )


def _scalar(node: yaml.ScalarNode, loc: Location, path: _Path) -> Any:
    tag = node.tag
    text = node.value
    if tag == _STR and not node.style:
        # YAML 1.1 wants a dot in a float, so PyYAML leaves 1e-1 and 1e3 as strings; read
        # plain (unquoted) ones as the numbers YAML 1.2 and every other input here say they are
        try:
            number = yaml_plain_number(text)
        except NumberError as exc:
            raise SpecError(str(exc), loc, _path_str(path)) from None
        if number is not None:
            return number
    if tag in (_STR, "tag:yaml.org,2002:timestamp"):
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        # YAML 1.2's booleans are true and false only; PyYAML (YAML 1.1) also reads yes, no,
        # on, off, y and n as booleans, which turns a key 'on:' into 'true:'. Read them as the
        # strings they were written as, as YAML 1.2 and every other input here do.
        return text.lower() == "true" if text.lower() in ("true", "false") else text
    if tag == _INT:
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                raise SpecError(f"cannot read {shorten(text)!r} as an integer", loc, _path_str(path)) from None
    if tag == _FLOAT:
        low = text.lower().replace("_", "")
        if low in (".inf", "+.inf", "-.inf", ".nan"):
            raise SpecError(f"{text!r} is not a finite number", loc, _path_str(path))
        try:
            return float(low)
        except ValueError:
            raise SpecError(f"cannot read {shorten(text)!r} as a number", loc, _path_str(path)) from None
    raise _bad_tag(node, loc, _path_str(path))
