"""cnninspect: inspect convolutional network architectures: YAML specs and any PyTorch model.

Pipeline (each stage a folder in data-flow order, frozen data between them, only the CLI
prints; docs/architecture.md is the map):

    lang.spec.load_spec                YAML -> Spec (the spec language: validated, located errors)
    resolve.resolver.resolve           Spec + variant + overrides -> Model (scaled, expanded, shapes)
    measure.analysis.analyze           Model -> Report (engine "spec", no torch)
    capture.forward.capture            any nn.Module -> Trace (aten operators of one forward pass)
    capture.module_analysis.analyze_trace   Trace -> Report (ops.aten_rules: conventions per operator)
    build.builder.build_module         Model -> torch.nn.Module (names mirror the spec)
    build.torch_engine.analyze_meta    Model -> Report from the built module on the meta device
    explore.*                          sweep, fit, check, explain, sameness over reports
    render.*                           Report -> Document -> table / paper / json / csv / markdown / html

Python API (see :mod:`cnninspect.api`): :func:`summary`, and :func:`compare`, :func:`sweep`,
:func:`fit` and :func:`check`, each taking ``nn.Module`` objects as well as model references.
Importing this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # editors and type checkers see the real functions and their signatures
    from .api import check, compare, fit, summary, sweep

__all__ = ["summary", "compare", "sweep", "fit", "check"]


def __getattr__(name: str) -> Any:
    """``cnninspect.summary`` (and ``compare``, ``sweep``, ``fit``, ``check``) is the function
    of :mod:`cnninspect.api` itself (its real signature in ``help()``), imported on first
    use: the command line, which never needs it, starts without importing the analysis
    modules behind it."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
__version__ = "0.1.0"
