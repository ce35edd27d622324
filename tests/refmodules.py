"""Hand-written reference modules, written the way torchvision writes them (torchvision is
not a dependency; these follow its source: ``ops/misc.py``, ``ops/stochastic_depth.py``,
``models/convnext.py``, ``shufflenetv2.py``, ``mobilenetv3.py``, ``resnet.py``,
``densenet.py``, ``squeezenet.py``). The tests build a spec and compare it with one of these.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

# one transcription of torchvision's code serves both test suites
from reference.mobilenet_v3 import _make_divisible as make_divisible  # noqa: F401
from reference.shufflenet_v2 import InvertedResidual as ShuffleUnit  # noqa: F401
from reference.shufflenet_v2 import channel_shuffle  # noqa: F401
from reference.squeezenet import Fire  # noqa: F401


class Permute(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep)


class LayerScale2d(nn.Module):
    """timm's LayerScale2d: a per-channel ``gamma``."""

    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


class CNBlock(nn.Module):
    """torchvision ConvNeXt block: 7x7 depthwise, channels-last LN, Linear 4x, GELU, Linear,
    layer scale, stochastic depth, plus the input."""

    def __init__(self, dim: int, layer_scale: float = 1e-6, sd_prob: float = 0.0) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim, bias=True),
            nn.GELU(),
            nn.Linear(4 * dim, dim, bias=True),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(sd_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.layer_scale * self.block(x)
        result = self.stochastic_depth(result)
        result += x
        return result


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation."""

    def __init__(self, input_channels: int, squeeze_channels: int, activation=nn.ReLU, scale_activation=nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.avgpool(x)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        return self.scale_activation(scale) * x


def conv_bn_act(inp: int, out: int, k: int, stride: int = 1, groups: int = 1, act=nn.ReLU) -> list[nn.Module]:
    """torchvision's Conv2dNormActivation, flattened: conv (no bias), BN, optional act."""
    layers: list[nn.Module] = [nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    if act is not None:
        layers.append(act())
    return layers


class MobileNetV3Block(nn.Module):
    """torchvision's MobileNetV3 InvertedResidual for one row of Table 1/2."""

    def __init__(self, inp: int, kernel: int, expanded: int, out: int, use_se: bool, act: str, stride: int) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        activation = nn.Hardswish if act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(nn.Sequential(*conv_bn_act(inp, expanded, 1, act=activation)))
        layers.append(nn.Sequential(*conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act=activation)))
        if use_se:
            squeeze = make_divisible(expanded // 4, 8)
            layers.append(SqueezeExcitation(expanded, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(nn.Sequential(*conv_bn_act(expanded, out, 1, act=None)))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result += x
        return result


class ResNeXtBottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3) with groups and base width."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * self.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class RegNetBlock(nn.Module):
    """torchvision's RegNet ResBottleneckBlock (BottleneckTransform + projection): 1x1 to
    w_b = round(w_out x b), 3x3 grouped in w_b / group_width groups, SE with
    round(se_ratio x w_in) channels, 1x1 to w_out, projection when the shape changes, ReLU.
    (torchvision registers ``proj`` before ``f``; the order here is the computation's.)"""

    def __init__(self, w_in: int, w_out: int, stride: int, group_width: int, b: float, se_ratio: float) -> None:
        super().__init__()
        w_b = int(round(w_out * b))
        layers: list[nn.Module] = [
            nn.Sequential(*conv_bn_act(w_in, w_b, 1)),
            nn.Sequential(*conv_bn_act(w_b, w_b, 3, stride, groups=w_b // group_width)),
        ]
        if se_ratio:
            layers.append(SqueezeExcitation(w_b, int(round(se_ratio * w_in))))
        layers.append(nn.Sequential(*conv_bn_act(w_b, w_out, 1, act=None)))
        self.f = nn.Sequential(*layers)
        self.proj = None
        if w_in != w_out or stride != 1:
            self.proj = nn.Sequential(*conv_bn_act(w_in, w_out, 1, stride, act=None))
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.f(x)
        return self.activation(y + (self.proj(x) if self.proj is not None else x))


class DenseLayer(nn.Module):
    """torchvision's _DenseLayer followed by the concatenation its _DenseBlock does:
    pre-activation BN-ReLU-conv with bias-free convolutions and no BN after the last."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


class Lambda(nn.Module):
    """A module around a function (``x.mean([2, 3])`` as ShuffleNetV2's forward writes it)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


global_mean = partial(Lambda, lambda x: x.mean([2, 3]))
