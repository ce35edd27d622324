"""Spec language v3 (issue 22, sections 1 and 2): each construct against a hand-written
``nn.Module`` in every convention (``reftools.assert_every_convention``: parameters, outputs,
paper, fvcore, torchinfo, ptflops, thop, FlopCounterMode and ``--verify``), and the traps
that used to pass silently or with a bare message.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnninspect.base.errors import SpecError
from cnninspect.lang.spec import spec_from_text
from cnninspect.measure.receptive import receptive_fields
from cnninspect.resolve.resolver import resolve

from reftools import assert_every_convention


def model(layers: str, channels: int = 8, resolution: int = 6, blocks: str = ""):
    text = f"name: t\ninput: {{channels: {channels}, resolution: {resolution}}}\n{blocks}layers:\n{layers}"
    return resolve(spec_from_text(text, "t.yaml"))


# --- adaptive pooling to a fixed output size -----------------------------------------------


@pytest.mark.parametrize("resolution", [14, 10, 5])
def test_adaptive_avgpool_to_7x7_is_vggs_head(resolution):
    """torchvision's VGG head, AdaptiveAvgPool2d((7, 7)) then the classifier, on maps that
    7 divides (14), does not divide (10: windows of 2 and 3 that overlap) and that are
    smaller than 7 (5: windows repeat inputs)."""
    m = model("  - avgpool: {output_size: 7}\n  - flatten\n  - linear: {out: 5}\n", resolution=resolution)
    ref = nn.Sequential(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(8 * 49, 5))
    counts = assert_every_convention(m, ref)
    fc = 8 * 49 * 5
    n = resolution
    # fvcore: one per input element; ptflops: the module hook and the patched
    # F.adaptive_avg_pool2d, each one per input element, plus the linear's bias
    assert counts["fvcore"] == fc + 8 * n * n
    assert counts["ptflops"] == fc + 5 + 2 * 8 * n * n
    # thop: one add per input of every window PyTorch pools, one divide per output
    rows = {14: 14, 10: 16, 5: 11}[n]  # 7 x 2; 2+2+3+2+3+2+2; 1+2+2+1+2+2+1
    assert counts["thop"] == fc + 8 * rows * rows + 8 * 49
    assert counts["paper"] == counts["flopcounter"] == fc and counts["torchinfo"] == fc + 5


def test_adaptive_maxpool_and_a_rectangular_size():
    m = model("  - maxpool: {output_size: [4, 3]}\n", resolution=9)
    counts = assert_every_convention(m, nn.AdaptiveMaxPool2d((4, 3)))
    assert m.output_shape == (8, 4, 3)
    # only ptflops counts a max pool: its hook and the patched F.adaptive_max_pool2d
    assert counts == {"params": 0, "paper": 0, "fvcore": 0, "torchinfo": 0, "ptflops": 2 * 8 * 81,
                      "thop": 0, "flopcounter": 0}


def test_adaptive_pool_to_1_is_global_pooling_and_refuses_kernel_or_global():
    a = model("  - avgpool: {output_size: 1}\n")
    b = model("  - avgpool: {global: true}\n")
    assert a.root.children[0].attrs == b.root.children[0].attrs == {}
    with pytest.raises(SpecError, match="not both"):
        model("  - avgpool: {output_size: 7, global: true}\n")
    with pytest.raises(SpecError, match="takes no kernel"):
        model("  - maxpool: {output_size: 7, kernel: 2}\n")


def test_adaptive_pools_save_what_autograd_saves():
    """A global average pool is a mean (nothing kept); to a fixed size, PyTorch's
    _adaptive_avg_pool2d keeps its input, and the max pool its input and indices."""
    from cnninspect.build.builder import build_module
    from cnninspect.measure.memory import MemorySettings, memory_report
    from test_memory import saved_by_autograd

    for pool in ("avgpool: {output_size: 4}", "avgpool: {output_size: 1}", "maxpool: {output_size: [4, 3]}"):
        m = model(f"  - conv: {{out: 8, kernel: 3}}\n  - {pool}\n  - flatten\n  - linear: {{out: 3}}\n", resolution=10)
        computed = memory_report(m, MemorySettings(batch=2)).training.saved_activation_bytes
        measured = saved_by_autograd(build_module(m).train(), torch.randn(2, 8, 10, 10))
        assert computed == measured, (pool, computed, measured)


def test_adaptive_pool_receptive_field():
    """Divisible: exactly the window n/out (14 -> 7: 2x2 stride 2); not divisible (10 -> 7):
    the stride-1 window that contains every adaptive window (windows [0,2), [1,3), [2,5),
    [4,6), [5,8), [7,9), [8,10): unit j starts at j or later and ends by j + 3, so 4 wide)."""
    rf = receptive_fields(model("  - avgpool: {output_size: 7}\n", resolution=14))
    assert rf.rows["avgpool0"].full.size == (2, 2) and rf.rows["avgpool0"].full.stride == (2, 2)
    rf = receptive_fields(model("  - avgpool: {output_size: 7}\n", resolution=10))
    assert rf.rows["avgpool0"].full.size == (4, 4) and rf.rows["avgpool0"].full.stride == (1, 1)


# --- the activation set of torch.nn ----------------------------------------------------------

ACTIVATION_CASES = [
    # (spec value, the torch.nn module)
    ("leaky_relu", nn.LeakyReLU()),
    ("leaky_relu(0.1)", nn.LeakyReLU(0.1)),
    ("prelu", nn.PReLU()),
    ("prelu(num_parameters=channels, init=0.1)", nn.PReLU(8, init=0.1)),
    ("elu(alpha=0.5)", nn.ELU(0.5)),
    ("selu", nn.SELU()),
    ("celu(alpha=2)", nn.CELU(2.0)),
    ("softplus(beta=2, threshold=10)", nn.Softplus(2.0, 10.0)),
    ("tanh", nn.Tanh()),
    ("hardtanh(min_val=-2, max_val=3)", nn.Hardtanh(-2.0, 3.0)),
    ("relu6", nn.ReLU6()),
    ("gelu(approximate=tanh)", nn.GELU(approximate="tanh")),
    ("silu", nn.SiLU()),
    ("mish", nn.Mish()),
    ("sigmoid", nn.Sigmoid()),
    ("hardswish", nn.Hardswish()),
    ("hardsigmoid", nn.Hardsigmoid()),
    ("logsigmoid", nn.LogSigmoid()),
    ("softsign", nn.Softsign()),
    ("tanhshrink", nn.Tanhshrink()),
    ("identity", nn.Identity()),
]


@pytest.mark.parametrize("value,module", ACTIVATION_CASES, ids=[v for v, _ in ACTIVATION_CASES])
def test_every_activation_of_torch_nn_after_a_convolution(value, module):
    """conv + activation against Conv2d + the torch.nn class with the same arguments: PReLU's
    slopes are parameters (1, or one per channel; torchinfo counts them once, thop one per
    element in eval mode); ptflops hooks ReLU, PReLU, ELU, LeakyReLU, ReLU6 and GELU and
    patches F.prelu, F.elu, F.gelu, F.silu (so PReLU, ELU and GELU count twice)."""
    m = model(f"  - conv: {{out: 8, kernel: 3, act: '{value}'}}\n")
    ref = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), module)
    counts = assert_every_convention(m, ref)
    conv = 8 * 8 * 9 * 36
    slopes = sum(p.numel() for p in module.parameters())
    assert counts["params"] == 8 * 8 * 9 + 8 + slopes
    n = 8 * 36
    hooked = {"PReLU": 2, "ELU": 2, "GELU": 2, "LeakyReLU": 1, "ReLU6": 1, "SiLU": 1}.get(type(module).__name__, 0)
    assert counts["ptflops"] == conv + 8 * 36 + hooked * n
    assert counts["thop"] == conv + (n if isinstance(module, nn.PReLU) else 0)
    assert counts["torchinfo"] == (8 * 8 * 9 + 8) * 36 + slopes


def test_activation_parameters_as_fields_of_an_act_entry():
    m = model("  - act: {fn: leaky_relu, negative_slope: 0.2}\n  - act: {fn: prelu, num_parameters: channels}\n"
              "  - act: {fn: gelu, approximate: tanh}\n")
    ref = nn.Sequential(nn.LeakyReLU(0.2), nn.PReLU(8), nn.GELU(approximate="tanh"))
    assert assert_every_convention(m, ref)["params"] == 8


@pytest.mark.parametrize("layers,message", [
    ("  - act: {fn: relu, negative_slope: 0.2}\n", "relu has no parameter 'negative_slope'; it takes no parameters"),
    ("  - act: {fn: 'leaky_relu(0.1)', negative_slope: 0.2}\n", "negative_slope is given twice"),
    ("  - conv: {out: 8, kernel: 3, act: 'elu(beta=2)'}\n", "elu has no parameter 'beta'; it takes alpha"),
    ("  - act: 'hardtanh(min_val=2)'\n", "min_val 2 must be below its max_val 1"),
    ("  - act: 'prelu(num_parameters=4)'\n", "must be 1 or channels"),
    ("  - act: leaky_rleu\n", "did you mean 'leaky_relu'"),
])
def test_activation_errors(layers, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model(layers)


def test_new_activations_save_what_autograd_saves():
    """The memory model's rule for each activation against the tensors autograd keeps."""
    from cnninspect.build.builder import build_module
    from cnninspect.measure.memory import MemorySettings, memory_report
    from test_memory import saved_by_autograd

    for value, _module in ACTIVATION_CASES:
        m = model(f"  - conv: {{out: 8, kernel: 3, act: '{value}'}}\n  - conv: {{out: 4, kernel: 1}}\n")
        computed = memory_report(m, MemorySettings(batch=2)).training.saved_activation_bytes
        torch.manual_seed(0)
        measured = saved_by_autograd(build_module(m).train(), torch.randn(2, 8, 6, 6))
        assert computed == measured, (value, computed, measured)


