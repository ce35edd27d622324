"""capture/targets.py: a reference is classified once, into a frozen spec or Python target."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import cnninspect
from cnninspect.base.errors import UsageError
from cnninspect.capture.targets import PythonTarget, SpecTarget, target_of

PACKAGE = Path(cnninspect.__file__).resolve().parent


@pytest.mark.parametrize("text, kind", [
    ("mobilenet_v1", "bundled"), ("efficientnet:b3@resolution=300", "bundled"), ("-", "stdin"),
    ("net.yaml:small", "yaml"), ("./mobilenet_v1", "yaml"), ("dir/net", "yaml"),
])
def test_a_spec_reference_is_a_spec_target(text: str, kind: str) -> None:
    t = target_of(text)
    assert isinstance(t, SpecTarget) and not t.python and t.ref.kind == kind and t.text == text


@pytest.mark.parametrize("text, kind, base", [
    ("my_model.py:Net", "python-file", "my_model.py:Net"),
    ("pkg.models:make(depth=2)@input=3x32x32,resolution=64", "python-module", "pkg.models:make(depth=2)"),
    ("torchvision:resnet18", "hub", "torchvision:resnet18"),
    ("timm:resnet50@resolution=160", "hub", "timm:resnet50"),
])
def test_a_python_reference_is_a_python_target(text: str, kind: str, base: str) -> None:
    t = target_of(text)
    assert isinstance(t, PythonTarget) and t.python and t.ref.kind == kind and t.base == base


def test_the_settings_are_read_once_and_the_target_is_frozen() -> None:
    t = target_of("pkg.models:make@input=3x32x32,resolution=64")
    assert dict(t.settings) == {"input": "3x32x32", "resolution": 64}
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.text = "other"  # type: ignore[misc]


@pytest.mark.parametrize("text, message", [
    ("   ", "empty model name"), ("https://x/net.yaml", "URLs are not fetched"),
    ("mobilenet_v1@", "nothing after '@'"), ("mobilenet_v1@width", "expected key=value after '@'"),
])
def test_a_bad_reference_is_refused_when_classified(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        target_of(text)


def test_no_module_but_the_targets_decides_spec_or_python() -> None:
    """The Python reference kinds are compared only where a target is made (and where
    parse_pyref refuses a non-Python text); everyone else asks the target."""
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "PYTHON_KINDS" in p.read_text(encoding="utf-8"))
    assert users == ["capture/pymodels.py", "capture/targets.py"]
    assert not [p for p in PACKAGE.rglob("*.py") if "is_python_ref" in p.read_text(encoding="utf-8")]
