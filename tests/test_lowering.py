"""One graph for both paths (issue 21 point 2, issue 24 point 1): a captured forward pass
lowered onto the op records gives a Python model the counts and the memory traffic of a spec.

* every call a record takes (a convolution, a fully connected product, batch norm in either
  mode, layer and group norm, adaptive average pooling, the ``mean`` that computes a 1x1
  pool) is counted by the record's rule, and changing a record's rule changes a spec's count
  and a Python model's count alike (test_module_specs.py holds the two paths equal row by row
  on every bundled variant; the zoo suite holds them equal to the tools);

* every bundled family below, built to an ``nn.Module`` and captured as a Python model, moves
  exactly the bytes its spec moves, per layer, per block and in total (the spec's traffic is
  tested against hand computations in test_traffic.py);
* operators that lower to no kind (a concatenation, a product of two activations, padding)
  against hand computations of the generic rule, and views move nothing;
* the lowering is read from the records' ``aten`` lists.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnninspect.build.builder import build_module
from cnninspect.capture.module_analysis import analyze_trace, module_subject
from cnninspect.capture.pymodels import trace_module
from cnninspect.measure.analysis import analyze
from cnninspect.measure.memory import MemorySettings, Precision
from cnninspect.measure.traffic import traffic_report
from cnninspect.ops.kinds import KINDS
from cnninspect.ops.lowering import ATEN_KINDS, kind_of, lower

from conftest import invoke, model_of


def _module_report(module: nn.Module, shape: tuple[int, ...], batch: int = 1):
    from cnninspect.capture.inputs import ModelInputs

    trace = trace_module(module, ModelInputs.single(shape, batch), "m")
    return analyze_trace(trace, "paper", module_subject(trace, "m"))


@pytest.mark.parametrize("name,resolution", [("resnet", 64), ("mobilenet_v3", 64), ("shufflenet_v2", 64),
                                             ("alexnet", None), ("densenet", 64)])
def test_a_spec_captured_as_a_python_model_moves_the_spec_s_bytes(name, resolution):
    overrides = {"resolution": resolution} if resolution else {}
    model = model_of(name, **overrides)
    spec = analyze(model, "paper")
    settings = MemorySettings(Precision("bf16", "fp32"))
    want = traffic_report(spec, settings)
    captured = _module_report(build_module(model, "meta").eval(), tuple(model.input_shape))
    got = traffic_report(captured, settings)
    for row in spec.rows:  # leaves and blocks alike
        w, g = want.layers[row.name], got.layers[row.name]
        assert (g.bytes_read, g.bytes_written, g.mult_adds) == (w.bytes_read, w.bytes_written, w.mult_adds), row.name
    assert got.totals == want.totals


class Unmapped(nn.Module):
    """Operators no op kind does: padding, a concatenation, a product of two activations, a view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = F.pad(x, (1, 1, 1, 1))  # 2x4x4 -> 2x6x6
        c = torch.cat([p, p], dim=1)  # 4x6x6
        m = c * c  # 4x6x6
        return m.flatten(1)


def test_other_operators_read_each_input_once_and_write_each_output_once():
    report = _module_report(Unmapped(), (2, 4, 4), batch=3)
    graph = report.lowered
    assert graph is not None
    t = traffic_report(report)  # fp32 activations
    pad = (3 * 2 * 4 * 4, 3 * 2 * 6 * 6)  # (read, written) elements, batch 3
    cat = (2 * 3 * 2 * 6 * 6, 3 * 4 * 6 * 6)
    mul = (2 * 3 * 4 * 6 * 6, 3 * 4 * 6 * 6)
    read = pad[0] + cat[0] + mul[0]
    written = pad[1] + cat[1] + mul[1]
    assert (t.totals.bytes_read, t.totals.bytes_written) == (4 * read, 4 * written)
    assert dict(graph.others) == {"aten.constant_pad_nd": 1, "aten.cat": 1, "aten.mul": 1}
    assert [op.kind for op in graph.ops if op.operator == "aten.view"] in ([], ["flatten"])
    assert all(op.read == op.written == 0 for op in graph.ops if op.operator == "aten.view")


