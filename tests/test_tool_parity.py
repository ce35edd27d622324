"""cnninspect's fvcore, torchinfo and flopcounter conventions equal the tools themselves on
100+ models nobody wrote for cnninspect (``tests/parity_models.py``): torchinfo's own test
fixtures and plain-PyTorch transformers, RNN language models and CNNs.

Each tool runs as its users run it (``tests/parity_tools.py``): fvcore and FlopCounterMode
on real CPU tensors under ``torch.no_grad()`` in eval mode, so PyTorch's fused CPU paths run
(the ``nn.TransformerEncoderLayer`` and ``nn.MultiheadAttention`` fast paths, CPU flash
attention, oneDNN's LSTM), and torchinfo with ``input_data``. A tool that cannot run a model
is skipped for it with the reason (``TOOL_FAILS``); the few models where cnninspect differs
or refuses are listed with the reason (``EXCEPTIONS``). Both lists are checked, so neither
can go stale, and ``docs/conventions.md`` prints them (``scripts/parity_table.py``).

The whole suite is marked ``zoo`` (``python -m pytest -m zoo``, about a minute); the
default run keeps a representative subset (``SMOKE``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cnninspect.base.errors import UsageError

pytest.importorskip("fvcore")
pytest.importorskip("torchinfo")

from parity_models import CASES, EXCEPTIONS, SMOKE, TOOL_FAILS  # noqa: E402
from parity_tools import TOOLS, cnninspect_total, tool_total  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _params() -> list[object]:
    out = []
    for name in CASES:
        for tool in TOOLS:
            marks = () if name in SMOKE else (pytest.mark.zoo,)
            out.append(pytest.param(name, tool, id=f"{name}-{tool}", marks=marks))
    return out


def test_suite_size_and_lists() -> None:
    assert len(CASES) >= 100
    assert len(SMOKE) == 10 and set(SMOKE) <= set(CASES)
    for name, tool in (*TOOL_FAILS, *EXCEPTIONS):
        assert name in CASES and tool in TOOLS
    assert not set(TOOL_FAILS) & set(EXCEPTIONS)


@pytest.mark.parametrize("name,tool", _params())
def test_convention_equals_tool(name: str, tool: str) -> None:
    case = CASES[name]
    key = (name, tool)
    if key in TOOL_FAILS:
        with pytest.raises(Exception):
            tool_total(case, tool)
        pytest.skip(f"{tool} cannot run {name}: {TOOL_FAILS[key]}")
    theirs = tool_total(case, tool)
    if key in EXCEPTIONS and EXCEPTIONS[key].startswith("refused"):
        with pytest.raises(UsageError):
            cnninspect_total(case, tool)
        pytest.skip(f"cnninspect refuses {name}: {EXCEPTIONS[key]}")
    mine = cnninspect_total(case, tool)
    if key in EXCEPTIONS:
        assert mine != theirs
        pytest.skip(f"{name} differs from {tool}: {EXCEPTIONS[key]}")
    assert mine == theirs, f"{name}: cnninspect {tool} {mine:,} vs {tool} itself {theirs:,}"


@pytest.mark.zoo
def test_docs_table_is_current() -> None:
    """``docs/conventions.md`` holds what ``scripts/parity_table.py`` prints today."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import parity_table
    finally:
        sys.path.pop(0)
    doc = (ROOT / "docs" / "conventions.md").read_text()
    assert parity_table.section() in doc, "run: python scripts/parity_table.py --write"


def test_fused_work_is_named_and_counted_by_paper() -> None:
    """Work a tool's fused CPU operator hides is listed under that convention, named with
    the fused operator, and still counted by ``paper``."""
    import torch
    from torch import nn

    import cnninspect

    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    x = torch.randn(2, 9, 32)
    flop = cnninspect.summary(layer, input_data=[x], convention="flopcounter")
    assert flop.total_mult_adds == 0  # FlopCounterMode on the CPU: the layer is one fused operator
    # the input projection (mm), out projection and MLP (addmm), scores and weighted sum (bmm)
    assert dict(flop.uncounted) == {"aten.mm in aten._transformer_encoder_layer_fwd": 1,
                                    "aten.addmm in aten._transformer_encoder_layer_fwd": 3,
                                    "aten.bmm in aten._transformer_encoder_layer_fwd": 2}
    fv = cnninspect.summary(layer, input_data=[x], convention="fvcore")
    # fvcore: its hooks keep the layer off its fast path, not the attention inside it
    assert fv.total_mult_adds == 2 * 9 * 2 * 32 * 64 + 5 * 2 * 2 * 9 * 32  # the MLP and two layer norms
    assert dict(fv.uncounted) == {"aten.mm in aten._native_multi_head_attention": 1,
                                  "aten.addmm in aten._native_multi_head_attention": 1,
                                  "aten.bmm in aten._native_multi_head_attention": 2}
    # paper: the weight multiply-adds of the four projections and the MLP, 147,456
    assert cnninspect.summary(layer, input_data=[x]).total_mult_adds == 2 * 9 * (32 * 96 + 32 * 32 + 2 * 32 * 64)
    lstm = nn.LSTM(16, 32, batch_first=True)
    flop = cnninspect.summary(lstm, input_data=[torch.randn(2, 7, 16)], convention="flopcounter")
    assert flop.total_mult_adds == 0 and all("in aten.mkldnn_rnn_layer" in k for k, _n in flop.uncounted)
