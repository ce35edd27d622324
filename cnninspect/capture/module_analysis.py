"""Module analysis: a captured forward pass (:class:`~cnninspect.capture.trace.Trace`) -> Report.

The report has the rows and totals of a spec's report, so every renderer, ``compare``,
``sweep`` and ``check`` work unchanged on Python modules. Nothing here imports torch.

Rows, in execution order, named by module path (``layer1.0.conv1``):

* one row per module call; a leaf module (no submodules) is a leaf row, a container a block
  row with its children's totals. A module called again in the same place gets ``#2``,
  ``#3`` (its parameters count at its first call); modules with parameters that the forward
  pass never called are listed with ``not called``;
* an operator called directly in a container's ``forward`` (a functional ``F.conv2d``, an
  attention ``q @ k``) gets a leaf row of its own, named after the function called
  (``attn.matmul``; its type is the aten operator, ``aten.bmm``), when the convention
  counts it or cannot count it; operators that cost nothing under the convention (a residual
  ``add``, ``torch.cat``) are folded into their container;
* a container's own parameters (a class token, a layer scale) are leaf rows named after
  the parameter.

So leaf rows add up to the totals, as they do for a spec. Parameters count once per tensor
(tied weights once, at the first module holding them). Mult-adds: a call that lowers onto an
op record (:mod:`cnninspect.ops.lowering`) is counted by the record's rule, the one a spec's
op of that kind is counted by; other operators by the convention's operator rules
(:mod:`cnninspect.ops.aten_rules`); torchinfo, ptflops and thop count modules, as the tools
do. Operators a convention cannot count are listed in ``Report.uncounted`` and in the row's
detail, never counted as zero silently.

Activation memory and depth are read from the data flow between layers (leaf module calls
and operators run in containers), the way the spec engine reads them from the spec's
structure: peak live activations in float32 at batch 1 with each tensor freed after its last
use, and the longest input-to-output path in weight layers (convolution, fully connected).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from collections.abc import Mapping
from typing import Any

from ..measure.analysis import Report, Row, Subject, Totals
from ..base.errors import UsageError
from ..ops.aten_rules import ATEN_TABLES, MODULE_RULES, AtenRule, AtenTable, LeafCall, OpCall, is_weight_layer
from ..ops.conventions import Convention, get_convention
from ..ops.lowering import LoweredGraph, LoweredOp, count_call, lower, lower_leaf
from ..ops.module_tools import TOOL_TABLES, nested_calls, tool_counts
from .trace import CallRecord, Shape, Trace, per_sample


def module_subject(trace: Trace, name: str, *, title: str = "", reference: str = "",
                   settings: Mapping[str, Any] | None = None, citation: Mapping[str, Any] | None = None) -> Subject:
    """Describe a captured module for the renderers."""
    return Subject(
        name=name, title=title or trace.calls[0].torch_class, label=name, variant=None,
        citation=dict(citation or {}), input_shape=trace.input_shape, output_shape=trace.output_shape,
        depth=weight_depth(trace), settings=dict(settings or {}), source="python", reference=reference,
        device=trace.device, fallback=trace.fallback, batch=trace.batch, notes=trace.notes,
    )


def input_settings(trace: Trace) -> dict[str, Any]:
    """The JSON ``settings`` of a module's input: the first input's per-sample shape, the
    batch the counts are for, and every tensor input (name, per-sample shape, dtype)."""
    return {"input": list(trace.input_shape), "batch": trace.batch,
            "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in trace.inputs]}


def analyze_trace(trace: Trace, convention: str | Convention, subject: Subject, *,
                  rules: Mapping[str, AtenRule] | None = None) -> Report:
    """The report of a captured module under ``convention``; ``rules``: the caller's own
    operator rules (:func:`cnninspect.ops.custom_rules.custom_rules`)."""
    from .usercode import room_to_recurse

    with room_to_recurse():  # the call tree is walked recursively, one frame pair per level
        return _analyze_trace(trace, convention, subject, rules or {})


def _analyze_trace(trace: Trace, convention: str | Convention, subject: Subject,
                   rules: Mapping[str, AtenRule]) -> Report:
    conv = get_convention(convention) if isinstance(convention, str) else convention
    if rules and conv.name in TOOL_TABLES:
        raise UsageError(f"custom rules count operators; the {conv.name} convention counts module classes, as "
                         f"{conv.name} does, and takes none (use {', '.join(ATEN_TABLES)})")
    tool = TOOL_TABLES.get(conv.name)
    lowered = [lower(op) for op in trace.ops]
    if tool is not None:  # a tool that counts by module class (ptflops, thop): no operator rules
        counts: list[int | None] = [0] * len(trace.ops)
        module_rule = None
        own_count, fn_rows = _tool_counts(trace, conv.name)
    else:
        table = ATEN_TABLES[conv.name]
        if rules:
            table = replace(table, custom=dict(rules))
        module_rule = MODULE_RULES.get(conv.name)
        counts = _operator_counts(trace, table, conv, lowered)
        own_count, fn_rows = {}, {}
    label = (lambda op: op.qualname) if tool is not None else table.label
    uncounted: Counter[str] = Counter(label(op) for op, n in zip(trace.ops, counts) if n is None)
    rows: list[Row] = []
    sources: list[tuple[str, int] | None] = []  # aligned with rows
    owner_of: dict[int, int] = {}  # parameter -> index of the first row holding it

    def params_of(call_row: int, own: tuple[tuple[str, int], ...]) -> tuple[int, int, list[str]]:
        p = t = 0
        shared = []
        for pname, key in own:
            if key in owner_of:
                shared.append(f"{pname} shared with {rows[owner_of[key]].name}")
                continue
            owner_of[key] = call_row
            info = trace.params[key]
            p += info.numel
            t += info.numel if info.trainable else 0
        return p, t, shared

    def leaf(index: int, c: CallRecord, depth: int) -> tuple[int, int, int]:
        rows.append(None)  # type: ignore[arg-type]  # filled below
        sources.append(("call", index))
        at = len(rows) - 1
        p, t, shared = params_of(at, c.own_params)
        ops = _ops_in(trace, c)
        macs = sum(counts[i] or 0 for i in ops) + _subtree_tool_count(trace, index, own_count, fn_rows)
        if module_rule is not None and c.called:
            every = {}
            for n, k in c.own_params:
                info = trace.params[k]
                if info.masked is not None:
                    every[n.removesuffix("_orig")] = (info.masked, info.trainable)
                else:
                    every[n] = (info.numel, info.trainable)
            macs += module_rule(LeafCall(c.torch_class, every, c.in_shape, c.out_shape, c.out_full))
        missing = Counter(label(trace.ops[i]).removeprefix("aten.") for i in ops if counts[i] is None)
        custom = sorted({trace.ops[i].qualname for i in ops if trace.ops[i].qualname in rules})
        detail = _join(c.detail, *([f"call {c.repeat}"] if c.repeat > 1 else []), *shared, _uncounted_text(missing),
                       *([f"custom rule: {', '.join(custom)}"] if custom else []))
        rows[at] = Row(c.path, depth, True, c.torch_class, "module", c.in_shape, c.out_shape, c.kernel, c.stride,
                       p, t, macs, None, detail)
        return p, t, macs

    def container(index: int, c: CallRecord, depth: int, with_row: bool) -> tuple[int, int, int]:
        at = len(rows)
        if with_row:
            rows.append(None)  # type: ignore[arg-type]
            sources.append(("call", index))
        inner = depth + 1 if with_row else depth
        prefix = f"{c.path}." if c.path else ""
        p = t = m = 0
        for pname, key in c.own_params:
            if key in owner_of:
                continue
            owner_of[key] = len(rows)
            info = trace.params[key]
            rows.append(Row(f"{prefix}{pname}", inner, True, "Parameter", "parameter", (), _param_shape(info.numel),
                            None, None, info.numel, info.numel if info.trainable else 0, 0, None, "own parameter"))
            sources.append(None)
            p += info.numel
            t += info.numel if info.trainable else 0
        seen: Counter[str] = Counter()
        if own_count.get(index):
            n = own_count[index]
            rows.append(Row(f"{prefix}forward" if prefix else c.torch_class, inner, True, c.torch_class, "module",
                            c.in_shape, c.out_shape, None, None, 0, 0, n, None,
                            f"{conv.name}'s rule for the class"))
            sources.append(("call", index))
            m += n
        pending = list(fn_rows.get(index, ()))  # (position, name, count, input, output), in order

        def functions_before(k: int) -> int:
            added = 0
            while pending and pending[0][0] <= k:
                _pos, fname, n, shape_in, shape_out = pending.pop(0)
                seen[fname] += 1
                rows.append(Row(f"{prefix}{fname}" + (f"#{seen[fname]}" if seen[fname] > 1 else ""), inner, True,
                                fname, "functional", shape_in, shape_out, None, None, 0, 0, n, None, "functional"))
                sources.append(("call", index))
                added += n
            return added

        for k, (kind, i) in enumerate(c.items):
            m += functions_before(k)
            if kind == "call":
                cp, ct, cm = visit(i, inner)
            else:
                n = counts[i]
                if n == 0:
                    continue
                op = trace.ops[i]
                # what the forward wrote: matmul, conv2d, add (a custom operator: its own name)
                called = (op.via if op.via and op.namespace == "aten" else op.op).strip("_")
                seen[called] += 1
                name = f"{prefix}{called}" + (f"#{seen[called]}" if seen[called] > 1 else "")
                detail = _join("functional", _uncounted_text(Counter([op.qualname.removeprefix("aten.")]))
                               if n is None else "",
                               "custom rule" if op.qualname in rules else "")
                rows.append(Row(name, inner, True, op.qualname, "functional", _first_in(op, trace.batch),
                                _first_out(op, trace.batch),
                                None, None, 0, 0, n or 0, None, detail, not op.live))
                sources.append(("op", i))
                cp, ct, cm = 0, 0, n or 0
            p, t, m = p + cp, t + ct, m + cm
        m += functions_before(len(c.items))
        if with_row:
            shared_text = ""
            if c.repeat > 1:
                shared_text = f"call {c.repeat}"
            rows[at] = Row(c.path, depth, False, c.torch_class, "container", c.in_shape, c.out_shape, None, None,
                           p, t, m, None, _join(c.detail, shared_text))
        return p, t, m

    def visit(index: int, depth: int) -> tuple[int, int, int]:
        c = trace.calls[index]
        return leaf(index, c, depth) if c.is_leaf else container(index, c, depth, True)

    root = trace.calls[0]
    if root.is_leaf:
        named = CallRecord(**{**root.__dict__, "path": root.torch_class})
        totp, tott, totm = leaf(0, named, 0)
    else:
        totp, tott, totm = container(0, root, 0, False)
    del visit, container  # mutually recursive closures are a reference cycle: break it
    peak, largest = activation_memory(trace)
    peak_bytes = activation_memory(trace, trace.storage_bytes)[0] if trace.storage_bytes else None
    totals = Totals(totp, tott, totm, peak, largest, peak_bytes, sum(p.nbytes for p in trace.params))
    engine = f"module-{trace.device}"
    assert len(sources) == len(rows)
    used = Counter(op.qualname for op in trace.ops if op.qualname in rules)
    if used:  # the caller's rules changed these operators' counts: say so with the numbers
        calls = ", ".join(f"{name} ({n} call{'s' if n > 1 else ''})" for name, n in sorted(used.items()))
        subject = replace(subject, notes=subject.notes + (f"custom rules counted {calls} in the {conv.name} "
                                                          "convention",))
    return Report(None, conv, engine, tuple(rows), totals, subject, tuple(sorted(uncounted.items())), tuple(sources),
                  lowered_graph(trace, rows, sources, lowered))


def _operator_counts(trace: Trace, table: AtenTable, conv: Convention,
                     lowered: list[LoweredOp]) -> list[int | None]:
    return [count_call(table, conv, op, low) for op, low in zip(trace.ops, lowered)]


def operator_counts(trace: Trace, convention: str, rules: Mapping[str, AtenRule] | None = None, *,
                    lowered: list[LoweredOp] | None = None) -> list[int | None]:
    """Each operator call's mult-adds under an operator convention (``paper``, ``fvcore``,
    ``torchinfo``, ``flopcounter``), as the report counts them: by the op record a call lowers
    onto, else by the convention's operator rules (``None``: uncounted). ``lowered``: each
    call already lowered (:func:`cnninspect.ops.lowering.lower`)."""
    conv = get_convention(convention)
    table = ATEN_TABLES[conv.name]
    if rules:
        table = replace(table, custom=dict(rules))
    return _operator_counts(trace, table, conv, lowered if lowered is not None else [lower(op) for op in trace.ops])


def lowered_graph(trace: Trace, rows: list[Row], sources: list[tuple[str, int] | None],
                  lowered: list[LoweredOp]) -> LoweredGraph:
    """The trace on the op records (:mod:`cnninspect.ops.lowering`): a leaf module call that
    runs one kind as several operators lowers whole, every other operator call on its own
    (``lowered``: each call lowered alone); and per row the lowered entries it holds (a
    call's row: everything run inside it; an operator's row: that one; a container's own
    parameter and ptflops's or thop's rows of a class or function: none, the operators that
    read it or ran count them)."""
    entries: list[LoweredOp] = []
    entry_of: dict[int, int] = {}  # operator index -> its lowered entry
    for c in trace.calls:
        if c.is_leaf and c.called:
            inside = _ops_in(trace, c)
            whole = lower_leaf([trace.ops[i] for i in inside], sum(trace.params[k].numel for _n, k in c.own_params))
            if whole is not None:
                entries.append(whole)
                entry_of.update((i, len(entries) - 1) for i in inside)
    for i, op in enumerate(trace.ops):
        if i not in entry_of:
            entries.append(lowered[i])
            entry_of[i] = len(entries) - 1
    held: dict[str, tuple[int, ...]] = {}
    for row, source in zip(rows, sources):
        if source is None:
            continue
        what, i = source
        if what == "op":
            held[row.name] = (entry_of[i],)
        elif trace.calls[i].is_leaf or row.name == trace.calls[i].path:
            held[row.name] = tuple(sorted({entry_of[k] for k in _ops_in(trace, trace.calls[i])}))
    return LoweredGraph(tuple(entries), held)


def _tool_counts(trace: Trace, convention: str) -> tuple[dict[int, int],
                                                        dict[int, list[tuple[int, str, int, Shape, Shape]]]]:
    """A module-class tool's counts: per call its hook's count, and per call the watched
    function calls it ran directly (name, count), as :mod:`cnninspect.ops.module_tools` says."""
    table = TOOL_TABLES[convention]
    modules = list(trace.module_calls) + [None] * (len(trace.calls) - len(trace.module_calls))
    positions = {i: k for c in trace.calls for k, (kind, i) in enumerate(c.items) if kind == "op"}
    functions = [*trace.functions, *nested_calls(table, trace.ops, trace.op_owner, positions)]
    tc = tool_counts(table, modules, functions, [c.parent for c in trace.calls], trace.batch)
    own = {i: round(n) for i, n in enumerate(tc.calls) if n}
    fns: dict[int, list[tuple[int, str, int, Shape, Shape]]] = {}
    for fc, n in zip(functions, tc.functions):
        if n:
            first = fc.args[0] if fc.args and isinstance(fc.args[0], tuple) else None
            shape_in = per_sample(first, trace.batch) if first and all(isinstance(d, int) for d in first) else ()
            shape_out = per_sample(fc.outputs[0], trace.batch) if fc.outputs and fc.outputs[0] else ()
            fns.setdefault(fc.stack[-1] if fc.stack else 0, []).append((fc.position, fc.name, round(n), shape_in,
                                                                        shape_out))
    for entries in fns.values():
        entries.sort(key=lambda e: e[0])
    return own, fns


def _subtree_tool_count(trace: Trace, index: int, own: Mapping[int, int],
                        fns: Mapping[int, list[tuple[int, str, int, Shape, Shape]]]) -> int:
    """A leaf call's tool count: its hook's, its functions', and those of modules it called."""
    if not own and not fns:
        return 0
    total = own.get(index, 0) + sum(e[2] for e in fns.get(index, ()))
    for kind, i in trace.calls[index].items:
        if kind == "call":
            total += _subtree_tool_count(trace, i, own, fns)
    return total