def test_an_expression_chooses_no_activation():
    m = model("  - conv: {out: 8, kernel: 3, act: \"'relu' if $in == 8 else 'none'\"}\n"
              "  - conv: {out: 8, kernel: 3, act: \"'relu' if $in == 9 else 'none'\"}\n")
    first, second = m.root.children
    assert [op.kind for op in first.children] == ["conv2d", "act"]
    assert second.kind == "conv2d"  # no activation: the bare convolution


# --- entries switched off by 'when' inside structures ----------------------------------------


MIXED_KERNELS = """blocks:
  mixconv:
    params:
      k3: true
      k5: true
      k7: false
    layers:
      - concat:
          - - conv: {out: 4, kernel: 3, bias: false}
              when: {k3: true}
          - - conv: {out: 4, kernel: 5, bias: false}
              when: {k5: true}
          - - conv: {out: 4, kernel: 7, bias: false}
              when: {k7: true}
"""


class MixConv(nn.Module):
    """A mixed-kernel convolution: one convolution per kernel size on the whole input,
    concatenated; ``out`` split as timm's ``_split_channels`` does (equal parts, the
    remainder to the first)."""

    def __init__(self, cin: int, kernels: list[int], out: int) -> None:
        super().__init__()
        splits = [out // len(kernels)] * len(kernels)
        splits[0] += out - sum(splits)
        self.convs = nn.ModuleList(nn.Conv2d(cin, c, k, padding=k // 2, bias=False) for c, k in zip(splits, kernels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([c(x) for c in self.convs], 1)


def test_a_concat_branch_switched_off_by_when_is_left_out():
    m = model("  - mixconv: {}\n", blocks=MIXED_KERNELS, resolution=8)
    counts = assert_every_convention(m, MixConv(8, [3, 5], 8))
    assert counts["params"] == 8 * 4 * (9 + 25)
    concat = m.root.children[0]
    assert [b.name for b in concat.branches] == ["branch0", "branch1"]
    only7 = model("  - mixconv: {k3: false, k5: false, k7: true}\n", blocks=MIXED_KERNELS, resolution=8)
    assert [b.name for b in only7.root.children[0].branches] == ["branch2"]
    with pytest.raises(SpecError, match="no branches left"):
        model("  - mixconv: {k3: false, k5: false}\n", blocks=MIXED_KERNELS)


def test_a_gate_and_a_shortcut_switched_off_by_when():
    """A gate whose branch is switched off is left out; a shortcut list switched off is the
    identity (and labelled so, not '+ projection shortcut')."""
    from cnninspect.measure.analysis import container_detail

    m = model("""  - gate:
      - mean: {keepdim: true}
        when: "$in == 4"
  - residual:
      body: [{conv: {out: 8, kernel: 3, bias: false}}]
      shortcut:
        - conv: {out: 8, kernel: 1}
          when: "$in == 4"
""")
    (res,) = m.root.children
    assert res.shortcut.kind == "identity"
    assert container_detail(res) == "+ identity shortcut"
    listed = model("  - residual:\n      body: [{conv: {out: 8, kernel: 3}}]\n      shortcut: [identity]\n")
    assert container_detail(listed.root.children[0]) == "+ identity shortcut"


# --- traps and messages ------------------------------------------------------------------------


def test_a_convolution_followed_by_a_bn_entry_has_no_bias():
    """MixNet's trap: a conv written without bn, then '- bn', used to get a bias (64 + 8
    parameters more than the reference). Now it has none, unless bias: true is written."""
    m = model("  - conv: {out: 8, kernel: 3}\n  - bn\n  - act: relu\n")
    ref = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    assert assert_every_convention(m, ref)["params"] == 8 * 8 * 9 + 16
    kept = model("  - conv: {out: 8, kernel: 3, bias: true}\n  - bn\n")
    assert kept.root.children[0].attrs["bias"] is True
    # not directly followed: an activation between keeps the automatic bias
    between = model("  - conv: {out: 8, kernel: 3}\n  - act: relu\n  - bn\n")
    assert between.root.children[0].attrs["bias"] is True
    dw = model("  - dwconv: {kernel: 3}\n  - bn\n  - pwconv: {out: 4}\n  - bn\n")
    assert [n.attrs.get("bias") for n in dw.root.children] == [False, None, False, None]


def test_in_inside_a_structure_suggests_a_block_parameter():
    with pytest.raises(SpecError, match=r"w_in: \{default: \$in\} and write \$w_in"):
        model("""  - residual:
      body:
        - conv: {out: $in * 2, kernel: 1}
        - conv: {out: $in, kernel: 1}
""")


@pytest.mark.parametrize("expr,message", [
    ("$in in 8", "'in' is not supported in an expression; compare one value at a time: $k == 3 or $k == 5"),
    ("$in not in 8", "'not in' is not supported"),
    ("$in & 1", "'&' is not supported in an expression; use 'and'"),
])
def test_python_operators_an_expression_does_not_take(expr, message):
    with pytest.raises(SpecError) as info:
        model(f"  - conv: {{out: 8, kernel: 3}}\n    when: \"{expr}\"\n")
    assert message in str(info.value) and "'In'" not in str(info.value)


def test_a_bare_name_followed_by_keys_suggests_a_mapping():
    with pytest.raises(SpecError, match=r"write '- identity: \{\}'"):
        model("  - concat:\n      - - identity\n          when: \"$in == 8\"\n      - - flatten\n")


MIXCONV_EACH = """blocks:
  mixconv:
    params:
      out: {channels: true}
      kernels: [3, 5, 7]
    layers:
      - concat:
          each: $kernels
          as: k
          branch:
            - conv: {out: "$out // len($kernels) + ($out % len($kernels) if $k_index == 0 else 0)",
                     kernel: $k, bias: false}
"""


def test_a_concat_makes_one_branch_per_value_of_a_list_parameter():
    """MixNet's mixed kernels written once: 'each' over the block's list parameter, the
    output split with the remainder to the first branch (10 over 3 kernels: 4, 3, 3)."""
    m = model("  - mixconv: {out: 10}\n  - mixconv: {out: 8, kernels: [3, 5]}\n", blocks=MIXCONV_EACH, resolution=8)
    ref = nn.Sequential(MixConv(8, [3, 5, 7], 10), MixConv(10, [3, 5], 8))
    counts = assert_every_convention(m, ref)
    assert counts["params"] == 8 * (4 * 9 + 3 * 25 + 3 * 49) + 10 * 4 * (9 + 25)
    assert [b.out_shape[0] for b in m.root.children[0].branches] == [4, 3, 3]


@pytest.mark.parametrize("concat,message", [
    ("each: [3, 5]\n          branches: [[identity]]", "give either 'branches'"),
    ("each: [3, 5]", "give either 'branches'"),
    ("each: []\n          branch: [identity]", "must be a list of 1 to"),
    ("each: [3]\n          as: in\n          branch: [identity]", "built-in name"),
    ("each: [3]\n          branch: [{conv: {out: 4, kernel: $k}}]", "unknown name|unknown parameter"),
])
def test_each_errors(concat, message):
    with pytest.raises(SpecError, match=message):
        model(f"  - concat:\n          {concat}\n")


# --- a partial residual (ReXNet) -------------------------------------------------------------


class RexBottleneck(nn.Module):
    """timm's ReXNet LinearBottleneck (no SE): expand 1x1 + BN + SiLU, depthwise 3x3 + BN +
    ReLU6, project 1x1 + BN; ``x[:, 0:in_chs] += shortcut`` when stride 1 and in <= out."""

    def __init__(self, cin: int, cout: int, stride: int, exp: int) -> None:
        super().__init__()
        mid = cin * exp
        self.use_shortcut = stride == 1 and cin <= cout
        self.in_channels = cin
        self.conv_exp = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU())
        self.conv_dw = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.act_dw = nn.ReLU6()
        self.conv_pwl = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.conv_pwl(self.act_dw(self.conv_dw(self.conv_exp(x))))
        if self.use_shortcut:
            x[:, 0:self.in_channels] += shortcut
        return x


REX = """blocks:
  rex:
    params:
      out: {channels: true}
      stride: 1
    layers:
      - residual:
          body:
            - conv: {out: $in * 6, kernel: 1, bn: true, act: silu}
            - dwconv: {kernel: 3, stride: $stride, bn: true, act: relu6}
            - conv: {out: $out, kernel: 1, bn: true}
          shortcut: "'identity' if $stride == 1 and $in <= $out else 'none'"
          partial: true
"""


def test_a_partial_residual_adds_to_the_first_channels():
    m = model("  - rex: {out: 12}\n  - rex: {out: 16, stride: 2}\n", blocks=REX)
    ref = nn.Sequential(RexBottleneck(8, 12, 1, 6), RexBottleneck(12, 16, 2, 6))
    counts = assert_every_convention(m, ref)
    assert counts["params"] == sum(p.numel() for p in ref.parameters())
    from cnninspect.measure.analysis import container_detail

    assert container_detail(m.root.children[0]) == "+ identity shortcut to the first channels"
    with pytest.raises(SpecError, match="at most the body's channels"):
        model("  - residual:\n      body: [{conv: {out: 4, kernel: 1}}]\n      partial: true\n")


# --- timm's fused batch norm + activation --------------------------------------------------------


class TimmBatchNormAct2d(nn.BatchNorm2d):
    """timm's BatchNormAct2d (timm/layers/norm_act.py), transcribed: a BatchNorm2d subclass
    with ``drop`` (identity) and ``act`` children, applied in its own forward."""

    def __init__(self, num_features: int, act_layer: type[nn.Module] = nn.ReLU) -> None:
        super().__init__(num_features)
        self.drop = nn.Identity()
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)
        return self.act(self.drop(x))


TimmBatchNormAct2d.__name__ = "BatchNormAct2d"


@pytest.mark.parametrize("act,module", [("relu", nn.ReLU), ("silu", nn.SiLU), ("leaky_relu", nn.LeakyReLU),
                                        ("none", nn.Identity)])
def test_bn_act_is_timms_batchnormact2d(act, module):
    """Against timm's BatchNormAct2d after a bias-free conv (timm's ConvNormAct): torchinfo does
    not count the fused module's weight and bias (it is not a leaf), ptflops does not see its
    batch norm (a subclass) but counts its activation, thop counts it as batch norm."""
    fused = model(f"  - conv: {{out: 8, kernel: 3}}\n  - bn_act: {act}\n")
    ref = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), TimmBatchNormAct2d(8, module))
    counts = assert_every_convention(fused, ref)
    separate = model(f"  - conv: {{out: 8, kernel: 3}}\n  - bn\n  - act: {'identity' if act == 'none' else act}\n")
    ref2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), module())
    apart = assert_every_convention(separate, ref2)
    n = 8 * 36
    assert counts["params"] == apart["params"] == 8 * 8 * 9 + 16
    assert apart["torchinfo"] - counts["torchinfo"] == 16
    assert apart["ptflops"] - counts["ptflops"] == 2 * n
    assert {k: counts[k] for k in ("paper", "fvcore", "thop", "flopcounter")} == {
        k: apart[k] for k in ("paper", "fvcore", "thop", "flopcounter")}


