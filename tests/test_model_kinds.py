"""Every model kind counted, or refused with exit 2 and a reason (issue 20, section 3):
TorchScript, lazy, pruned, quantized, half and bfloat16 models, devices, training mode, and
forward passes returning tuples, dicts or None. Counts are compared with torchinfo run in
the test on the same model and input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchinfo
from torch import nn
from torch.nn.utils import prune

import cnninspect
from conftest import invoke

KINDS = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


class Partly(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.jit.script(nn.Conv2d(3, 8, 3))

    def forward(self, x):
        return self.a(x)


def scripted():
    return torch.jit.script(Net())


def quantized():
    float_model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    return torch.ao.quantization.quantize_dynamic(float_model, {nn.Linear}, dtype=torch.qint8)


def lazy():
    return nn.Sequential(nn.LazyConv2d(8, 3), nn.Flatten(), nn.LazyLinear(4))


class Pair(Net):
    def forward(self, x):
        y = self.conv(x)
        return y, self.fc(y.mean((2, 3)))


class Named(Net):
    def forward(self, x):
        y = self.conv(x)
        return {"feat": y, "logits": self.fc(y.mean((2, 3)))}


class Nothing(Net):
    def forward(self, x):
        self.conv(x)
        return None
'''


@pytest.fixture
def kinds(tmp_path: Path) -> Path:
    path = tmp_path / "kinds.py"
    path.write_text(KINDS)
    return path


def run(*args: str) -> tuple[int, str, str]:
    r = invoke(*args)
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize(("name", "reason"), [
    ("scripted", "the model is TorchScript"),
    ("Partly", "its submodule 'a' is TorchScript"),
    ("quantized", "its submodule '0' is a quantized Linear"),
])
def test_refused_kinds_exit_2_with_the_reason(kinds: Path, name: str, reason: str) -> None:
    code, out, err = run("summary", f"{kinds}:{name}", "--input", "3x16x16" if name != "quantized" else "16")
    assert code == 2 and out == "" and reason in err and "Traceback" not in err, err


def test_refused_kinds_from_python() -> None:
    # (a file whose constructor traces runs torch.jit.trace on the meta device, which leaves
    # PyTorch's tracer unusable in this process: traced here, on the CPU)
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    for compiled in (torch.jit.script(net), torch.jit.trace(net, torch.randn(1, 3, 8, 8))):
        with pytest.raises(cnninspect.base.errors.UsageError, match="the model is TorchScript"):
            cnninspect.summary(compiled, input_size=(1, 3, 8, 8))


def test_lazy_modules_are_materialised_on_a_copy(kinds: Path) -> None:
    lazy = nn.Sequential(nn.LazyConv2d(8, 3), nn.Flatten(), nn.LazyLinear(4))
    r = cnninspect.summary(lazy, input_size=(1, 3, 16, 16), convention="torchinfo")
    assert isinstance(lazy[2].weight, nn.parameter.UninitializedParameter)  # the caller's stays lazy
    built = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 14 * 14, 4))
    theirs = torchinfo.summary(built, input_size=(1, 3, 16, 16), verbose=0, device="cpu", mode="eval")
    assert (r.total_params, r.total_mult_adds) == (theirs.total_params, theirs.total_mult_adds)
    code, out, err = run("summary", f"{kinds}:lazy", "--input", "3x16x16", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["totals"]["params"] == theirs.total_params


def test_pruned_models_under_the_torchinfo_convention_equal_torchinfo() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.Flatten(), nn.Linear(32 * 12 * 12, 10))
    for m in (model[0], model[2], model[4]):
        prune.l1_unstructured(m, "weight", amount=0.7)
    prune.random_unstructured(model[4], "bias", amount=0.5)
    for batch in (1, 2):
        ours = cnninspect.summary(model, input_size=(batch, 3, 16, 16), convention="torchinfo")
        theirs = torchinfo.summary(model, input_size=(batch, 3, 16, 16), verbose=0, device="cpu", mode="eval")
        assert ours.total_mult_adds == theirs.total_mult_adds
    # parameters stay tensor elements (weight_orig in full); torchinfo counts the mask's ones
    assert ours.total_params == sum(p.numel() for p in model.parameters()) > theirs.total_params


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_models_take_memory_from_their_dtypes(dtype: torch.dtype) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    full = cnninspect.summary(model, input_size=(1, 3, 32, 32))
    half = cnninspect.summary(model.to(dtype), input_size=(1, 3, 32, 32))
    assert next(model.parameters()).dtype == dtype  # never converted back
    assert half.totals.mult_adds == full.totals.mult_adds and half.totals.params == full.totals.params
    assert 2 * half.totals.peak_activation_bytes == full.totals.peak_activation_bytes
    assert half.totals.param_bytes == sum(p.numel() * 2 for p in model.parameters())
    assert half.report.subject.settings["inputs"][0]["dtype"] == str(dtype).removeprefix("torch.")


def test_devices_are_never_changed() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(cnninspect.base.errors.UsageError, match="on cpu, not cuda.*never moves"):
        cnninspect.summary(model, input_size=(1, 3, 8, 8), device="cuda")
    real = cnninspect.summary(model, input_size=(1, 3, 8, 8), device="cpu")
    assert real.report.subject.device == "cpu" and next(model.parameters()).device.type == "cpu"
    meta = cnninspect.summary(model, input_size=(1, 3, 8, 8), device="meta")
    assert meta.report.subject.device == "meta" and meta.totals == real.totals
    with torch.device("meta"):
        on_meta = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(cnninspect.base.errors.UsageError, match="on meta, not cpu"):
        cnninspect.summary(on_meta, input_size=(1, 3, 8, 8), device="cpu")
    assert cnninspect.summary(on_meta, input_size=(1, 3, 8, 8)).totals.params == 112

    class Item(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * x.sum().item()

    with pytest.raises(cnninspect.base.errors.UsageError, match="device='meta' allows no real run"):
        cnninspect.summary(Item(), input_size=(1, 3), device="meta")


class Inception(nn.Module):
    """An auxiliary head and dropout that run only in training."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.aux = nn.Linear(8, 5)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        y = self.bn(self.stem(x)).mean((2, 3))
        if self.training:
            return self.fc(self.drop(y)), self.aux(y)
        return self.fc(y)