def test_a_constant_operand_is_read_in_the_weight_dtype():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(5, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gamma

    report = _module_report(Scaled(), (5, 2, 2), batch=2)
    t = traffic_report(report, MemorySettings(Precision("fp32", "fp16")))
    # reads the input (2 x 20 elements, fp16) and gamma (5, fp32); writes 40 fp16 elements
    assert (t.totals.bytes_read, t.totals.bytes_written) == (40 * 2 + 5 * 4, 40 * 2)


def test_the_lowering_is_read_from_the_records():
    for name in ("convolution", "addmm", "native_layer_norm", "max_pool2d_with_indices", "relu", "hardswish"):
        assert name in KINDS[ATEN_KINDS[name]].aten
    assert ATEN_KINDS["convolution"] == "conv2d" and ATEN_KINDS["relu"] == "act"
    # elementwise arithmetic and a kind's secondary operators stay other operators
    for name in ("mul", "add", "constant_pad_nd", "cat", "index_select"):
        assert name not in ATEN_KINDS


def test_summary_traffic_of_a_python_model():
    r = invoke("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    fc = next(layer for layer in data["layers"] if layer["name"] == "fc")
    # Linear(64, 10): reads 64 inputs and 650 parameters, writes 10 outputs, fp32
    assert (fc["bytes_read"], fc["bytes_written"]) == ((64 + 650) * 4, 10 * 4)
    assert data["totals"]["bytes_moved"] > 0 and data["totals"]["arithmetic_intensity"] > 0
    text = invoke("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--traffic").stdout
    assert "Memory traffic" in text


def test_a_leaf_running_an_operator_cnninspect_does_not_know_is_an_other_operator():
    class Spectrum(nn.Module):  # a leaf: _fft_r2c is in no category of the operator registry
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft2(x).abs() * 2

    report = _module_report(Spectrum(), (2, 4, 4))
    assert report.lowered is not None
    assert {"aten._fft_r2c", "aten.abs", "aten.mul"} <= dict(report.lowered.others).keys()
    fft = next(op for op in report.lowered.ops if op.operator == "aten._fft_r2c")
    # reads 2x4x4 floats, writes 2x4x3 complex values (counted in elements, at the activation dtype)
    assert (fft.read, fft.written) == (32, 24)


class _EveryRecordedKind(nn.Module):
    """One call of every operator a record reads, and two the records do not take."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, groups=1)
        self.bn = nn.BatchNorm2d(8)
        self.bn_plain = nn.BatchNorm2d(8, affine=False)
        self.gn = nn.GroupNorm(2, 8)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 5)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gn(self.bn_plain(self.bn(self.conv(x))))
        seq = self.ln(self.pool(y).flatten(2).transpose(1, 2))  # N x 4 x 8
        scores = seq @ seq.transpose(1, 2)  # a product of two activations
        head = self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))  # the 1x1 pool runs as aten.mean
        return head.sum() + scores.sum() + self.up(y).sum()


@pytest.mark.parametrize("train", [False, True])
def test_every_call_a_record_takes_is_counted_by_the_record(train):
    module = _EveryRecordedKind().train(train)
    from cnninspect.capture.inputs import ModelInputs

    trace = trace_module(module, ModelInputs.single((3, 6, 6), 2), "m", mode="train" if train else "eval")
    taken = {}
    for op in trace.ops:
        low = lower(op)
        if low.facts is not None:
            taken.setdefault(low.facts.kind, []).append((op, low))
    assert set(taken) == {"conv2d", "bn2d", "groupnorm", "gavgpool", "layernorm", "linear"}
    assert kind_of(taken["gavgpool"][1][0]) == "gavgpool" and taken["gavgpool"][1][0].op == "mean"
    # the batch norms: affine and not, in the module's mode, as fvcore's batchnorm_flop_jit
    (bn, low_bn), (plain, low_plain) = taken["bn2d"]
    assert (low_bn.facts.attrs["affine"], low_plain.facts.attrs["affine"]) == (True, False)
    assert low_bn.facts.attrs["training"] is train and low_bn.rows == 2
    elements = 8 * 6 * 6 * 2
    fvcore = analyze_trace(trace, "fvcore", module_subject(trace, "m"))
    by_name = {r.name: r.mult_adds for r in fvcore.rows}
    assert (by_name["bn"], by_name["bn_plain"]) == ((5 * elements, 4 * elements) if train else
                                                    (2 * elements, 1 * elements))
    assert by_name["gn"] == 5 * elements and by_name["ln"] == 5 * 2 * 4 * 8
    assert by_name["fc"] == 2 * 8 * 5 and by_name["conv"] == 2 * 8 * 6 * 6 * 3 * 9
    # fvcore: adaptive_avg_pool2d to 2x2 and to 1x1 (aten.mean) both 1 per input element
    assert by_name["pool"] == elements and by_name["adaptive_avg_pool2d"] == elements
    # the products the records do not take: the attention-like product and the transposed
    # convolution stay with the operator rules (uncounted by paper, counted by FlopCounterMode)
    paper = analyze_trace(trace, "paper", module_subject(trace, "m"))
    assert ("aten.bmm", 1) in paper.uncounted
    flop = analyze_trace(trace, "flopcounter", module_subject(trace, "m"))
    assert flop.totals.mult_adds - paper.totals.mult_adds == 2 * 4 * 8 * 4  # the bmm: 2 x (4x8 @ 8x4)


def test_a_record_s_rule_counts_a_spec_and_a_python_model_alike(monkeypatch):
    """One place: replace the conv2d record's paper rule, and both paths count by the new rule."""
    import dataclasses

    from cnninspect.ops import kinds
    from cnninspect.ops.formulas import formula, term

    model = model_of("mobilenet_v1")
    before_spec = analyze(model, "paper").totals.mult_adds
    module = build_module(model, device="meta")
    from cnninspect.capture.forward import capture

    trace = capture(module, model.input_shape)
    before_module = analyze_trace(trace, "paper", module_subject(trace, "vgg")).totals.mult_adds
    assert before_spec == before_module
    record = kinds.KINDS["conv2d"]
    ten_per_output = dataclasses.replace(record.counts, paper=lambda f: formula(term("ten", ("10", 10),
                                                                                       ("C", f.out_shape[0]),
                                                                                       ("H", f.out_shape[1]),
                                                                                       ("W", f.out_shape[2]))))
    monkeypatch.setitem(kinds.KINDS, "conv2d", dataclasses.replace(record, counts=ten_per_output))
    after_spec = analyze(model, "paper")
    after_module = analyze_trace(trace, "paper", module_subject(trace, "vgg"))
    assert after_spec.totals.mult_adds != before_spec
    assert [r.mult_adds for r in after_spec.layers] == [r.mult_adds for r in after_module.layers]
    conv_rows = [r for r in after_spec.layers if r.kind == "conv2d"]
    assert all(r.mult_adds == 10 * r.output_shape[0] * r.output_shape[1] * r.output_shape[2] for r in conv_rows)


class _Mixed(nn.Module):
    """A half-precision convolution feeding a float32 linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3).half()
        self.b = nn.Linear(8 * 6 * 6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x.half()).float().flatten(1))


def test_a_python_model_s_traffic_is_at_the_dtypes_it_runs_in():
    """Without --dtype each tensor moves its own bytes: a half model half of float32's, a
    mixed model each layer at its own dtype (a mixed model's --memory --traffic used to end
    in exit 3); --dtype still prices every tensor at the dtype asked for."""
    import cnninspect

    half = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4)).half()
    layers = {r["name"]: r for r in cnninspect.summary(half, input_size=(1, 3, 8, 8)).to_dict()["layers"]}
    # conv: reads 3x8x8 inputs and 224 parameters, writes 8x6x6, all float16
    assert (layers["0"]["bytes_read"], layers["0"]["bytes_written"]) == ((192 + 224) * 2, 288 * 2)
    mixed = cnninspect.summary(_Mixed(), input_size=(1, 3, 8, 8), memory=True)
    data = mixed.to_dict()
    by_name = {r["name"]: r for r in data["layers"]}
    assert (by_name["a"]["bytes_read"], by_name["a"]["bytes_written"]) == ((192 + 224) * 2, 288 * 2)
    assert (by_name["b"]["bytes_read"], by_name["b"]["bytes_written"]) == ((288 + 1156) * 4, 4 * 4)
    assert "float16, float32" in str(mixed)
    cast = cnninspect.summary(half, input_size=(1, 3, 8, 8), memory=True, dtype="fp32").to_dict()
    assert {r["name"]: r for r in cast["layers"]}["0"]["bytes_read"] == (192 + 224) * 4
    r = invoke("summary", "tests/test_lowering.py:_Mixed", "--input", "3x8x8", "--memory", "--traffic")
    assert r.exit_code == 0, r.stderr
