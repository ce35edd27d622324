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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from collections.abc import Iterator

import yaml

from ..errors import Location, SpecError, shorten

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000
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
    """Read a UTF-8 text file with clear errors for directories, size and encoding."""
    p = Path(path)
    name = label or str(path)
    loc = Location(name)
    if not p.exists():
        raise SpecError("no such file", loc)
    if p.is_dir():
        raise SpecError("is a directory, not a YAML file", loc)
    try:
        size = p.stat().st_size
    except OSError as exc:  # pragma: no cover - platform specific
        raise SpecError(f"cannot read file: {exc.strerror}", loc) from None
    if size > max_bytes:
        raise SpecError(
            f"file is {size / 1e6:.1f} MB; spec files are limited to {max_bytes / 1e6:.1f} MB", loc
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror}", loc) from None
    return decode_utf8(data, name)


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
    _check_expansion(root, name)
    counter = [0]
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
    cmark = exc.context_mark
    if exc.problem and exc.context and cmark is not None and mark is not None and cmark.line != mark.line:
        # e.g. "did not find expected ',' or '}' (while parsing a flow mapping started at line 4)"
        problem += f" ({exc.context} started at line {cmark.line + 1})"
    return SpecError(f"YAML syntax error: {problem}", loc)


def load_yaml_file(path: str | os.PathLike[str], *, label: str | None = None) -> YNode:
    name = label or str(path)
    return parse_yaml(read_text(path, label=name), name)


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


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """How many values ``node`` becomes once aliases are expanded (each shared node counted once
    per use). A node that contains itself (``&a [*a]``) counts as too many."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_NODES + 1  # while in progress: a cycle back to this node is infinite
    size = 1
    if depth <= MAX_NESTING:  # deeper documents are refused by _convert
        if isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            size += _expanded_size(child, memo, depth + 1)
            if size > MAX_NODES:
                break
    memo[key] = size
    return size


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse alias bombs before expanding them: walk down to the node that blows up."""
    memo: dict[int, int] = {}
    if _expanded_size(root, memo) <= MAX_NODES:
        return
    node, path = root, None
    seen = {id(root)}
    while True:
        if isinstance(node, yaml.MappingNode):
            children = [(v, (path, f".{k.value}")) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(v, (path, f"[{i}]")) for i, v in enumerate(node.value)]
        else:
            children = []
        big = [(c, p) for c, p in children if memo.get(id(c), 0) > MAX_NODES]
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
        f"document expands to more than {MAX_NODES:,} values (aliases?); refusing to load",
        _loc(name, node),
        _path_str(path),
    )


def _convert(node: yaml.Node, name: str, counter: list[int], depth: int, path: _Path) -> YNode:
    """Convert a composed node; ``path`` is its key path (``layers[3].conv``) for errors."""
    counter[0] += 1
    loc = _loc(name, node)
    if counter[0] > MAX_NODES:
        raise SpecError(
            f"document expands to more than {MAX_NODES:,} values (aliases?); refusing to load",
            loc,
            _path_str(path),
        )
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
    if tag in (_STR, "tag:yaml.org,2002:timestamp"):
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() in ("true", "yes", "on", "y")
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
