"""The meta-device shape shortcuts give what PyTorch's own meta kernels give (shape, dtype and
strides of every result), decline what they do not understand, and keep the capture free of
the sympy and torch._dynamo imports those kernels cost. The operator registry and the
conventions' tables cover each other."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cnninspect.ops.aten_rules import ATEN_OPS, ATEN_TABLES, CATEGORIES, MODULE_RULES
from cnninspect.ops.conventions import CONVENTIONS
from cnninspect.capture.meta_shapes import SHORTCUTS, shortcut_for

aten = torch.ops.aten


def m(*shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype, device="meta")


x4 = m(2, 8, 9, 11)
cl = m(2, 8, 9, 11).contiguous(memory_format=torch.channels_last)
w = m(8)

# (operator, args, kwargs): every shortcut on plain and edge-case arguments
CASES = [
    (aten.relu.default, (x4,), {}),
    (aten.relu.default, (cl,), {}),
    (aten.add.Tensor, (cl, x4), {}),
    (aten.add.Tensor, (x4, cl), {}),
    (aten.convolution.default, (cl, m(4, 8, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
    (aten.gelu.default, (x4,), {"approximate": "tanh"}),
    (aten.hardtanh.default, (x4, 0.0, 6.0), {}),
    (aten.clamp.default, (x4, -1.0, None), {}),
    (aten.pow.Tensor_Scalar, (x4, 2), {}),
    (aten.mul.Scalar, (x4, 0.5), {}),
    (aten._softmax.default, (m(2, 5, 7), -1, False), {}),
    (aten._log_softmax.default, (m(2, 5, 7), 1, False), {}),
    (aten.add.Tensor, (x4, m(1, 8, 1, 1)), {}),
    (aten.add.Tensor, (x4, x4), {"alpha": 2}),
    (aten.mul.Tensor, (m(8, 1, 1), x4), {}),
    (aten.mul.Tensor, (x4, 3.0), {}),
    (aten.sub.Tensor, (m(5, 1), m(1, 4)), {}),
    (aten.div.Tensor, (x4, m(11)), {}),
    (aten.maximum.default, (x4, m(9, 1)), {}),
    (aten.convolution.default, (x4, m(16, 8, 3, 3), m(16), [1, 1], [1, 1], [1, 1], False, [0, 0], 1), {}),
    (aten.convolution.default, (x4, m(16, 8, 1, 1), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1), {}),
    (aten.convolution.default, (x4, m(8, 1, 3, 3), None, [2, 1], [1, 2], [2, 1], False, [0, 0], 8), {}),
    (aten.convolution.default, (x4, m(8, 2, 5, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 4), {}),
    (aten.convolution.default, (x4, m(8, 4, 3, 3), None, [2, 2], [1, 1], [1, 1], True, [1, 0], 2), {}),
    (aten.convolution.default, (m(1, 3, 17), m(6, 3, 4), None, [2], [1], [1], False, [0], 1), {}),
    (aten.mm.default, (m(3, 4), m(4, 5)), {}),
    (aten.mm.default, (m(3, 4), m(5, 4).t()), {}),
    (aten.addmm.default, (m(5), m(3, 4), m(5, 4).t()), {}),
    (aten.bmm.default, (m(2, 3, 4), m(2, 4, 5)), {}),
    (aten.native_batch_norm.default, (x4, w, w, w, w, False, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (x4, None, None, w, w, True, 0.1, 1e-5), {}),
    (aten._native_batch_norm_legit_no_training.default, (x4, w, w, w, w, 0.1, 1e-5), {}),
    (aten.native_layer_norm.default, (m(2, 7, 8), [8], m(8), m(8), 1e-5), {}),
    (aten.native_layer_norm.default, (x4, [9, 11], None, None, 1e-5), {}),
    (aten.native_group_norm.default, (x4, w, w, 2, 8, 99, 4, 1e-5), {}),
    (aten.mean.dim, (x4, [2, 3], True), {}),
    (aten.mean.dim, (x4, [-1]), {}),
    (aten.sum.dim_IntList, (x4, [1]), {"keepdim": False}),
    (aten.amax.default, (x4, [0, 2], True), {}),
    (aten.max_pool2d_with_indices.default, (x4, [3, 3], [2, 2], [1, 1]), {}),
    (aten.max_pool2d_with_indices.default, (x4, [3, 2], [2, 2], [0, 1], [1, 1], True), {}),
    (aten.max_pool2d_with_indices.default, (m(1, 4, 13, 13), [3, 3], [2, 2], [0, 0], [2, 2], True), {}),
    (aten.avg_pool2d.default, (x4, [2, 2]), {}),
    (aten.avg_pool2d.default, (x4, [3, 3], [2, 2], [1, 1], True, False), {}),
    (aten.avg_pool3d.default, (m(1, 1, 8, 5, 5), [5, 1, 1], [1, 1, 1]), {}),
    (aten._adaptive_avg_pool2d.default, (x4, [3, 2]), {}),
    (aten.adaptive_max_pool2d.default, (x4, [1, 1]), {}),
    (aten.cat.default, ([x4, m(2, 3, 9, 11)], 1), {}),
    (aten.cat.default, ([m(4, 5), m(4, 5)], -2), {}),
    (aten.upsample_nearest2d.default, (x4, [18, 22]), {}),
    (aten.upsample_bilinear2d.default, (x4, [5, 7], False), {}),
    (aten._cdist_forward.default, (m(1, 84), m(10, 84), 2.0, 2), {}),
    (aten.add_.Tensor, (m(2, 8, 9, 11), m(8, 1, 1)), {}),
    (aten.uniform_.default, (m(4, 4), -1.0, 1.0), {}),
    (aten.relu_.default, (m(3, 3),), {}),
]

# arguments the shortcuts must leave to PyTorch (which raises, or needs more care)
DECLINED = [
    (aten.relu.default, (m(2, 8, 9, 22)[..., ::2],), {}),  # not dense: the meta kernel's business
    (aten.add.Tensor, (x4, m(7)), {}),  # does not broadcast
    (aten.add.Tensor, (x4, m(2, 8, 9, 11, dtype=torch.float16)), {}),  # type promotion
    (aten.convolution.default, (x4, m(16, 3, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
    (aten.convolution.default, (m(1, 8, 2, 2), m(8, 8, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
    (aten.mm.default, (m(3, 4), m(5, 4)), {}),
    (aten.native_batch_norm.default, (x4, m(7), None, None, None, True, 0.1, 1e-5), {}),
    (aten.max_pool2d_with_indices.default, (x4, [3, 3], [1, 1], [2, 2]), {}),  # padding > kernel / 2
    (aten.cat.default, ([x4, m(2, 3, 9, 10)], 1), {}),
    (aten.add_.Tensor, (m(8, 1, 1), x4), {}),  # would have to grow
]


@pytest.mark.parametrize("op,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shortcut_equals_the_meta_kernel(op, args, kwargs):
    fast = shortcut_for(op)
    assert fast is not None, f"{op} has no shortcut"
    ours = fast(*args, **kwargs)
    assert ours is not NotImplemented, f"{op} declined a plain call"
    theirs = op(*args, **kwargs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (tuple(a.shape), a.dtype, a.stride()) == (tuple(b.shape), b.dtype, b.stride())
    if op._schema.arguments[0].alias_info is not None:  # in-place: the result is the argument
        assert ours[0] is args[0]


@pytest.mark.parametrize("op,args,kwargs", DECLINED, ids=[f"{c[0]}-{i}" for i, c in enumerate(DECLINED)])
def test_shortcut_declines_what_it_does_not_understand(op, args, kwargs):
    assert shortcut_for(op)(*args, **kwargs) is NotImplemented


def test_every_shortcut_is_exercised():
    assert {op for op, _, _ in CASES} >= set(SHORTCUTS) - {
        # same functions as exercised neighbours (unary, binary, batch norm, reductions)
        op for op, fn in SHORTCUTS.items() if fn.__name__ in ("unary", "binary", "batch_norm", "reduce_dims")
    }


def test_capture_imports_neither_sympy_nor_dynamo():
    """The point of the shortcuts: building and capturing EfficientNet-B0 on the meta device
    stays clear of the imports a meta-kernel forward pass costs on torch 2.13 (about 1 s)."""
    code = (
        "import sys\n"
        "from cnninspect.build.builder import build_module\n"
        "from cnninspect.capture.forward import capture, construction_mode\n"
        "from cnninspect.resolve.catalog import parse_target\n"
        "from cnninspect.resolve.resolver import resolve\n"
        "t = parse_target('efficientnet:b0'); model = resolve(t.spec, t.variant)\n"
        "with construction_mode():\n    module = build_module(model)\n"
        "capture(module, model.input_shape)\n"
        "heavy = [m for m in ('sympy', 'torch._dynamo') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_every_convention_has_operator_rules_for_every_category():
    from cnninspect.ops.module_tools import TOOL_TABLES

    assert set(ATEN_TABLES) == set(MODULE_RULES) == set(CONVENTIONS) - set(TOOL_TABLES)
    for table in ATEN_TABLES.values():
        assert set(table.by_category) == set(CATEGORIES), table.convention
        assert set(table.by_op) <= set(ATEN_OPS), table.convention
    assert set(a.category for a in ATEN_OPS.values()) == set(CATEGORIES)


def _layouts():
    """A tensor of shape 2x3x4x5 in every dimension order, plus expanded and sliced views."""
    import itertools

    out = []
    for order in itertools.permutations(range(4)):
        base = m(*[(2, 3, 4, 5)[d] for d in order])
        out.append(base.permute(*[order.index(d) for d in range(4)]))
    out.append(m(1, 3, 1, 5).expand(2, 3, 4, 5))
    out.append(m(2, 3, 4, 10)[..., ::2])
    return out


LAYOUTS = _layouts()


@pytest.mark.parametrize("i", range(len(LAYOUTS)))
def test_elementwise_layouts_follow_pytorch(i):
    """Every pair of layouts through add (and each alone through relu and layer norm): the
    shortcut's result has the meta kernel's strides, or it declines."""
    a = LAYOUTS[i]
    for b in [*LAYOUTS, m(3, 1, 5), m(5), 2.0]:
        ours = shortcut_for(aten.add.Tensor)(a, b)
        if ours is NotImplemented:
            continue
        theirs = aten.add.Tensor(a, b)
        assert (ours.shape, ours.stride()) == (theirs.shape, theirs.stride()), (a.stride(), getattr(b, "shape", b))
    for op, args in ((aten.relu.default, (a,)), (aten.native_layer_norm.default, (a, [5], None, None, 1e-5)),
                     (aten.convolution.default, (a, m(4, 3, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1))):
        ours = shortcut_for(op)(*args)
        if ours is NotImplemented:
            continue
        theirs = op(*args)
        ours, theirs = (ours if isinstance(ours, tuple) else (ours,)), (theirs if isinstance(theirs, tuple) else (theirs,))
        assert [(o.shape, o.stride()) for o in ours] == [(t.shape, t.stride()) for t in theirs], op


# --- the tested torch range -------------------------------------------------------------------


@pytest.mark.parametrize("version, tested", [
    ("2.13.0", True), ("2.13.0+cpu", True), ("2.13.1", True), ("2.14.0", False), ("2.14.0.dev20260101", False),
    ("2.12.1", False), ("3.0.0", False), ("1.13.1", False), ("nonsense", False),
])
def test_the_tested_torch_range(version, tested):
    from cnninspect.capture.meta_shapes import tested_torch

    assert tested_torch(version) is tested


def test_this_torch_is_in_the_tested_range():
    """The suite runs with the torch the shortcuts are tested with (else it tests the fallback only)."""
    from cnninspect.capture.meta_shapes import tested_torch

    assert tested_torch(torch.__version__)


def test_outside_the_tested_range_pytorchs_meta_kernels_run(monkeypatch):
    import cnninspect
    from cnninspect.capture import meta_shapes

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))
    with_shortcuts = cnninspect.summary(net, (1, 3, 32, 32)).to_dict()
    calls = []
    monkeypatch.setitem(meta_shapes.SHORTCUTS, aten.relu.default, lambda *a, **k: calls.append(a) or NotImplemented)
    cnninspect.summary(net, (1, 3, 32, 32))
    assert calls, "within the tested range the shortcut runs"
    calls.clear()
    monkeypatch.setattr(torch, "__version__", "2.14.0")
    assert all(shortcut_for(op) is None for op in SHORTCUTS)
    assert cnninspect.summary(net, (1, 3, 32, 32)).to_dict() == with_shortcuts
    assert not calls, "outside the tested range no shortcut runs"
