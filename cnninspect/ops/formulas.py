"""Itemised formulas: every count as a sum of products of labelled factors.

A :class:`Formula` is what a counting rule returns (``conventions.py``) and what a parameter
rule returns (``PARAMS`` below): terms, each a product of :class:`Factor` s (a value and the
symbol it stands for, ``C_out = 64``), tagged with the *cause* it belongs to ("conv/FC
weights", "bias adds", "batch norm" ...). The integer a count reports is the formula's value,
so the two cannot drift apart; ``explain`` prints the factors and sums the causes to reconcile
one tool's total with another's.

Registries here, keyed by op kind like :data:`cnninspect.ops.primitives.OPS` (a test checks both cover
every kind):

* :data:`PARAMS` - the parameter tensors of an op as a formula (terms caused ``weight``,
  ``bias`` ..., named like the module's ``named_parameters``), or ``None`` for "no
  parameters"; tested equal to ``OpType.params`` on every bundled model;
* :data:`OP_CLASSES` - the op class an op is totalled under by ``explain`` (conv, depthwise
  conv, pointwise conv, linear, norm, pooling, elementwise, activation, reshape).

Pure Python, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from .primitives import ACTIVATIONS, Shape

Attrs = Mapping[str, Any]


@dataclass(frozen=True)
class Factor:
    """One factor of a product: its value and the symbol it stands for (``C_out``)."""

    value: int
    symbol: str


@dataclass(frozen=True)
class Term:
    """A product of factors. ``cause`` groups terms across ops (reconciliation sums by it);
    ``label`` is shown after the term, in parentheses (``64 (bias)``)."""

    factors: tuple[Factor, ...]
    cause: str
    label: str = ""

    @property
    def value(self) -> int:
        return math.prod(f.value for f in self.factors)


@dataclass(frozen=True)
class Formula:
    """A sum of terms. An empty formula counts 0; ``uncounted`` then says why, when the
    reason matters to a reconciliation (a module a tool does not see, a dropped branch)."""

    terms: tuple[Term, ...] = ()
    uncounted: str = ""

    @property
    def value(self) -> int:
        return sum(t.value for t in self.terms)

    def by_cause(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.terms:
            out[t.cause] = out.get(t.cause, 0) + t.value
        return out


NOTHING = Formula()


def term(cause: str, *factors: tuple[str, int], label: str = "") -> Term:
    """``term("bias adds", ("C_out", 64), ("H_out", 56), label="bias")``."""
    return Term(tuple(Factor(int(v), s) for s, v in factors), cause, label)


def formula(*terms: Term) -> Formula:
    return Formula(tuple(terms))


def spatial_factors(shape: Shape) -> tuple[tuple[str, int], ...]:
    """``H_out, W_out`` of a feature map, nothing for a flat vector (one position)."""
    if len(shape) == 3:
        return (("H_out", shape[1]), ("W_out", shape[2]))
    return ()


def tensor_factors(shape: Shape, suffix: str) -> tuple[tuple[str, int], ...]:
    """Every dimension of a per-sample tensor: ``C, H, W`` (or ``F`` for a vector)."""
    if len(shape) == 3:
        return ((f"C{suffix}", shape[0]), (f"H{suffix}", shape[1]), (f"W{suffix}", shape[2]))
    return tuple((f"F{suffix}" if len(shape) == 1 else f"d{i}{suffix}", d) for i, d in enumerate(shape))


def conv_weight_factors(attrs: Attrs) -> tuple[tuple[str, int], ...]:
    """``k_h x k_w x C_in/g x C_out``; the input-channel factor is left out when it is 1
    (depthwise: each filter sees one input channel)."""
    kh, kw = attrs["kernel"]
    cin, g = attrs["in_ch"], attrs["groups"]
    per_group = cin // g
    factors: list[tuple[str, int]] = [("k_h", kh), ("k_w", kw)]
    if g == 1:
        factors.append(("C_in", cin))
    elif per_group != 1:
        factors.append(("C_in/g", per_group))
    factors.append(("C_out", attrs["out_ch"]))
    return tuple(factors)


def table_weight_factors(attrs: Attrs) -> tuple[tuple[str, int], ...]:
    """Connection-table convolution: ``k_h x k_w x connections`` (input maps summed over outputs)."""
    kh, kw = attrs["kernel"]
    return (("k_h", kh), ("k_w", kw), ("connections", sum(len(r) for r in attrs["connections"])))


# --- parameters --------------------------------------------------------------------------

ParamRule = Callable[[Attrs, Shape], Formula]


def _weight_bias(weight: Callable[[Attrs], tuple[tuple[str, int], ...]], bias_symbol: str, bias_attr: str) -> ParamRule:
    """A weight tensor, plus a bias of ``attrs[bias_attr]`` elements when ``attrs["bias"]``."""

    def rule(attrs: Attrs, shape: Shape) -> Formula:
        terms = [term("weight", *weight(attrs))]
        if attrs["bias"]:
            terms.append(term("bias", (bias_symbol, attrs[bias_attr]), label="bias"))
        return Formula(tuple(terms))

    return rule


def _affine(attrs: Attrs, shape: Shape) -> Formula:
    return formula(term("weight", ("C", attrs["ch"]), label="weight"), term("bias", ("C", attrs["ch"]), label="bias"))


PARAMS: dict[str, ParamRule | None] = {
    "conv2d": _weight_bias(conv_weight_factors, "C_out", "out_ch"),
    "conv_table": _weight_bias(table_weight_factors, "C_out", "out_ch"),
    "linear": _weight_bias(lambda a: (("F_in", a["in_f"]), ("F_out", a["out_f"])), "F_out", "out_f"),
    "rbf": lambda a, s: formula(term("weight", ("F_in", a["in_f"]), ("F_out", a["out_f"]), label="fixed prototypes")),
    "bn2d": _affine,
    "bn_act2d": _affine,
    "subsample": _affine,
    "identity": None,
    "take": None,
    "act": lambda a, s: (formula(term("weight", ("slopes", a.get("num_parameters", 1)), label="PReLU slopes"))
                         if ACTIVATIONS[a["fn"]].learned else NOTHING),
    "dropout": None,
    "drop_path": None,
    "lrn": None,
    "softmax": None,
    "flatten": None,
    "maxpool2d": None,
    "avgpool2d": None,
    "gavgpool": None,
    "gmaxpool": None,
    "bn1d": _affine,
    "layernorm": lambda a, s: _affine(a, s) if a["affine"] else NOTHING,
    "layer_scale": lambda a, s: formula(term("gamma", ("C", a["ch"]), label="gamma")),
    "mean": None,
    "channel_split": None,
    "channel_shuffle": None,
    "permute": None,
}


def param_formula(kind: str, attrs: Attrs, in_shape: Shape) -> Formula:
    """The op's parameters as a formula (its value equals ``OPS[kind].params`` summed)."""
    rule = PARAMS[kind]
    return NOTHING if rule is None else rule(attrs, in_shape)


