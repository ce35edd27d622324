"""A roofline per layer: a time bound for each layer on a named or calibrated device.

For every layer the prediction is ::

    compute_seconds   = operations / peak_ops_per_second[dtype]
    memory_seconds    = bytes_moved / bandwidth_bytes_per_second
    predicted_seconds = max(compute_seconds, memory_seconds) + overhead_seconds

and the layer is ``compute``-bound when its compute time is the larger, else ``memory``-bound
(``none`` when it neither computes nor moves anything: a view, an identity).
Totals add the layers' predictions (and their parts).

**Attained figures per role.** A device may also give, per compute dtype, what layers of a
*role* (:data:`ROLES`: the op records' closed set of roles, with convolutions split by shape as
``explain`` splits them and sliding-window pooling into max and average) attain: ``ops_per_second``, ``bytes_per_second`` and
``overhead_seconds`` (``cnninspect device calibrate`` measures them on synthetic kernels). A
layer of that role is then priced with the role's figure in place of the peak, the
bandwidth or the per-layer overhead, each figure separately; a role or figure the device
lacks falls back to the device-wide one. A container's own arithmetic takes the role of
the kernel it runs (:data:`CONTAINER_ROLES`: an addition or multiplication is elementwise, a
concatenation a layout copy); an op that moves nothing (a view, identity or dropout at
inference) has no role and costs the device-wide overhead alone.

**Operations** are two per multiply-add, the way vendors count peak FLOP/s and TOPS: a layer's
operations are ``2 x mult_adds`` of the report's convention (the ``paper`` convention by
default: convolutions and fully connected layers; batch norm, activations and pooling then
count no operations and are priced by their memory traffic alone), times the batch.
**dtype** is the compute dtype: the activations' dtype of ``--dtype`` (``int8,fp16`` computes in
fp16); the device must publish a peak for it.
**Bytes moved** come from the report's per-layer memory traffic (:class:`LayerCost`); a cost
is the only thing the roofline reads, so any source of operations and bytes can be priced.

Devices are :data:`DEVICES` (``devices.yaml`` beside this module, every figure with its
source) or a device profile file written by ``cnninspect device calibrate``; both are read by
:func:`device_from_node`, so a bad profile is refused as ``file:line:column: field: message``.
Pure Python, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ..base.errors import SpecError, UsageError, did_you_mean
from ..lang.yamlsrc import YNode, load_yaml_file, parse_yaml, require_document
from .analysis import Report
from .memory import DTYPE_BYTES, Precision

DEVICE_KINDS = ("gpu", "edge", "phone", "cpu", "calibrated")
FIGURE_KEYS = ("value", "note")
DEVICE_KEYS = ("title", "kind", "source", "peak_ops_per_second", "bandwidth_bytes_per_second", "overhead_seconds",
               "attained", "measured")
PROFILE_KEYS = ("device", *DEVICE_KEYS)
REQUIRED_KEYS = ("title", "kind", "source", "peak_ops_per_second", "bandwidth_bytes_per_second", "overhead_seconds")
BOUNDS = ("compute", "memory", "none")
# the roles a layer is priced by: the records' roles (cnninspect.ops.kind.Role), convolutions
# split by shape as ``explain`` splits them and sliding-window pooling by what it computes
# (depthwise and pointwise convolutions, max and average pooling run very different kernels)
ROLES = ("conv", "depthwise_conv", "pointwise_conv", "dense", "max_pool", "avg_pool", "global", "norm", "activation",
         "classifier", "elementwise", "layout")
ROLE_FIGURE_KEYS = ("ops_per_second", "bytes_per_second", "overhead_seconds")
# the role of a container's own arithmetic (cnninspect.measure.traffic prices it)
CONTAINER_ROLES = {"residual": "elementwise", "gate": "elementwise", "concat": "layout"}


def op_role(kind: str, attrs: Mapping[str, Any]) -> str:
    """The role (:data:`ROLES`) an op of ``kind`` with ``attrs`` is priced by."""
    from ..ops.kind import Role
    from ..ops.kinds import KINDS

    record = KINDS[kind]
    if record.role is Role.CONV:
        return record.op_class(attrs).replace(" ", "_")
    if record.role is Role.POOL:
        return "max_pool" if record.reduce == "max" else "avg_pool"
    return record.role.value


@dataclass(frozen=True)
class RoleFigures:
    """What layers of one role attain on a device at one dtype; ``None``: the device-wide figure."""

    ops_per_second: Figure | None = None
    bytes_per_second: Figure | None = None
    overhead_seconds: Figure | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: {"value": f.value, "note": f.note} for k in ROLE_FIGURE_KEYS
                if (f := getattr(self, k)) is not None}


NO_ROLE_FIGURES = RoleFigures()


@dataclass(frozen=True)
class Figure:
    """One published or measured figure and what it is (its note: how it was derived)."""

    value: float
    note: str = ""


@dataclass(frozen=True)
class Device:
    """A device's peak figures: operations/s per dtype, memory bandwidth, a per-layer overhead."""

    name: str
    title: str
    kind: str
    source: str
    peak_ops_per_second: Mapping[str, Figure]
    bandwidth_bytes_per_second: Figure
    overhead_seconds: Figure
    measured: Mapping[str, Any] | None = None  # how a calibrated profile was measured
    attained: Mapping[str, Mapping[str, RoleFigures]] = field(default_factory=dict)  # dtype -> role -> figures

    def role_figures(self, dtype: str, role: str | None) -> RoleFigures:
        """The attained figures of ``role`` at ``dtype`` (empty when the device has none)."""
        if role is None:
            return NO_ROLE_FIGURES
        return self.attained.get(dtype, {}).get(role, NO_ROLE_FIGURES)

    def peak(self, dtype: str) -> float:
        """The peak operations per second at ``dtype``; refused when the device has none."""
        figure = self.peak_ops_per_second.get(dtype)
        if figure is None:
            raise UsageError(f"device {self.name} has no peak for {dtype} (it has "
                             f"{', '.join(self.peak_ops_per_second)}); choose --dtype accordingly")
        return figure.value

    def as_json(self) -> dict[str, Any]:
        def fig(f: Figure) -> dict[str, Any]:
            return {"value": f.value, "note": f.note}

        return {"name": self.name, "title": self.title, "kind": self.kind, "source": self.source,
                "peak_ops_per_second": {k: fig(v) for k, v in self.peak_ops_per_second.items()},
                "bandwidth_bytes_per_second": fig(self.bandwidth_bytes_per_second),
                "overhead_seconds": fig(self.overhead_seconds),
                "attained": {d: {r: f.as_json() for r, f in roles.items()} for d, roles in self.attained.items()},
                "measured": self.measured}


