"""Receptive fields of Python models (``--rf``) against an independent measurement on real CPU
tensors: the input pixels one output unit depends on.

* the gradient of one output position with respect to the input: its nonzero region, with
  every weight and input positive so that no ReLU hides a pixel;
* for max pooling, whose gradient reaches only each window's maximum, the same dependence
  measured by perturbation: one batch holding the input with a large spike at each pixel
  in turn; the unit depends on the pixels whose spike changes it.

cnninspect says unit ``i`` sees rows ``start + i * stride`` to ``+ size - 1``; clipped to the
input that is exactly the measured region, for every row of several real models (plain,
strided and dilated convolutions, residual, pooling, padding)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnninspect
from cnninspect.measure.receptive import GLOBAL, NotConvolutional, ReceptiveField

ROOT = Path(__file__).resolve().parents[1]


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(4, 4, 5, padding=2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c3(self.act(self.c2(self.act(self.c1(x)))))


class Dilated(nn.Module):
    """Strided, dilated and rectangular kernels, no padding on one axis."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, dilation=2, padding=2)
        self.c2 = nn.Conv2d(4, 4, (5, 3), stride=(2, 3), padding=(0, 1))
        self.c3 = nn.Conv2d(4, 4, 3, dilation=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c3(F.relu(self.c2(F.relu(self.c1(x)))))


class Pooling(nn.Module):
    """Average pooling with padding, zero padding by F.pad, a residual add, adaptive pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3)
        self.pool = nn.AvgPool2d(3, 2, 1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.adapt = nn.AdaptiveAvgPool2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(F.pad(self.c1(x), (1, 0, 2, 0)))
        return self.adapt(y + self.c2(y))


class MaxPooling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, stride=2)
        self.pool2 = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool2(self.c2(self.pool(self.c1(x))))


def _residual() -> nn.Module:
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        import my_model
    finally:
        sys.path.pop(0)
    return my_model.Net()


def _positive(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    return model.eval()


def _outputs(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    got: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda _m, _a, out, n=n: got.__setitem__(n, out)) for n in names]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return got


def _region(mask: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
    rows = mask.any(1).nonzero().flatten()
    cols = mask.any(0).nonzero().flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def _gradient_region(model: nn.Module, name: str, x: torch.Tensor) -> tuple[tuple[int, int], ...]:
    x = x.clone().requires_grad_(True)
    out = _outputs(model, [name], x)[name]
    i, j = out.shape[2] // 2, out.shape[3] // 2
    out[0, :, i, j].sum().backward()
    return _region(x.grad[0].abs().sum(0) > 0)


def _spike_region(model: nn.Module, name: str, x: torch.Tensor) -> tuple[tuple[int, int], ...]:
    h, w = x.shape[2:]
    batch = x.repeat(h * w, 1, 1, 1)
    for k in range(h * w):
        batch[k, :, k // w, k % w] += 1e4
    with torch.no_grad():
        base = _outputs(model, [name], x)[name]
        out = _outputs(model, [name], batch)[name]
    i, j = base.shape[2] // 2, base.shape[3] // 2
    changed = ((out[:, :, i, j] - base[:, :, i, j]).abs() > 1.0).any(1).reshape(h, w)  # a spike adds >= 1e3
    return _region(changed)


def _expected(field: ReceptiveField, unit: tuple[int, int], size: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    out = []
    for axis, i, n in ((field.h, unit[0], size[0]), (field.w, unit[1], size[1])):
        lo = axis.start + i * axis.stride
        out.append((max(lo, 0), min(lo + axis.size - 1, n - 1)))
    return tuple(out)


CASES = [
    ("plain", Plain, 20, ["c1", "c2", "c3"], _gradient_region),
    ("dilated", Dilated, 31, ["c1", "c2", "c3"], _gradient_region),
    ("residual", _residual, 32, ["stem", "block1", "down", "block2.conv1", "block2"], _gradient_region),
    ("pooling", Pooling, 29, ["c1", "pool", "c2"], _gradient_region),
    ("maxpool", MaxPooling, 23, ["c1", "pool", "c2", "pool2"], _spike_region),
]


@pytest.mark.parametrize("case,build,size,names,measure", CASES, ids=[c[0] for c in CASES])
def test_fields_equal_the_measured_dependence(case, build, size, names, measure) -> None:
    model = _positive(build())
    torch.manual_seed(1)
    x = torch.rand(1, 3, size, size) + 0.1
    s = cnninspect.summary(model, input_data=[x], rf=True)
    rows = s.receptive_fields.rows
    for name in names:
        field = rows[name].conv
        assert isinstance(field, ReceptiveField), (name, field)
        out = _outputs(model, [name], x)[name]
        unit = (out.shape[2] // 2, out.shape[3] // 2)
        assert measure(model, name, x) == _expected(field, unit, (size, size)), name


def test_global_pooling_and_non_convolutional_paths_say_so() -> None:
    """After global pooling the field is global; after a flatten into a matrix product
    over positions (attention) it is not a number: '-' and a note naming the operator."""
    s = cnninspect.summary(_residual(), input_size=(1, 3, 32, 32), rf=True)
    assert s.receptive_fields.rows["pool"].conv is GLOBAL and s.receptive_fields.rows["fc"].full is GLOBAL
    assert s.receptive_fields.last == "block2"

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 4, 4)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            t = self.conv(x).flatten(2).transpose(1, 2)
            return self.attn(t, t, t)[0]

    s = cnninspect.summary(Attention(), input_size=(1, 3, 16, 16), rf=True)
    assert s.receptive_fields.rows["conv"].conv.size == (4, 4)
    assert isinstance(s.receptive_fields.rows["attn"].conv, NotConvolutional)
    text = str(s)
    assert "no receptive field from flatten in the model's forward on (aten.view to 8x16" in text


def test_cli_rf_on_a_python_file() -> None:
    from conftest import invoke

    r = invoke("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--rf", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["receptive_field"] == {"layer": "block2", "receptive_field": [17, 17], "conv_receptive_field": [17, 17],
                                      "effective_stride": [2, 2], "rf_start": [-8, -8]}
    fc = next(layer for layer in doc["layers"] if layer["name"] == "fc")
    assert fc["receptive_field"] == "global" and fc["effective_stride"] is None
