"""The tool-parity suite: 100+ models nobody wrote for cnninspect, each with its inputs.

* torchinfo's own test fixtures (``tests/vendor/torchinfo``, MIT, vendored unchanged), with
  the inputs torchinfo's tests give them;
* plain-PyTorch models of the kinds the tool-exact conventions got wrong outside CNNs:
  transformer encoders (``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``,
  ``F.scaled_dot_product_attention``), window attention with ``reshape(-1, ...)``, patch
  unfolding, ``flatten(0, 1)``, LSTM/GRU language models on long integer inputs, and CNNs.

Each :class:`Case` builds a fresh model (seeded) and its inputs (positional and keyword), so
every tool runs on its own instance: torchinfo and fvcore attach hooks while they count.
``tests/test_tool_parity.py`` runs the tools; ``scripts/parity_table.py`` tabulates them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vendor.torchinfo import genotype as ti_genotype
from vendor.torchinfo import models as ti
from vendor.torchinfo import tmva_net as ti_tmva


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    source: str  # "torchinfo fixtures" or "plain PyTorch"

    def model(self) -> nn.Module:
        torch.manual_seed(0)
        return self.build().eval()

    def data(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        torch.manual_seed(1)
        return self.inputs()


CASES: dict[str, Case] = {}


def case(name: str, build: Callable[[], nn.Module], *args: Callable[[], Any], source: str = "plain PyTorch",
         kwargs: Callable[[], dict[str, Any]] | None = None) -> None:
    if name in CASES:
        raise ValueError(f"case {name!r} defined twice")
    CASES[name] = Case(name, build, lambda: (tuple(a() for a in args), kwargs() if kwargs else {}), source)


def randn(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(*shape)


def ids(vocab: int, *shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(0, vocab, shape)


# --- torchinfo's fixtures, with the inputs of torchinfo's own tests ------------------------------

T = "torchinfo fixtures"
case("ti.SingleInputNet", ti.SingleInputNet, randn(16, 1, 28, 28), source=T)
case("ti.SingleInputNet.b2", ti.SingleInputNet, randn(2, 1, 28, 28), source=T)
case("ti.LinearModel", ti.LinearModel, randn(1, 128), source=T)
case("ti.MultipleInputNetDifferentDtypes", ti.MultipleInputNetDifferentDtypes, randn(1, 300),
     lambda: torch.randn(1, 300).long(), source=T)
case("ti.LSTMNet", ti.LSTMNet, ids(20, 1, 100), source=T)
case("ti.LSTMNet.seq100", ti.LSTMNet, ids(20, 100, 1), source=T)
case("ti.RecursiveNet", ti.RecursiveNet, randn(1, 64, 28, 28), source=T)
case("ti.CustomParameter", lambda: ti.CustomParameter(8, 4), randn(1), source=T)
case("ti.ParameterListModel", ti.ParameterListModel, randn(100, 100), source=T)
case("ti.SiameseNets", ti.SiameseNets, randn(1, 1, 88, 88), randn(1, 1, 88, 88), source=T)
case("ti.FunctionalNet", ti.FunctionalNet, randn(2, 1, 28, 28), source=T)  # view(-1, 2048): 2 samples, 1 row
case("ti.ReturnDict", ti.ReturnDict, randn(1, 1, 28, 28), lambda: [12], source=T)
case("ti.ModuleDictModel", ti.ModuleDictModel, randn(1, 10, 3, 3), source=T,
     kwargs=lambda: {"layer_type": "conv", "activation_type": "lrelu"})
case("ti.ModuleDictModel.pool", ti.ModuleDictModel, randn(1, 10, 3, 3), source=T,
     kwargs=lambda: {"layer_type": "pool", "activation_type": "prelu"})
case("ti.ContainerModule", ti.ContainerModule, randn(1, 5), source=T)
case("ti.ContainerChildModule", ti.ContainerChildModule, randn(1, 5), source=T)
case("ti.AutoEncoder", ti.AutoEncoder, randn(1, 3, 64, 64), source=T)
case("ti.PartialJITModel", ti.PartialJITModel, randn(2, 1, 28, 28), source=T)
case("ti.MixedTrainableParameters", ti.MixedTrainableParameters, randn(1, 10), source=T)
case("ti.MixedTrainable", ti.MixedTrainable, randn(1, 1, 1), source=T)
case("ti.ReuseLinear", ti.ReuseLinear, randn(2, 10), source=T)
case("ti.ReuseLinearExtended", ti.ReuseLinearExtended, randn(2, 10), source=T)
case("ti.ReuseReLU", ti.ReuseReLU, randn(4, 4, 64, 64), source=T)
case("ti.SharedModuleInNestedList", ti.SharedModuleInNestedList, randn(2, 4), source=T)
case("ti.TiedWeightsModel", ti.TiedWeightsModel, ids(1000, 2, 8), source=T)
case("ti.PrunedLayerNameModel", lambda: ti.PrunedLayerNameModel(8, 4), randn(1), source=T)
case("ti.FakePrunedLayerModel", lambda: ti.FakePrunedLayerModel(8, 4), randn(1), source=T)
case("ti.RegisterParameter", lambda: ti.RegisterParameter(nn.Linear(2, 2), nn.Linear(2, 2)), randn(1, 2), source=T)
case("ti.ParameterFCNet", lambda: ti.ParameterFCNet(128, 64, 32), randn(3, 128), source=T)
case("ti.ParameterFCNet.2", lambda: ti.ParameterFCNet(128, 64), randn(3, 128), source=T)
case("ti.InsideModel", ti.InsideModel, randn(1, 2), source=T)
case("ti.RecursiveWithMissingLayers", ti.RecursiveWithMissingLayers, randn(2, 3, 128, 128), source=T)
case("ti.CNNModuleList.A", lambda: ti.CNNModuleList(ti.ConvLayerA), randn(1, 1, 10), source=T)
case("ti.CNNModuleList.B", lambda: ti.CNNModuleList(ti.ConvLayerB), randn(1, 1, 10), source=T)
case("ti.SimpleRNN", ti.SimpleRNN, randn(2, 3), source=T)
case("ti.TensorKernelSizeConv", ti.TensorKernelSizeConv, randn(1, 1, 16), source=T)
case("ti.ScalarTensorInputNet", ti.ScalarTensorInputNet, randn(2, 10), lambda: torch.tensor(2.0), source=T)
case("ti.CategoricalOutputModel", ti.CategoricalOutputModel, randn(2, 10), source=T)
case("ti.NormalOutputModel", ti.NormalOutputModel, randn(2, 10), source=T)
case("ti.ScalarNet", ti.ScalarNet, randn(1, 64, 28, 28), lambda: 5.0, source=T)
case("ti.EdgeCaseModel", ti.EdgeCaseModel, randn(1, 1, 28, 28), source=T)
case("ti.PackPaddedLSTM", ti.PackPaddedLSTM, ids(60, 20, 2), source=T,
     kwargs=lambda: {"lengths": torch.tensor([20, 15])})
case("ti.DictWithNonTensorValues", ti.DictWithNonTensorValues,
     lambda: {"tensor": torch.rand(1, 3, 32, 32), "label": "cat"}, source=T)
case("ti.GenotypeNetwork", ti_genotype.GenotypeNetwork, randn(2, 3, 32, 32), source=T)
case("ti.TMVANet", lambda: ti_tmva.TMVANet(n_classes=4, n_frames=5), randn(1, 1, 5, 256, 64),
     randn(1, 1, 5, 256, 256), randn(1, 1, 5, 256, 64), source=T)


# --- plain PyTorch: transformers ------------------------------------------------------------------


class ViT(nn.Module):
    """A ViT-style encoder: patch embedding by a strided conv, class token, position
    embedding, ``nn.TransformerEncoderLayer`` blocks (``nn.MultiheadAttention`` inside)."""

    def __init__(self, image: int = 32, patch: int = 8, dim: int = 64, depth: int = 2, heads: int = 4,
                 classes: int = 10, norm_first: bool = True) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.1, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.encoder(x))[:, 0])


class MHABlock(nn.Module):
    """Pre-norm block with an explicit ``nn.MultiheadAttention`` and an MLP."""

    def __init__(self, dim: int, heads: int, need_weights: bool = False) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.n1(x)
        x = x + self.attn(h, h, h, need_weights=self.need_weights)[0]
        return x + self.mlp(self.n2(x))


class MHANet(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4, depth: int = 2, need_weights: bool = False) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[MHABlock(dim, heads, need_weights) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class SDPAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class ManualAttention(nn.Module):
    """Attention written out: ``q @ k.transpose``, softmax, ``@ v``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1) / math.sqrt(c // self.heads)).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))


class AttnNet(nn.Module):
    def __init__(self, attn: type[nn.Module], dim: int = 32, heads: int = 4, depth: int = 2, **kw: Any) -> None:
        super().__init__()
        self.embed = nn.Linear(16, dim)
        self.attns = nn.ModuleList([attn(dim, heads, **kw) for _ in range(depth)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for a, n in zip(self.attns, self.norms):
            x = x + a(n(x))
        return x


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def window_reverse(x: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    b = x.shape[0] // ((h // w) * (wd // w))
    x = x.view(b, h // w, wd // w, w, w, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(heads, window * window, window * window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1) + self.bias
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    """A Swin-style block: windows cut by ``reshape(-1, w*w, C)`` (the windows become the
    first dimension), optional cyclic shift, then an MLP."""

    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        y = self.n1(x)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
        y = window_reverse(self.attn(window_partition(y, self.window)), self.window, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + y
        return x + self.mlp(self.n2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class Swin(nn.Module):
    def __init__(self, dim: int = 32, window: int = 4, stages: tuple[int, ...] = (2, 2), classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, 4)
        layers: list[nn.Module] = []
        for i, depth in enumerate(stages):
            layers += [SwinBlock(dim, 2, window, (window // 2) * (j % 2)) for j in range(depth)]
            if i < len(stages) - 1:
                layers.append(PatchMerging(dim))
                dim *= 2
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.embed(x).permute(0, 2, 3, 1))
        return self.head(x.mean((1, 2)))


class PatchUnfoldMLP(nn.Module):
    """MobileViT-style patch unfolding: ``(B, C, H, W) -> (B*P, N, C)`` so a Linear runs
    with the patches in its first dimension, then folded back."""

    def __init__(self, c: int = 16, patch: int = 2, dim: int = 24) -> None:
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.inp = nn.Linear(c, dim)
        self.attn = SDPAttention(dim, 2)
        self.out = nn.Linear(dim, c)
        self.fuse = nn.Conv2d(2 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, c, h, w = y.shape
        p = self.patch
        t = y.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, (h // p) * (w // p), c)
        t = self.out(self.attn(self.inp(t)))
        t = t.reshape(b, p, p, h // p, w // p, c).permute(0, 5, 3, 1, 4, 2).reshape(b, c, h, w)
        return self.fuse(torch.cat([y, t], 1))


class ReshapeLinear(nn.Module):
    """The minimal case: a Linear on ``x.reshape(-1, 4, 8)``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.reshape(-1, 4, 8))


class Flatten01(nn.Module):
    """Batch and time folded together with ``flatten(0, 1)`` before a conv and a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.conv(x.flatten(0, 1)).mean((2, 3))
        return self.fc(y).unflatten(0, (b, t))


class TokenMLP(nn.Module):
    """Tokens flattened into rows: Linear on a ``(B*N, C)`` matrix."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 64), nn.Linear(64, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return self.fc2(F.gelu(self.fc1(x.reshape(b * n, c)))).reshape(b, n, c)


class MLPMixer(nn.Module):
    def __init__(self, image: int = 32, patch: int = 4, dim: int = 32, depth: int = 2, classes: int = 10) -> None:
        super().__init__()
        n = (image // patch) ** 2
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.ModuleDict({
                "n1": nn.LayerNorm(dim), "tok": nn.Sequential(nn.Linear(n, 2 * n), nn.GELU(), nn.Linear(2 * n, n)),
                "n2": nn.LayerNorm(dim), "ch": nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)),
            }))
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        for blk in self.blocks:
            x = x + blk["tok"](blk["n1"](x).transpose(1, 2)).transpose(1, 2)
            x = x + blk["ch"](blk["n2"](x))
        return self.head(x.mean(1))


class TransformerLM(nn.Module):
    """Token embedding, position embedding, ``nn.TransformerEncoder`` with a causal mask."""

    def __init__(self, vocab: int = 100, dim: int = 32, heads: int = 4, depth: int = 2, causal: bool = True) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(128, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.out = nn.Linear(dim, vocab)
        self.causal = causal

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.emb(ids) + self.pos(torch.arange(n, device=ids.device))
        mask = nn.Transformer.generate_square_subsequent_mask(n, device=ids.device) if self.causal else None
        return self.out(self.enc(x, mask=mask, is_causal=self.causal))


class Seq2Seq(nn.Module):
    """``nn.Transformer`` (encoder and decoder) on embedded source and target tokens."""

    def __init__(self, vocab: int = 50, dim: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.tf = nn.Transformer(dim, 4, 1, 1, 64, dropout=0.0, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.out(self.tf(self.emb(src), self.emb(tgt)))


class RNNLM(nn.Module):
    """Embedding -> LSTM / GRU / RNN -> Linear over the vocabulary."""

    def __init__(self, cell: type[nn.Module], vocab: int = 200, dim: int = 32, hidden: int = 48, layers: int = 1,
                 bidirectional: bool = False, batch_first: bool = True, **kw: Any) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = cell(dim, hidden, layers, batch_first=batch_first, bidirectional=bidirectional, **kw)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.emb(ids))[0])


class ConvLSTMish(nn.Module):
    """A CNN feature extractor per frame (``flatten(0, 1)``), then a GRU over time."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        f = self.cnn(x.flatten(0, 1)).view(b, t, -1)
        return self.fc(self.gru(f)[0][:, -1])


class CellLoop(nn.Module):
    """An ``nn.LSTMCell`` / ``nn.GRUCell`` unrolled in Python."""

    def __init__(self, cell: type[nn.Module], dim: int = 16, hidden: int = 24) -> None:
        super().__init__()
        self.cell = cell(dim, hidden)
        self.fc = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = None
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            out = h[0] if isinstance(h, tuple) else h
        return self.fc(out)


# --- plain PyTorch: CNNs and other layers -----------------------------------------------------


def vgg(cfg: tuple[Any, ...], bn: bool = False, classes: int = 10) -> nn.Module:
    layers: list[nn.Module] = []
    c = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), *([nn.BatchNorm2d(v)] if bn else []), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


class Bottleneck(nn.Module):
    def __init__(self, c: int, mid: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, c, 1, bias=False), nn.BatchNorm2d(c))
        self.down = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.down(x))


class ResNetish(nn.Module):
    def __init__(self, width: int = 16, blocks: int = 2, groups: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width * 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU())
        self.blocks = nn.Sequential(*[Bottleneck(width * 2, width, 2 if i == 0 else 1, groups) for i in range(blocks)])
        self.fc = nn.Linear(width * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, c: int, expand: int, se: bool, act: type[nn.Module]) -> None:
        super().__init__()
        h = c * expand
        self.pw = nn.Sequential(nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), act())
        self.dw = nn.Sequential(nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h), act())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(h, max(h // 4, 1), 1), nn.ReLU(),
                                nn.Conv2d(max(h // 4, 1), h, 1), nn.Hardsigmoid()) if se else None
        self.pwl = nn.Sequential(nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(self.pw(x))
        if self.se is not None:
            y = y * self.se(y)
        return x + self.pwl(y)


class MobileNetish(nn.Module):
    def __init__(self, se: bool = False, act: type[nn.Module] = nn.ReLU6, expand: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), act())
        self.blocks = nn.Sequential(*[InvertedResidual(16, expand, se, act) for _ in range(2)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtish(nn.Module):
    def __init__(self, c: int = 24, depth: int = 2) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, 4)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(c) for _ in range(depth)])
        self.head = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class UNetish(nn.Module):
    def __init__(self, c: int = 8, mode: str = "nearest", transposed: bool = False) -> None:
        super().__init__()
        self.d1 = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU())
        self.d2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * c, 2 * c, 2, 2) if transposed else nn.Upsample(scale_factor=2, mode=mode)
        self.u1 = nn.Sequential(nn.Conv2d(3 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.d1(x)
        return self.u1(torch.cat([a, self.up(self.d2(a))], 1))


class DenseLayer(nn.Module):
    def __init__(self, c: int, g: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, g, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


def densenetish(growth: int = 8, layers: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), *[DenseLayer(16 + i * growth, growth) for i in range(layers)],
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16 + layers * growth, 10))


def conv1d_net(norm: type[nn.Module] = nn.BatchNorm1d) -> nn.Module:
    return nn.Sequential(nn.Conv1d(4, 16, 5, padding=2), norm(16), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(16, 32, 3, dilation=2, padding=2), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(32, 5))


def conv3d_net() -> nn.Module:
    return nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(), nn.MaxPool3d(2),
                         nn.Conv3d(8, 16, 3, padding=1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, 4))


def norms_net(norm: Callable[[int], nn.Module]) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), norm(16), nn.SiLU(), nn.Conv2d(16, 16, 3, 2, 1), norm(16),
                         nn.Mish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def acts_net(act: type[nn.Module]) -> nn.Module:
    return nn.Sequential(nn.Linear(20, 64), act(), nn.Linear(64, 64), act(), nn.Linear(64, 3))


class Autoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), nn.ReLU(),
                                 nn.ConvTranspose2d(8, 1, 3, 2, 1, output_padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(x))


class PixelShuffleSR(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.PReLU(), nn.Conv2d(16, 12, 3, padding=1),
                                  nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GatedCNN(nn.Module):
    """Embedding into a 1-d conv with GLU gates (integer input)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.conv = nn.Conv1d(16, 64, 3, padding=1)
        self.fc = nn.Linear(32, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(F.glu(self.conv(self.emb(ids).transpose(1, 2)), 1).amax(-1))


class Bilinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bil = nn.Bilinear(8, 6, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.bil(a, b)


class EinsumMix(nn.Module):
    """Weights used through ``torch.einsum`` and ``F.linear`` (functional work)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 32))
        self.fc = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.einsum("bnc,cd->bnd", x, self.w))


class BmmNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return torch.bmm(y, y.transpose(1, 2))


class GroupedLinearHeads(nn.Module):
    """Multi-task heads: a shared trunk and a dict of outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(32, 64), nn.ReLU())
        self.heads = nn.ModuleDict({"a": nn.Linear(64, 3), "b": nn.Linear(64, 5)})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {k: head(h) for k, head in self.heads.items()}


case("vit.tiny", ViT, randn(2, 3, 32, 32))
case("vit.postnorm", lambda: ViT(norm_first=False), randn(2, 3, 32, 32))
case("vit.patch4", lambda: ViT(patch=4, dim=48, heads=3), randn(1, 3, 32, 32))
case("vit.deep", lambda: ViT(depth=4, dim=32, heads=2), randn(3, 3, 32, 32))
case("mha.net", MHANet, randn(2, 10, 32))
case("mha.weights", lambda: MHANet(need_weights=True), randn(2, 10, 32))
case("mha.single", lambda: nn.MultiheadAttention(32, 4, batch_first=True), randn(2, 6, 32), randn(2, 6, 32),
     randn(2, 6, 32))
case("mha.seqfirst", lambda: nn.MultiheadAttention(24, 3), randn(7, 2, 24), randn(7, 2, 24), randn(7, 2, 24))
case("tel.single", lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), randn(2, 9, 32))
case("tel.seqfirst", lambda: nn.TransformerEncoderLayer(32, 4, 64), randn(9, 2, 32))
case("tel.gelu", lambda: nn.TransformerEncoderLayer(32, 4, 64, activation="gelu", batch_first=True,
                                                     norm_first=True), randn(2, 9, 32))
case("tdl.single", lambda: nn.TransformerDecoderLayer(32, 4, 64, batch_first=True), randn(2, 5, 32),
     randn(2, 7, 32))
case("sdpa.net", lambda: AttnNet(SDPAttention), randn(2, 12, 16))
case("sdpa.causal", lambda: AttnNet(SDPAttention, causal=True), randn(2, 12, 16))
case("sdpa.wide", lambda: AttnNet(SDPAttention, dim=64, heads=8, depth=1), randn(1, 20, 16))
case("attn.manual", lambda: AttnNet(ManualAttention), randn(2, 12, 16))
case("swin.tiny", Swin, randn(1, 3, 32, 32))
case("swin.b2", Swin, randn(2, 3, 32, 32))
case("swin.window2", lambda: Swin(window=2, stages=(2,)), randn(1, 3, 16, 16))
case("patch.unfold", PatchUnfoldMLP, randn(2, 3, 8, 8))
case("patch.unfold.p4", lambda: PatchUnfoldMLP(patch=4), randn(1, 3, 16, 16))
case("reshape.linear", ReshapeLinear, randn(2, 4, 8))
case("reshape.linear.b1", ReshapeLinear, randn(1, 8, 8))
case("reshape.linear.issue20", ReshapeLinear, randn(1, 128))  # one sample, four rows: torchinfo 288
case("flatten01", Flatten01, randn(2, 3, 3, 8, 8))
case("token.mlp", TokenMLP, randn(2, 10, 16))
case("mixer", MLPMixer, randn(2, 3, 32, 32))
case("lm.transformer", TransformerLM, ids(100, 2, 64))
case("lm.transformer.bidir", lambda: TransformerLM(causal=False), ids(100, 1, 48))
case("seq2seq", Seq2Seq, ids(50, 2, 10), ids(50, 2, 7))
case("lm.lstm", lambda: RNNLM(nn.LSTM), ids(200, 2, 128))
case("lm.lstm.2layer", lambda: RNNLM(nn.LSTM, layers=2), ids(200, 1, 256))
case("lm.lstm.bidir", lambda: RNNLM(nn.LSTM, bidirectional=True), ids(200, 2, 64))
case("lm.lstm.proj", lambda: RNNLM(nn.LSTM, hidden=48, proj_size=0), ids(200, 2, 32))
case("lm.lstm.seqfirst", lambda: RNNLM(nn.LSTM, batch_first=False), ids(200, 96, 2))
case("lm.gru", lambda: RNNLM(nn.GRU), ids(200, 2, 128))
case("lm.gru.bidir2", lambda: RNNLM(nn.GRU, layers=2, bidirectional=True), ids(200, 2, 64))
case("lm.rnn.tanh", lambda: RNNLM(nn.RNN), ids(200, 2, 128))
case("lm.rnn.relu", lambda: RNNLM(nn.RNN, nonlinearity="relu"), ids(200, 2, 64))
case("conv.gru", ConvLSTMish, randn(2, 5, 1, 16, 16))
case("cell.lstm", lambda: CellLoop(nn.LSTMCell), randn(2, 6, 16))
case("cell.gru", lambda: CellLoop(nn.GRUCell), randn(2, 6, 16))
case("vgg.small", lambda: vgg((16, "M", 32, "M", 64)), randn(1, 3, 32, 32))
case("vgg.bn", lambda: vgg((16, 16, "M", 32, 32, "M"), bn=True), randn(2, 3, 32, 32))
case("resnet.small", ResNetish, randn(1, 3, 32, 32))
case("resnet.b4", lambda: ResNetish(blocks=3), randn(4, 3, 32, 32))
case("resnext.small", lambda: ResNetish(width=16, groups=4), randn(1, 3, 32, 32))
case("mobilenet.v2ish", MobileNetish, randn(1, 3, 32, 32))
case("mobilenet.v3ish", lambda: MobileNetish(se=True, act=nn.Hardswish), randn(2, 3, 32, 32))
case("efficientnetish", lambda: MobileNetish(se=True, act=nn.SiLU, expand=6), randn(1, 3, 32, 32))
case("convnext.small", ConvNeXtish, randn(1, 3, 32, 32))
case("convnext.b2", lambda: ConvNeXtish(depth=3), randn(2, 3, 32, 32))
case("unet.nearest", UNetish, randn(1, 3, 32, 32))
case("unet.bilinear", lambda: UNetish(mode="bilinear"), randn(1, 3, 32, 32))
case("unet.transposed", lambda: UNetish(transposed=True), randn(2, 3, 32, 32))
case("densenet.small", densenetish, randn(1, 3, 16, 16))
case("conv1d.bn", conv1d_net, randn(2, 4, 64))
case("conv1d.in", lambda: conv1d_net(lambda c: nn.InstanceNorm1d(c, affine=True)), randn(2, 4, 64))
case("conv3d", conv3d_net, randn(1, 1, 8, 16, 16))
case("norm.group", lambda: norms_net(lambda c: nn.GroupNorm(4, c)), randn(1, 3, 32, 32))
case("norm.instance", lambda: norms_net(nn.InstanceNorm2d), randn(2, 3, 32, 32))
case("norm.layer2d", lambda: norms_net(lambda c: nn.GroupNorm(1, c)), randn(1, 3, 32, 32))
case("act.tanh", lambda: acts_net(nn.Tanh), randn(4, 20))
case("act.elu", lambda: acts_net(nn.ELU), randn(4, 20))
case("act.leaky", lambda: acts_net(nn.LeakyReLU), randn(4, 20))
case("act.gelu", lambda: acts_net(nn.GELU), randn(4, 20))
case("act.softplus", lambda: acts_net(nn.Softplus), randn(4, 20))
case("autoencoder.conv", Autoencoder, randn(2, 1, 28, 28))
case("pixelshuffle", PixelShuffleSR, randn(1, 3, 16, 16))
case("gated.cnn", GatedCNN, ids(100, 2, 50))
case("bilinear", Bilinear, randn(3, 8), randn(3, 6))
case("einsum", EinsumMix, randn(2, 5, 16))
case("bmm", BmmNet, randn(2, 7, 12))
case("heads.dict", GroupedLinearHeads, randn(3, 32))
case("embedding.bag", lambda: nn.Sequential(nn.EmbeddingBag(100, 16), nn.Linear(16, 2)), ids(100, 4, 10))
case("linear.3d", lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)), randn(2, 5, 16))
case("linear.4d", lambda: nn.Sequential(nn.Linear(16, 32), nn.LayerNorm(32), nn.Linear(32, 8)), randn(2, 3, 5, 16))

# the default run's representative subset (the whole suite is ``-m zoo``)
SMOKE = ("ti.SingleInputNet", "ti.LSTMNet", "ti.SiameseNets", "vit.tiny", "tel.single", "sdpa.net", "swin.tiny",
         "reshape.linear", "lm.lstm", "ti.RecursiveWithMissingLayers")

# Where a tool itself cannot run a model: the tool is skipped for it, with the reason (the
# test checks the tool still fails, so the list cannot go stale).
TOOL_FAILS: dict[tuple[str, str], str] = {
    ("ti.ModuleDictModel", "fvcore"): "the model needs keyword inputs; FlopCountAnalysis passes positional inputs only",
    ("ti.ModuleDictModel.pool", "fvcore"): "the model needs keyword inputs; FlopCountAnalysis passes positional "
                                           "inputs only",
    ("ti.PackPaddedLSTM", "fvcore"): "the model needs keyword inputs; FlopCountAnalysis passes positional inputs only",
    ("ti.AutoEncoder", "fvcore"): "TorchScript tracing fails on MaxUnpool2d given output_size=x.size() (cond must be "
                                  "a bool, but got a Tensor)",
    ("ti.PartialJITModel", "fvcore"): "fvcore registers forward pre-hooks, which a ScriptModule submodule refuses",
    ("ti.CategoricalOutputModel", "fvcore"): "the model returns a torch.distributions object, which a TorchScript "
                                             "trace cannot return",
    ("ti.NormalOutputModel", "fvcore"): "the model returns a torch.distributions object, which a TorchScript trace "
                                        "cannot return",
    ("ti.CategoricalOutputModel", "torchinfo"): "torchinfo 1.8 cannot take the size of a torch.distributions output",
    ("ti.NormalOutputModel", "torchinfo"): "torchinfo 1.8 cannot take the size of a torch.distributions output",
    ("ti.TensorKernelSizeConv", "torchinfo"): "torchinfo 1.8 iterates the kernel size, a 0-d tensor here",
    ("ti.DictWithNonTensorValues", "torchinfo"): "torchinfo 1.8 adds up the sizes of the dict input's values and "
                                                 "fails on the string",
    ("ti.ModuleDictModel", "thop"): "the model needs keyword inputs; thop.profile passes positional inputs only",
    ("ti.ModuleDictModel.pool", "thop"): "the model needs keyword inputs; thop.profile passes positional inputs only",
    ("ti.PackPaddedLSTM", "thop"): "the model needs keyword inputs; thop.profile passes positional inputs only",
    ("ti.PackPaddedLSTM", "ptflops"): "ptflops's LSTM hook reads input.shape, which a PackedSequence does not have",
    **{(name, "ptflops"): "ptflops passes several inputs by keyword, and its nn.MultiheadAttention hook unpacks "
                          "the positional inputs (none)" for name in ("mha.single", "mha.seqfirst")},
}

# Where cnninspect's convention is not the tool's number, or cnninspect refuses the model: the
# test checks the stated behaviour, so the list cannot go stale either.
EXCEPTIONS: dict[tuple[str, str], str] = {
    **{("ti.PartialJITModel", tool): "refused (exit 2): a TorchScript submodule runs without Python module hooks "
                                     "and cannot run on a copy with stand-in weights; pass the module before scripting"
       for tool in ("ptflops", "thop")},
    ("ti.PartialJITModel", "torchinfo"): "refused (exit 2): a TorchScript submodule runs without Python module "
                                         "hooks and cannot run on a copy with stand-in weights; pass the module "
                                         "before scripting",
    ("ti.PartialJITModel", "flopcounter"): "refused (exit 2): a TorchScript submodule runs without Python module "
                                           "hooks and cannot run on a copy with stand-in weights; pass the module "
                                           "before scripting",
    ("ti.FakePrunedLayerModel", "torchinfo"): "torchinfo 1.8 takes any attribute named weight_mask for a pruning "
                                              "mask, here a parameter of zeros, so weight_orig counts 0 (its own "
                                              "test says 'should be 64'); cnninspect reads pruning masks where "
                                              "torch.nn.utils.prune puts them (buffers)",
}