@dataclass(frozen=True)
class LayerCost:
    """What the roofline prices for one layer: its operations, the bytes it moves, and the
    role (:data:`ROLES`) whose attained figures price it (``None``: the device-wide ones)."""

    name: str
    operations: int
    bytes_read: int
    bytes_written: int
    role: str | None = None

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True)
class LayerTime:
    """A layer's roofline: compute and memory time, the overhead, the bound and their sum."""

    cost: LayerCost
    compute_seconds: float
    memory_seconds: float
    overhead_seconds: float

    @property
    def name(self) -> str:
        return self.cost.name

    @property
    def bound(self) -> str:
        """``compute`` or ``memory``: the larger time; ``none`` for an entry that neither
        computes nor moves anything (a view, an identity), which costs only the overhead."""
        if self.compute_seconds == 0 and self.memory_seconds == 0:
            return "none"
        return "compute" if self.compute_seconds >= self.memory_seconds else "memory"

    @property
    def predicted_seconds(self) -> float:
        return max(self.compute_seconds, self.memory_seconds) + self.overhead_seconds


@dataclass(frozen=True)
class Roofline:
    """Every layer's :class:`LayerTime` on one device at one dtype, and their sums."""

    device: Device
    dtype: str
    layers: tuple[LayerTime, ...]

    @property
    def predicted_seconds(self) -> float:
        return math.fsum(t.predicted_seconds for t in self.layers)

    @property
    def compute_seconds(self) -> float:
        return math.fsum(t.compute_seconds for t in self.layers)

    @property
    def memory_seconds(self) -> float:
        return math.fsum(t.memory_seconds for t in self.layers)

    @property
    def overhead_seconds(self) -> float:
        return math.fsum(t.overhead_seconds for t in self.layers)

    @property
    def operations(self) -> int:
        return sum(t.cost.operations for t in self.layers)

    @property
    def bytes_moved(self) -> int:
        return sum(t.cost.bytes_moved for t in self.layers)

    def bound_counts(self) -> dict[str, int]:
        return {b: sum(1 for t in self.layers if t.bound == b) for b in BOUNDS}

    def by_name(self) -> dict[str, LayerTime]:
        return {t.name: t for t in self.layers}

    def totals_json(self) -> dict[str, Any]:
        return {"predicted_seconds": self.predicted_seconds, "compute_seconds": self.compute_seconds,
                "memory_seconds": self.memory_seconds, "overhead_seconds": self.overhead_seconds,
                "operations": self.operations, "bytes_moved": self.bytes_moved,
                "layers_bound": self.bound_counts()}


