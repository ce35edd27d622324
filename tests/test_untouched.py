"""A user's model is theirs: no analysis changes it (issue 20, section 1).

For every model of the test suite (tests/zoo.py, tests/refmodules.py, tests/reference/) and
models written here to be awkward (a submodule registered twice, tied weights, user hooks of
every kind, training mode, frozen and half-precision parameters, a lazy layer, a pruned
layer, a model on the meta device), after ``cnninspect.summary`` and the CLI's ``summary``,
``compare``, ``explain``, ``fit``, ``sweep`` and ``check --allow-python`` run in-process on
the very object (as ``package.module:NAME``), with memory and the training step (which
run a meta copy in training mode with gradients and a backward pass), and the Python
functions ``compare``, ``sweep``, ``fit`` and ``check``, every parameter and buffer has the same
identity, values, device, dtype and ``requires_grad``; every module has the same class,
``training`` flag and hooks; and the model computes what an untouched copy computes. The
same holds when the analysis fails (a wrong input shape) or is interrupted (Ctrl-C raised
inside ``forward``).
"""

from __future__ import annotations

import copy
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

import cnninspect
import refmodules
import zoo
from conftest import invoke
from reference import VARIANTS

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
              "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
              "_load_state_dict_post_hooks", "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs")


class Shared(nn.Module):
    """Issue 20's repro inside a model: one Linear registered as ``a`` and as ``b``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = self.a
        self.seq = nn.Sequential(self.a, nn.ReLU(), self.a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(self.b(x))


class TiedLM(nn.Module):
    """A language-model head tied to its embedding; token ids in, a buffer of positions."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(x.long().clamp(0, 49)) * self.scale)


class Hooked(nn.Module):
    """User hooks of every kind, some of which write to the module when they run."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.calls = 0

        def count(module: nn.Module, *args: Any) -> None:
            self.calls += 1

        self.conv.register_forward_hook(count)
        self.conv.register_forward_pre_hook(count)
        self.bn.register_full_backward_hook(lambda m, gi, go: None)
        self.bn.register_full_backward_pre_hook(lambda m, go: None)
        self.register_state_dict_pre_hook(lambda m, prefix, keep_vars: None)
        self._register_state_dict_hook(lambda m, sd, prefix, meta: None)
        self.register_forward_hook(lambda m, args, kwargs, out: out, with_kwargs=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Training(nn.Module):
    """Left in training mode, one child in eval mode: dropout, batch statistics, an
    auxiliary head stored on the module in training."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.bn = nn.BatchNorm2d(6)
        self.drop = nn.Dropout(0.5)
        self.frozen_bn = nn.BatchNorm2d(6).eval()
        self.aux = nn.Linear(6, 2)
        self.aux_out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.frozen_bn(self.bn(self.conv(x)))
        if self.training:
            self.aux_out = self.aux(y.mean((2, 3)))
        return self.drop(y)


class Half(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


class Mixed(nn.Module):
    """Half frozen, in float64: dtype and requires_grad per tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(5, 5).double()
        self.b = nn.Linear(5, 3).double().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


class Interrupted(nn.Module):
    """Ctrl-C arrives while cnninspect runs the forward pass (on the meta device)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.is_meta:
            raise KeyboardInterrupt
        return y


def _lazy() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5))


def _pruned() -> nn.Module:
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    prune.l1_unstructured(m[0], "weight", amount=0.5)
    prune.random_unstructured(m[2], "bias", amount=0.5)
    return m


def _on_meta() -> nn.Module:
    with torch.device("meta"):
        return zoo.ResidualNet()


def _ref(family: str, variant: str) -> Callable[[], nn.Module]:
    return VARIANTS[(family, variant)].build


