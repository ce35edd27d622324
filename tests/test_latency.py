"""Latency (issue 24): the roofline against hand computations, the device table and profile
files (bad ones refused as file:line:field), ``summary --device``, ``fit --max-latency``,
``device calibrate``, ``profile`` (timings reported, never asserted: the JSON contract is)
and ShuffleNet V2's guideline experiments (equal mult-adds, the verdict's logic)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cnninspect.base.errors import CnnInspectError
from cnninspect.measure.roofline import (
    Device,
    Figure,
    LayerCost,
    bundled_devices,
    get_device,
    load_device_file,
    predict,
)
from cnninspect.measure.memory import Precision

from conftest import invoke

TOY = """\
device: toy
title: a toy device
kind: calibrated
source: hand-written for the tests
peak_ops_per_second:
  fp32: {value: 1.0e9, note: one G operations/s}
  bf16: 2.0e9
bandwidth_bytes_per_second: {value: 1.0e8}
overhead_seconds: {value: 1.0e-5}
"""

# the toy with what two roles attain at fp32 (as `device calibrate` writes them)
ATTAINED = """\
attained:
  fp32:
    pointwise_conv:
      ops_per_second: {value: 5.0e8, note: half the peak}
      overhead_seconds: {value: 2.0e-5}
    activation:
      bytes_per_second: 2.0e7
"""

ONE_CONV = """\
name: one_conv
title: One 1x1 convolution
citation: {short: test, paper: test, table: "-"}
input: {channels: 8, resolution: 4}
layers:
  - pwconv: {out: 16, bias: false}
  - act: {fn: relu}
"""


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    p = tmp_path / "toy.yaml"
    p.write_text(TOY, encoding="utf-8")
    return p


def toy_device() -> Device:
    return Device("toy", "a toy device", "calibrated", "tests", {"fp32": Figure(1e9)}, Figure(1e8), Figure(1e-5))


# --- the roofline, by hand -----------------------------------------------------------------


def test_roofline_against_a_hand_computed_example():
    costs = [LayerCost("conv", 2_000_000, 10_000, 10_000), LayerCost("relu", 0, 400_000, 400_000)]
    r = predict(costs, toy_device())
    conv, relu = r.layers
    # conv: 2e6 / 1e9 = 2 ms of compute against 2e4 / 1e8 = 0.2 ms of memory, + 10 us
    assert conv.bound == "compute" and conv.compute_seconds == pytest.approx(2e-3)
    assert conv.memory_seconds == pytest.approx(2e-4) and conv.predicted_seconds == pytest.approx(2.01e-3)
    # relu: no operations; 8e5 bytes / 1e8 = 8 ms, + 10 us
    assert relu.bound == "memory" and relu.predicted_seconds == pytest.approx(8.01e-3)
    assert r.predicted_seconds == pytest.approx(1.002e-2)
    assert r.operations == 2_000_000 and r.bytes_moved == 820_000
    assert r.bound_counts() == {"compute": 1, "memory": 1, "none": 0}


def test_the_roofline_prices_the_traffic_of_every_layer_and_container():
    """The costs are the op records' traffic (cnninspect.measure.traffic, tested against hand
    computations in test_traffic.py): a layer's own, and a container's own arithmetic (the
    residual additions here); together exactly the model's traffic."""
    from cnninspect.measure.memory import MemorySettings
    from cnninspect.measure.roofline import report_costs
    from cnninspect.measure.traffic import traffic_report

    from conftest import report_of

    report = report_of("resnet", "18")
    for precision, batch in ((Precision(), 1), (Precision("fp16", "fp16"), 4)):
        costs = report_costs(report, precision, batch)
        traffic = traffic_report(report, MemorySettings(precision, batch))
        assert sum(c.bytes_read for c in costs) == traffic.totals.bytes_read
        assert sum(c.bytes_written for c in costs) == traffic.totals.bytes_written
        assert sum(c.operations for c in costs) == 2 * batch * report.totals.mult_adds
        adds = [c for c in costs if c.name.endswith(".(residual)")]
        assert len(adds) == 8 and all(c.operations == 0 for c in adds)
        first = next(c for c in adds if c.name == "conv2_x.0.(residual)")  # 64x56x56: read 2, write 1
        assert (first.bytes_read, first.bytes_written) == (2 * 64 * 56 * 56 * batch * precision.activation_bytes,
                                                           64 * 56 * 56 * batch * precision.activation_bytes)


