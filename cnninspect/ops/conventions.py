"""Counting conventions: what a "mult-add" counts, as named, swappable rule sets.

Tools disagree on a model's cost mostly because they count different things. Each
:class:`Convention` maps every primitive op kind to a rule ``OpFacts -> Formula`` or to
``None``, meaning "deliberately not counted". A rule's :class:`~cnninspect.ops.formulas.Formula`
itemises the count (factors with their symbols, terms tagged with a cause); the count *is*
the formula's value, so ``explain`` can never show arithmetic that differs from the numbers
every other command reports. A kind missing from a convention is an error, never a silent
zero; a test checks every convention covers every op. Counts are for a batch of one.

* ``paper`` (default): one multiply-add per weight use in convolution and fully connected
  layers (and LeNet's RBF units), as the MobileNet, EfficientNet and ResNet papers count.
  Bias, batch norm, activations, pooling and elementwise ops (residual add, SE multiply) are
  not counted.
* ``fvcore``: what ``fvcore.nn.FlopCountAnalysis(model.eval(), x).total()`` returns for our
  built modules: convolution and linear without bias, plus batch norm (2 per element when
  affine, eval mode), layer norm (5 per element when affine, else 4) and adaptive average
  pooling (1 per input element); ``x.mean((2, 3))`` and elementwise multiplies are not
  counted (fvcore has no handle for them); side branches whose output is not returned are
  dropped by its tracer.
* ``torchinfo``: what ``torchinfo.summary(...).total_mult_adds`` returns: for each leaf
  module, the parameters named ``weight``/``bias`` times the output positions for classes
  whose name contains ``Conv``, once per sample for other classes.
* ``ptflops``: what ``ptflops.get_model_complexity_info(...)`` returns (pytorch backend,
  default functional patching): forward hooks on *exact* ``torch.nn`` classes (conv and linear
  with bias, batch norm, ReLU, pooling), plus patched ``torch.nn.functional`` calls (``F.relu``,
  ``F.silu``, ``F.softmax``, the pools) and tensor methods (``Tensor.mul``/``add``), so
  ``nn.ReLU`` and the pooling modules count twice and subclasses are not seen at all.
* ``thop``: what ``thop.profile`` of ultralytics-thop 2.x returns: forward hooks by class (a
  subclass uses its parent's rule): conv and linear without bias, batch norm 4 per element,
  average pooling one add per pooled input plus one divide per output, softmax
  ``3F - 1``; activations and max pooling zero, except PReLU (one per element in eval mode).
* ``flopcounter``: what ``torch.utils.flop_counter.FlopCounterMode`` counts, in mult-adds: the
  aten convolutions and matrix products (bias excluded), wherever they run; it reports
  FLOPs = 2 x these.

FLOPs, when asked for with ``--unit flops``, are 2 x mult-adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Callable, Mapping

from .formulas import (
    Formula,
    Term,
    conv_weight_factors,
    formula,
    param_formula,
    spatial_factors,
    table_weight_factors,
    tensor_factors,
    term,
)
from .module_tools import PTFLOPS as PTFLOPS_TABLE
from .primitives import ACTIVATIONS as ACTIVATION_FUNCTIONS, OPS, Shape, adaptive_windows


@dataclass(frozen=True)
class OpFacts:
    """What a rule may look at: the op, its shapes and its parameter tensors by name."""

    kind: str
    attrs: Mapping[str, Any]
    in_shape: Shape
    out_shape: Shape
    params: Mapping[str, tuple[int, bool]]
    torch_class: str
    side_branch: bool = False  # inside a side output (auxiliary classifier)


Rule = Callable[[OpFacts], Formula]


class UncoveredOp(KeyError):
    """A convention has no rule for an op kind (a bug: every kind must be covered)."""


# Causes: what a term of a formula is, summed across ops by ``explain``'s reconciliation.
WEIGHTS = "conv/FC weight multiply-adds"
BIAS = "bias adds"
BN_2 = "batch norm, 2 per element"
BN_4 = "batch norm, 4 per element (2, x2 when affine)"
POOLING = "pooling, 1 per input element"
LN_5 = "layer norm, 5 per element"
LN_4 = "layer norm without affine, 4 per element"
LN_PTFLOPS = "layer norm, 1 per element"
LN_THOP_2 = "layer norm without affine, 2 per element"
LN_THOP_4 = "layer norm, 4 per element (2, x2 when affine)"
ACTIVATIONS = "activations and softmax, 1 per element"
TWICE = "counted twice: nn module hook + patched torch.nn.functional call"
SIDE_BRANCHES = "side branches a tracer drops (auxiliary outputs not returned)"


@dataclass(frozen=True)
class Convention:
    name: str
    title: str
    summary: str
    counted: str
    rules: Mapping[str, Rule | None]
    # fvcore traces the model, and tracing drops work whose result never reaches the
    # output: side branches (auxiliary classifiers kept only as module state) go uncounted
    counts_side_branches: bool = True

    def describe(self, unit: str = "macs") -> str:
        """The one-line statement every output carries (the ``convention:`` line)."""
        text = f"{self.name} - {self.summary}"
        return text + ("; shown as FLOPs = 2 x mult-adds" if unit == "flops" else "")

    def as_json(self, unit: str = "macs") -> dict[str, str]:
        return {"name": self.name, "description": self.summary, "unit": unit}

    def formula(self, facts: OpFacts) -> Formula:
        """The op's count, itemised. Its ``value`` is what :meth:`count` returns."""
        if facts.side_branch and not self.counts_side_branches:
            return Formula(uncounted=SIDE_BRANCHES)
        try:
            rule = self.rules[facts.kind]
        except KeyError:
            raise UncoveredOp(f"convention '{self.name}' has no rule for op kind '{facts.kind}'") from None
        if rule is None:
            return Formula(uncounted=f"{OPS[facts.kind].title}: not counted by {self.name}")
        return rule(facts)

    def count(self, facts: OpFacts) -> int:
        return self.formula(facts).value