# name -> (builder, per-sample input, input dtype)
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "zoo.PlainCNN": (zoo.PlainCNN, (3, 32, 32)),
    "zoo.ResidualNet": (zoo.ResidualNet, (3, 16, 16)),
    "zoo.SENet": (zoo.SENet, (3, 16, 16)),
    "zoo.TiedNet": (zoo.TiedNet, (3, 16, 16)),
    "zoo.FrozenNet": (zoo.FrozenNet, (3, 16, 16)),
    "zoo.AttentionNet": (zoo.AttentionNet, (3, 32, 32)),
    "zoo.ShapeIfNet": (zoo.ShapeIfNet, (3, 64, 64)),
    "zoo.StoresOutput": (zoo.StoresOutput, (3, 8, 8)),
    "zoo.ItemNet": (zoo.ItemNet, (3, 8, 8)),
    "zoo.Declared": (zoo.Declared, (3, 40, 40)),
    "zoo.TorchAttention": (zoo.TorchAttention, (10, 32)),
    "refmodules.CNBlock": (lambda: refmodules.CNBlock(8, sd_prob=0.1), (8, 8, 8)),
    "refmodules.MobileNetV3Block": (lambda: refmodules.MobileNetV3Block(8, 3, 16, 8, True, "HS", 1), (8, 8, 8)),
    "refmodules.ResNeXtBottleneck": (lambda: refmodules.ResNeXtBottleneck(64, 16, 1, 4, 16), (64, 8, 8)),
    "refmodules.RegNetBlock": (lambda: refmodules.RegNetBlock(16, 32, 2, 8, 1.0, 0.25), (16, 8, 8)),
    "refmodules.DenseLayer": (lambda: refmodules.DenseLayer(8, 4, 2), (8, 8, 8)),
    "reference.mobilenet_v3_small": (_ref("mobilenet_v3", "small"), (3, 64, 64)),
    "reference.shufflenet_v2_x0_5": (_ref("shufflenet_v2", "x0_5"), (3, 64, 64)),
    "reference.shufflenet_v2_megvii_x0_5": (_ref("shufflenet_v2_megvii", "x0_5"), (3, 64, 64)),
    "reference.squeezenet_1_1": (_ref("squeezenet", "1_1"), (3, 64, 64)),
    "reference.regnet_x_200mf": (_ref("regnet", "x_200mf"), (3, 64, 64)),
    "reference.densenet_121": (_ref("densenet", "121"), (3, 32, 32)),
    "Shared": (Shared, (8,)),
    "TiedLM": (TiedLM, (12,)),
    "Hooked": (Hooked, (3, 8, 8)),
    "Training": (lambda: Training().train(), (3, 8, 8)),
    "Half.bfloat16": (lambda: Half().bfloat16(), (3, 8, 8)),
    "Half.float16": (lambda: Half().half(), (3, 8, 8)),
    "Mixed": (Mixed, (5,)),
    "LazyLinear": (_lazy, (3, 8, 8)),
    "Pruned": (_pruned, (3, 8, 8)),
    "OnMeta": (_on_meta, (3, 16, 16)),
}


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything a user could observe about ``model`` without running it."""

    def tensors(named: Any) -> list[tuple[Any, ...]]:
        out = []
        for name, t in named:
            lazy = isinstance(t, nn.parameter.UninitializedTensorMixin)
            value = None if lazy or t.is_meta else t.detach().clone()
            out.append((name, t, value, t.device, t.dtype, t.requires_grad, type(t)))
        return out

    return {
        "params": tensors(model.named_parameters(remove_duplicate=False)),
        "buffers": tensors(model.named_buffers(remove_duplicate=False)),
        "modules": [(n, m, type(m), m.training, {k: dict(getattr(m, k)) for k in HOOK_DICTS},
                     sorted(m.__dict__))
                    for n, m in model.named_modules(remove_duplicate=False)],
    }


def assert_untouched(model: nn.Module, before: dict[str, Any]) -> None:
    after = snapshot(model)
    for kind in ("params", "buffers"):
        assert [a[0] for a in after[kind]] == [b[0] for b in before[kind]], kind
        for (name, t, _, device, dtype, grad, cls), (_, t0, value, device0, dtype0, grad0, cls0) in zip(
                after[kind], before[kind]):
            assert t is t0, f"{kind} {name} was replaced"
            assert (device, dtype, grad, cls) == (device0, dtype0, grad0, cls0), f"{kind} {name} changed"
            if value is not None:
                assert torch.equal(t.detach(), value), f"{kind} {name} changed its values"
    assert len(after["modules"]) == len(before["modules"])
    for (name, m, cls, training, hooks, attrs), (_, m0, cls0, training0, hooks0, attrs0) in zip(
            after["modules"], before["modules"]):
        assert m is m0 and cls is cls0, f"module {name!r} was replaced or changed class"
        assert training == training0, f"module {name!r} changed its training flag"
        assert hooks == hooks0, f"module {name!r} changed its hooks"
        assert attrs == attrs0, f"module {name!r} gained or lost attributes"


def twin_of(model: nn.Module) -> nn.Module:
    """An untouched copy (a pruned layer's computed weight copied as a plain tensor)."""
    memo = {id(v): v.detach().clone() for m in model.modules() for v in m.__dict__.values()
            if isinstance(v, torch.Tensor) and not v.is_leaf}
    return copy.deepcopy(model, memo)


def assert_still_runs(model: nn.Module, twin: nn.Module, shape: tuple[int, ...]) -> None:
    """The model computes exactly what an untouched copy computes, and can be trained."""
    p = next(iter(model.parameters()), None)
    if p is not None and p.is_meta:
        return
    dtype = p.dtype if p is not None and p.dtype.is_floating_point else torch.float32
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0)).abs().to(dtype)
    torch.manual_seed(0)
    out = model(x)
    torch.manual_seed(0)
    expected = twin(x)
    assert torch.equal(out, expected)
    if out.dtype.is_floating_point and out.requires_grad:
        out.float().sum().backward()


@pytest.fixture
def as_module(monkeypatch: pytest.MonkeyPatch) -> Callable[[nn.Module], str]:
    """Make ``model`` importable as ``cnninspect_untouched.models:model`` (the very object; a
    reference needs a dotted module path, else it is read as a bundled spec's variant)."""

    def register(model: nn.Module) -> str:
        mod = types.ModuleType("cnninspect_untouched.models")
        mod.model = model  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "cnninspect_untouched", types.ModuleType("cnninspect_untouched"))
        monkeypatch.setitem(sys.modules, "cnninspect_untouched.models", mod)
        return "cnninspect_untouched.models:model"

    return register


