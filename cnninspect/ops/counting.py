"""Building blocks of counting rules, shared by the op-kind records (``ops/kinds/``).

A rule maps :class:`~cnninspect.ops.kind.OpFacts` to a :class:`~cnninspect.ops.formulas.Formula`
whose terms are tagged with a *cause* (the constants below), so ``explain`` can sum one
tool's total by cause and reconcile it with another's. Counts are mult-adds for a batch of
one. What each tool counts, and why, is stated on the convention records
(:mod:`cnninspect.ops.conventions`) and on the rules here; the rule of each kind lives in
its record. ``torchinfo`` is the one convention derived for every kind in one place
(:func:`torchinfo_macs`). Pure Python, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .formulas import Formula, Term, formula, spatial_factors, tensor_factors, term
from .kind import KINDS, OpFacts, Rule
from .module_tools import PTFLOPS as PTFLOPS_TABLE
from .primitives import Shape

# Causes: what a term of a formula is, summed across ops by ``explain``'s reconciliation.
WEIGHTS = "conv/FC weight multiply-adds"
BIAS = "bias adds"
BN_2 = "batch norm, 2 per element"
BN_4 = "batch norm, 4 per element (2, x2 when affine)"
POOLING = "pooling, 1 per input element"
ACTIVATIONS = "activations and softmax, 1 per element"
TWICE = "counted twice: nn module hook + patched torch.nn.functional call"
SIDE_BRANCHES = "side branches a tracer drops (auxiliary outputs not returned)"


def positions(shape: Shape) -> tuple[tuple[str, int], ...]:
    """``H, W`` of a channels-last ``H x W x C`` tensor; nothing for a flat vector."""
    return (("H", shape[0]), ("W", shape[1])) if len(shape) == 3 else ()


def elements(shape: Shape, cause: str, label: str = "", *, suffix: str = "_in", times: int = 1) -> Term:
    """``times x`` every element of a per-sample tensor."""
    factors = tensor_factors(shape, suffix)
    return term(cause, *(((str(times), times),) if times != 1 else ()), *factors, label=label)


def per_element(cause: str, times: int = 1) -> Rule:
    """``times`` per input element."""

    def rule(f: OpFacts) -> Formula:
        return formula(elements(f.in_shape, cause, times=times))

    rule.__doc__ = f"{cause[:1].upper()}{cause[1:]}."  # the causes say how many per element
    return rule


def uncounted(reason: str) -> Rule:
    return lambda f: Formula(uncounted=reason)


def not_seen(tool: str, why: str) -> Rule:
    return lambda f: Formula(uncounted=f"modules {tool} does not see ({f.torch_class}: {why})")


# --- torchinfo: parameters x output positions --------------------------------------------------


def torchinfo_macs(f: OpFacts) -> Formula:
    """torchinfo 1.8 ``LayerInfo.calculate_macs`` for a batch of one: each parameter named
    ``weight``/``bias`` times the output positions for classes whose name contains ``Conv``,
    once for other classes; other parameters containing those words x output channels. A
    module with children (``BatchNormAct2d``) is not a leaf: torchinfo counts leaves only."""
    record = KINDS[f.kind]
    if not record.module(f.attrs).leaf:
        return Formula(uncounted=f"{f.torch_class}'s weight and bias (torchinfo counts mult-adds of leaf modules only)")
    conv = "Conv" in f.torch_class
    terms: list[Term] = []
    for t in record.param_formula(f.attrs).terms:
        name = t.cause  # parameter formulas tag each term with its tensor's name
        if name in ("weight", "bias"):
            extra = spatial_factors(f.out_shape) if conv else ()
        elif "weight" in name or "bias" in name:
            extra = (("C_out", f.out_shape[0] if f.out_shape else 1),)
        else:
            continue
        if record.counts.paper is not None:
            cause = WEIGHTS if name == "weight" else BIAS
        else:
            cause = f"{record.title.split(':')[0]} weight and bias, once per channel"
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


# --- ptflops 0.7 (pytorch backend, count_functional=True) ----------------------------------------

# classes ptflops hooks (MODULES_MAPPING, matched by exact type): its table, kept once for
# specs and Python models alike in ops/module_tools.py
PTFLOPS_MODULES = frozenset(c.rsplit(".", 1)[1] for c in PTFLOPS_TABLE.modules)
# activation classes whose forward calls a torch.nn.functional function ptflops patches
# (ReLU6 calls F.hardtanh and LeakyReLU F.leaky_relu, which it does not patch)
PTFLOPS_PATCHED_ACTS = {"ReLU": "F.relu", "SiLU": "F.silu", "GELU": "F.gelu", "PReLU": "F.prelu", "ELU": "F.elu"}


def ptflops_act(f: OpFacts) -> Formula:
    """An activation module: its ``nn`` hook when ptflops hooks the class, and the patched
    ``torch.nn.functional`` call its forward makes, so hooked and patched ones count twice."""
    terms = []
    if f.torch_class in PTFLOPS_MODULES:
        terms.append(elements(f.out_shape, ACTIVATIONS, f"nn.{f.torch_class} hook", suffix=""))
    patched = PTFLOPS_PATCHED_ACTS.get(f.torch_class)
    if patched:
        cause = TWICE if terms else ACTIVATIONS
        terms.append(elements(f.in_shape, cause, f"patched {patched}", suffix=""))
    return Formula(tuple(terms))


def ptflops_pool(function: str) -> Rule:
    """A pooling module: its ``nn`` hook and the patched functional call ``function``, one
    per input element each."""
    return lambda f: formula(
        elements(f.in_shape, POOLING, f"nn.{f.torch_class} hook"),
        elements(f.in_shape, TWICE, f"patched {function}"),
    )
