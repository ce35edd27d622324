"""The package's shape: folders in data-flow order, no import circles, no upward imports,
a small top level, and torch only where it is needed (docs/architecture.md draws the map).

Imports are read from the source (module level, ``TYPE_CHECKING`` blocks and imports inside
functions alike): a lazy import is still a dependency, and a circle through one is still a
circle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import cnninspect
from cnninspect.resolve.expand import EXPANDERS
from cnninspect.lang.layertypes import LAYER_TYPES

PACKAGE = Path(cnninspect.__file__).resolve().parent
ROOT = PACKAGE.parent

# The folders in data-flow order: a module may import its own folder and the folders before
# it, never one after it. Folders on one rank do not import each other (the cycle test and
# this order together keep them apart). The top level (cli, api, config) comes last.
LAYERS: list[set[str]] = [
    {"base"},                  # errors, limits, numbers, safe text, extras: no cnninspect imports above
    {"ops"},                   # primitive op kinds, formulas, counting conventions, aten rules
    {"lang"},                  # the spec language: YAML -> Spec
    {"resolve"},               # Spec + variant -> the resolved IR; finding specs
    {"measure"},               # IR -> Report, memory, receptive field, totals (no text)
    {"capture"},               # nn.Module -> captured trace -> Report
    {"build"},                 # IR -> nn.Module, --verify, the peer tools
    {"explore", "published"},  # sweep, fit, check, explain, sameness; the papers' numbers
    {"render"},                # Report -> Document -> text, JSON, HTML, plots
    {"commands"},              # one module per CLI command
    {""},                      # cnninspect/*.py: cli, api, config, __init__, __main__
]
RANK = {folder: i for i, folders in enumerate(LAYERS) for folder in folders}
TORCH_FOLDERS = {"capture", "build"}  # the only folders with modules that import torch on import
MAX_TOP_LEVEL = 8


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
    assert "cnninspect.ops.kinds" in GRAPH["cnninspect.ops.conventions"]
    assert "cnninspect.lang.spec" in GRAPH["cnninspect.resolve.catalog"]  # through the moved-module alias


def test_the_spec_language_imports_nothing_of_resolution():
    allowed = {"cnninspect", "cnninspect.base.errors", "cnninspect.base.limits", "cnninspect.base.numbers", "cnninspect.ops.primitives",
               "cnninspect.base.safetext", "cnninspect.base.files"}
    for name, deps in GRAPH.items():
        if name.startswith("cnninspect.lang"):
            outside = {d for d in deps if not d.startswith("cnninspect.lang")} - allowed
            assert not outside, f"{name} imports {sorted(outside)}"


def test_every_layer_type_has_an_expansion():
    assert set(EXPANDERS) == set(LAYER_TYPES)


def folder_of(name: str) -> str:
    """``cnninspect.measure.memory`` -> ``measure``; a top-level module -> ``""``."""
    parts = name.split(".")
    path = MODULES[name]
    if len(parts) == 1 or (len(parts) == 2 and path.name != "__init__.py"):
        return ""
    return parts[1]


def test_every_folder_has_a_rank_and_every_rank_a_folder():
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders | {""} == set(RANK)


def test_no_upward_imports():
    """A module imports only its own folder and the folders before it in :data:`LAYERS`."""
    upward = []
    for name, deps in sorted(GRAPH.items()):
        for dep in sorted(deps):
            if RANK[folder_of(dep)] > RANK[folder_of(name)]:
                upward.append(f"{name} -> {dep}")
    assert not upward, "imports against the data flow (tests/test_architecture.py LAYERS):\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import():
    assert RANK[folder_of("cnninspect.render.explain")] > RANK[folder_of("cnninspect.explore.explain")]
    assert "cnninspect.explore.explain" in GRAPH["cnninspect.render.explain"]  # downward: allowed
    assert folder_of("cnninspect.cli") == folder_of("cnninspect") == ""


def test_a_small_top_level():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top


# Imports every module given on the command line with ``import torch`` (and any torch.*)
# refused by a meta-path finder; prints the modules that needed torch.
_BLOCK_TORCH = """
import importlib, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked: " + name)
sys.meta_path.insert(0, NoTorch())
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as e:
        print(name, e)
"""


def test_torch_is_imported_only_in_the_torch_folders():
    """Every module outside capture/ and build/ imports with torch unavailable (a lazy
    import inside a function is the way to reach torch from elsewhere), and a torch-needing
    module is noticed (the finder is not a no-op)."""
    names = sorted(n for n in MODULES if n != "cnninspect.__main__")
    proc = subprocess.run([sys.executable, "-c", _BLOCK_TORCH, *names], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    needed = {line.split()[0] for line in proc.stdout.splitlines()}
    assert "cnninspect.build.builder" in needed and "cnninspect.capture.forward" in needed
    outside = sorted(n for n in needed if folder_of(n) not in TORCH_FOLDERS)
    assert not outside, f"modules outside {sorted(TORCH_FOLDERS)} that import torch: {outside}"


def test_the_install_ships_every_folder_and_its_data():
    """pyproject's package list is the package's folders (a folder missing from it would be
    left out of a non-editable ``pip install .``), and the data files are declared."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    # every package, nested ones (ops.kinds) included
    folders = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert set(tool["packages"]) == folders | {"cnninspect.specs"}
    data = tool["package-data"]
    assert data["cnninspect.specs"] == ["*.yaml"] and list((ROOT / "specs").glob("*.yaml"))
    assert data["cnninspect.published"] == ["*.yaml", "guidelines/*.yaml"]
    assert list((PACKAGE / "published").glob("*.yaml")) and list((PACKAGE / "published" / "guidelines").glob("*.yaml"))
    assert data["cnninspect.lang"] == ["spec.schema.json"] and (PACKAGE / "lang" / "spec.schema.json").is_file()
    assert data["cnninspect.measure"] == ["devices.yaml", "kernels.yaml"]
    assert all((PACKAGE / "measure" / name).is_file() for name in data["cnninspect.measure"])
    assert {p.parent.name for p in PACKAGE.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")} <= {
        "published", "guidelines", "lang", "measure"}, "a data file outside the declared package data"


def test_no_two_classes_share_a_name():
    """One name, one thing. The IR's containers and the nn.Modules the builder makes for them
    share their names by design (build.modules.Residual is what ir.Residual builds)."""
    mirrored = {"Residual", "Concat", "Gate", "Side"}
    where: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(name)
    shared = {c: m for c, m in where.items() if len(m) > 1 and c not in mirrored}
    assert not shared, shared
    assert all(sorted(where[c]) == ["cnninspect.build.modules", "cnninspect.resolve.ir"] for c in mirrored)
