"""The package's shape: no import circles, and the spec language below resolution.

Imports are read from the source (module level, ``TYPE_CHECKING`` blocks and imports inside
functions alike): a lazy import is still a dependency, and a circle through one is still a
circle a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cnninspect
from cnninspect.resolve.expand import EXPANDERS
from cnninspect.lang.layertypes import LAYER_TYPES

PACKAGE = Path(cnninspect.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _canonical(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str) -> set[str]:
    """Package modules that ``name`` imports anywhere in its source."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import submodule`` depends on the submodule; ``from pkg import name``
            # on the module that defines the name
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for t in targets:
            if t == "cnninspect" or t.startswith("cnninspect."):
                canonical = _canonical(t)
                if canonical and canonical != name:
                    found.add(canonical)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_no_import_cycles():
    """Tarjan's strongly connected components: every component must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_graph_is_read():
    """Guard against a walker that finds nothing (and so no cycles)."""
    assert "cnninspect.lang.spec" in GRAPH["cnninspect.resolve.resolver"]
    assert "cnninspect.ops.primitives" in GRAPH["cnninspect.ops.conventions"]
    assert "cnninspect.lang.spec" in GRAPH["cnninspect.resolve.catalog"]  # through the moved-module alias


def test_the_spec_language_imports_nothing_of_resolution():
    allowed = {"cnninspect", "cnninspect.base.errors", "cnninspect.base.limits", "cnninspect.base.numbers", "cnninspect.ops.primitives",
               "cnninspect.base.safetext"}
    for name, deps in GRAPH.items():
        if name.startswith("cnninspect.lang"):
            outside = {d for d in deps if not d.startswith("cnninspect.lang")} - allowed
            assert not outside, f"{name} imports {sorted(outside)}"


def test_every_layer_type_has_an_expansion():
    assert set(EXPANDERS) == set(LAYER_TYPES)
