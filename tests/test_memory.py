"""Memory: what autograd really saves (saved_tensors_hooks on the built modules), weights,
buffers, gradients and optimizer state against real torch objects, and the arithmetic of
precision and batch."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cnninspect.build.builder import build_module
from cnninspect.resolve.catalog import bundled_names
from cnninspect.resolve.ir import ops
from cnninspect.measure.memory import (
    OPTIMIZERS,
    MemorySettings,
    Precision,
    memory_report,
    parse_precision,
)
from cnninspect.ops.kinds.activation import ACT_SAVES
from cnninspect.ops.primitives import ACTIVATIONS

from conftest import invoke, model_of, reduced_model

SPECS = bundled_names()
CPU_DROPOUT_EXTRA = 3  # bytes per element: CPU dropout keeps a float32 mask where GPUs keep a bool one


def test_every_activation_has_a_memory_rule():
    assert set(ACT_SAVES) == set(ACTIVATIONS), f"activations without a rule: {sorted(set(ACTIVATIONS) - set(ACT_SAVES))}"


def saved_by_autograd(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves in one training forward pass, each storage once,
    parameters and buffers (the model's state) excluded."""
    state = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in state:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(seen.values())


@pytest.mark.parametrize("name", SPECS)
def test_saved_activations_match_what_pytorch_saves(name, one_thread):
    """Within 10% (the acceptance bar), and in fact exact once the one documented difference
    is put back: on the CPU dropout keeps a float mask, the GPU kernel modelled here a bool one."""
    model = reduced_model(name, None, budget=300_000_000)
    batch = 2  # batch norm in training needs more than one value per channel
    computed = memory_report(model, MemorySettings(batch=batch)).training.saved_activation_bytes
    torch.manual_seed(0)
    module = build_module(model).train()
    measured = saved_by_autograd(module, torch.randn((batch,) + tuple(model.input_shape)))
    assert abs(computed - measured) <= 0.10 * measured, (name, computed, measured)
    dropout = sum(math.prod(op.in_shape) for _, op in ops(model.root) if op.kind == "dropout" and op.attrs["p"] > 0)
    assert computed + CPU_DROPOUT_EXTRA * batch * dropout == measured, (name, computed, measured)


def test_weights_and_buffers_equal_the_built_module():
    for name in SPECS:
        model = model_of(name)
        module = build_module(model, device="meta")
        for dtype, precision in ((torch.float32, "fp32"), (torch.float16, "fp16"), (torch.bfloat16, "bf16")):
            m = module.to(dtype)
            inf = memory_report(model, MemorySettings(parse_precision(precision))).inference
            assert inf.weight_bytes == sum(p.numel() * p.element_size() for p in m.parameters()), name
            assert inf.buffer_bytes == sum(b.numel() * b.element_size() for b in m.buffers()), name


def _torch_optimizer(name: str, params):
    """The PyTorch optimizer each name stands for (OPTIMIZERS[name].torch says the same)."""
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=0.01),
        "momentum": lambda: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        "adam": lambda: torch.optim.Adam(params),
        "adamw": lambda: torch.optim.AdamW(params),
        "rmsprop": lambda: torch.optim.RMSprop(params),
    }[name]()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_gradients_and_optimizer_state_equal_torch(optimizer, one_thread):
    model = model_of("lenet5", "modern")  # ReLU, max pooling, dense C3: 61,706 parameters
    torch.manual_seed(0)
    module = build_module(model).train()
    opt = _torch_optimizer(optimizer, module.parameters())
    module(torch.randn((2,) + tuple(model.input_shape))).sum().backward()
    opt.step()
    training = memory_report(model, MemorySettings(optimizer=optimizer)).training
    assert training.gradient_bytes == sum(p.grad.nbytes for p in module.parameters())
    state = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
             for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor)}
    assert training.optimizer_state_bytes == sum(state.values())


