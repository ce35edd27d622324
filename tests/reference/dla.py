"""DLA (Deep Layer Aggregation, Yu et al., CVPR 2018) with basic blocks, transcribed from
timm's ``timm/models/dla.py`` (``DlaBasic``, ``DlaRoot``, ``DlaTree``, ``DLA``), which follows
the authors' code (ucbdrive/dla ``dla.py``), without importing timm.

A tree of ``levels`` 1 is two blocks and a root: ``x1 = block(x, shortcut=project(bottom))``
(``bottom`` the input max-pooled by the stride, ``project`` a 1x1 conv + BN when the width
changes), ``x2 = block(x1)``, then the root ``relu(bn(conv1x1(cat([x2, x1, *children]))))``.
A tree of ``levels`` 2 is a tree for ``x1`` and a tree for the output whose root also takes
``children``: ``bottom`` when the tree is a level root (its input max-pooled) and ``x1``.
That is the aggregation the spec language writes with ``concat: {from: [...]}``.

Kept as timm has it: the ``project`` module registered (as an identity) before ``tree1``, so
it comes first in ``named_parameters``; a tree of levels > 1 max-pools its input again for
its own ``bottom``; ``root_shortcut`` off (DLA-34). Simplified: timm's classifier
``SelectAdaptivePool2d('avg')`` is the ``nn.AdaptiveAvgPool2d(1)`` it wraps.
``DLA(levels=(1, 1, 1, 2, 2, 1), channels=(16, 32, 64, 128, 256, 512))`` is DLA-34.
"""

from __future__ import annotations

import torch
from torch import nn


class DlaBasic(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=dilation, bias=False,
                               dilation=dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=dilation, bias=False,
                               dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor | None = None) -> torch.Tensor:
        if shortcut is None:
            shortcut = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out += shortcut
        out = self.relu(out)
        return out


class DlaRoot(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, shortcut: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False, padding=(kernel_size - 1) // 2)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x_children: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv(torch.cat(x_children, 1))
        x = self.bn(x)
        if self.shortcut:
            x += x_children[0]
        x = self.relu(x)
        return x


class DlaTree(nn.Module):
    def __init__(self, levels: int, in_channels: int, out_channels: int, stride: int = 1, level_root: bool = False,
                 root_dim: int = 0, root_kernel_size: int = 1, root_shortcut: bool = False) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else nn.Identity()
        self.project: nn.Module = nn.Identity()
        if levels == 1:
            self.tree1: nn.Module = DlaBasic(in_channels, out_channels, stride)
            self.tree2: nn.Module = DlaBasic(out_channels, out_channels, 1)
            if in_channels != out_channels:
                self.project = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False),
                    nn.BatchNorm2d(out_channels))
            self.root: nn.Module | None = DlaRoot(root_dim, out_channels, root_kernel_size, root_shortcut)
        else:
            cargs = dict(root_kernel_size=root_kernel_size, root_shortcut=root_shortcut)
            self.tree1 = DlaTree(levels - 1, in_channels, out_channels, stride, root_dim=0, **cargs)
            self.tree2 = DlaTree(levels - 1, out_channels, out_channels, root_dim=root_dim + out_channels, **cargs)
            self.root = None
        self.level_root = level_root
        self.root_dim = root_dim
        self.levels = levels

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor | None = None,
                children: list[torch.Tensor] | None = None) -> torch.Tensor:
        if children is None:
            children = []
        bottom = self.downsample(x)
        shortcut = self.project(bottom)
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, shortcut)
        if self.levels == 1:
            x2 = self.tree2(x1)
            assert self.root is not None
            x = self.root([x2, x1] + children)
        else:
            children.append(x1)
            x = self.tree2(x1, None, children)
        return x


class DLA(nn.Module):
    def __init__(self, levels: tuple[int, ...] = (1, 1, 1, 2, 2, 1),
                 channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512), num_classes: int = 1000,
                 in_chans: int = 3) -> None:
        super().__init__()
        self.base_layer = nn.Sequential(
            nn.Conv2d(in_chans, channels[0], kernel_size=7, stride=1, padding=3, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True))
        self.level0 = self._make_conv_level(channels[0], channels[0], levels[0])
        self.level1 = self._make_conv_level(channels[0], channels[1], levels[1], stride=2)
        self.level2 = DlaTree(levels[2], channels[1], channels[2], 2, level_root=False)
        self.level3 = DlaTree(levels[3], channels[2], channels[3], 2, level_root=True)
        self.level4 = DlaTree(levels[4], channels[3], channels[4], 2, level_root=True)
        self.level5 = DlaTree(levels[5], channels[4], channels[5], 2, level_root=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels[-1], num_classes, kernel_size=1, bias=True)
        self.flatten = nn.Flatten(1)

    @staticmethod
    def _make_conv_level(inplanes: int, planes: int, convs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        modules: list[nn.Module] = []
        for i in range(convs):
            modules.extend([
                nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride if i == 0 else 1, padding=dilation,
                          bias=False, dilation=dilation),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True)])
            inplanes = planes
        return nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.base_layer(x)
        for level in (self.level0, self.level1, self.level2, self.level3, self.level4, self.level5):
            x = level(x)
        return self.flatten(self.fc(self.global_pool(x)))
