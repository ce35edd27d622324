"""Itemised formulas: every count as a sum of products of labelled factors.

A :class:`Formula` is what a counting rule returns (``conventions.py``) and what a parameter
rule returns (``PARAMS`` below): terms, each a product of :class:`Factor` s (a value and the
symbol it stands for, ``C_out = 64``), tagged with the *cause* it belongs to ("conv/FC
weights", "bias adds", "batch norm" ...). The integer a count reports is the formula's value,
so the two cannot drift apart; ``explain`` prints the factors and sums the causes to reconcile
one tool's total with another's.

A parameter formula (an op-kind record's ``params``) tags each term with the tensor's name
in the module's ``named_parameters`` (``weight``, ``bias``, ``gamma``); the record's
parameter counts are read from it, so the two cannot drift apart either.

Pure Python, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

Shape = tuple[int, ...]

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

ParamRule = Callable[[Attrs], Formula]  # parameters depend on the attributes alone


def weight_bias(weight: Callable[[Attrs], tuple[tuple[str, int], ...]], bias_symbol: str, bias_attr: str) -> ParamRule:
    """A weight tensor, plus a bias of ``attrs[bias_attr]`` elements when ``attrs["bias"]``."""

    def rule(attrs: Attrs) -> Formula:
        terms = [term("weight", *weight(attrs))]
        if attrs["bias"]:
            terms.append(term("bias", (bias_symbol, attrs[bias_attr]), label="bias"))
        return Formula(tuple(terms))

    return rule


def affine(attrs: Attrs) -> Formula:
    """A learned scale and shift per channel (``weight`` and ``bias`` of ``attrs["ch"]`` each)."""
    return formula(term("weight", ("C", attrs["ch"]), label="weight"), term("bias", ("C", attrs["ch"]), label="bias"))
