"""A CNN with two operators cnninspect has no rule for: a spectral mixing layer
(``torch.fft.rfft2``, aten's ``_fft_r2c``) and a custom operator of its own
(``torch.library.custom_op("docs_demo::gate")`` with a fake kernel, so it runs on the meta
device). Counting rules for both are in rules.py:

    cnninspect summary docs/examples/spectral.py:SpectralNet --input 3x32x32 --rules docs/examples/rules.py
"""

import torch
from torch import nn


def _gate_op():
    """``docs_demo::gate(x, w) = x * sigmoid(w)``, registered once per process."""
    try:
        return torch.ops.docs_demo.gate.default
    except (AttributeError, RuntimeError):
        pass

    @torch.library.custom_op("docs_demo::gate", mutates_args=())
    def gate(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(w)

    @gate.register_fake
    def _(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    return gate


gate = _gate_op()


class SpectralMix(nn.Module):
    """Mix every position with every other through the 2-d FFT's magnitude (FNet-style)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(x, norm="ortho").abs().mean(-1, keepdim=True) + x


class SpectralNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.mix = SpectralMix()
        self.scale = nn.Parameter(torch.zeros(1, 16, 1, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = gate(self.mix(torch.relu(self.conv(x))), self.scale)
        return self.fc(self.pool(x).flatten(1))