def _ops_in(trace: Trace, c: CallRecord) -> list[int]:
    out: list[int] = []
    for kind, i in c.items:
        out += _ops_in(trace, trace.calls[i]) if kind == "call" else [i]
    return out


def _param_shape(numel: int) -> Shape:
    return (numel,)


def _first_in(op: OpCall, batch: int) -> Shape:
    for a in op.args:
        if hasattr(a, "shape"):
            return per_sample(a.shape, batch)
    return ()


def _first_out(op: OpCall, batch: int) -> Shape:
    for o in op.outputs:
        if o is not None:
            return per_sample(o.shape, batch)
    return ()


def _uncounted_text(missing: Counter[str]) -> str:
    if not missing:
        return ""
    return "uncounted: " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(missing.items()))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def activation_memory(trace: Trace, sizes: tuple[int, ...] | None = None) -> tuple[int, int]:
    """Peak live activation elements and the largest single tensor, inference at the trace's
    batch (``sizes``: per storage, e.g. bytes instead of elements); see :func:`activation_peak`."""
    peak, _at, largest, _largest_at = activation_peak(trace, sizes)
    return peak, largest


def activation_peak(trace: Trace, sizes: tuple[int, ...] | None = None) -> tuple[int, str, int, str]:
    """Peak live activations and where (the layer running then), and the largest single
    tensor and the layer that made it; inference at the trace's batch (``sizes``: per
    storage, e.g. bytes instead of elements).

    Walks the layers in execution order: a tensor is allocated by the layer that produces it
    (views and in-place results share their input's storage) and freed after the last layer
    that reads it; the model's input is live from the start and its outputs to the end.
    Temporaries inside one leaf module are not counted, as the spec engine counts one output
    per layer.
    """
    storage = trace.node_storage
    size = sizes if sizes is not None else trace.storage_numel
    born: dict[int, int] = {}
    last: dict[int, int] = {}
    for n in trace.input_nodes:
        born[storage[n]] = -1
    for i, u in enumerate(trace.units):
        for n in u.inputs:
            s = storage[n]
            if s in born:
                last[s] = i
        for n in u.outputs:
            s = storage[n]
            if s not in born:
                born[s] = i
    end = len(trace.units)
    for n in trace.output_nodes:
        s = storage[n]
        if s in born:
            last[s] = end
    delta = [0] * (end + 3)
    for s, b in born.items():
        lo = b + 1
        hi = max(last.get(s, b), b) + 1
        delta[lo] += size[s]
        delta[hi + 1] -= size[s]
    peak = live = 0
    peak_step = 0
    for step, d in enumerate(delta):
        live += d
        if live > peak:
            peak, peak_step = live, step
    largest_storage = max(born, key=lambda s: size[s], default=None)
    largest = size[largest_storage] if largest_storage is not None else 0

    def unit_name(i: int) -> str:
        if i < 0 or i >= len(trace.units):
            return "input"
        u = trace.units[i]
        if u.call is not None:
            return trace.calls[u.call].path or trace.calls[u.call].torch_class
        op = trace.ops[u.ops[0]] if u.ops else None
        owner = trace.calls[trace.op_owner[u.ops[0]]].path if u.ops else ""
        called = (op.via or op.op).strip("_") if op is not None else "?"
        return f"{owner}.{called}" if owner else called

    largest_at = unit_name(born[largest_storage]) if largest_storage is not None else ""
    return peak, unit_name(peak_step - 1), largest, largest_at


def weight_depth(trace: Trace) -> int:
    """The longest input-to-output path counted in weight layers (a convolution, or a matrix
    product or distance with a constant operand), through the data flow between layers."""
    depth: dict[int, int] = {n: 0 for n in trace.input_nodes}
    for u in trace.units:
        w = 1 if any(is_weight_layer(trace.ops[i]) for i in u.ops) else 0
        d = max((depth.get(n, 0) for n in u.inputs), default=0) + w
        for n in u.outputs:
            depth[n] = max(depth.get(n, 0), d) if n in u.inputs else d
    return max((depth.get(n, 0) for n in trace.output_nodes), default=0)
