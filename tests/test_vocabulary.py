"""Each construct of the modern vocabulary against a hand-written ``nn.Module`` doing the same
thing (``refmodules.py``, written the way torchvision writes it): parameters by name and
shape, the same output with the same weights, and every convention's count equal to what
fvcore and torchinfo measure on the reference (``reftools.assert_same_as``).

Where fvcore or torchinfo count a construct in a way worth knowing, the numbers are pinned
too, derived by hand in the comments.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnninspect.base.errors import SpecError
from cnninspect.lang.spec import spec_from_text
from cnninspect.resolve.resolver import resolve

import refmodules as R
from reftools import assert_same_as


def model(layers: str, channels: int = 8, resolution: int = 6):
    text = f"name: t\ninput: {{channels: {channels}, resolution: {resolution}}}\nlayers:\n{layers}"
    return resolve(spec_from_text(text, "t.yaml"))


def test_layernorm_over_the_channels_of_a_map():
    m = model("  - layernorm: {eps: 1.0e-6}\n")
    counts = assert_same_as(m, R.LayerNorm2d(8, eps=1e-6))
    # 2 x 8 parameters; fvcore's layer_norm handle: 5 per element (affine) = 5 x 8 x 6 x 6;
    # torchinfo: a non-Conv class counts its weight and bias once
    assert counts == {"params": 16, "paper": 0, "fvcore": 1440, "torchinfo": 16}


def test_layernorm_without_affine_and_on_a_flat_vector():
    m = model("  - mean\n  - layernorm: {affine: false}\n")
    ref = nn.Sequential(R.global_mean(), nn.LayerNorm(8, elementwise_affine=False))
    assert assert_same_as(m, ref)["fvcore"] == 4 * 8  # 4 per element without the affine


def test_convnext_block_channels_last():
    """torchvision's CNBlock, with its layer_scale (dim x 1 x 1) held as gamma (dim)."""
    m = model(
        """  - residual:
      - dwconv: {kernel: 7, bias: true}
      - channels_last:
          - layernorm: {eps: 1.0e-6}
          - linear: {out: 32}
          - act: gelu
          - linear: {out: 8}
      - layer_scale: 1.0e-6
      - drop_path: 0.1
""",
        resolution=7,
    )
    counts = assert_same_as(m, R.CNBlock(8, 1e-6, 0.1), rename={"layer_scale": "gamma"})
    positions = 7 * 7
    dw, fc1, fc2 = 8 * 49 * positions, 8 * 32 * positions, 32 * 8 * positions
    assert counts["paper"] == dw + fc1 + fc2
    assert counts["fvcore"] == dw + fc1 + fc2 + 5 * 8 * positions
    # torchinfo: the conv's (weight + bias) per position, each Linear's and the LN's once
    assert counts["torchinfo"] == (8 * 49 + 8) * positions + (8 * 32 + 32) + (32 * 8 + 8) + 16


def test_channels_last_refuses_what_cannot_run_on_hwc():
    with pytest.raises(SpecError, match="cannot run on the channels-last tensor"):
        model("  - channels_last:\n      - conv: {out: 8, kernel: 3}\n")
    with pytest.raises(SpecError, match="add '- flatten'"):
        model("  - linear: {out: 8}\n")


def test_layer_scale_and_drop_path():
    m = model("  - layer_scale: 0.5\n  - drop_path: 0.2\n")
    ref = nn.Sequential(R.LayerScale2d(8, 0.5), R.StochasticDepth(0.2))
    assert assert_same_as(m, ref) == {"params": 8, "paper": 0, "fvcore": 0, "torchinfo": 0}


def test_mean_and_adaptive_pool_differ_only_for_fvcore():
    """``x.mean((2, 3))`` (ShuffleNetV2) is an aten::mean fvcore has no handle for;
    AdaptiveAvgPool2d is counted 1 per input element (8 x 6 x 6)."""
    mean = model("  - mean\n  - linear: {out: 4}\n")
    pool = model("  - avgpool: {global: true}\n  - flatten\n  - linear: {out: 4}\n")
    a = assert_same_as(mean, nn.Sequential(R.global_mean(), nn.Linear(8, 4)))
    b = assert_same_as(pool, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)))
    assert a["paper"] == b["paper"] == 32 and a["torchinfo"] == b["torchinfo"] == 36
    assert (a["fvcore"], b["fvcore"]) == (32, 32 + 8 * 6 * 6)
    kept = model("  - mean: {keepdim: true}\n")
    assert kept.output_shape == (8, 1, 1)


SHUFFLE_UNIT_STRIDE_1 = """  - concat:
      - - split: {parts: 2, take: 0}
      - - split: {parts: 2, take: 1}
        - pwconv: {out: 8, bn: true, act: relu}
        - dwconv: {kernel: 3, bn: true}
        - pwconv: {out: 8, bn: true, act: relu}
  - shuffle: 2
"""


def test_channel_split_and_shuffle_are_shufflenet_v2s():
    counts = assert_same_as(model(SHUFFLE_UNIT_STRIDE_1, channels=16), R.ShuffleUnit(16, 16, 1))
    assert counts["params"] == 2 * (8 * 8 + 16) + (8 * 9 + 16)


def test_split_and_shuffle_errors():
    with pytest.raises(SpecError, match="take 2 is not one of the 2 parts"):
        model("  - split: {parts: 2, take: 2}\n")
    with pytest.raises(SpecError, match="do not split into 3 equal parts"):
        model("  - split: {parts: 3}\n")
    with pytest.raises(SpecError, match="divisible"):
        model("  - shuffle: 3\n")