def predict(costs: Iterable[LayerCost], device: Device, dtype: str = "fp32") -> Roofline:
    """The roofline of ``costs`` on ``device`` at the compute ``dtype`` (see the module
    docstring): each cost's role's attained figures where the device has them."""
    peak = device.peak(dtype)
    bandwidth = device.bandwidth_bytes_per_second
    overhead = device.overhead_seconds

    def time(c: LayerCost) -> LayerTime:
        f = device.role_figures(dtype, c.role)
        return LayerTime(c, c.operations / (f.ops_per_second.value if f.ops_per_second else peak),
                         c.bytes_moved / (f.bytes_per_second or bandwidth).value,
                         (f.overhead_seconds or overhead).value)

    return Roofline(device, dtype, tuple(time(c) for c in costs))


def layer_time_json(t: LayerTime) -> dict[str, Any]:
    """The roofline fields of one layer in the JSON contract."""
    return {"operations": t.cost.operations, "predicted_seconds": t.predicted_seconds,
            "compute_seconds": t.compute_seconds, "memory_seconds": t.memory_seconds, "bound": t.bound}


# --- devices: the bundled table and profile files ---------------------------------------------


@cache
def _bundled() -> dict[str, Device]:
    text = resources.files("cnninspect.measure").joinpath("devices.yaml").read_text(encoding="utf-8")
    root = parse_yaml(text, "cnninspect/measure/devices.yaml")
    devices = _map(root.items["devices"] if root.items else root, "devices")
    return {name: device_from_node(name, node, f"devices.{name}") for name, node in devices.items()}


def bundled_devices() -> dict[str, Device]:
    """The shipped device table, by name (``cnninspect device list``)."""
    return dict(_bundled())


def get_device(text: str) -> Device:
    """``--device NAME|FILE``: a bundled device by name, else a device profile file."""
    table = _bundled()
    if text in table:
        return table[text]
    if text.lower().endswith((".yaml", ".yml")):
        return load_device_file(text)
    raise UsageError(f"unknown device '{text}'{did_you_mean(text, table)}; devices: {', '.join(table)} "
                     "(or a device profile .yaml file from 'cnninspect device calibrate')")


def load_device_file(path: str) -> Device:
    """A device profile file (``cnninspect device calibrate`` writes one)."""
    root = load_yaml_file(path)
    require_document(root, PROFILE_KEYS, "a device profile")
    items = _map(root, "")
    name_node = items.get("device")
    if name_node is None:
        raise SpecError("missing field 'device' (the device's name)", root.loc)
    name = _string(name_node, "device")
    return device_from_node(name, root, "", extra=("device",))


