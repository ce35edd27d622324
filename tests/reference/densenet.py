"""DenseNet-121/169/201/161, transcribed from torchvision (``torchvision/models/densenet.py``).

The authors' code is Lua Torch (liuzhuang13/DenseNet, ``models/densenet.lua``, the ImageNet
"DenseNet-BC" configuration); torchvision's port has the same layers (pre-activation BN-ReLU-
conv, bias-free convolutions, bottleneck width 4k, compression 0.5, 7x7/2 stem with BN-ReLU
and a 3x3/2 max pool, a final BN, a biased classifier) and its documented ``num_params`` are
what the tests pin. Names as torchvision's: ``features.conv0/norm0/pool0``,
``features.denseblockN.denselayerM.{norm1,conv1,norm2,conv2}``, ``features.transitionN``,
``features.norm5``, ``classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# growth rate, block config, initial features (Table 1; 161, k=48, is not in the paper but one of the authors' released models)
CONFIGS = {
    "121": (32, (6, 12, 24, 16), 64),
    "169": (32, (6, 12, 32, 32), 64),
    "201": (32, (6, 12, 48, 32), 64),
    "161": (48, (6, 12, 36, 24), 96),
}


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, init_features: torch.Tensor) -> torch.Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    def __init__(self, variant: str = "121", bn_size: int = 4, num_classes: int = 1000) -> None:
        super().__init__()
        growth_rate, block_config, num_init_features = CONFIGS[variant]
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", _DenseBlock(num_layers, num_features, bn_size, growth_rate))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x))
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.classifier(torch.flatten(out, 1))