def test_squeeze_excitation_with_a_hardsigmoid_gate_and_a_divisor():
    """MobileNetV3's SE on 72 expanded channels: squeeze = make_divisible(72 // 4, 8) = 24."""
    m = model("  - se: {ratio: 0.25, divisor: 8, gate: hardsigmoid}\n", channels=72, resolution=4)
    counts = assert_same_as(m, R.SqueezeExcitation(72, 24, scale_activation=nn.Hardsigmoid))
    assert counts["params"] == (72 * 24 + 24) + (24 * 72 + 72)
    timm_style = model("  - se: {squeeze: 6, pool: mean}\n", channels=24, resolution=4)
    assert assert_same_as(timm_style, SqueezeExciteMean(24, 6))["fvcore"] == 2 * 24 * 6  # no pooling count


class SqueezeExciteMean(nn.Module):
    """timm's SqueezeExcite: x.mean((2, 3), keepdim=True), conv_reduce, act, conv_expand, gate."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, squeeze, 1)
        self.act1 = nn.ReLU()
        self.conv_expand = nn.Conv2d(squeeze, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(s))))


def test_se_needs_exactly_one_width():
    with pytest.raises(SpecError, match="exactly one"):
        model("  - se: {act: relu}\n")
    with pytest.raises(SpecError, match="exactly one"):
        model("  - se: {ratio: 0.25, squeeze: 4}\n")


def test_grouped_bottleneck_is_resnext():
    """ResNeXt 32x4d's first conv3 block at 8x8: width = int(128 x 4 / 64) x 32 = 256."""
    m = model("  - bottleneck: {mid: 256, out: 512, groups: 32, stride: 2, stride_on: 3x3}\n", channels=256, resolution=8)
    counts = assert_same_as(m, R.ResNeXtBottleneck(256, 128, stride=2, groups=32, base_width=4))
    assert counts["params"] == 256 * 256 + 256 * 8 * 9 + 256 * 512 + 256 * 512 + 2 * (256 + 256 + 512 + 512)


def test_group_width_gives_the_groups():
    by_width = model("  - bottleneck: {mid: 64, out: 64, group_width: 16}\n", channels=64)
    by_groups = model("  - bottleneck: {mid: 64, out: 64, groups: 4}\n", channels=64)
    assert assert_same_as(by_width, R.ResNeXtBottleneck(64, 16, groups=4, base_width=64)) == assert_same_as(
        by_groups, R.ResNeXtBottleneck(64, 16, groups=4, base_width=64)
    )
    with pytest.raises(SpecError, match="not both"):
        model("  - bottleneck: {mid: 64, out: 64, groups: 2, group_width: 16}\n", channels=64)
    with pytest.raises(SpecError, match="does not divide"):
        model("  - bottleneck: {mid: 64, out: 64, group_width: 24}\n", channels=64)


def test_dense_layer_pre_activation_with_bias_free_convolutions():
    m = model(
        """  - concat:
      - [identity]
      - - bn
        - act: relu
        - conv: {out: 16, kernel: 1, bias: false}
        - bn
        - act: relu
        - conv: {out: 4, kernel: 3, bias: false}
""",
    )
    counts = assert_same_as(m, R.DenseLayer(8, growth_rate=4, bn_size=4))
    assert counts["params"] == 2 * 8 + 8 * 16 + 2 * 16 + 16 * 9 * 4


def test_batchnorm1d_and_new_activations():
    m = model("  - mean\n  - bn: {eps: 0.001}\n  - act: gelu\n  - act: hardsigmoid\n  - act: mish\n")
    ref = nn.Sequential(R.global_mean(), nn.BatchNorm1d(8, eps=0.001), nn.GELU(), nn.Hardsigmoid(), nn.Mish())
    # fvcore: eval batch norm 2 per element; torchinfo: weight and bias once
    assert assert_same_as(m, ref) == {"params": 16, "paper": 0, "fvcore": 16, "torchinfo": 16}


REGNET_BLOCK = """blocks:
  regnet_block:
    params:
      out: {channels: true}
      stride: 1
      group_width: 8
      b: 1.0
      se_ratio: 0.25
      w_in: {default: $in}
    layers:
      - residual:
          body:
            - conv: {out: "round($out * $b)", kernel: 1, bn: true, act: relu}
            - conv: {out: "round($out * $b)", kernel: 3, stride: $stride, groups: "round($out * $b) // $group_width", bn: true, act: relu}
            - se: {squeeze: "round($w_in * $se_ratio)"}
              when: "$se_ratio > 0"
            - conv: {out: $out, kernel: 1, bn: true}
          shortcut: auto
          post: relu
layers:
  - name: stage
    regnet_block: {out: 104, stride: 2}
    repeat: 2
"""


def test_regnet_y_block_squeezes_relative_to_the_block_input():
    """RegNetY: group width 8, bottleneck ratio 1, SE of round(0.25 x w_in) channels - 12 for
    the first block (w_in 48), 26 for the second (w_in 104)."""
    text = f"name: t\ninput: {{channels: 48, resolution: 8}}\n{REGNET_BLOCK}"
    m = resolve(spec_from_text(text, "t.yaml"))
    ref = nn.Sequential(R.RegNetBlock(48, 104, 2, 8, 1.0, 0.25), R.RegNetBlock(104, 104, 1, 8, 1.0, 0.25))
    assert assert_same_as(m, ref)["params"] == sum(p.numel() for p in ref.parameters())