def device_from_node(name: str, node: YNode, where: str, extra: tuple[str, ...] = ()) -> Device:
    """One device's figures from a located YAML mapping, every error naming its field."""
    items = _map(node, where)
    allowed = (*DEVICE_KEYS, *extra)
    for key in items:
        if key not in allowed:
            raise SpecError(f"unknown field '{key}'{did_you_mean(key, allowed)}; fields: {', '.join(allowed)}",
                            node.key_locs.get(key, node.loc), _join(where, key))
    for key in REQUIRED_KEYS:
        if key not in items:
            raise SpecError(f"missing field '{key}'", node.loc, where or None)
    kind = _string(items["kind"], _join(where, "kind"))
    if kind not in DEVICE_KINDS:
        raise SpecError(f"must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}", items["kind"].loc,
                        _join(where, "kind"))
    peaks_at = _join(where, "peak_ops_per_second")
    peaks = _map(items["peak_ops_per_second"], peaks_at)
    if not peaks:
        raise SpecError("needs at least one dtype's peak", items["peak_ops_per_second"].loc, peaks_at)
    for dtype in peaks:
        if dtype not in DTYPE_BYTES:
            raise SpecError(f"unknown dtype '{dtype}'{did_you_mean(dtype, DTYPE_BYTES)}; dtypes: "
                            f"{', '.join(DTYPE_BYTES)}", items["peak_ops_per_second"].key_locs.get(dtype), peaks_at)
    measured = items.get("measured")
    attained = _attained(items["attained"], _join(where, "attained")) if "attained" in items else {}
    return Device(
        name, _string(items["title"], _join(where, "title")), kind, _string(items["source"], _join(where, "source")),
        {d: _figure(v, _join(peaks_at, d), positive=True) for d, v in peaks.items()},
        _figure(items["bandwidth_bytes_per_second"], _join(where, "bandwidth_bytes_per_second"), positive=True),
        _figure(items["overhead_seconds"], _join(where, "overhead_seconds"), positive=False),
        measured.to_python() if measured is not None and measured.is_map else None,
        attained,
    )


def _attained(node: YNode, where: str) -> dict[str, dict[str, RoleFigures]]:
    """``attained: {DTYPE: {ROLE: {ops_per_second: ..., bytes_per_second: ..., overhead_seconds: ...}}}``."""
    out: dict[str, dict[str, RoleFigures]] = {}
    for dtype, roles_node in _map(node, where).items():
        at = _join(where, dtype)
        if dtype not in DTYPE_BYTES:
            raise SpecError(f"unknown dtype '{dtype}'{did_you_mean(dtype, DTYPE_BYTES)}; dtypes: "
                            f"{', '.join(DTYPE_BYTES)}", node.key_locs.get(dtype, node.loc), at)
        roles: dict[str, RoleFigures] = {}
        for role, figs_node in _map(roles_node, at).items():
            role_at = _join(at, role)
            if role not in ROLES:
                raise SpecError(f"unknown role '{role}'{did_you_mean(role, ROLES)}; roles: {', '.join(ROLES)}",
                                roles_node.key_locs.get(role, roles_node.loc), role_at)
            figs = _map(figs_node, role_at)
            for key in figs:
                if key not in ROLE_FIGURE_KEYS:
                    raise SpecError(f"unknown field '{key}'{did_you_mean(key, ROLE_FIGURE_KEYS)}; fields: "
                                    f"{', '.join(ROLE_FIGURE_KEYS)}", figs_node.key_locs.get(key, figs_node.loc),
                                    _join(role_at, key))
            if not figs:
                raise SpecError(f"needs at least one of {', '.join(ROLE_FIGURE_KEYS)}", figs_node.loc, role_at)
            roles[role] = RoleFigures(**{k: _figure(v, _join(role_at, k), positive=k != "overhead_seconds")
                                         for k, v in figs.items()})
        out[dtype] = roles
    return out


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _map(node: YNode, where: str) -> dict[str, YNode]:
    if node.items is None:
        raise SpecError(f"must be a mapping, got {node.kind()}", node.loc, where or None)
    return node.items


def _string(node: YNode, where: str) -> str:
    if not isinstance(node.value, str) or not node.is_scalar or not node.value.strip():
        raise SpecError(f"must be a non-empty string, got {node.kind()}", node.loc, where)
    return node.value


def _figure(node: YNode, where: str, *, positive: bool) -> Figure:
    """``{value: 19.5e12, note: ...}`` or a bare number."""
    note = ""
    value_node = node
    if node.is_map:
        items = node.items or {}
        for key in items:
            if key not in FIGURE_KEYS:
                raise SpecError(f"unknown field '{key}'{did_you_mean(key, FIGURE_KEYS)}; fields: value, note",
                                node.key_locs.get(key, node.loc), _join(where, key))
        if "value" not in items:
            raise SpecError("missing field 'value'", node.loc, where)
        value_node = items["value"]
        where = _join(where, "value")
        if "note" in items:
            note = _string(items["note"], _join(where.rsplit(".", 1)[0], "note"))
    value = _number(value_node)
    if value is None or not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "a positive number" if positive else "a number of at least 0"
        got = f"{value:g}" if value is not None else value_node.kind()
        raise SpecError(f"must be {need}, got {got}", value_node.loc, where)
    return Figure(float(value), note)