def test_training_mode_runs_the_training_branches() -> None:
    model = Inception().eval()
    for mode in ("train", "eval"):
        ours = cnninspect.summary(model, input_size=(2, 3, 16, 16), mode=mode, convention="torchinfo")
        theirs = torchinfo.summary(model, input_size=(2, 3, 16, 16), verbose=0, device="cpu", mode=mode)
        assert ours.total_mult_adds == theirs.total_mult_adds
    assert not model.training
    train = cnninspect.summary(model, input_size=(2, 3, 16, 16), mode="train")
    evals = cnninspect.summary(model, input_size=(2, 3, 16, 16))
    assert train.totals.mult_adds - evals.totals.mult_adds == 2 * 8 * 5  # the auxiliary head, batch 2
    assert any("tuple holding 2 tensors" in n for n in train.report.subject.notes)
    model.train()
    same = cnninspect.summary(model, input_size=(2, 3, 16, 16), mode="same")
    assert same.totals == train.totals and model.training
    with pytest.raises(cnninspect.base.errors.UsageError, match="mode must be one of"):
        cnninspect.summary(model, input_size=(2, 3, 16, 16), mode="inference")


@pytest.mark.parametrize(("name", "note", "output"), [
    ("Pair", "returned a tuple holding 2 tensors; the output shown is the first", [8, 14, 14]),
    ("Named", "returned a dict of 2 tensors (feat, logits); the output shown is the first", [8, 14, 14]),
    ("Nothing", "the forward pass returned None: no output to show", []),
])
def test_forwards_returning_tuples_dicts_or_none_say_so(kinds: Path, name: str, note: str, output: list[int]) -> None:
    code, out, err = run("summary", f"{kinds}:{name}", "--input", "3x16x16", "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == output and any(note in w["message"] for w in data["warnings"])
    code, out, err = run("summary", f"{kinds}:{name}", "--input", "3x16x16")
    assert code == 0 and note in " ".join(out.split()) and "note: the forward pass" in out
