"""ConvNeXt T/S/B/L, transcribed from the authors' code (facebookresearch/ConvNeXt,
``models/convnext.py``).

Structure and names as there: ``downsample_layers`` (stem: 4x4/4 conv + channels-first
LayerNorm; then LayerNorm + 2x2/2 conv between stages), ``stages`` of ``Block`` (7x7
depthwise conv, channels-last LayerNorm, ``pwconv1`` Linear 4x, GELU, ``pwconv2`` Linear,
layer scale ``gamma`` (init 1e-6), residual), the final ``norm`` (LayerNorm on the pooled
vector) and ``head``. Every conv and Linear has a bias; every LayerNorm has weight and bias
(eps 1e-6). torchvision's ``convnext_*`` have the same parameter counts (its layer scale is a
(C,1,1) tensor, its final norm a LayerNorm2d before flatten).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONFIGS = {
    "tiny": ([3, 3, 9, 3], [96, 192, 384, 768]),
    "small": ([3, 3, 27, 3], [96, 192, 384, 768]),
    "base": ([3, 3, 27, 3], [128, 256, 512, 1024]),
    "large": ([3, 3, 27, 3], [192, 384, 768, 1536]),
}


class LayerNorm(nn.Module):
    """LayerNorm over channels, channels_last (N,H,W,C) or channels_first (N,C,H,W)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-6, data_format: str = "channels_last") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        self.data_format = data_format
        self.normalized_shape = (normalized_shape,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Block(nn.Module):
    def __init__(self, dim: int, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim)) if layer_scale_init_value > 0 else None
        self.drop_path = nn.Identity()  # stochastic depth: no parameters, identity at inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp = x
        x = self.dwconv(x).permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        if self.gamma is not None:
            x = self.gamma * x
        return inp + self.drop_path(x.permute(0, 3, 1, 2))


class ConvNeXt(nn.Module):
    def __init__(self, variant: str = "tiny", num_classes: int = 1000) -> None:
        super().__init__()
        depths, dims = CONFIGS[variant]
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(
            nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm(dims[0], eps=1e-6, data_format="channels_first"))
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(LayerNorm(dims[i], eps=1e-6, data_format="channels_first"),
                              nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            )
        self.stages = nn.ModuleList(nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))  # global average pooling, (N, C, H, W) -> (N, C)