def _number(node: YNode) -> float | None:
    v = node.value
    if not node.is_scalar or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):  # YAML 1.1 reads 19.5e12 as a float but 2e9 as a string
        try:
            return float(v.replace("_", ""))
        except ValueError:
            return None
    return None


def device_yaml(device: Device) -> str:
    """A device profile file's text (``cnninspect device calibrate``), read back by
    :func:`load_device_file`."""
    import yaml

    def fig(f: Figure) -> dict[str, Any]:
        return {"value": float(f.value), "note": f.note} if f.note else {"value": float(f.value)}

    data: dict[str, Any] = {
        "device": device.name, "title": device.title, "kind": device.kind, "source": device.source,
        "peak_ops_per_second": {k: fig(v) for k, v in device.peak_ops_per_second.items()},
        "bandwidth_bytes_per_second": fig(device.bandwidth_bytes_per_second),
        "overhead_seconds": fig(device.overhead_seconds),
    }
    if device.attained:
        data["attained"] = {d: {r: {k: fig(f) for k in ROLE_FIGURE_KEYS if (f := getattr(figs, k)) is not None}
                                for r, figs in roles.items()} for d, roles in device.attained.items()}
    if device.measured is not None:
        data["measured"] = dict(device.measured)
    header = "# A device profile measured by `cnninspect device calibrate`; read it with --device FILE.\n"
    return header + yaml.safe_dump(data, sort_keys=False, width=1000)


def report_costs(report: Report, precision: Precision | None = None, batch: int = 1) -> list[LayerCost]:
    """The :class:`LayerCost` of a resolved spec's report at ``precision`` and ``batch``, from
    its memory traffic (:func:`cnninspect.measure.traffic.traffic_report`, each op kind's rule
    in its record): one cost per layer, operations ``2 x`` the layer's mult-adds for the batch,
    and one per container whose own arithmetic moves bytes (a residual's addition, a
    concatenation, a gate's multiplication), named ``CONTAINER.(residual)`` and so on, with no
    operations. Their sum is the model's traffic. A Python model's report prices its operators
    lowered onto the records (:mod:`cnninspect.ops.lowering`), at the batch it ran on. Each
    cost names its layer's role (:func:`op_role`; a container's by :data:`CONTAINER_ROLES`);
    a Python model's layers have none (a lowered call keeps no attributes to tell a
    depthwise convolution from another), so the device-wide figures price them."""
    from ..resolve.ir import ops
    from .memory import MemorySettings
    from .traffic import NONE, traffic_report

    if report.model is None and report.lowered is None:
        raise UsageError(f"{report.subject.label}: the roofline needs each layer's memory traffic, which only "
                         "the op records give (a spec's, or a captured model's lowered operators; docs/latency.md)")
    traffic = traffic_report(report, MemorySettings(precision or Precision(), batch))
    by_name = dict(ops(report.model.root)) if report.model is not None else {}
    children: dict[str, list[str]] = {}
    for row in report.rows:
        parent = row.name.rpartition(".")[0]
        children.setdefault(parent, []).append(row.name)
    costs = []
    for row in report.rows:
        t = traffic.layers[row.name]
        if row.is_leaf:
            op = by_name.get(row.name)
            moves = bool(t.bytes_read or t.bytes_written)
            costs.append(LayerCost(row.name, 2 * t.mult_adds, t.bytes_read, t.bytes_written,
                                   op_role(op.kind, op.attrs) if op is not None and moves else None))
            continue
        inner = NONE
        for name in children.get(row.name, ()):
            inner = inner + traffic.layers[name]
        read, written = t.bytes_read - inner.bytes_read, t.bytes_written - inner.bytes_written
        if read or written:
            costs.append(LayerCost(f"{row.name}.({row.kind})", 0, read, written, CONTAINER_ROLES.get(row.kind)))
    return costs
