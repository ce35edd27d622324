"""MobileNetV3 Large and Small, transcribed from torchvision (``torchvision/models/mobilenetv3.py``).

Authoritative reference: the authors' implementation is TensorFlow
(``tensorflow/models``, ``research/slim/nets/mobilenet/mobilenet_v3.py``); torchvision's is a
port that keeps its structure (the same block tables, ``_make_divisible(c, 8)`` rounding, the
squeeze width ``_make_divisible(expanded // 4, 8)``, hard-sigmoid gate, a 1x1 "conv2d NBN"
head written as ``Linear`` on the pooled vector: same weights and biases). torchvision's
documented ``num_params`` (5,483,032 and 2,542,856) are what the tests pin.

Module and parameter names follow torchvision: ``features.N.block.M`` with ``0`` conv,
``1`` batch norm, ``fc1``/``fc2`` in the squeeze-and-excitation, ``classifier.0``/``.3``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor``, never more than 10% below ``v``."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """conv (no bias) + BatchNorm (eps 0.001, momentum 0.01) + optional activation."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=0.001, momentum=0.01),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """avgpool -> fc1 (1x1 conv, bias) -> ReLU -> fc2 (1x1 conv, bias) -> hard-sigmoid -> scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


@dataclass(frozen=True)
class BneckConf:
    """One row of the paper's Table 1/2: input, kernel, exp size, #out, SE, NL, s."""

    cin: int
    kernel: int
    expanded: int
    cout: int
    use_se: bool
    act: str  # "RE" or "HS"
    stride: int


class InvertedResidual(nn.Module):
    def __init__(self, c: BneckConf) -> None:
        super().__init__()
        self.use_res_connect = c.stride == 1 and c.cin == c.cout
        act = nn.Hardswish if c.act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if c.expanded != c.cin:  # no expansion conv when exp size == input channels
            layers.append(Conv2dNormActivation(c.cin, c.expanded, 1, act=act))
        layers.append(Conv2dNormActivation(c.expanded, c.expanded, c.kernel, c.stride, groups=c.expanded, act=act))
        if c.use_se:
            layers.append(SqueezeExcitation(c.expanded, _make_divisible(c.expanded // 4, 8)))
        layers.append(Conv2dNormActivation(c.expanded, c.cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


# (input, kernel, exp size, #out, SE, NL, s): Table 1 (Large) and Table 2 (Small) of
# Howard et al. 2019, as torchvision's _mobilenet_v3_conf writes them at width 1.0.
LARGE = [
    BneckConf(16, 3, 16, 16, False, "RE", 1),
    BneckConf(16, 3, 64, 24, False, "RE", 2),
    BneckConf(24, 3, 72, 24, False, "RE", 1),
    BneckConf(24, 5, 72, 40, True, "RE", 2),
    BneckConf(40, 5, 120, 40, True, "RE", 1),
    BneckConf(40, 5, 120, 40, True, "RE", 1),
    BneckConf(40, 3, 240, 80, False, "HS", 2),
    BneckConf(80, 3, 200, 80, False, "HS", 1),
    BneckConf(80, 3, 184, 80, False, "HS", 1),
    BneckConf(80, 3, 184, 80, False, "HS", 1),
    BneckConf(80, 3, 480, 112, True, "HS", 1),
    BneckConf(112, 3, 672, 112, True, "HS", 1),
    BneckConf(112, 5, 672, 160, True, "HS", 2),
    BneckConf(160, 5, 960, 160, True, "HS", 1),
    BneckConf(160, 5, 960, 160, True, "HS", 1),
]
SMALL = [
    BneckConf(16, 3, 16, 16, True, "RE", 2),
    BneckConf(16, 3, 72, 24, False, "RE", 2),
    BneckConf(24, 3, 88, 24, False, "RE", 1),
    BneckConf(24, 5, 96, 40, True, "HS", 2),
    BneckConf(40, 5, 240, 40, True, "HS", 1),
    BneckConf(40, 5, 240, 40, True, "HS", 1),
    BneckConf(40, 5, 120, 48, True, "HS", 1),
    BneckConf(48, 5, 144, 48, True, "HS", 1),
    BneckConf(48, 5, 288, 96, True, "HS", 2),
    BneckConf(96, 5, 576, 96, True, "HS", 1),
    BneckConf(96, 5, 576, 96, True, "HS", 1),
]
CONFIGS = {"large": (LARGE, 1280), "small": (SMALL, 1024)}


class MobileNetV3(nn.Module):
    def __init__(self, variant: str = "large", num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        rows, last_channel = CONFIGS[variant]
        layers: list[nn.Module] = [Conv2dNormActivation(3, rows[0].cin, 3, 2, act=nn.Hardswish)]
        layers += [InvertedResidual(r) for r in rows]
        lastconv = 6 * rows[-1].cout  # 960 (Large), 576 (Small)
        layers.append(Conv2dNormActivation(rows[-1].cout, lastconv, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(lastconv, last_channel),  # the paper's "conv2d 1x1, NBN" to 1280 / 1024
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),  # "conv2d 1x1, NBN" to k
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
