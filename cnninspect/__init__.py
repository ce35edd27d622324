"""cnninspect: inspect convolutional network architectures declared as YAML specs.

Pipeline (each stage a module, frozen data between them, only the CLI prints):

    lang.load_spec      YAML -> Spec (the spec language: validated, located errors)
    resolve.resolve     Spec + variant + overrides -> Model (scaled, expanded, shapes)
    build.build_module  Model -> torch.nn.Module (names mirror the spec)
    analysis.analyze    Model -> Report (engine "spec", no torch)
    torch_engine.analyze_meta   Model -> Report from the built module on the meta device
    render.*            Report -> Document -> table / paper / json / csv / markdown

Importing this package does not import torch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__version__ = "0.1.0"

# Modules that moved into the spec-language package ``cnninspect.lang``. Code written against
# the old paths (``from .spec import load_spec``) keeps working: the old name is the same
# module object, never a copy. New code imports ``cnninspect.lang`` directly.
MOVED_MODULES = {
    "cnninspect.spec": "cnninspect.lang.spec",
    "cnninspect.yamlsrc": "cnninspect.lang.yamlsrc",
    "cnninspect.fields": "cnninspect.lang.fields",
    "cnninspect.layers": "cnninspect.lang.layertypes",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a moved module under its old name (consulted only after the normal finders)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module is already executed under its new name."""


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