# --- op classes ----------------------------------------------------------------------------

OP_CLASS_NAMES = (
    "conv", "depthwise conv", "pointwise conv", "linear", "norm", "pooling", "elementwise", "activation", "reshape",
)


def _conv_class(attrs: Attrs) -> str:
    if attrs["groups"] > 1 and attrs["in_ch"] // attrs["groups"] == 1:
        return "depthwise conv"
    if tuple(attrs["kernel"]) == (1, 1) and attrs["groups"] == 1:
        return "pointwise conv"
    return "conv"


OP_CLASSES: dict[str, str | Callable[[Attrs], str]] = {
    "conv2d": _conv_class,
    "conv_table": "conv",
    "linear": "linear",
    "rbf": "linear",
    "bn2d": "norm",
    "bn_act2d": "norm",
    "lrn": "norm",
    "act": "activation",
    "softmax": "activation",
    "maxpool2d": "pooling",
    "avgpool2d": "pooling",
    "gavgpool": "pooling",
    "gmaxpool": "pooling",
    "subsample": "pooling",
    "identity": "elementwise",
    "take": "reshape",
    "dropout": "elementwise",
    "drop_path": "elementwise",
    "flatten": "reshape",
    "bn1d": "norm",
    "layernorm": "norm",
    "layer_scale": "elementwise",
    "mean": "pooling",
    "channel_split": "reshape",
    "channel_shuffle": "reshape",
    "permute": "reshape",
}


def op_class(kind: str, attrs: Attrs) -> str:
    c = OP_CLASSES[kind]
    return c if isinstance(c, str) else c(attrs)

