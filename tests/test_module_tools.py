"""The ptflops and thop conventions on Python models equal the tools themselves, as their users
call them, on the cases where counting by module class matters: a subclass of ``nn.Conv2d``
(ptflops matches exact classes, thop the class hierarchy), ``x.add(y)`` against ``x + y``
(ptflops patches the method, not the operator), a function held by a module
(``self.act = F.relu``, taken before ptflops patches it), a module shared by two parents
(ptflops counts it once per parent), a batch of four (ptflops divides its hooks' count by the
batch, not its patched calls'), and a class neither tool knows (0 there)."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnninspect

ptflops = pytest.importorskip("ptflops")
thop = pytest.importorskip("thop")


class MyConv(nn.Conv2d):
    """A subclass: thop counts it as nn.Conv2d, ptflops does not see it."""


class Unknown(nn.Module):
    """A class neither tool has a rule for: its matrix product counts 0 in ptflops (its
    ``torch.matmul`` is patched, though) and in thop (``@`` inside a module without a rule is
    counted as a functional product)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2) @ self.w


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.sub = MyConv(16, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.shared = nn.Sequential(self.relu)  # self.relu listed under two parents
        self.act = F.relu  # held: called as self.act(x), ptflops's patch does not see it
        self.silu = nn.SiLU()
        self.pool = nn.AvgPool2d(2)
        self.unknown = Unknown()
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn(self.conv(x)))
        z = self.sub(y)
        y = y.add(z) + z  # the method is patched by ptflops, the operator is not
        y = self.act(self.shared(y)) * 0.5
        y = self.pool(self.silu(y)).mul(2.0)
        return self.fc(self.unknown(y)).softmax(-1)


def _ptflops(model: nn.Module, x: torch.Tensor) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = ptflops.get_model_complexity_info(model, tuple(x.shape[1:]), input_constructor=lambda _r: x,
                                                    as_strings=False, print_per_layer_stat=False)
    return int(macs)


def _thop(model: nn.Module, x: torch.Tensor) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return int(thop.profile(model, (x,), verbose=False)[0])


@pytest.mark.parametrize("batch", [1, 4])
def test_equal_to_the_tools(batch: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 8, 8)
    p = cnninspect.summary(Net().eval(), input_data=[x], convention="ptflops")
    t = cnninspect.summary(Net().eval(), input_data=[x], convention="thop")
    assert p.total_mult_adds == batch * _ptflops(Net().eval(), x)  # ptflops's number is per image
    assert t.total_mult_adds == _thop(Net().eval(), x)


def test_rows_follow_each_tools_classes() -> None:
    x = torch.randn(1, 3, 8, 8)
    p = {r.name: r.mult_adds for r in cnninspect.summary(Net(), input_data=[x], convention="ptflops").rows}
    t = {r.name: r.mult_adds for r in cnninspect.summary(Net(), input_data=[x], convention="thop").rows}
    conv = 16 * 8 * 8 * 16 * 9
    assert p["sub"] == 0 and t["sub"] == conv  # exact class against class hierarchy
    assert p["conv"] == 3 * 9 * 16 * 64 + 16 * 64 and t["conv"] == 3 * 9 * 16 * 64  # ptflops adds the bias
    # nn.ReLU: ptflops's hook (once per parent listing it, 2 parents) + the patched F.relu
    assert p["relu"] == 2 * 1024 + 1024 and t["relu"] == 0
    assert p["silu"] == 1024 and t["silu"] == 0  # nn.SiLU: no hook in either, F.silu patched by ptflops
    assert p["unknown"] == 0 and t["unknown"] == 16 * 8 * 16  # thop counts a product outside ruled modules


def test_a_pruned_layer_and_a_module_the_hook_cannot_read() -> None:
    """thop reads ``m.weight``, a pruned layer's masked attribute; a subclass of ``nn.Linear``
    without ``in_features`` fails in thop's hook, and is one line here (exit 2, not a crash)."""
    from torch.nn.utils import prune

    from cnninspect.base.errors import UsageError

    def pruned() -> nn.Module:
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
        prune.l1_unstructured(m[0], "weight", 0.5)
        return m.eval()

    x = torch.randn(1, 3, 8, 8)
    assert cnninspect.summary(pruned(), input_data=[x], convention="thop").total_mult_adds == _thop(pruned(), x)

    class Odd(nn.Linear):
        def __init__(self) -> None:
            super().__init__(4, 4)
            del self.in_features

    with pytest.raises(Exception):
        _thop(Odd(), torch.randn(1, 4))
    with pytest.raises(UsageError, match="the thop convention cannot count a call of .*Odd"):
        cnninspect.summary(Odd(), input_size=(1, 4), convention="thop")


def test_explain_reconciles_ptflops_and_thop_with_the_tools_measured() -> None:
    """``explain FILE.py:NAME``: ptflops's and thop's rows are cnninspect's conventions, and
    the tools measured on a copy of the model agree (no unexplained term); with
    ``--convention thop`` the layers are thop's counts."""
    from conftest import invoke

    r = invoke("explain", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--show", "tools")
    assert r.exit_code == 0, r.stderr
    assert "measured          = ptflops total, in MACs                       43,844,234" in r.stdout
    assert "measured          = thop total, in MACs                          43,893,440" in r.stdout
    assert "not explained by the rules" not in r.stdout
    r = invoke("explain", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--convention", "thop",
               "--no-measure", "--show", "layers")
    assert r.exit_code == 0, r.stderr
    assert "Mult-adds (thop): 43,893,440 = the sum of the rows" in r.stdout