def test_the_roofline_with_attained_figures_per_role_against_a_hand_computed_example():
    """A role's attained figures replace the peak, the bandwidth and the overhead, each on its
    own; a role the device lacks, an op with no role and another dtype keep the device's."""
    from cnninspect.measure.roofline import RoleFigures

    device = Device("toy", "a toy device", "calibrated", "tests", {"fp32": Figure(1e9), "bf16": Figure(2e9)},
                    Figure(1e8), Figure(1e-5),
                    attained={"fp32": {"conv": RoleFigures(ops_per_second=Figure(2.5e8)),
                                       "norm": RoleFigures(bytes_per_second=Figure(2e7),
                                                           overhead_seconds=Figure(3e-5))}})
    costs = [LayerCost("conv", 2_000_000, 10_000, 10_000, "conv"),
             LayerCost("bn", 0, 100_000, 100_000, "norm"),
             LayerCost("relu", 0, 400_000, 400_000, "activation"),
             LayerCost("flatten", 0, 0, 0, None)]
    conv, bn, relu, flat = predict(costs, device).layers
    # conv: 2e6 / 2.5e8 = 8 ms of compute (not 2 ms at the peak); 2e4 / 1e8 = 0.2 ms; + 10 us
    assert conv.compute_seconds == pytest.approx(8e-3) and conv.memory_seconds == pytest.approx(2e-4)
    assert conv.predicted_seconds == pytest.approx(8.01e-3) and conv.bound == "compute"
    # bn: 2e5 bytes / 2e7 = 10 ms (not 2 ms at the bandwidth), + its own 30 us
    assert bn.memory_seconds == pytest.approx(1e-2) and bn.predicted_seconds == pytest.approx(1.003e-2)
    # relu: no figures for its role: 8e5 / 1e8 = 8 ms + 10 us; flatten: the overhead alone
    assert relu.predicted_seconds == pytest.approx(8.01e-3) and flat.predicted_seconds == pytest.approx(1e-5)
    # at bf16 the fp32 figures do not apply: 2e6 / 2e9 = 1 ms, 0.2 ms, + 10 us
    assert predict(costs[:1], device, "bf16").predicted_seconds == pytest.approx(1.01e-3)


def test_report_costs_name_the_role_of_every_layer_and_container():
    from cnninspect.measure.roofline import ROLES, report_costs

    from conftest import report_of

    roles = {c.name: c.role for c in report_costs(report_of("mobilenet_v2", None))}
    assert roles["conv1.conv"] == "conv"
    assert roles["bottleneck2.0.dw.conv"] == "depthwise_conv" and roles["bottleneck2.0.expand.conv"] == "pointwise_conv"
    assert roles["bottleneck2.0.dw.bn"] == "norm" and roles["bottleneck2.0.dw.act"] == "activation"
    assert roles["bottleneck2.1.(residual)"] == "elementwise"  # the addition
    assert roles["pool"] == "global" and roles["classifier"] == "dense"
    assert roles["flatten10"] is None and roles["dropout"] is None  # views move nothing: the overhead alone
    assert {r for r in roles.values() if r is not None} <= set(ROLES)
    googlenet = {c.name: c.role for c in report_costs(report_of("googlenet", None))}
    assert {r for n, r in googlenet.items() if n.endswith(".(concat)")} == {"layout"}
    assert googlenet["pool1"] == "max_pool"  # sliding-window pooling by what it computes
    lenet = {c.name: c.role for c in report_costs(report_of("lenet5", None))}
    assert lenet["S2.pool"] == "avg_pool"  # LeNet's subsampling averages (times a coefficient)


def test_a_device_without_the_dtypes_peak_is_refused():
    with pytest.raises(CnnInspectError, match="no peak for int8"):
        predict([LayerCost("x", 1, 1, 1)], toy_device(), "int8")


# --- the device table and profile files ------------------------------------------------------


