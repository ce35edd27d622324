"""SqueezeNet 1.0 and 1.1, transcribed from torchvision (``torchvision/models/squeezenet.py``).

The authors' reference is Caffe (forresti/SqueezeNet: ``SqueezeNet_v1.0/train_val.prototxt``
and ``SqueezeNet_v1.1``); torchvision's port has the same layers: conv1 without padding,
ceil-mode 3x3/2 max pools (Caffe's pooling rounds up), fire modules with biased 1x1 squeeze and
1x1/3x3 (pad 1) expand convolutions, dropout 0.5, conv10 (1x1 to the classes, biased, ReLU)
and global average pooling. Names as torchvision's: ``features.N.{squeeze,expand1x1,
expand3x3}``, ``classifier.1`` (conv10).

1.1 (the authors' SqueezeNet_v1.1): a 3x3/2 conv1 with 64 filters, pooling after conv1,
fire3 and fire5 instead of conv1, fire4 and fire8; the fire modules unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class SqueezeNet(nn.Module):
    def __init__(self, variant: str = "1_0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                _pool(),
                Fire(96, 16, 64, 64),  # fire2
                Fire(128, 16, 64, 64),  # fire3
                Fire(128, 32, 128, 128),  # fire4
                _pool(),
                Fire(256, 32, 128, 128),  # fire5
                Fire(256, 48, 192, 192),  # fire6
                Fire(384, 48, 192, 192),  # fire7
                Fire(384, 64, 256, 256),  # fire8
                _pool(),
                Fire(512, 64, 256, 256),  # fire9
            )
        elif variant == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                _pool(),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                _pool(),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                _pool(),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"unknown SqueezeNet variant {variant!r}")
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)  # conv10
        self.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)
