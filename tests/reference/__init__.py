"""Reference implementations of the nine families of issue 11, in plain PyTorch.

No torchvision or timm import: each module is a transcription of the authors' or the
standard reference implementation (named in its docstring), with module structure and
parameter names kept as close to the reference as practical, so that parameter counts can be
compared with the references' documented numbers and, later, with the bundled specs.

``VARIANTS`` maps ``(family, variant)`` to a builder and the input resolution of the paper;
``paper_mult_adds`` counts multiply-adds in the paper convention (one per weight use in
convolution and linear layers, batch 1) with ``torch.utils.flop_counter.FlopCounterMode`` on
the meta device: (convolution + addmm/mm/bmm FLOPs) / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import convnext, densenet, inception_v3, mobilenet_v3, regnet, resnext, shufflenet_v2, squeezenet


@dataclass(frozen=True)
class Ref:
    build: Callable[[], nn.Module]
    resolution: int
    source: str


def _variants() -> dict[tuple[str, str], Ref]:
    tv = "torchvision"
    out: dict[tuple[str, str], Ref] = {}
    for v in ("large", "small"):
        out[("mobilenet_v3", v)] = Ref(lambda v=v: mobilenet_v3.MobileNetV3(v), 224, tv)
    for v in shufflenet_v2.STAGE_OUT:
        out[("shufflenet_v2", v)] = Ref(lambda v=v: shufflenet_v2.ShuffleNetV2(v), 224, tv)
        out[("shufflenet_v2_megvii", v)] = Ref(lambda v=v: shufflenet_v2.ShuffleNetV2Megvii(v), 224, "megvii")
    for v in convnext.CONFIGS:
        out[("convnext", v)] = Ref(lambda v=v: convnext.ConvNeXt(v), 224, "facebookresearch/ConvNeXt")
    for v in densenet.CONFIGS:
        out[("densenet", v)] = Ref(lambda v=v: densenet.DenseNet(v), 224, tv)
    for v in ("1_0", "1_1"):
        out[("squeezenet", v)] = Ref(lambda v=v: squeezenet.SqueezeNet(v), 224, tv)
    for v in regnet.CONFIGS:
        out[("regnet", v)] = Ref(lambda v=v: regnet.RegNet(v), 224, "pycls")
    for name, fam, v in (("resnext50_32x4d", "resnext", "50_32x4d"), ("resnext101_32x8d", "resnext", "101_32x8d"),
                         ("wide_resnet50_2", "wide_resnet", "50_2"), ("wide_resnet101_2", "wide_resnet", "101_2")):
        out[(fam, v)] = Ref(lambda name=name: resnext.ResNet(name), 224, tv)
    out[("inception_v3", "default")] = Ref(lambda: inception_v3.Inception3(aux_logits=False), 299, tv)
    out[("inception_v3", "aux")] = Ref(lambda: inception_v3.Inception3(aux_logits=True), 299, tv)
    return out


VARIANTS = _variants()


def build_meta(family: str, variant: str) -> nn.Module:
    """The reference module on the meta device (shapes, no storage), in eval mode."""
    with torch.device("meta"):
        model = VARIANTS[(family, variant)].build()
    return model.eval()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


_WEIGHT_OPS = ("convolution", "addmm", "mm", "bmm")


def paper_mult_adds(model: nn.Module, resolution: int, channels: int = 3) -> int:
    """Conv + linear multiply-adds of one forward pass at ``resolution`` (batch 1, meta device).

    FlopCounterMode counts 2 FLOPs per multiply-add of convolutions (grouped ones included,
    bias excluded) and of matrix products; everything else (batch norm, layer norm,
    activations, pooling, elementwise) is not counted, which is the paper convention.
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.empty(1, channels, resolution, resolution, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    per_op = counter.get_flop_counts()["Global"]
    unknown = {str(op) for op in per_op if op.__name__.split(".")[0] not in _WEIGHT_OPS}
    assert not unknown, f"FlopCounterMode counted ops outside conv/linear: {unknown}"
    flops = sum(per_op.values())
    assert flops % 2 == 0
    return flops // 2
