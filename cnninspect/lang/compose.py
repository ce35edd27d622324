"""Includes and extends: one spec made of several files, composed before it is validated.

* ``extends: base.yaml`` - start from another spec: the extending file's ``params`` and
  ``blocks`` are merged into the base's by name (the extending file's declaration wins);
  every other top-level key it gives (``name`` is required) replaces the base's whole, so a
  ResNeXt spec can keep ResNet's layers and replace its variants.
* ``include: [lib.yaml, ...]`` - add the ``blocks`` of block-library files (files holding
  only ``blocks`` and their own ``include``). A block defined twice is an error naming both
  places, whether the second is in an include or in the spec itself.

Paths are relative to the file that names them (to the working directory for a spec read
from text). The composition works on located YAML nodes, so an error in an inherited part
names the file and line it came from. URLs are refused, as are cycles, chains deeper than
:data:`MAX_DEPTH` and more than :data:`MAX_FILES` files (each within the 1 MB file limit).

Every file read stays inside the directory tree of the spec that was named (symbolic links
resolved), or of a directory listed in the environment variable :data:`INCLUDE_PATH_VARIABLE`
(``:``-separated, ``;`` on Windows): a spec from a pull request cannot read ``/etc/passwd``
or ``../../.git-credentials``. A file read is not quoted in an error until it is known to be
a spec or a block library (a YAML mapping with one of their keys).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError, shorten
from .yamlsrc import YNode, load_yaml_file, require_document

MAX_DEPTH = 8
MAX_FILES = 32
MERGED_BY_NAME = ("params", "blocks")
LIBRARY_KEYS = ("blocks", "include")
INCLUDE_PATH_VARIABLE = "CNNINSPECT_INCLUDE_PATH"


@dataclass
class _State:
    root: Path
    spec_keys: tuple[str, ...]
    files: list[str] = field(default_factory=list)


def allowed_dirs(root: Path) -> tuple[Path, ...]:
    """The directories files may be read from: ``root``'s tree and those listed in
    :data:`INCLUDE_PATH_VARIABLE`, all with symbolic links resolved."""
    extra = [d for d in os.environ.get(INCLUDE_PATH_VARIABLE, "").split(os.pathsep) if d.strip()]
    return tuple(Path(d).resolve() for d in [str(root), *extra])


def outside(target: Path, root: Path) -> str | None:
    """Why ``target`` (resolved) may not be read from a file in ``root``'s tree, or None."""
    dirs = allowed_dirs(root)
    if any(target.is_relative_to(d) for d in dirs):
        return None
    return (f"is outside {dirs[0]}, the directory tree files may be read from here (to allow another directory, "
            f"list it in the environment variable {INCLUDE_PATH_VARIABLE})")


def compose(root: YNode, label: str, base_dir: Path, spec_keys: tuple[str, ...] = ()) -> YNode:
    """``root`` (read from ``label`` in ``base_dir``) with its extends and includes applied;
    the result has neither key. Files are read from ``base_dir``'s tree only (see the module
    docstring); ``spec_keys``, the keys of a spec, tell a file that ``extends`` names from
    one that is not a spec."""
    own = str((base_dir / os.path.basename(label)).resolve())
    return _compose(root, label, base_dir, (own,), _State(base_dir.resolve(), spec_keys))


def _compose(root: YNode, label: str, base_dir: Path, chain: tuple[str, ...], state: _State) -> YNode:
    """``chain`` holds the absolute paths of the files being read, this one last."""
    if not root.is_map:
        return root  # the caller reports what a spec must be
    items = dict(root.items or {})
    key_locs = dict(root.key_locs)
    extends = items.pop("extends", None)
    include = items.pop("include", None)
    key_locs.pop("extends", None)
    key_locs.pop("include", None)
    node = YNode(root.loc, items=items, key_locs=key_locs)
    if extends is not None:
        if "name" not in items:
            raise SpecError("an extending spec needs its own 'name'", root.loc)
        base = _load(extends, "extends", label, base_dir, chain, state)
        node = _extend(base, node)
    if include is not None:
        files = include.seq if include.is_seq else (include,)
        if include.is_seq and not files:
            raise SpecError("lists no files", include.loc, "include")
        for i, item in enumerate(files):
            path = f"include[{i}]" if include.is_seq else "include"
            lib = _load(item, path, label, base_dir, chain, state)
            extra = [k for k in (lib.items or {}) if k not in LIBRARY_KEYS]
            if extra:
                raise SpecError(
                    f"an included file may only declare {' and '.join(LIBRARY_KEYS)}, this one has "
                    f"'{extra[0]}' (to build on a whole spec, use extends)",
                    lib.key_locs.get(extra[0], lib.loc),
                    extra[0],
                )
            node = _add_blocks(node, (lib.items or {}).get("blocks"))
    return node


