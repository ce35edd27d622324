"""The ``nn.Module`` classes the builder uses beyond ``torch.nn``'s own.

Containers implement the IR's data flow (residual add, concatenation, gating, side
outputs); the rest are primitives of the source deck's architectures (step and signum
activations, LeNet-5's trainable subsampling, connection-table convolution and RBF output
layer) and TensorFlow-style 'same' padding. Parameters are always named ``weight``/``bias``
so that parameter-based tools (torchinfo) see them as they see torch's own layers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    """``post(body(x) + shortcut(x))``; with ``partial`` the shortcut is added to the body
    output's first channels only (ReXNet's ``x[:, :C_in] += shortcut``, here out of place)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, post: nn.Module | None = None,
                 partial: bool = False) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        if post is not None:
            self.post = post
        self.has_post = post is not None
        self.partial = partial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.partial:
            y, s = self.body(x), self.shortcut(x)
            c = s.shape[1]
            y = torch.cat([y[:, :c] + s, y[:, c:]], dim=1)
        else:
            y = self.body(x) + self.shortcut(x)
        return self.post(y) if self.has_post else y


class Concat(nn.Module):
    """Run each branch on the input and concatenate the results along channels."""

    def __init__(self, branches: Sequence[tuple[str, nn.Module]]) -> None:
        super().__init__()
        for name, module in branches:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], dim=1)


class Gate(nn.Module):
    """``x * branch(x)`` (squeeze-and-excitation)."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.branch(x)


class Side(nn.Module):
    """Compute a side output (auxiliary classifier) and pass ``x`` through unchanged.

    The side output of the last call is kept in ``self.output``.
    """

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch
        self.output: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.output = self.branch(x)
        return x


Points = dict[str, torch.Tensor]


class KeepingSequential(nn.Sequential):
    """An ``nn.Sequential`` that keeps the outputs of the children named in ``keep`` (child
    name -> module path) in ``points``, a dict it shares with the :class:`TakePoint` modules
    that read them (a concat's ``from``). The model's outermost sequence (``clear``) empties
    ``points`` when its forward ends, so no tensor outlives a call."""

    def __init__(self, children: Sequence[tuple[str, nn.Module]], keep: dict[str, str], points: Points,
                 clear: bool = False) -> None:
        super().__init__(OrderedDict(children))
        self.keep = keep
        self.points = points
        self.clear = clear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            for name, child in self.named_children():
                x = child(x)
                if name in self.keep:
                    self.points[self.keep[name]] = x
            return x
        finally:
            if self.clear:
                self.points.clear()


class TakePoint(nn.Module):
    """The output of the earlier entry at module path ``point`` (kept by a
    :class:`KeepingSequential`), whatever its own input: a branch of a concat's ``from``."""

    def __init__(self, point: str, points: Points) -> None:
        super().__init__()
        self.point = point
        self.points = points

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.points[self.point]

    def extra_repr(self) -> str:
        return repr(self.point)


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's ``BatchNormAct2d`` (``timm/layers/norm_act.py``): a ``BatchNorm2d`` subclass that
    applies its activation (a child module ``act``, after ``drop``, an identity) itself. The
    class name and hierarchy are timm's, so that torchinfo, ptflops and thop meet what they
    meet in a timm model."""

    def __init__(self, num_features: int, act: nn.Module, eps: float = 1e-5) -> None:
        super().__init__(num_features, eps=eps)
        self.drop = nn.Identity()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        training = self.training or self.running_mean is None
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training, momentum, self.eps)
        return self.act(self.drop(x))


class Step(nn.Module):
    """Heaviside step: 0 for z < 0, 1 for z >= 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x >= 0).to(x.dtype)


class Signum(nn.Module):
    """Sign function: -1, 0 or 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sign(x)


class ScaledTanh(nn.Module):
    """LeCun et al. 1998's squashing function ``A tanh(S a)`` with A = 1.7159, S = 2/3."""

    A = 1.7159
    S = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A * torch.tanh(self.S * x)


