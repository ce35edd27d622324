"""ResNeXt-50 (32x4d), ResNeXt-101 (32x8d), Wide ResNet-50-2 and -101-2, transcribed from
torchvision (``torchvision/models/resnet.py``: ``Bottleneck`` with ``groups`` and
``width_per_group``).

A bottleneck's inner width is ``int(planes * width_per_group / 64) * groups``: 32x4d gives
128 at the first stage (Xie et al. Table 1: "[1x1, 128; 3x3, 128, C=32; 1x1, 256]"), 32x8d
gives 256, and Wide ResNet's ``width_per_group=128`` doubles ResNet-50's inner widths (64 ->
128) while the block outputs stay 256/512/1024/2048. The stride sits on the 3x3 convolution,
as in the authors' code (facebookresearch/ResNeXt and szagoruyko/wide-residual-networks are
both built on fb.resnet.torch, which strides the 3x3); projection shortcuts (1x1 conv + BN)
where the shape changes. Names as torchvision's: ``conv1``, ``bn1``,
``layerN.M.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,downsample.1}``, ``fc``.
"""

from __future__ import annotations

import torch
from torch import nn

# layers, groups, width_per_group
CONFIGS = {
    "resnext50_32x4d": ([3, 4, 6, 3], 32, 4),
    "resnext101_32x8d": ([3, 4, 23, 3], 32, 8),
    "wide_resnet50_2": ([3, 4, 6, 3], 1, 128),
    "wide_resnet101_2": ([3, 4, 23, 3], 1, 128),
    "resnet50": ([3, 4, 6, 3], 1, 64),  # the baseline of Xie et al. Table 1
}


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, variant: str = "resnext50_32x4d", num_classes: int = 1000) -> None:
        super().__init__()
        layers, self.groups, self.base_width = CONFIGS[variant]
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, groups=self.groups, base_width=self.base_width) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
