"""Any nn.Module: parameters by identity, every convention against an independent count
(fvcore's FlopCountAnalysis, torchinfo's total_mult_adds, conv/linear multiply-adds from
forward hooks), uncounted operators listed, and the user's module left as it was."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch import nn

import cnninspect
import zoo

# (model class, per-sample input): small inputs, the identities hold at any size
MODELS = [
    (zoo.PlainCNN, (3, 32, 32)),
    (zoo.ResidualNet, (3, 16, 16)),
    (zoo.SENet, (3, 32, 32)),
    (zoo.TiedNet, (3, 16, 16)),
    (zoo.FrozenNet, (3, 16, 16)),
    (zoo.AttentionNet, (3, 32, 32)),
    (zoo.ShapeIfNet, (3, 32, 32)),
    (zoo.ShapeIfNet, (3, 64, 64)),
    (zoo.TorchAttention, (10, 32)),
]
IDS = [f"{cls.__name__}-{'x'.join(map(str, shape))}" for cls, shape in MODELS]


def fvcore_total(model: nn.Module, shape: tuple[int, ...]) -> int:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():  # as fvcore's users run it (nn.MultiheadAttention then takes its fast path)
        fca = FlopCountAnalysis(model.eval(), torch.randn(1, *shape))
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return int(fca.total())


def conv_linear_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Conv and linear multiply-adds from forward hooks on nn.Conv2d, nn.Linear and
    nn.MultiheadAttention (whose projections are functional linear layers): an independent
    count of the paper convention (one multiply-add per weight use)."""
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        elif isinstance(m, nn.Linear):
            total += inputs[0].numel() // m.in_features * m.in_features * m.out_features
        elif isinstance(m, nn.MultiheadAttention):  # q, k, v and output projections, all functional
            total += 4 * inputs[0].numel() * m.embed_dim

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        # with gradients on, nn.TransformerEncoderLayer takes its module-by-module path (its
        # fused inference kernel would skip the hooks); cnninspect counts that path's work
        model.eval()(torch.randn(1, *shape))
    finally:
        for h in handles:
            h.remove()
    return total


@pytest.fixture(scope="module", params=range(len(MODELS)), ids=IDS)
def case(request):
    cls, shape = MODELS[request.param]
    torch.manual_seed(0)
    model = cls()
    reports = {c: cnninspect.summary(model, (1, *shape), convention=c) for c in ("paper", "fvcore", "torchinfo")}
    return model, shape, reports


def test_parameters_count_each_tensor_once(case):
    model, _shape, reports = case
    unique = {id(p): p for p in model.parameters()}
    for r in reports.values():
        assert r.totals.params == sum(p.numel() for p in unique.values())
        assert r.totals.trainable_params == sum(p.numel() for p in unique.values() if p.requires_grad)
        leaves = [row for row in r.rows if row.is_leaf]
        assert sum(row.params for row in leaves) == r.totals.params
        assert sum(row.mult_adds for row in leaves) == r.totals.mult_adds


def test_fvcore_convention_equals_flopcountanalysis(case):
    model, shape, reports = case
    assert reports["fvcore"].totals.mult_adds == fvcore_total(model, shape)


def test_torchinfo_convention_equals_torchinfo(case):
    torchinfo = pytest.importorskip("torchinfo")
    model, shape, reports = case
    stats = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu", mode="eval")
    assert reports["torchinfo"].totals.mult_adds == stats.total_mult_adds


def test_paper_convention_equals_conv_and_linear_multiply_adds(case):
    model, shape, reports = case
    assert reports["paper"].totals.mult_adds == conv_linear_macs(model, shape)


def test_uncounted_operators_are_listed_never_silently_zero():
    torch.manual_seed(0)
    model = zoo.AttentionNet()
    paper = cnninspect.summary(model, (1, 3, 32, 32))
    # q @ k^T and attn @ v multiply two activations: no weight is used, so the paper
    # convention has no rule for them; they are listed, with their rows
    assert paper.uncounted == (("aten.bmm", 2),)
    rows = [r for r in paper.rows if r.kind == "functional"]
    assert [r.name for r in rows] == ["attn.matmul", "attn.matmul#2"]
    assert all("uncounted" in r.detail and r.mult_adds == 0 for r in rows)
    assert "Uncounted operators: aten.bmm x2" in str(paper)
    assert paper.to_dict()["uncounted"] == [{"op": "aten.bmm", "calls": 2}]
    # fvcore counts matrix products: nothing uncounted, the rows carry the count
    fv = cnninspect.summary(model, (1, 3, 32, 32), convention="fvcore")
    assert fv.uncounted == ()
    attn = [r for r in fv.rows if r.kind == "functional"]
    assert [r.mult_adds for r in attn] == [4 * 64 * 64 * 8] * 2  # heads x tokens x tokens x head dim
    # torchinfo counts modules by their parameters: functional products are invisible to it
    assert cnninspect.summary(model, (1, 3, 32, 32), convention="torchinfo").uncounted == (("aten.bmm", 2),)


