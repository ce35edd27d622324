"""Any model reference, classified once: a spec target or a Python target.

What the user typed (``mobilenet_v1:conv@width=0.5``, ``net.yaml``, ``-``, ``file.py:Net``,
``package.module:make(depth=2)``, ``torchvision:resnet18``) is read here, and only here, into a
frozen :data:`Target`: a :class:`SpecTarget` (a YAML spec, resolved into the IR by
:mod:`cnninspect.resolve`) or a :class:`PythonTarget` (an ``nn.Module`` to capture, by
:mod:`cnninspect.capture.pymodels`). Commands, the API and ``explore/`` ask the target
(``target.python``) instead of deciding again. Reading is the rule of
:func:`cnninspect.resolve.catalog.classify` on the text before ``@``; its errors (an empty
name, a URL, malformed ``@key=value`` settings) are raised by :func:`target_of`. Nothing here
imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from ..resolve.catalog import RefKind, classify, split_settings
from .pymodels import PYTHON_KINDS


@dataclass(frozen=True)
class SpecTarget:
    """A YAML spec: a bundled ``NAME[:VARIANT]``, a spec file or ``-`` (standard input).

    ``ref`` is how the text before ``@`` reads; ``settings`` the ``@key=value`` settings."""

    text: str
    ref: RefKind
    settings: Mapping[str, Any]
    python: ClassVar[bool] = False


@dataclass(frozen=True)
class PythonTarget:
    """A Python model: ``file.py:NAME``, ``package.module:NAME`` or a hub (``torchvision:``,
    ``timm:``); captured by running it. ``base`` is the reference without its ``@`` settings
    (what :func:`cnninspect.capture.pymodels.parse_pyref` reads)."""

    text: str
    ref: RefKind
    settings: Mapping[str, Any]
    base: str
    python: ClassVar[bool] = True


Target = Union[SpecTarget, PythonTarget]


def target_of(text: str) -> Target:
    """The one decision whether a reference names a spec or a Python model."""
    base, settings = split_settings(text)
    ref = classify(base)
    if ref.kind in PYTHON_KINDS:
        return PythonTarget(text, ref, settings, base)
    return SpecTarget(text, ref, settings)

