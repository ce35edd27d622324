"""Small PyTorch models written for the tests (and used as ``tests/zoo.py:NAME`` references).

Each one exercises something a layer table of modules alone gets wrong: functional adds,
``x.mean`` in a squeeze-and-excitation gate, a tied weight and a module called twice, frozen
layers, attention with ``matmul``, a Python ``if`` on the input shape, a stored attribute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONSTANT = 42


class PlainCNN(nn.Module):
    """conv-bn-relu twice, max pool, global pool, linear."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))  # functional add and relu


class ResidualNet(nn.Module):
    """Residual blocks with functional adds; a functional adaptive average pool in the head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(Residual(16), Residual(16))
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SE(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(c, c // r, 1)
        self.expand = nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


class SENet(nn.Module):
    """A depthwise-separable stage with a squeeze-and-excitation gate built on ``x.mean``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.se = SE(16)
        self.pw = nn.Conv2d(16, 24, 1, bias=False)
        self.head = nn.Linear(24, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw(self.se(F.silu(self.dw(self.stem(x)))))
        return self.head(x.mean((2, 3)))


class TiedNet(nn.Module):
    """An encoder and decoder sharing one weight, and a convolution applied twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.inp = nn.Conv2d(3, 4, 1)
        self.enc = nn.Linear(16, 16, bias=False)
        self.dec = nn.Linear(16, 16)
        self.dec.weight = self.enc.weight
        self.out = nn.Linear(4 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.conv(self.inp(x)))  # one module, two calls
        x = F.adaptive_avg_pool2d(x, 4).flatten(2)  # 1 x 4 x 16
        x = self.dec(torch.relu(self.enc(x)))
        return self.out(x.flatten(1))


class FrozenNet(nn.Module):
    """A frozen backbone (requires_grad=False) and a trainable head."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).flatten(1))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class AttentionNet(nn.Module):
    """Patches from a strided convolution, layer norm, multi-head attention with matmul."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = tokens + self.attn(self.norm(tokens))
        return self.head(tokens.mean(1))


class ShapeIfNet(nn.Module):
    """Downsamples only inputs wider than 32 pixels: a Python ``if`` on the input shape."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 32:
            x = self.down(x)
        return self.fc(self.conv(x).mean((2, 3)))


class StoresOutput(nn.Module):
    """Keeps its last hidden tensor as an attribute (as auxiliary heads do)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.last = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.conv(x)
        return self.last.relu()


class ItemNet(nn.Module):
    """Reads a value with ``.item()``: impossible on the meta device, so it runs on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * (1.0 if y.abs().max().item() >= 0 else 0.0)


class ItemInInit(nn.Module):
    """Computes a width from a tensor when built, which the meta device refuses."""

    def __init__(self) -> None:
        super().__init__()
        width = int(torch.tensor([6.0]).sum().item() + torch.ones(2).sum().item())
        self.conv = nn.Conv2d(3, width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class NeedsArgs(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("this model is broken on purpose")


class Declared(PlainCNN):
    """Declares its input the way timm models do."""

    default_cfg = {"input_size": (3, 40, 40)}


def plain_cnn(num_classes: int = 10) -> nn.Module:
    return PlainCNN(num_classes)


def not_a_model() -> int:
    return 3


instance = PlainCNN(4)


class TorchAttention(nn.Module):
    """PyTorch's own attention layers: nn.MultiheadAttention (attention weights returned, so
    explicit products) and nn.TransformerEncoderLayer (scaled_dot_product_attention inside
    F.multi_head_attention_forward)."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.encoder = nn.TransformerEncoderLayer(dim, 4, 2 * dim, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _weights = self.mha(x, x, x)
        return self.encoder(y)