CONVENTIONS: dict[str, Convention] = {}


def register_convention(c: Convention) -> Convention:
    CONVENTIONS[c.name] = c
    return c


def _ignored(*kinds: str) -> dict[str, Rule | None]:
    return {k: None for k in kinds}


_ALL = tuple(OPS)

# --- the paper's rules: one multiply-add per weight use ---------------------------------------


def _positions(shape: Shape) -> tuple[tuple[str, int], ...]:
    """``H, W`` of a channels-last ``H x W x C`` tensor; nothing for a flat vector."""
    return (("H", shape[0]), ("W", shape[1])) if len(shape) == 3 else ()


def conv_macs(f: OpFacts) -> Formula:
    """Kernel area x input channels per group x output channels x output positions."""
    return formula(term(WEIGHTS, *conv_weight_factors(f.attrs), *spatial_factors(f.out_shape)))


def table_conv_macs(f: OpFacts) -> Formula:
    """Kernel area x connected input maps (summed over output maps) x output positions."""
    return formula(term(WEIGHTS, *table_weight_factors(f.attrs), *spatial_factors(f.out_shape)))


def dense_macs(f: OpFacts) -> Formula:
    """Inputs x outputs at every position: one position for a flat vector, ``H x W`` for a
    fully connected layer on a channels-last ``H x W x C`` tensor."""
    return formula(term(WEIGHTS, *_positions(f.out_shape), ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"])))


def layernorm_fvcore(f: OpFacts) -> Formula:
    """fvcore's ``aten::layer_norm`` handle: 5 per element with a learned affine, else 4."""
    return formula(_elements(f.in_shape, LN_5 if f.params else LN_4, times=5 if f.params else 4))


def rbf_macs(f: OpFacts) -> Formula:
    return formula(term(WEIGHTS, ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"]), label="(x - w)^2 per prototype"))


def _elements(shape: Shape, cause: str, label: str = "", *, suffix: str = "_in", times: int = 1) -> Term:
    """``times x`` every element of a per-sample tensor."""
    factors = tensor_factors(shape, suffix)
    return term(cause, *(((str(times), times),) if times != 1 else ()), *factors, label=label)


PAPER_RULES: dict[str, Rule | None] = {
    **_ignored(*_ALL),
    "conv2d": conv_macs,
    "conv_table": table_conv_macs,
    "linear": dense_macs,
    "rbf": rbf_macs,
}

register_convention(
    Convention(
        "paper",
        "paper (conv + FC weight multiply-adds)",
        "mult-adds = one multiply-add per weight use in conv and fully connected layers "
        "(batch 1); bias, batch norm, activations, pooling and elementwise ops not counted",
        "convolution and fully connected weights (RBF units included)",
        PAPER_RULES,
    )
)

# kinds whose weights the paper counts: their weight terms reconcile to the paper total
WEIGHT_COUNTED = frozenset(k for k, r in PAPER_RULES.items() if r is not None)


def _uncounted(reason: str) -> Rule:
    return lambda f: Formula(uncounted=reason)


RBF_ELEMENTWISE = "RBF units: (x - w)^2 summed, elementwise ops no tool counts"

register_convention(
    Convention(
        "fvcore",
        "fvcore FlopCountAnalysis (eval mode)",
        "mult-adds as fvcore.nn.FlopCountAnalysis counts them in eval mode: conv and linear "
        "without bias, batch norm 2 per element, layer norm 5 per element, adaptive average "
        "pooling 1 per input element; other ops (a mean, elementwise multiplies), and side "
        "branches whose output is not returned, ignored",
        "convolution and linear weights, batch and layer norm, adaptive average pooling",
        {
            **_ignored(*_ALL),
            "conv2d": conv_macs,
            "conv_table": table_conv_macs,
            "linear": dense_macs,
            "rbf": _uncounted(RBF_ELEMENTWISE),
            "bn2d": lambda f: formula(_elements(f.in_shape, BN_2, times=2)),
            "bn_act2d": lambda f: formula(_elements(f.in_shape, BN_2, times=2)),
            "bn1d": lambda f: formula(_elements(f.in_shape, BN_2, times=2)),
            "layernorm": layernorm_fvcore,
            "gavgpool": lambda f: formula(_elements(f.in_shape, POOLING)),
        },
        counts_side_branches=False,
    )
)

# --- torchinfo: parameters x output positions --------------------------------------------------


def torchinfo_macs(f: OpFacts) -> Formula:
    """torchinfo 1.8 ``LayerInfo.calculate_macs`` for a batch of one: each parameter named
    ``weight``/``bias`` times the output positions for classes whose name contains ``Conv``,
    once for other classes; other parameters containing those words x output channels."""
    conv = "Conv" in f.torch_class
    terms: list[Term] = []
    for t in param_formula(f.kind, f.attrs, f.in_shape).terms:
        name = t.cause  # parameter formulas tag each term with its tensor's name
        if name in ("weight", "bias"):
            extra = spatial_factors(f.out_shape) if conv else ()
        elif "weight" in name or "bias" in name:
            extra = (("C_out", f.out_shape[0] if f.out_shape else 1),)
        else:
            continue
        if f.kind in WEIGHT_COUNTED:
            cause = WEIGHTS if name == "weight" else BIAS
        else:
            cause = f"{OPS[f.kind].title.split(':')[0]} weight and bias, once per channel"
        factors = tuple((x.symbol, x.value) for x in t.factors) + extra
        terms.append(term(cause, *factors, label=t.label))
    return Formula(tuple(terms))


def torchinfo_param_macs(torch_class: str, params: Mapping[str, tuple[int, bool]], out_full: Shape) -> int:
    """torchinfo 1.8's ``LayerInfo.calculate_macs`` for a leaf module of a Python model, on
    the full shape of its (first) output, batch included: ``weight`` and ``bias`` count
    ``params x out[0] x prod(out[2:])`` for Conv* classes and ``params x out[0]`` for other
    classes; any other parameter whose name holds ``weight`` or ``bias`` (an RNN's
    ``weight_ih_l0``) counts ``params x out[0] x out[1]``. A pruned parameter is named and
    counted as torchinfo does: ``weight_orig`` with a ``weight_mask`` is ``weight`` with the
    mask's ones."""
    out = tuple(out_full) or (1,)
    total = 0
    for name, (numel, _trainable) in params.items():
        if name in ("weight", "bias"):
            total += numel * (out[0] * math.prod(out[2:]) if "Conv" in torch_class else out[0])
        elif "weight" in name or "bias" in name:
            total += numel * math.prod(out[:2])
    return total


register_convention(
    Convention(
        "torchinfo",
        "torchinfo summary (Total mult-adds)",
        "mult-adds as torchinfo.summary reports them: per leaf module, (weight + bias) x output "
        "positions for Conv* classes, weight + bias once for other classes, times the batch",
        "every leaf module's weight and bias parameters (BN included)",
        {**{k: torchinfo_macs for k in _ALL}, "bn_act2d": _uncounted(
            "BatchNormAct2d's weight and bias (torchinfo counts mult-adds of leaf modules only)")},
    )
)

# --- ptflops 0.7 (pytorch backend, count_functional=True) ----------------------------------------

# classes ptflops hooks (MODULES_MAPPING, matched by exact type): its table, kept once for
# specs and Python models alike in ops/module_tools.py
PTFLOPS_MODULES = frozenset(c.rsplit(".", 1)[1] for c in PTFLOPS_TABLE.modules)
# activation classes whose forward calls a torch.nn.functional function ptflops patches
# (ReLU6 calls F.hardtanh and LeakyReLU F.leaky_relu, which it does not patch)
PTFLOPS_PATCHED_ACTS = {"ReLU": "F.relu", "SiLU": "F.silu", "GELU": "F.gelu", "PReLU": "F.prelu", "ELU": "F.elu"}
POOL_FUNCTIONS = {"maxpool2d": "F.max_pool2d", "avgpool2d": "F.avg_pool2d", "gavgpool": "F.adaptive_avg_pool2d",
                  "gmaxpool": "F.adaptive_max_pool2d"}


def _not_seen(tool: str, why: str) -> Rule:
    return lambda f: Formula(uncounted=f"modules {tool} does not see ({f.torch_class}: {why})")


def ptflops_conv(f: OpFacts) -> Formula:
    if f.torch_class not in PTFLOPS_MODULES:
        return Formula(uncounted=f"modules ptflops does not see ({f.torch_class}: a subclass of nn.Conv2d; "
                                 "hooks match exact classes and F.conv2d is not patched)")
    terms = [term(WEIGHTS, *conv_weight_factors(f.attrs), *spatial_factors(f.out_shape))]
    if f.attrs["bias"]:
        terms.append(term(BIAS, ("C_out", f.attrs["out_ch"]), *spatial_factors(f.out_shape), label="bias"))
    return Formula(tuple(terms))


def ptflops_linear(f: OpFacts) -> Formula:
    """The nn.Linear hook: (inputs x outputs + bias) at every position."""
    terms = [term(WEIGHTS, *_positions(f.out_shape), ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"]))]
    if f.attrs["bias"]:
        terms.append(term(BIAS, *_positions(f.out_shape), ("F_out", f.attrs["out_f"]), label="bias"))
    return Formula(tuple(terms))


def ptflops_layernorm(f: OpFacts) -> Formula:
    """Only ``nn.LayerNorm`` itself is hooked (its batch-norm hook doubles for an ``affine``
    attribute, which LayerNorm does not have: 1 per element); LayerNorm2d is a subclass,
    not seen, and F.layer_norm is not patched."""
    if f.torch_class != "LayerNorm":
        return _not_seen("ptflops", "a subclass of nn.LayerNorm; F.layer_norm is not patched")(f)
    return formula(_elements(f.in_shape, LN_PTFLOPS, "nn.LayerNorm hook"))


def ptflops_act(f: OpFacts) -> Formula:
    terms = []
    if f.torch_class in PTFLOPS_MODULES:
        terms.append(_elements(f.out_shape, ACTIVATIONS, f"nn.{f.torch_class} hook", suffix=""))
    patched = PTFLOPS_PATCHED_ACTS.get(f.torch_class)
    if patched:
        cause = TWICE if terms else ACTIVATIONS
        terms.append(_elements(f.in_shape, cause, f"patched {patched}", suffix=""))
    return Formula(tuple(terms))


def ptflops_bn_act(f: OpFacts) -> Formula:
    """BatchNormAct2d is a subclass of nn.BatchNorm2d, not hooked (F.batch_norm is not
    patched); its activation child is counted like any activation module."""
    act = ACTIVATION_FUNCTIONS[f.attrs["fn"]].torch_class
    return ptflops_act(replace(f, torch_class=act))


def ptflops_pool(f: OpFacts) -> Formula:
    return formula(
        _elements(f.in_shape, POOLING, f"nn.{f.torch_class} hook"),
        _elements(f.in_shape, TWICE, f"patched {POOL_FUNCTIONS[f.kind]}"),
    )


def ptflops_lrn(f: OpFacts) -> Formula:
    """``F.local_response_norm``: ``x.mul(x)``, ``.mul(alpha)`` and ``.add(k)`` are patched tensor
    methods (one count per element each); ``F.avg_pool3d`` runs on the squares padded by
    ``size - 1`` channels."""
    c, h, w = f.in_shape
    cause = "local response norm internals (patched Tensor.mul/add, F.avg_pool3d)"
    return formula(
        _elements(f.in_shape, cause, "Tensor.mul x2, Tensor.add", times=3),
        term(cause, ("C_in + size - 1", c + f.attrs["size"] - 1), ("H_in", h), ("W_in", w), label="F.avg_pool3d"),
    )


register_convention(
    Convention(
        "ptflops",
        "ptflops get_model_complexity_info (pytorch backend)",
        "mult-adds as ptflops 0.7 reports them: hooks on exact torch.nn classes (conv and linear "
        "with bias, batch norm 2 per element, ReLU and pooling 1 per element) plus patched "
        "functional calls, so nn.ReLU and pooling count twice and nn.Conv2d subclasses are not seen",
        "conv and linear weights and bias, batch norm, ReLU, SiLU, softmax, pooling (twice), "
        "LRN internals",
        {
            **_ignored(*_ALL),
            "conv2d": ptflops_conv,
            "conv_table": _not_seen("ptflops", "a custom module; F.conv2d is not patched"),
            "linear": ptflops_linear,
            "rbf": _not_seen("ptflops", "a custom module of elementwise ops"),
            "bn2d": lambda f: formula(_elements(f.in_shape, BN_2, times=2)),
            "bn1d": lambda f: formula(_elements(f.in_shape, BN_2, times=2)),
            "layernorm": ptflops_layernorm,
            "act": ptflops_act,
            "bn_act2d": ptflops_bn_act,
            "softmax": lambda f: formula(_elements(f.in_shape, ACTIVATIONS, "patched F.softmax", suffix="")),
            "maxpool2d": ptflops_pool,
            "avgpool2d": ptflops_pool,
            "gavgpool": ptflops_pool,
            "gmaxpool": ptflops_pool,
            "lrn": ptflops_lrn,
            "subsample": lambda f: formula(_elements(f.in_shape, POOLING, "patched F.avg_pool2d in Subsample2d")),
        },
    )
)

# --- thop (ultralytics-thop 2.x) -------------------------------------------------------------------


def _window_sum(size: int, out: int, k: int, s: int, p: int, include_pad: bool) -> int:
    """Input elements summed over the windows of one axis, as average pooling clips them."""
    lower, upper = (-p, size + p) if include_pad else (0, size)
    return sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(out))


THOP_POOL = "average pooling, 1 per pooled input + 1 per output"


def thop_avgpool(f: OpFacts) -> Formula:
    c, h, w = f.in_shape
    _, oh, ow = f.out_shape
    (kh, kw), (sh, sw) = f.attrs["kernel"], f.attrs["stride"]
    top, _b, left, _r = f.attrs["pad"]
    include = f.attrs["count_include_pad"]
    return formula(
        term(THOP_POOL, ("C", c), ("window rows", _window_sum(h, oh, kh, sh, top, include)),
             ("window cols", _window_sum(w, ow, kw, sw, left, include)), label="one add per pooled input"),
        term(THOP_POOL, ("C", c), ("H_out", oh), ("W_out", ow), label="one divide per output"),
    )


def thop_adaptive_avgpool(f: OpFacts) -> Formula:
    """``count_adap_avgpool``: one add per input of every window PyTorch pools (the windows
    overlap when the output size does not divide the input), one divide per output; a global
    pool (1 x 1) is every input element plus one divide per channel."""
    if "size" not in f.attrs:
        return formula(
            _elements(f.in_shape, THOP_POOL, "one add per pooled input"),
            term(THOP_POOL, ("C", f.in_shape[0]), label="one divide per output"),
        )
    c, h, w = f.in_shape
    _, oh, ow = f.out_shape
    rows = sum(b - a for a, b in adaptive_windows(h, oh))
    cols = sum(b - a for a, b in adaptive_windows(w, ow))
    return formula(
        term(THOP_POOL, ("C", c), ("window rows", rows), ("window cols", cols), label="one add per pooled input"),
        term(THOP_POOL, ("C", c), ("H_out", oh), ("W_out", ow), label="one divide per output"),
    )


THOP_PRELU = "PReLU, 1 per element (eval mode)"


def thop_act(f: OpFacts) -> Formula:
    """``count_prelu`` (one per input element in eval mode) is thop's only activation rule
    that counts; ReLU, ReLU6 and LeakyReLU are ``zero_ops``, the rest have no rule."""
    if f.torch_class != "PReLU":
        return Formula(uncounted=f"{OPS[f.kind].title}: not counted by thop")
    return formula(_elements(f.in_shape, THOP_PRELU))


def thop_softmax(f: OpFacts) -> Formula:
    n = f.in_shape[0]
    cause = "softmax, 3F - 1 per vector of F"
    return formula(
        term(cause, ("F", n), label="exp"),
        term(cause, ("F - 1", n - 1), label="add"),
        term(cause, ("F", n), label="divide"),
    )


register_convention(
    Convention(
        "thop",
        "thop profile (ultralytics-thop 2.x)",
        "mult-adds as ultralytics-thop's profile reports them: conv and linear without bias, "
        "batch norm 4 per element, average pooling one add per pooled input plus one divide per "
        "output, softmax 3F - 1; activations and max pooling zero",
        "conv and linear weights, batch norm, average pooling, softmax",
        {
            **_ignored(*_ALL),
            "conv2d": conv_macs,
            "conv_table": _not_seen("thop", "no rule for the class; its F.conv2d calls are not counted"),
            "linear": dense_macs,
            "rbf": _not_seen("thop", "no rule for the class; elementwise ops"),
            "bn2d": lambda f: formula(_elements(f.in_shape, BN_4, times=4)),
            # a subclass of nn.BatchNorm2d: count_normalization (its activation: zero_ops or no rule)
            "bn_act2d": lambda f: formula(_elements(f.in_shape, BN_4, times=4)),
            "bn1d": lambda f: formula(_elements(f.in_shape, BN_4, times=4)),
            # count_normalization, matched along the class hierarchy (LayerNorm2d included)
            "layernorm": lambda f: formula(_elements(f.in_shape, LN_THOP_4 if f.params else LN_THOP_2,
                                                     times=4 if f.params else 2)),
            "avgpool2d": thop_avgpool,
            "gavgpool": thop_adaptive_avgpool,
            "softmax": thop_softmax,
            "act": thop_act,
        },
    )
)

# --- torch.utils.flop_counter.FlopCounterMode --------------------------------------------------------

register_convention(
    Convention(
        "flopcounter",
        "PyTorch FlopCounterMode (in mult-adds)",
        "mult-adds as torch.utils.flop_counter.FlopCounterMode counts them (it reports FLOPs = 2 x "
        "these): aten convolutions and matrix products without bias, wherever they run; everything "
        "else not counted",
        "convolution and matrix-product multiply-adds",
        {
            **_ignored(*_ALL),
            "conv2d": conv_macs,
            "conv_table": table_conv_macs,
            "linear": dense_macs,
            "rbf": _uncounted(RBF_ELEMENTWISE),
        },
    )
)


def get_convention(name: str) -> Convention:
    from ..base.errors import UsageError, did_you_mean

    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown convention '{name}'{did_you_mean(name, CONVENTIONS)}; available: "
            + ", ".join(CONVENTIONS)
        ) from None


UNITS = {"macs": 1, "flops": 2}
UNIT_TITLES = {"macs": "mult-adds", "flops": "FLOPs (2 x mult-adds)"}