@pytest.mark.parametrize("name", SPECS)
def test_precision_and_batch_arithmetic(name):
    model = model_of(name)
    r32 = memory_report(model, MemorySettings(Precision("fp32", "fp32"), 1, "momentum"))
    r16 = memory_report(model, MemorySettings(Precision("fp16", "fp16"), 1, "momentum"))
    rbf = memory_report(model, MemorySettings(Precision("bf16", "bf16"), 1, "momentum"))
    assert r16.as_json()["inference"] | {"total_bytes": 0} == rbf.as_json()["inference"] | {"total_bytes": 0}
    i32, i16 = r32.inference, r16.inference
    # fp16 is exactly half of fp32: weights and activations
    assert 2 * i16.weight_bytes == i32.weight_bytes
    assert 2 * i16.peak_activation_bytes == i32.peak_activation_bytes
    assert 2 * i16.largest_tensor_bytes == i32.largest_tensor_bytes
    t32, t16 = r32.training, r16.training
    assert 2 * t16.gradient_bytes == t32.gradient_bytes
    assert 2 * t16.optimizer_state_bytes == t32.optimizer_state_bytes  # momentum: no step counter
    assert 2 * t16.saved_float_bytes == t32.saved_float_bytes
    # indices, masks and batch-norm statistics do not depend on the activation dtype
    assert t32.saved_activation_bytes - t32.saved_float_bytes == t16.saved_activation_bytes - t16.saved_float_bytes
    # memory scales with the batch: activations in proportion, saved ones plus batch-norm
    # statistics that are per channel, not per sample; the model state does not change
    by_batch = {b: memory_report(model, MemorySettings(batch=b)) for b in (1, 2, 5)}
    for b, r in by_batch.items():
        assert r.inference.peak_activation_bytes == b * by_batch[1].inference.peak_activation_bytes
        assert r.inference.weight_bytes == by_batch[1].inference.weight_bytes
    saved = {b: r.training.saved_activation_bytes for b, r in by_batch.items()}
    per_sample, fixed = saved[2] - saved[1], 2 * saved[1] - saved[2]
    assert saved[5] == 5 * per_sample + fixed
    stats = sum(8 * op.attrs["ch"] for _, op in ops(model.root) if op.kind == "bn2d")
    tables = sum(8 * sum(len(r) for r in op.attrs["connections"]) for _, op in ops(model.root) if op.kind == "conv_table")
    assert fixed == stats + tables
    # the breakdown sums to its total, for every optimizer
    for opt in OPTIMIZERS:
        r = memory_report(model, MemorySettings(batch=4, optimizer=opt))
        assert sum(b for _, b in r.training.parts) == r.training.total_bytes
        assert r.inference.total_bytes == r.inference.weight_bytes + r.inference.buffer_bytes + r.inference.peak_activation_bytes


def test_integer_weights_are_not_trained():
    r = memory_report(model_of("mobilenet_v1"), MemorySettings(parse_precision("int8,fp16")))
    assert r.training is None and "int8" in r.training_unavailable
    assert 4 * r.inference.weight_bytes == memory_report(model_of("mobilenet_v1")).inference.weight_bytes
    doc = json.loads(invoke("summary", "mobilenet_v1", "--dtype", "int8,fp16", "--format", "json").stdout)
    assert doc["memory"]["training"] is None and doc["memory"]["dtype"] == {"weights": "int8", "activations": "fp16"}


