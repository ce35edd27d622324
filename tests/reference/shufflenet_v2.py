"""ShuffleNetV2 0.5x/1.0x/1.5x/2.0x: the authors' implementation and torchvision's.

Two references, because they differ in parameters:

* ``ShuffleNetV2Megvii``: the paper authors' PyTorch code (megvii-model/ShuffleNet-Series,
  ``ShuffleNetV2/network.py`` and ``blocks.py``). The downsampling unit's projection branch
  keeps its input width (dw 3x3 + 1x1 ``inp -> inp``) and the main branch makes the rest
  (``oup - inp``); the classifier has no bias; 2.0x has dropout 0.2.
* ``ShuffleNetV2``: torchvision's (``torchvision/models/shufflenetv2.py``): both branches of
  the downsampling unit produce ``oup // 2``; the classifier has a bias.

They agree except in each stage2's first unit (input 24 is not half of the stage width) and
the classifier bias; torchvision's documented ``num_params`` are pinned for ``ShuffleNetV2``,
and the authors' counts are derived from that difference in the tests.
"""

from __future__ import annotations

import torch
from torch import nn

STAGE_OUT = {
    "x0_5": [24, 48, 96, 192, 1024],
    "x1_0": [24, 116, 232, 464, 1024],
    "x1_5": [24, 176, 352, 704, 1024],
    "x2_0": [24, 244, 488, 976, 2048],
}
REPEATS = [4, 8, 4]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(b, c, h, w)


# --- torchvision ---------------------------------------------------------------------------


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch_features = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch_features),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch_features, branch_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch_features, branch_features, 3, stride, 1, groups=branch_features, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """torchvision's ShuffleNetV2 (names: conv1, maxpool, stage2-4, conv5, fc)."""

    def __init__(self, variant: str = "x1_0", num_classes: int = 1000) -> None:
        super().__init__()
        out = STAGE_OUT[variant]
        self.conv1 = nn.Sequential(nn.Conv2d(3, out[0], 3, 2, 1, bias=False), nn.BatchNorm2d(out[0]), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = out[0]
        for name, repeats, cout in zip(("stage2", "stage3", "stage4"), REPEATS, out[1:4]):
            seq = [InvertedResidual(cin, cout, 2)] + [InvertedResidual(cout, cout, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*seq))
            cin = cout
        self.conv5 = nn.Sequential(nn.Conv2d(cin, out[-1], 1, 1, 0, bias=False), nn.BatchNorm2d(out[-1]), nn.ReLU(inplace=True))
        self.fc = nn.Linear(out[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x).mean([2, 3])  # global average pool written as a mean
        return self.fc(x)


# --- the authors' (megvii) -----------------------------------------------------------------


class ShuffleV2Block(nn.Module):
    def __init__(self, inp: int, oup: int, mid_channels: int, *, ksize: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        pad = ksize // 2
        outputs = oup - inp
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, mid_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, ksize, stride, pad, groups=mid_channels, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.Conv2d(mid_channels, outputs, 1, 1, 0, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
        )
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(inp, inp, ksize, stride, pad, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, inp, 1, 1, 0, bias=False),
                nn.BatchNorm2d(inp),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch_proj = None

    def forward(self, old_x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x_proj, x = self.channel_shuffle(old_x)
            return torch.cat((x_proj, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(old_x), self.branch_main(old_x)), 1)

    @staticmethod
    def channel_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.size()
        x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
        return x[0], x[1]


class ShuffleNetV2Megvii(nn.Module):
    """The paper authors' ShuffleNetV2 (names: first_conv, maxpool, features, conv_last, classifier)."""

    def __init__(self, variant: str = "x1_0", num_classes: int = 1000) -> None:
        super().__init__()
        out = STAGE_OUT[variant]
        self.variant = variant
        cin = out[0]
        self.first_conv = nn.Sequential(nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        features: list[nn.Module] = []
        for repeats, cout in zip(REPEATS, out[1:4]):
            for i in range(repeats):
                if i == 0:
                    features.append(ShuffleV2Block(cin, cout, mid_channels=cout // 2, ksize=3, stride=2))
                else:
                    features.append(ShuffleV2Block(cin // 2, cout, mid_channels=cout // 2, ksize=3, stride=1))
                cin = cout
        self.features = nn.Sequential(*features)
        self.conv_last = nn.Sequential(nn.Conv2d(cin, out[-1], 1, 1, 0, bias=False), nn.BatchNorm2d(out[-1]), nn.ReLU(inplace=True))
        self.globalpool = nn.AdaptiveAvgPool2d(1)  # the authors' AvgPool2d(7) at 224x224
        self.dropout = nn.Dropout(0.2) if variant == "x2_0" else nn.Identity()
        self.classifier = nn.Sequential(nn.Linear(out[-1], num_classes, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.first_conv(x))
        x = self.conv_last(self.features(x))
        x = self.dropout(self.globalpool(x))
        return self.classifier(torch.flatten(x, 1))