def test_rows_follow_the_calls():
    torch.manual_seed(0)
    r = cnninspect.summary(zoo.TiedNet(), (1, 3, 16, 16))
    by = {row.name: row for row in r.rows}
    # the module called twice has two rows; its parameters count at the first call
    assert by["conv"].params == 4 * 4 * 9 + 4 and by["conv#2"].params == 0 and "call 2" in by["conv#2"].detail
    assert by["conv"].mult_adds == by["conv#2"].mult_adds == 4 * 16 * 16 * 4 * 9
    # the tied weight counts once, at the first module holding it
    assert by["enc"].params == 256 and by["dec"].params == 16 and "weight shared with enc" in by["dec"].detail
    small = cnninspect.summary(zoo.ShapeIfNet(), (1, 3, 32, 32))
    down = {row.name: row for row in small.rows}["down"]
    assert down.detail == "not called" and down.params == 3 * 3 * 9 + 3 and down.mult_adds == 0
    big = cnninspect.summary(zoo.ShapeIfNet(), (1, 3, 64, 64))
    assert {row.name: row for row in big.rows}["down"].output_shape == (3, 32, 32)


def test_peak_activations_and_depth_from_the_data_flow():
    torch.manual_seed(0)
    r = cnninspect.summary(zoo.PlainCNN(), (1, 3, 32, 32))
    # batch norm and ReLU after the first convolution each read and write 8x32x32; the
    # convolution itself holds 3x32x32 + 8x32x32 and every later layer is smaller
    assert r.totals.peak_activation_elements == 2 * 8 * 32 * 32
    assert r.totals.largest_activation_elements == 8 * 32 * 32
    assert r.report.subject.depth == 3  # two convolutions and the classifier
    res = cnninspect.summary(zoo.ResidualNet(), (1, 3, 16, 16))
    assert res.report.subject.depth == 1 + 2 * 2 + 1


def test_the_users_module_is_left_exactly_as_it_was():
    torch.manual_seed(0)
    model = zoo.StoresOutput()
    model.train()
    model.conv.eval()  # mixed flags must come back as they were
    state = {k: v.clone() for k, v in model.state_dict().items()}
    params = {n: p for n, p in model.named_parameters()}
    attrs = {m: dict(m.__dict__) for m in model.modules()}
    from torch.nn.modules import module as torch_module

    global_hooks = (len(torch_module._global_forward_hooks), len(torch_module._global_forward_pre_hooks))
    r = cnninspect.summary(model, (1, 3, 8, 8), convention="fvcore")
    assert r.totals.params == 4 * 27 + 4
    assert model.training and not model.conv.training
    assert {n: p for n, p in model.named_parameters()} == params  # the same tensors
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert model.last is None  # the attribute the forward pass set is undone
    for m in model.modules():
        assert dict(m.__dict__).keys() == attrs[m].keys()
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert (len(torch_module._global_forward_hooks), len(torch_module._global_forward_pre_hooks)) == global_hooks


def test_a_model_refusing_the_meta_device_runs_on_the_cpu():
    torch.manual_seed(0)
    r = cnninspect.summary(zoo.ItemNet(), (1, 3, 8, 8))
    assert r.report.engine == "module-cpu"
    assert "refused the meta device" in r.report.subject.fallback and "item()" in r.report.subject.fallback
    assert r.totals.mult_adds == 4 * 6 * 6 * 27
    assert "module on the CPU" in str(r)


def test_python_api_report_object():
    torch.manual_seed(0)
    r = cnninspect.summary(zoo.PlainCNN(), input_size=(1, 3, 32, 32), convention="paper")
    assert r.totals.params == sum(p.numel() for p in zoo.PlainCNN().parameters())
    text = str(r)
    assert text.startswith("PlainCNN - nn.Module passed from Python") and "convention: paper" in text
    data = r.to_dict()
    assert data["schema"] == "cnninspect.summary/1" and data["source"] == "python" and data["device"] == "meta"
    assert data["totals"]["mult_adds"] == r.totals.mult_adds and data["input"] == [3, 32, 32]
    html = r._repr_html_()
    assert html.startswith('<meta charset="utf-8">\n<div class="cnninspect">') and "<table>" in html and "<td style=\"text-align:left;white-space:pre\">├─ 0</td>" in html
    assert "PlainCNN" in repr(r)
    # a spec by name, with the same API; never prints
    spec = cnninspect.summary("mobilenet_v1", input_size=(1, 3, 160, 160))
    assert spec.totals.mult_adds == 290_675_200 and spec.report.subject.input_shape == (3, 160, 160)
    declared = cnninspect.summary(zoo.Declared())
    assert declared.report.subject.input_shape == (3, 40, 40)
    with pytest.raises(cnninspect.base.errors.UsageError, match="declares no input size"):
        cnninspect.summary(zoo.PlainCNN())
    with pytest.raises(cnninspect.base.errors.UsageError, match="input_size"):
        cnninspect.summary(zoo.PlainCNN(), input_size=(1, 3, 0, 32))