def run_everything(model: nn.Module, shape: tuple[int, ...], ref: str, tmp_path: Any) -> None:
    dims = "x".join(map(str, shape))
    cnninspect.summary(model, input_size=(1, *shape))
    cnninspect.summary(model, input_size=(2, *shape), convention="fvcore", mode="train")
    for convention in ("ptflops", "thop"):  # the module-class conventions and receptive fields read the copy too
        cnninspect.summary(model, input_size=(1, *shape), convention=convention, rf=True)
    for call in (lambda: cnninspect.summary(model, input_size=(2, *shape), optimizer="adam", training_step=True),
                 lambda: cnninspect.compare([model, model], (1, *shape), memory=True),
                 lambda: cnninspect.sweep(model, (1, *shape), batches=[1, 2]),
                 lambda: cnninspect.check(model, (1, *shape), budgets={"max_params": "1G"}),
                 lambda: cnninspect.fit(model, (1, *shape), over={"resolution": [8, 16]},
                                        budgets={"max_params": "1G"})):
        try:
            call()
        except cnninspect.base.errors.CnnInspectError:
            pass  # a model the meta device refuses, or without an image input: said so, nothing touched
    for args in (("summary", ref, "--input", dims, "-f", "json"),
                 ("summary", ref, "--input", dims, "--memory", "--dtype", "bf16", "--training-step"),
                 ("compare", f"{ref}@input={dims}", f"{ref}@input={dims}", "--layers"),
                 ("explain", ref),
                 ("sweep", ref, "--input", dims, "--resolution", "8,16") if len(shape) == 3 else ("summary", ref),
                 ("fit", ref, "--input", dims, "--over", "resolution=8:16:8", "--max-params", "1G")):
        r = invoke(*args)
        assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.stderr)
        if args[:2] == ("summary", ref) and "-f" in args:  # the reference is read as the very object
            assert r.exit_code == 0, r.stderr
    checks = tmp_path / "budgets.yaml"
    checks.write_text(f"checks:\n  - model: {ref}\n    settings: {{input: {dims}}}\n    budget: {{max_params: 1G}}\n")
    r = invoke("check", str(checks), "--allow-python")
    assert r.exit_code in (0, 1, 2), r.stderr


@pytest.mark.parametrize("name", list(MODELS))
def test_no_analysis_changes_the_model(name: str, as_module: Callable[[nn.Module], str], tmp_path: Any) -> None:
    torch.manual_seed(0)
    build, shape = MODELS[name]
    model = build()
    twin = twin_of(model)
    before = snapshot(model)
    run_everything(model, shape, as_module(model), tmp_path)
    assert_untouched(model, before)
    assert_still_runs(model, twin, shape)


def test_issue_20_repro_keeps_the_trained_weights() -> None:
    lin = nn.Linear(8, 8)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    weight = lin.weight
    s = cnninspect.summary(m, input_size=(1, 8))
    assert s.totals.trainable_params == 72
    assert lin.weight is weight and lin.weight.device.type == "cpu" and lin.weight.requires_grad
    assert m(torch.zeros(1, 8)).shape == (1, 8)


@pytest.mark.parametrize("name", ["Shared", "Hooked", "Training", "Pruned", "LazyLinear", "zoo.StoresOutput"])
def test_a_failed_analysis_changes_nothing(name: str, as_module: Callable[[nn.Module], str]) -> None:
    build, shape = MODELS[name]
    model = build()
    twin = twin_of(model)
    before = snapshot(model)
    wrong = (shape[0] + 1, *shape[1:])
    with pytest.raises(cnninspect.base.errors.CnnInspectError):
        cnninspect.summary(model, input_size=(1, *wrong))
    r = invoke("summary", as_module(model), "--input", "x".join(map(str, wrong)))
    assert r.exit_code == 2, r.stderr
    assert_untouched(model, before)
    assert_still_runs(model, twin, shape)


def test_ctrl_c_inside_forward_changes_nothing(as_module: Callable[[nn.Module], str]) -> None:
    model = Interrupted().train()
    model.conv.register_forward_hook(lambda m, a, o: None)
    twin = twin_of(model)
    before = snapshot(model)
    with pytest.raises(KeyboardInterrupt):
        cnninspect.summary(model, input_size=(1, 3, 8, 8))
    assert_untouched(model, before)
    assert_still_runs(model, twin, (3, 8, 8))


class InterruptedInTraining(nn.Module):
    """Ctrl-C arrives during the training pass (gradients on, meta device), after the
    inference capture went through."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        if y.is_meta and torch.is_grad_enabled():
            raise KeyboardInterrupt
        return y


def test_ctrl_c_inside_the_training_pass_changes_nothing() -> None:
    model = InterruptedInTraining().eval()
    twin = twin_of(model)
    before = snapshot(model)
    for extra in ({"memory": True}, {"training_step": True}):
        with pytest.raises(KeyboardInterrupt):
            cnninspect.summary(model, input_size=(1, 3, 8, 8), **extra)
        assert_untouched(model, before)
    assert_still_runs(model, twin, (3, 8, 8))