class StochasticDepth(nn.Module):
    """Drop the whole residual branch per sample with probability ``p`` (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * mask.bernoulli_(keep) / keep


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of a ``N x C x H x W`` map, at every position.

    As torchvision's ConvNeXt writes it: permute to channels-last, ``F.layer_norm`` over the
    last dimension, permute back. Parameters ``weight`` and ``bias`` (``C`` each).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learned per-channel multiply (ConvNeXt, CaiT): ``x * gamma``, ``gamma`` initialised
    to ``init_value``; over dimension 1 of a ``N x C x H x W`` map (``channels_first``) or
    over the last dimension."""

    def __init__(self, channels: int, init_value: float, channels_first: bool = True) -> None:
        super().__init__()
        self.init_value = init_value
        self.channels_first = channels_first
        self.gamma = nn.Parameter(torch.full((channels,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            return x * self.gamma.view(1, -1, *([1] * (x.dim() - 2)))
        return x * self.gamma


class GlobalMean(nn.Module):
    """Global average pooling as ``x.mean((2, 3))`` (torchvision's ShuffleNetV2, timm's fast
    pooling): the same numbers as ``AdaptiveAvgPool2d(1)``, but an ``aten::mean`` that fvcore
    does not count."""

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=self.keepdim)


class ChannelSplit(nn.Module):
    """Channels ``start .. stop - 1`` of the input (a view, like ``x.chunk(n, 1)[i]``)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start = start
        self.stop = stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(1, self.start, self.stop - self.start)


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle, as torchvision writes it: view as ``groups x C/groups``,
    transpose, flatten back."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous()
        return x.view(n, c, h, w)


class Permute(nn.Module):
    """``x.permute(*dims)`` (torchvision's ``ops.misc.Permute``)."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class Conv2dSame(nn.Conv2d):
    """Convolution with TensorFlow 'SAME' padding, computed from the input at run time.

    The output has ``ceil(size / stride)`` pixels; with stride 2 the padding is asymmetric
    (the extra pixel goes after), which symmetric PyTorch padding cannot express.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        pads = []
        for size, k, s, d in zip((iw, ih), self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Subsample2d(nn.Module):
    """LeNet-5 subsampling: window average times a learned per-map coefficient plus a bias."""

    def __init__(self, channels: int, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, self.kernel, self.stride)
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ConnectionTableConv2d(nn.Module):
    """A convolution where output map j only sees the input maps listed in ``connections[j]``.

    Only connected weights exist (LeNet-5's C3 has 1,516 parameters, not 2,416): they are
    packed into one ``weight`` vector and each output map runs its own small convolution
    on its selected inputs, so the executed multiply-adds are the connected ones only.
    """

    def __init__(
        self,
        connections: Sequence[Sequence[int]],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.connections = [tuple(int(i) for i in row) for row in connections]
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        kh, kw = self.kernel
        n = sum(len(r) for r in self.connections)
        fan_in_max = max(len(r) for r in self.connections) * kh * kw
        bound = 1.0 / math.sqrt(fan_in_max)
        self.weight = nn.Parameter(torch.empty(n * kh * kw).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(len(self.connections))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel
        outs = []
        start = 0
        for row in self.connections:
            n = len(row) * kh * kw
            w = self.weight[start : start + n].view(1, len(row), kh, kw)
            start += n
            idx = torch.tensor(row, device=x.device)
            outs.append(F.conv2d(x.index_select(1, idx), w, None, self.stride, self.padding))
        y = torch.cat(outs, dim=1)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y


class RBFOutput(nn.Module):
    """Euclidean RBF units: ``y_j = sum_i (x_i - w_ij)^2`` with fixed prototypes.

    The prototypes are a non-trainable parameter (LeCun et al. set them by hand to +-1
    bitmaps of the characters; here they are random +-1 since the bitmaps are not published
    as data).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        proto = torch.empty(out_features, in_features).bernoulli_(0.5) * 2 - 1
        self.weight = nn.Parameter(proto, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sum_i (x_i - w_ij)^2 as one pairwise-distance operator, so operator-level counting
        # sees the 84 x 10 prototype comparisons as the weight uses they are
        return torch.cdist(x, self.weight, compute_mode="donot_use_mm_for_euclid_dist") ** 2
