"""cnninspect: inspect convolutional network architectures: YAML specs and any PyTorch model.

Pipeline (each stage a module, frozen data between them, only the CLI prints):

    lang.load_spec      YAML -> Spec (the spec language: validated, located errors)
    resolve.resolve     Spec + variant + overrides -> Model (scaled, expanded, shapes)
    build.build_module  Model -> torch.nn.Module (names mirror the spec)
    analysis.analyze    Model -> Report (engine "spec", no torch)
    torch_engine.analyze_meta   Model -> Report from the built module on the meta device
    capture.capture     any nn.Module -> Trace (aten operators of one forward pass)
    module_analysis.analyze_trace   Trace -> Report (aten_rules: the conventions per operator)
    render.*            Report -> Document -> table / paper / json / csv / markdown / html

Python API: :func:`summary` (see :mod:`cnninspect.api`). Importing this package does not
import torch.
"""

from __future__ import annotations

from .api import summary

__all__ = ["summary"]
__version__ = "0.1.0"