def _load(ref: YNode, path: str, label: str, base_dir: Path, chain: tuple[str, ...], state: _State) -> YNode:
    """Read and compose the file named by ``ref``."""
    if not ref.is_scalar or not isinstance(ref.value, str) or not ref.value.strip():
        raise SpecError(f"must be a file name, got {ref.kind_name()}", ref.loc, path)
    text = ref.value.strip()
    if "://" in text:
        raise SpecError("URLs are not fetched; give a path to a YAML file", ref.loc, path)
    if "\x00" in text:
        raise SpecError("a file name cannot hold a null character", ref.loc, path)
    try:
        target = (base_dir / text).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name too long
        raise SpecError(f"cannot read {shorten(text, 80)}: {exc.__class__.__name__}", ref.loc, path) from None
    why = outside(target, state.root)
    if why is not None:
        raise SpecError(f"{shorten(text, 80)} {why}", ref.loc, path)
    key = str(target)
    if key in chain:
        raise SpecError(f"{text} is already being read (a cycle of extends/include)", ref.loc, path)
    if len(chain) > MAX_DEPTH:
        raise SpecError(f"extends/include nested deeper than {MAX_DEPTH} files", ref.loc, path)
    state.files.append(key)
    if len(state.files) > MAX_FILES:
        raise SpecError(f"more than {MAX_FILES} files extended or included", ref.loc, path)
    child_label = text if os.path.isabs(text) else os.path.normpath(os.path.join(os.path.dirname(label), text))
    try:
        root = load_yaml_file(target, label=child_label)
    except SpecError as exc:
        if exc.loc is not None and exc.loc.line is None:  # the file itself: say who named it
            raise SpecError(f"{child_label}: {exc.message}", ref.loc, path) from None
        raise
    if path == "extends":
        require_document(root, state.spec_keys or ("name",), "a spec")
    else:
        require_document(root, (*LIBRARY_KEYS, *state.spec_keys), "a block library (a file of 'blocks')")
    return _compose(root, child_label, target.parent, chain + (key,), state)


def _extend(base: YNode, over: YNode) -> YNode:
    items = dict(base.items or {})
    key_locs = dict(base.key_locs)
    for key, value in (over.items or {}).items():
        old = items.get(key)
        if key in MERGED_BY_NAME and old is not None and old.is_map and value.is_map:
            value = YNode(value.loc, items={**(old.items or {}), **(value.items or {})},
                          key_locs={**old.key_locs, **value.key_locs})
        items[key] = value
        key_locs[key] = over.key_locs[key]
    return YNode(over.loc, items=items, key_locs=key_locs)


def _add_blocks(node: YNode, blocks: YNode | None) -> YNode:
    if blocks is None:
        return node
    if not blocks.is_map:
        raise SpecError(f"must be a mapping of block definitions, got {blocks.kind_name()}", blocks.loc, "blocks")
    items = dict(node.items or {})
    mine = items.get("blocks")
    if mine is not None and not mine.is_map:
        return node  # the spec loader reports it
    merged = dict(mine.items or {}) if mine is not None else {}
    locs = dict(mine.key_locs) if mine is not None else {}
    for name, value in (blocks.items or {}).items():
        if name in merged:
            first, second = locs[name], blocks.key_locs[name]
            raise SpecError(
                f"block '{name}' is defined twice: here and at {first}; rename one", second, f"blocks.{name}"
            )
        merged[name] = value
        locs[name] = blocks.key_locs[name]
    items["blocks"] = YNode(mine.loc if mine is not None else blocks.loc, items=merged, key_locs=locs)
    key_locs = dict(node.key_locs)
    key_locs.setdefault("blocks", blocks.loc)
    return YNode(node.loc, items=items, key_locs=key_locs)

