"""RegNetX and RegNetY, transcribed from the authors' code (facebookresearch/pycls:
``pycls/models/regnet.py``, ``anynet.py``, ``blocks.py``; configurations from
``configs/dds_baselines/regnet{x,y}/RegNet{X,Y}-*_dds_8gpu.yaml``).

A RegNet is six numbers (depth d, w_0, w_a, w_m, group width g, SE on/off); the stage widths
and depths follow from ``generate_regnet`` (per-block widths u_j = w_0 + w_a * j, quantized to
w_0 * w_m^round(log(u_j / w_0) / log(w_m)), rounded to multiples of 8) and
``adjust_block_compatibility`` (bottleneck width a multiple of the group width, groups <= width).
pycls defaults: stem 3x3/2 conv to 32 + BN + ReLU ("simple_stem_in"), every stage strides 2,
bottleneck multiplier 1.0, SE ratio 0.25 of the *block input* width (``w_se =
round(w_in * 0.25)``, applied on the bottleneck width, biased 1x1 convs, ReLU, sigmoid), a
1x1 projection + BN shortcut when the width or stride changes, head: average pool + biased FC.

Names follow pycls: ``stem.{conv,bn}``, ``s1.b1.{proj,bn,f.{a,a_bn,b,b_bn,se.f_ex.0,se.f_ex.2,c,c_bn}}``,
``head.fc``. torchvision's ``regnet_*`` are the same networks (``block_params`` from the same
six numbers) where it has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# name: (depth, w_0, w_a, w_m, group width, SE), from pycls's dds_baselines configs
CONFIGS = {
    "x_200mf": (13, 24, 36.44, 2.49, 8, False),
    "x_400mf": (22, 24, 24.48, 2.54, 16, False),
    "x_600mf": (16, 48, 36.97, 2.24, 24, False),
    "x_800mf": (16, 56, 35.73, 2.28, 16, False),
    "x_1_6gf": (18, 80, 34.01, 2.25, 24, False),
    "y_200mf": (13, 24, 36.44, 2.49, 8, True),
    "y_400mf": (16, 48, 27.89, 2.09, 8, True),
    "y_600mf": (15, 48, 32.54, 2.32, 16, True),
    "y_800mf": (14, 56, 38.84, 2.4, 16, True),
    "y_1_6gf": (27, 48, 20.71, 2.65, 24, True),
}
STEM_W = 32
SE_R = 0.25


def generate_regnet(w_a: float, w_0: int, w_m: float, d: int, q: int = 8) -> tuple[list[int], list[int]]:
    """Per-stage widths and depths from the RegNet parameters (pycls's generate_regnet)."""
    assert w_a >= 0 and w_0 > 0 and w_m > 1 and w_0 % q == 0
    ws_cont = np.arange(d) * w_a + w_0
    ks = np.round(np.log(ws_cont / w_0) / np.log(w_m))
    ws_all = w_0 * np.power(w_m, ks)
    ws_all = np.round(np.divide(ws_all, q)).astype(int) * q
    ws, ds = np.unique(ws_all, return_counts=True)
    return [int(w) for w in ws], [int(x) for x in ds]


def adjust_block_compatibility(ws: list[int], bs: list[float], gs: list[int]) -> tuple[list[int], list[float], list[int]]:
    """Make each bottleneck width a multiple of its group width (pycls's blocks.py)."""
    vs = [int(max(1, w * b)) for w, b in zip(ws, bs)]
    gs = [int(min(g, v)) for g, v in zip(gs, vs)]
    ms = [int(np.lcm(g, int(b))) if b > 1 else g for g, b in zip(gs, bs)]
    vs = [max(m, int(round(v / m) * m)) for v, m in zip(vs, ms)]
    ws = [int(v / b) for v, b in zip(vs, bs)]
    assert all(w * b % g == 0 for w, b, g in zip(ws, bs, gs))
    return ws, bs, gs


@dataclass(frozen=True)
class Stage:
    width: int
    depth: int
    group_w: int


def make_divisible_torchvision(v: int, divisor: int) -> int:
    """torchvision's ``_make_divisible``: round half up, never more than 10% below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def stages_of(variant: str, rounding: str = "pycls") -> list[Stage]:
    """Stage widths, depths and group widths.

    ``rounding="pycls"`` (the authors'): the bottleneck width is rounded to a multiple of the
    group width with Python's ``round`` (half to even: 392 / 16 = 24.5 -> 24 -> 384).
    ``rounding="torchvision"``: torchvision's ``_make_divisible`` rounds half up (-> 400),
    which changes RegNetX-400MF's last stage (384 -> 400) and RegNetY-800MF's second and last
    (128 -> 144, 768 -> 784): torchvision's regnet_x_400mf and regnet_y_800mf are not the
    authors' networks (5,495,976 vs 5,157,512 and 6,432,512 vs 6,263,168 parameters).
    """
    d, w_0, w_a, w_m, g, _ = CONFIGS[variant]
    ws, ds = generate_regnet(w_a, w_0, w_m, d)
    if rounding == "pycls":
        ws, _, gs = adjust_block_compatibility(ws, [1.0] * len(ws), [g] * len(ws))
    elif rounding == "torchvision":
        gs = [min(g, w) for w in ws]
        ws = [make_divisible_torchvision(w, gw) for w, gw in zip(ws, gs)]
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    return [Stage(w, n, gw) for w, n, gw in zip(ws, ds, gs)]


def conv2d(w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    assert k % 2 == 1, "only odd kernels"
    return nn.Conv2d(w_in, w_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=bias)


class SE(nn.Module):
    def __init__(self, w_in: int, w_se: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.f_ex = nn.Sequential(conv2d(w_in, w_se, 1, bias=True), nn.ReLU(inplace=True),
                                  conv2d(w_se, w_in, 1, bias=True), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f_ex(self.avg_pool(x))


class BottleneckTransform(nn.Module):
    def __init__(self, w_in: int, w_out: int, stride: int, group_w: int, se_r: float) -> None:
        super().__init__()
        w_b = int(round(w_out * 1.0))
        w_se = int(round(w_in * se_r))
        groups = w_b // group_w
        self.a = conv2d(w_in, w_b, 1)
        self.a_bn = nn.BatchNorm2d(w_b)
        self.a_af = nn.ReLU(inplace=True)
        self.b = conv2d(w_b, w_b, 3, stride=stride, groups=groups)
        self.b_bn = nn.BatchNorm2d(w_b)
        self.b_af = nn.ReLU(inplace=True)
        self.se = SE(w_b, w_se) if w_se else None
        self.c = conv2d(w_b, w_out, 1)
        self.c_bn = nn.BatchNorm2d(w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class ResBottleneckBlock(nn.Module):
    def __init__(self, w_in: int, w_out: int, stride: int, group_w: int, se_r: float) -> None:
        super().__init__()
        self.proj, self.bn = None, None
        if (w_in != w_out) or (stride != 1):
            self.proj = conv2d(w_in, w_out, 1, stride=stride)
            self.bn = nn.BatchNorm2d(w_out)
        self.f = BottleneckTransform(w_in, w_out, stride, group_w, se_r)
        self.af = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_p = self.bn(self.proj(x)) if self.proj is not None else x
        return self.af(x_p + self.f(x))


class AnyStage(nn.Module):
    def __init__(self, w_in: int, w_out: int, stride: int, d: int, group_w: int, se_r: float) -> None:
        super().__init__()
        for i in range(d):
            self.add_module(f"b{i + 1}", ResBottleneckBlock(w_in, w_out, stride, group_w, se_r))
            stride, w_in = 1, w_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.children():
            x = block(x)
        return x


class SimpleStemIN(nn.Module):
    def __init__(self, w_in: int, w_out: int) -> None:
        super().__init__()
        self.conv = conv2d(w_in, w_out, 3, stride=2)
        self.bn = nn.BatchNorm2d(w_out)
        self.af = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.af(self.bn(self.conv(x)))


class AnyHead(nn.Module):
    def __init__(self, w_in: int, num_classes: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avg_pool(x), 1))


class RegNet(nn.Module):
    def __init__(self, variant: str = "y_400mf", num_classes: int = 1000, rounding: str = "pycls") -> None:
        super().__init__()
        se_r = SE_R if CONFIGS[variant][5] else 0.0
        self.stem = SimpleStemIN(3, STEM_W)
        prev_w = STEM_W
        for i, st in enumerate(stages_of(variant, rounding)):
            self.add_module(f"s{i + 1}", AnyStage(prev_w, st.width, 2, st.depth, st.group_w, se_r))
            prev_w = st.width
        self.head = AnyHead(prev_w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x