def test_bn_act_saves_what_autograd_saves():
    from cnninspect.build.builder import build_module
    from cnninspect.measure.memory import MemorySettings, memory_report
    from test_memory import saved_by_autograd

    for act in ("relu", "silu", "tanhshrink", "none"):
        m = model(f"  - conv: {{out: 8, kernel: 3}}\n  - bn_act: {act}\n  - conv: {{out: 4, kernel: 1}}\n")
        computed = memory_report(m, MemorySettings(batch=2)).training.saved_activation_bytes
        measured = saved_by_autograd(build_module(m).train(), torch.randn(2, 8, 6, 6))
        assert computed == measured, (act, computed, measured)


# --- DLA's aggregation: earlier points concatenated, in their order ------------------------------


class DlaBasic(nn.Module):
    """timm's DlaBasic: 3x3 (stride) + BN + ReLU, 3x3 + BN, += shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor | None = None) -> torch.Tensor:
        shortcut = x if shortcut is None else shortcut
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + shortcut)


class DlaTree1(nn.Module):
    """timm's DlaTree with levels=1, level_root=True: bottom = maxpool(x), x1 = tree1(x,
    project(bottom)), x2 = tree2(x1), root = ReLU(BN(conv1x1(cat[x2, x1, bottom])))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.downsample = nn.MaxPool2d(2, 2)
        self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.tree1 = DlaBasic(cin, cout, 2)
        self.tree2 = DlaBasic(cout, cout, 1)
        self.root = nn.Sequential(nn.Conv2d(2 * cout + cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bottom = self.downsample(x)
        x1 = self.tree1(x, self.project(bottom))
        x2 = self.tree2(x1)
        return self.root(torch.cat([x2, x1, bottom], 1))


def test_dla_aggregation_of_earlier_points():
    """The DLA root concatenates x2, x1 and bottom, later points first: ``concat: {from:
    [tree2, tree1, tree1.shortcut.bottom]}`` (docs/spec-format.md, 'Earlier points'). Exact in
    every convention: bottom, the max pool, is computed once and taken where the root needs
    it (the nested-concat form of language v3 computed it twice, and ptflops, which counts a
    max pool, came out 512 over). The whole DLA-34 tree is in tests/test_concat_from.py."""
    m = model("""  - name: tree1
    residual:
      body:
        - conv: {out: 16, kernel: 3, stride: 2, bn: true, act: relu}
        - conv: {out: 16, kernel: 3, bn: true}
      shortcut:
        - {name: bottom, maxpool: {kernel: 2, stride: 2}}
        - conv: {out: 16, kernel: 1, bn: true}
      post: relu
  - {name: tree2, basic: {out: 16}}
  - {name: cat, concat: {from: [tree2, tree1, tree1.shortcut.bottom]}}
  - {name: root, conv: {out: 16, kernel: 1, bn: true, act: relu}}
""", resolution=8)
    ref = DlaTree1(8, 16)
    counts = assert_every_convention(m, ref)
    assert counts["params"] == sum(p.numel() for p in ref.parameters())