def test_every_shipped_device_cites_its_source():
    devices = bundled_devices()
    assert {"a100-sxm4-80gb", "h100-sxm5", "rtx-4090", "jetson-orin-nano-8gb", "pixel1-big-core",
            "core-i7-1185g7"} <= set(devices)
    assert {d.kind for d in devices.values()} >= {"gpu", "edge", "phone", "cpu"}
    for d in devices.values():
        assert "http" in d.source or "arXiv" in d.source, d.name
        assert "fp32" in d.peak_ops_per_second
        for f in (*d.peak_ops_per_second.values(), d.bandwidth_bytes_per_second, d.overhead_seconds):
            assert f.note, d.name


def test_device_list_shows_the_table_and_json_carries_every_source():
    r = invoke("device", "list", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [d["name"] for d in data["devices"]] == list(bundled_devices())
    assert all(d["source"] and d["bandwidth_bytes_per_second"]["note"] for d in data["devices"])
    text = invoke("device", "list").stdout
    assert "pixel1-big-core" in text and "8.08G" in text


def test_a_profile_file_is_read(toy: Path):
    d = get_device(str(toy))
    assert d.name == "toy" and d.peak("fp32") == 1e9 and d.peak("bf16") == 2e9
    assert d.bandwidth_bytes_per_second.value == 1e8 and d.overhead_seconds.value == 1e-5


def test_a_profile_with_attained_figures_is_read_and_written_back(toy: Path):
    from cnninspect.measure.roofline import device_yaml

    toy.write_text(TOY + ATTAINED, encoding="utf-8")
    d = get_device(str(toy))
    pw = d.role_figures("fp32", "pointwise_conv")
    assert pw.ops_per_second == Figure(5e8, "half the peak") and pw.overhead_seconds == Figure(2e-5)
    assert pw.bytes_per_second is None
    assert d.role_figures("fp32", "activation").bytes_per_second == Figure(2e7)
    assert d.role_figures("bf16", "activation").bytes_per_second is None
    toy.write_text(device_yaml(d), encoding="utf-8")
    assert get_device(str(toy)) == d
    assert d.as_json()["attained"]["fp32"]["activation"] == {"bytes_per_second": {"value": 2e7, "note": ""}}
    assert all(not s.attained for s in bundled_devices().values())  # no citation gives one


def test_summary_prices_each_role_by_its_attained_figures(toy: Path, tmp_spec):
    toy.write_text(TOY + ATTAINED, encoding="utf-8")
    r = invoke("summary", str(tmp_spec(ONE_CONV)), "--device", str(toy), "--format", "json")
    assert r.exit_code == 0, r.stderr
    conv, relu = json.loads(r.stdout)["layers"]
    ops, moved = 2 * 4 * 4 * 8 * 16, (4 * 4 * (8 + 16) + 8 * 16) * 4
    assert conv["compute_seconds"] == pytest.approx(ops / 5e8) and conv["memory_seconds"] == pytest.approx(moved / 1e8)
    assert conv["predicted_seconds"] == pytest.approx(max(ops / 5e8, moved / 1e8) + 2e-5)
    assert relu["predicted_seconds"] == pytest.approx(2 * 16 * 16 * 4 / 2e7 + 1e-5)
    text = invoke("summary", str(tmp_spec(ONE_CONV)), "--device", str(toy)).stdout
    assert "attained figures of 2 roles (fp32)" in text


@pytest.mark.parametrize("old, new, message", [
    ("    activation:\n", "    activations:\n",
     "toy.yaml:15:5: attained.fp32.activations: unknown role 'activations' (did you mean 'activation'?)"),
    ("  fp32:\n    pointwise", "  fp31:\n    pointwise", "toy.yaml:11:3: attained.fp31: unknown dtype 'fp31'"),
    ("      bytes_per_second: 2.0e7\n", "      bytes_per_second: 0\n",
     "toy.yaml:16:25: attained.fp32.activation.bytes_per_second: must be a positive number, got 0"),
    ("      bytes_per_second: 2.0e7\n", "      byte_per_second: 2.0e7\n",
     "toy.yaml:16:7: attained.fp32.activation.byte_per_second: unknown field 'byte_per_second'"),
    ("      overhead_seconds: {value: 2.0e-5}\n", "      overhead_seconds: {value: -1}\n",
     "toy.yaml:14:33: attained.fp32.pointwise_conv.overhead_seconds.value: must be a number of at least 0, got -1"),
    ("    activation:\n      bytes_per_second: 2.0e7\n", "    activation: {}\n",
     "toy.yaml:15:17: attained.fp32.activation: needs at least one of ops_per_second"),
    ("  fp32:\n    pointwise", "  fp32: fast\n  bf16:\n    pointwise", "toy.yaml:11:9: attained.fp32: must be a mapping"),
])
def test_a_bad_attained_section_is_refused_naming_file_line_and_field(toy: Path, old: str, new: str, message: str):
    assert old in ATTAINED
    toy.write_text(TOY + ATTAINED.replace(old, new), encoding="utf-8")
    r = invoke("summary", "lenet5", "--device", str(toy))
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("old, new, message", [
    ("  bf16: 2.0e9\n", "  bf16: -1\n", "toy.yaml:7:9: peak_ops_per_second.bf16: must be a positive number, got -1"),
    ("  bf16: 2.0e9\n", "  bf17: 2.0e9\n", "toy.yaml:7:3: peak_ops_per_second: unknown dtype 'bf17'"),
    ("bandwidth_bytes_per_second: {value: 1.0e8}\n", "bandwidth_bytes_per_second: {value: fast}\n",
     "toy.yaml:8:37: bandwidth_bytes_per_second.value: must be a positive number, got a string"),
    ("overhead_seconds: {value: 1.0e-5}\n", "overhead_second: {value: 1.0e-5}\n",
     "toy.yaml:9:1: overhead_second: unknown field 'overhead_second' (did you mean 'overhead_seconds'?)"),
    ("kind: calibrated\n", "kind: toaster\n", "toy.yaml:3:7: kind: must be one of"),
])
def test_a_bad_profile_is_refused_naming_file_line_and_field(toy: Path, old: str, new: str, message: str):
    toy.write_text(TOY.replace(old, new), encoding="utf-8")
    r = invoke("summary", "lenet5", "--device", str(toy))
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_unknown_device_and_a_file_that_is_not_a_profile(tmp_path: Path):
    r = invoke("summary", "lenet5", "--device", "rtx-4080")
    assert r.exit_code == 2 and "unknown device 'rtx-4080' (did you mean 'rtx-4090'?)" in r.stderr
    other = tmp_path / "secret.yaml"
    other.write_text("password: hunter2\n", encoding="utf-8")
    r = invoke("summary", "lenet5", "--device", str(other))
    assert r.exit_code == 2 and "is not a device profile" in r.stderr and "hunter2" not in r.stderr


# --- summary --device --------------------------------------------------------------------------


def test_summary_device_json_matches_the_hand_computed_roofline(toy: Path, tmp_spec):
    spec = tmp_spec(ONE_CONV)
    r = invoke("summary", str(spec), "--device", str(toy), "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    conv, relu = data["layers"]
    elements = 4 * 4 * (8 + 16) + 8 * 16
    ops = 2 * 4 * 4 * 8 * 16
    assert conv["operations"] == ops
    assert conv["compute_seconds"] == pytest.approx(ops / 1e9)
    assert conv["memory_seconds"] == pytest.approx(elements * 4 / 1e8)
    assert conv["predicted_seconds"] == pytest.approx(max(ops / 1e9, elements * 4 / 1e8) + 1e-5)
    assert conv["bound"] == "memory"  # 4,096 operations against 2,048 bytes: 4.1 us against 20.5 us
    assert relu["operations"] == 0 and relu["bound"] == "memory"
    assert relu["predicted_seconds"] == pytest.approx(2 * 16 * 16 * 4 / 1e8 + 1e-5)
    t = data["totals"]
    assert t["predicted_seconds"] == pytest.approx(conv["predicted_seconds"] + relu["predicted_seconds"])
    assert t["layers_bound"] == {"compute": 0, "memory": 2, "none": 0}
    assert data["roofline"]["device"]["name"] == "toy" and data["roofline"]["dtype"] == "fp32"


def test_summary_device_at_a_batch_and_dtype(toy: Path, tmp_spec):
    spec = tmp_spec(ONE_CONV)
    r = invoke("summary", str(spec), "--device", str(toy), "--dtype", "bf16", "--batch", "2", "--format", "json")
    data = json.loads(r.stdout)
    conv = data["layers"][0]
    assert conv["operations"] == 2 * 2 * 4 * 4 * 8 * 16
    assert conv["compute_seconds"] == pytest.approx(conv["operations"] / 2e9)
    assert conv["memory_seconds"] == pytest.approx((2 * 4 * 4 * (8 + 16) + 8 * 16) * 2 / 1e8)


def test_summary_device_on_every_row_and_in_the_table():
    r = invoke("summary", "mobilenet_v2", "--device", "rtx-4090", "--format", "json")
    data = json.loads(r.stdout)
    assert all(layer["bound"] in ("compute", "memory", "none") for layer in data["layers"])
    # a view neither computes nor moves: it is neither bound, and costs only the overhead
    views = [layer for layer in data["layers"] if layer["type"] in ("Flatten", "Identity")]
    assert views and all(layer["bound"] == "none" for layer in views)
    assert data["totals"]["layers_bound"]["none"] == len([x for x in data["layers"] if x["bound"] == "none"])
    # a view (flatten, dropout at inference) moves nothing: 0 s on a device without overhead
    assert all((layer["predicted_seconds"] > 0) == (layer["bytes_moved"] > 0) for layer in data["layers"])
    # the top-level rows (a block: its layers and its containers' own additions) add up to the total
    top = [row for row in (*data["layers"], *data["blocks"]) if row["level"] == 0]
    assert math.fsum(row["predicted_seconds"] for row in top) == pytest.approx(data["totals"]["predicted_seconds"])
    assert math.fsum(layer["predicted_seconds"] for layer in data["layers"]) < data["totals"]["predicted_seconds"]
    text = invoke("summary", "mobilenet_v2", "--device", "rtx-4090", "--levels", "1").stdout
    assert "Predicted time (rtx-4090)" in text and "Bound" in text


PY_ONE_CONV = """\
from torch import nn


class OneConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.pw(x))
"""


def test_a_python_model_gets_the_hand_computed_roofline(toy: Path, tmp_path: Path):
    """The spec above written as a Python model: its operators lowered onto the op records
    give the same traffic, so the same roofline rows (summary and compare)."""
    (tmp_path / "one_conv.py").write_text(PY_ONE_CONV, encoding="utf-8")
    ref = f"{tmp_path / 'one_conv.py'}:OneConv"
    r = invoke("summary", ref, "--input", "8x4x4", "--device", str(toy), "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    conv, relu = data["layers"]
    elements = 4 * 4 * (8 + 16) + 8 * 16
    ops = 2 * 4 * 4 * 8 * 16
    assert conv["operations"] == ops and conv["bytes_moved"] == elements * 4
    assert conv["predicted_seconds"] == pytest.approx(max(ops / 1e9, elements * 4 / 1e8) + 1e-5)
    assert conv["bound"] == "memory"
    assert relu["predicted_seconds"] == pytest.approx(2 * 16 * 16 * 4 / 1e8 + 1e-5)
    assert data["totals"]["predicted_seconds"] == pytest.approx(conv["predicted_seconds"] + relu["predicted_seconds"])
    r = invoke("compare", "lenet5", ref, "--input", "8x4x4", "--device", str(toy))
    assert r.exit_code == 0, r.stderr


# --- fit --max-latency ---------------------------------------------------------------------------


def test_fit_max_latency_equals_a_filter_of_every_point(toy: Path):
    args = ["fit", "mobilenet_v1", "--over", "width=0.25:1.0:0.25", "--over", "resolution=96:224:32",
            "--max-latency", "0.3", "--device", str(toy), "--format", "json"]
    pruned = json.loads(invoke(*args).stdout)
    exhaustive = json.loads(invoke(*args, "--search", "exhaustive").stdout)
    assert pruned["frontier"] == exhaustive["frontier"] and pruned["feasible"] == exhaustive["feasible"]
    feasible = 0
    for w in (0.25, 0.5, 0.75, 1.0):
        for res in (96, 128, 160, 192, 224):
            s = json.loads(invoke("summary", "mobilenet_v1", "--width", str(w), "--resolution", str(res),
                                  "--device", str(toy), "--format", "json").stdout)
            feasible += s["totals"]["predicted_seconds"] <= 0.3
    assert 0 < pruned["feasible"] == feasible < 20
    assert all(p["predicted_seconds"] <= 0.3 for p in pruned["frontier"])


@pytest.mark.parametrize("args, message", [
    (["--max-latency", "0.01"], "--max-latency needs --device"),
    (["--max-latency", "-1", "--device", "rtx-4090"], "--max-latency takes a positive number of seconds"),
    (["--max-params", "1M", "--device", "rtx-4090"], "--device applies to a --max-latency budget"),
])
def test_fit_latency_refusals(args, message):
    r = invoke("fit", "mobilenet_v1", "--over", "width=0.25:1:0.25", *args)
    assert r.exit_code == 2 and message in r.stderr


# --- device calibrate -------------------------------------------------------------------------------


def test_calibrate_writes_a_profile_that_device_reads_and_never_overwrites(tmp_path: Path):
    out = tmp_path / "here.yaml"
    r = invoke("device", "calibrate", "--output", str(out), "--seconds", "1", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{out}\n" and "peak fp32" in r.stderr and "bandwidth" in r.stderr
    d = load_device_file(str(out))
    assert d.kind == "calibrated" and d.measured["threads"] == 1
    from cnninspect.measure.roofline import ROLES

    assert set(d.attained) == {"fp32"} and set(d.attained["fp32"]) == set(ROLES)  # every role measured
    for role in ROLES:
        f = d.attained["fp32"][role]
        assert f.overhead_seconds is not None and (f.ops_per_second is None) != (f.bytes_per_second is None), role
        assert f"{role}: " in r.stderr  # its progress line
    print(f"calibrated: {d.peak('fp32') / 1e9:.1f} G op/s, {d.bandwidth_bytes_per_second.value / 1e9:.1f} GB/s, "
          f"{d.overhead_seconds.value * 1e6:.1f} us")
    before = out.read_text()
    r = invoke("device", "calibrate", "--output", str(out), "--seconds", "1")
    assert r.exit_code == 2 and "exists; refusing to overwrite it (use --force)" in r.stderr
    assert out.read_text() == before
    r = invoke("summary", "lenet5", "--device", str(out), "--format", "json")
    assert json.loads(r.stdout)["roofline"]["device"]["name"] == "this-machine"


# --- profile ------------------------------------------------------------------------------------------


def test_profile_a_spec_json_contract(toy: Path):
    r = invoke("profile", "lenet5", "--runs", "3", "--warmup", "1", "--device", str(toy), "--threads", "1",
               "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    summary = json.loads(invoke("summary", "lenet5", "--device", str(toy), "--format", "json").stdout)
    assert [layer["name"] for layer in data["layers"]] == [layer["name"] for layer in summary["layers"]]
    for mine, theirs in zip(data["layers"], summary["layers"]):
        assert mine["predicted_seconds"] == theirs["predicted_seconds"] and mine["bound"] == theirs["bound"]
        assert isinstance(mine["measured_seconds"], float) and mine["measured_seconds"] >= 0
    t = data["totals"]
    assert t["predicted_seconds"] == summary["totals"]["predicted_seconds"]
    assert len(t["forward_seconds"]) == data["run"]["runs"] == 3
    assert t["measured_min_seconds"] <= t["measured_seconds"] <= t["measured_max_seconds"]
    assert data["run"] == {"threads": 1, "dtype": "fp32", "batch": 1, "warmup": 1, "runs": 3,
                           "stopped_by_limit": False, "on": "cpu"}
    print(f"lenet5: measured {t['measured_seconds'] * 1e3:.3f} ms, timing overhead {t['timing_overhead']:+.1%}")


def test_profile_a_python_model_at_a_batch_and_max_seconds(toy: Path):
    r = invoke("profile", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--batch", "2", "--runs", "1000",
               "--warmup", "0", "--max-seconds", "0.5", "--threads", "1", "--device", str(toy), "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["source"] == "python" and data["run"]["batch"] == 2
    # the prediction from the operators lowered onto the op records: summary's, at the batch run
    summary = json.loads(invoke("summary", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--batch", "2",
                                "--device", str(toy), "--format", "json").stdout)
    assert data["totals"]["predicted_seconds"] == summary["totals"]["predicted_seconds"]
    predicted = {layer["name"]: layer["predicted_seconds"] for layer in summary["layers"]}
    assert all(layer["predicted_seconds"] == predicted[layer["name"]] for layer in data["layers"])
    assert data["run"]["stopped_by_limit"] and 1 <= data["run"]["runs"] < 1000
    names = [layer["name"] for layer in data["layers"]]
    assert names[:3] == ["stem.0", "stem.1", "stem.2"] and "fc" in names
    assert all(layer["measured_seconds"] is not None for layer in data["layers"])
    assert data["totals"]["throughput_samples_per_second"] > 0


def test_profile_refusals():
    r = invoke("profile", "docs/examples/my_model.py:Net", "--input", "3x32x32", "--dtype", "bf16")
    assert r.exit_code == 2 and "--dtype applies to YAML specs" in r.stderr
    r = invoke("profile", "lenet5", "--input", "1x32x32")
    assert r.exit_code == 2 and "--input applies to Python models" in r.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a machine with a GPU runs --on cuda")
def test_profile_on_cuda_without_a_gpu_is_refused():
    r = invoke("profile", "lenet5", "--on", "cuda", "--device", "rtx-4090")
    assert r.exit_code == 2 and "torch sees no CUDA device here" in r.stderr


def test_profile_refuses_a_dtype_the_device_or_pytorch_cannot_run(toy: Path):
    no_fp16 = toy.read_text().replace("  bf16: 2.0e9\n", "")
    toy.write_text(no_fp16, encoding="utf-8")
    r = invoke("profile", "mobilenet_v1", "--dtype", "bf16", "--device", str(toy))
    assert r.exit_code == 2 and "device toy has no peak for bf16" in r.stderr  # refused before any pass
    # LeNet-5's RBF layer is torch.cdist, which has no bfloat16 kernel on the CPU
    r = invoke("profile", "lenet5", "--dtype", "bf16", "--runs", "1", "--device", "rtx-4090")
    assert r.exit_code == 2 and r.stderr.startswith("error: lenet5: the forward pass at bf16 on cpu raised")
    assert r.stderr.count("\n") == 1


# --- ShuffleNet V2's guideline experiments -----------------------------------------------------


def test_guideline_experiments_have_equal_mult_adds():
    """Within each experiment the multiply-adds are equal to the paper's rounding: G1's channel
    pairs are the paper's own ((128,128) ... (36,432), 5.3% apart at most), G2's widths too
    (1.1%), G3's constructions within 1.2%, G4 exactly."""
    from cnninspect.measure.analysis import analyze
    from cnninspect.published.guideline_experiments import load_experiments, resolve_configuration

    _, experiments = load_experiments()
    assert [e.id for e in experiments] == ["G1", "G2", "G3", "G4"]
    spread = {"G1": 0.054, "G2": 0.012, "G3": 0.012, "G4": 0.0}
    for e in experiments:
        macs = [analyze(resolve_configuration(c)).totals.mult_adds for c in e.configurations]
        assert max(macs) / min(macs) - 1 <= spread[e.id], (e.id, macs)
    g1 = [analyze(resolve_configuration(c)) for c in experiments[0].configurations]
    assert [r.layers[0].output_shape[0] for r in g1] == [128, 180, 312, 432]
    assert [r.subject.input_shape[0] for r in g1] == [128, 90, 52, 36]


@pytest.mark.parametrize("order, seconds, verdict", [
    ("increasing", [1, 2, 3], "yes"),
    ("increasing", [1, 3, 2], "partly"),
    ("increasing", [2, 1, 3], "no"),
    ("first-fastest", [1, 3, 2], "yes"),
    ("first-fastest", [2, 3, 1], "no"),
])
def test_the_verdict(order, seconds, verdict):
    from cnninspect.published.guideline_experiments import judge

    assert judge(order, seconds) == verdict


def test_guidelines_command_json_contract(toy: Path):
    r = invoke("guidelines", "g2", "--runs", "2", "--warmup", "0", "--device", str(toy), "--threads", "1",
               "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    (g2,) = data["experiments"]
    assert g2["id"] == "G2" and g2["shows_direction"] in ("yes", "partly", "no")
    assert [c["label"] for c in g2["configurations"]] == ["g = 1", "g = 2", "g = 4", "g = 8"]
    for c in g2["configurations"]:
        assert c["runs"] == 2 and c["measured_min_seconds"] <= c["measured_seconds"] <= c["measured_max_seconds"]
    # more groups at equal mult-adds move more bytes (the weights shrink, the activations grow)
    moved = [c["bytes_moved"] for c in g2["configurations"]]
    assert moved == sorted(moved) and moved[0] < moved[-1]
    r = invoke("guidelines", "g5")
    assert r.exit_code == 2 and "unknown experiment 'G5'" in r.stderr


def test_profile_an_instance_runs_a_private_copy(tmp_path: Path, toy: Path, monkeypatch):
    """A module object the user's code holds (here an imported module's attribute, which
    stays in ``sys.modules``) is timed as a private copy: the object keeps its training mode,
    no hook and its exact weights and batch-norm statistics."""
    import importlib

    import torch

    (tmp_path / "latency_pkg").mkdir()
    (tmp_path / "latency_pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "latency_pkg" / "inst.py").write_text(
        "import torch\nfrom torch import nn\ntorch.manual_seed(0)\n"
        "net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    user = importlib.import_module("latency_pkg.inst").net
    before = {k: v.clone() for k, v in user.state_dict().items()}
    r = invoke("profile", "latency_pkg.inst:net", "--input", "3x16x16", "--runs", "2", "--warmup", "1",
               "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert [layer["name"] for layer in json.loads(r.stdout)["layers"]] == ["0", "1", "2"]
    assert importlib.import_module("latency_pkg.inst").net is user and user.training
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in user.modules())
    after = user.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_compare_device_adds_each_models_predicted_total(toy: Path):
    r = invoke("compare", "mobilenet_v1", "lenet5", "--device", str(toy), "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    for entry in data["models"]:
        summary = json.loads(invoke("summary", entry["model"], "--device", str(toy), "--format", "json").stdout)
        assert entry["predicted_seconds"] == summary["totals"]["predicted_seconds"]
        assert entry["layers_bound"] == summary["totals"]["layers_bound"]
    assert data["roofline"]["device"]["name"] == "toy"
    text = invoke("compare", "mobilenet_v1", "lenet5", "--device", str(toy)).stdout
    assert "Predicted vs 1st" in text


@pytest.mark.parametrize("batch", [1, 4])
def test_fit_latency_of_a_python_model_is_summary_device_at_each_point(batch: int):
    """``fit --max-latency --device`` on a Python model: each point's predicted seconds is
    ``summary --device``'s at that resolution and batch (its captured operators priced on
    the roofline); the budget, set between two points, keeps the smaller and refuses the
    larger."""
    model, device = "docs/examples/my_model.py:Net", "core-i7-1185g7"
    at = ("--input", "3x32x32", "--batch", str(batch))

    def predicted(res: int) -> float:
        r = invoke("summary", model, *at, "--resolution", str(res), "--device", device, "--format", "json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)["totals"]["predicted_seconds"]

    seconds = {res: predicted(res) for res in (32, 48, 64, 80)}
    assert seconds[32] < seconds[48] < seconds[64] < seconds[80]
    budget = (seconds[48] + seconds[64]) / 2
    r = invoke("fit", model, *at, "--over", "resolution=32:80:16", "--max-latency", repr(budget),
               "--device", device, "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    best = data["best"]
    assert best["settings"] == {"resolution": 48} and data["feasible"] == 2
    assert best["predicted_seconds"] == seconds[48] <= budget < seconds[64]
    table = invoke("fit", model, *at, "--over", "resolution=32:80:16", "--max-latency", repr(budget),
                   "--device", device)
    assert f"latency: the roofline on {device} at fp32, batch {batch}" in table.stdout
    r = invoke("fit", model, "--input", "3x32x32", "--over", "resolution=32,64", "--max-latency", "0.01")
    assert r.exit_code == 2 and "--max-latency needs --device" in r.stderr