@pytest.mark.parametrize("args, message", [
    (["--dtype", "fp64"], "--dtype: unknown dtype 'fp64'; dtypes: fp32, fp16, bf16, int8"),
    (["--dtype", "fp16,fp16,fp16"], "--dtype: expected a dtype or WEIGHTS,ACTIVATIONS"),
    (["--dtype", "int8", "--optimizer", "adam"], "--optimizer adam with --dtype int8: int8 tensors cannot be trained"),
])
def test_bad_memory_options(args, message):
    result = invoke("summary", "mobilenet_v1", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1


def test_summary_memory_table():
    out = invoke("summary", "resnet", "-L", "1", "--dtype", "fp16", "--batch", "32", "--optimizer", "adam").stdout
    assert "Memory (fp16, batch 32, optimizer adam; mult-adds stay per sample)" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith(" ") and ln.split()}
    assert "gradients" in lines and "total" in lines
    assert "Memory (" not in invoke("summary", "resnet", "-L", "1").stdout  # only when asked for
    doc = json.loads(invoke("summary", "resnet", "--dtype", "fp16", "--batch", "32", "--optimizer", "adam",
                            "--format", "json").stdout)
    t = doc["memory"]["training"]
    assert t["total_bytes"] == sum(t[k] for k in ("weight_bytes", "buffer_bytes", "gradient_bytes",
                                                  "optimizer_state_bytes", "saved_activation_bytes"))
    assert doc["totals"]["mult_adds"] == 3_857_973_248  # per sample, whatever the batch


def test_compare_and_sweep_memory_columns():
    out = invoke("compare", "mobilenet_v1", "resnet", "--dtype", "fp16").stdout
    assert "Weights" in out and "Training" in out and "8.46 MB" in out  # 4,231,976 x 2 bytes
    doc = json.loads(invoke("compare", "mobilenet_v1", "resnet", "--batch", "4", "--format", "json").stdout)
    assert doc["models"][0]["memory"]["peak_activation_bytes"] == 4 * 6_422_528
    sweep = json.loads(invoke("sweep", "mobilenet_v1", "--width", "1,0.5", "--dtype", "fp16", "--format", "json").stdout)
    assert [p["memory"]["weight_bytes"] for p in sweep["points"]] == [2 * 4_231_976, 2 * 1_331_592]
    assert "memory" not in json.loads(invoke("sweep", "mobilenet_v1", "--format", "json").stdout)["points"][0]


def test_check_memory_budgets(tmp_path):
    f = tmp_path / "budgets.yaml"
    f.write_text("""checks:
  - model: mobilenet_v1
    memory: {dtype: fp16, batch: 8, optimizer: adam}
    budget:
      max_weight_bytes: 8.47MB
      max_peak_activation: 25MB
      max_training_bytes: 1GiB
""")
    result = invoke("check", str(f), "--format", "json")
    doc = json.loads(result.stdout)
    by_metric = {r["metric"]: r for r in doc["results"]}
    assert by_metric["weight_bytes"]["actual"] == 2 * 4_231_976 and by_metric["weight_bytes"]["status"] == "PASS"
    assert by_metric["peak_activation_bytes"]["actual"] == 8 * 6_422_528 // 2  # fp32 batch 1 x 8 / 2: 25.7 MB, over
    assert by_metric["peak_activation_bytes"]["status"] == "FAIL" and result.exit_code == 1
    assert by_metric["peak_activation_bytes"]["rule"] == "<= 25MB (fp16, batch 8)"
    assert by_metric["training_bytes"]["memory"] == {"dtype": {"weights": "fp16", "activations": "fp16"},
                                                      "batch": 8, "optimizer": "adam"}


@pytest.mark.parametrize("memory, message", [
    ("{dtype: fp64}", ":3:21: checks[0].memory.dtype: unknown dtype 'fp64'"),
    ("{batch: 0}", ":3:21: checks[0].memory.batch: must be a positive integer, got 0"),
    ("{optimiser: adam}", ":3:14: checks[0].memory.optimiser: unknown key 'optimiser' (did you mean 'optimizer'?)"),
    ("{dtype: int8}", ":6:27: checks[0].budget.max_training_bytes: training_bytes needs trainable dtypes"),
])
def test_check_memory_errors(tmp_path, memory, message):
    f = tmp_path / "budgets.yaml"
    f.write_text(f"""checks:
  - model: mobilenet_v1
    memory: {memory}
    budget:
      max_weight_bytes: 5MB
      max_training_bytes: 1GB
""")
    result = invoke("check", str(f))
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
