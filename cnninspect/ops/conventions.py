"""Counting conventions: what a "mult-add" counts, as named, swappable rule sets.

Tools disagree on a model's cost mostly because they count different things. Each
:class:`Convention` is a record of its own (name, description, what it counts); the count
of each op kind lives in the kind's record (:class:`~cnninspect.ops.kind.Counts`, a rule
``OpFacts -> Formula`` per convention, ``None`` meaning "deliberately not counted"), or, for
``torchinfo``, is derived from the kind's parameters in one place. A rule's :class:`~cnninspect.ops.formulas.Formula`
itemises the count (factors with their symbols, terms tagged with a cause); the count *is*
the formula's value, so ``explain`` can never show arithmetic that differs from the numbers
every other command reports. An uncounted op says so in every output, never a silent zero.
Counts are for a batch of one.

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

from dataclasses import dataclass

from .counting import SIDE_BRANCHES, torchinfo_macs
from .formulas import Formula
from .kind import Counts, OpFacts, Rule
from .kinds import KINDS


class UncoveredOp(KeyError):
    """An op kind no record describes (a bug: every kind in a graph is registered)."""


@dataclass(frozen=True)
class Convention:
    """A way of counting mult-adds: ``name`` (a field of :class:`~cnninspect.ops.kind.Counts`
    unless ``rule`` counts every kind), ``title``, ``summary`` (the one-line statement every
    output carries), ``counted`` (what it counts, for ``conventions``)."""

    name: str
    title: str
    summary: str
    counted: str
    # one rule for every kind, derived in one place (torchinfo: parameters x positions);
    # otherwise each kind's record holds this convention's rule
    rule: Rule | None = None
    # fvcore traces the model, and tracing drops work whose result never reaches the
    # output: side branches (auxiliary classifiers kept only as module state) go uncounted
    counts_side_branches: bool = True

    def describe(self, unit: str = "macs") -> str:
        """The one-line statement every output carries (the ``convention:`` line)."""
        text = f"{self.name} - {self.summary}"
        return text + ("; shown as FLOPs = 2 x mult-adds" if unit == "flops" else "")

    def as_json(self, unit: str = "macs") -> dict[str, str]:
        return {"name": self.name, "description": self.summary, "unit": unit}

    def rule_for(self, kind: str) -> Rule | None:
        """This convention's rule for op kind ``kind`` (``None``: deliberately not counted)."""
        try:
            record = KINDS[kind]
        except KeyError:
            raise UncoveredOp(f"convention '{self.name}' has no rule for op kind '{kind}'") from None
        if self.rule is not None:
            return self.rule
        rule: Rule | None = getattr(record.counts, self.name)
        return rule

    def formula(self, facts: OpFacts) -> Formula:
        """The op's count, itemised. Its ``value`` is what :meth:`count` returns."""
        if facts.side_branch and not self.counts_side_branches:
            return Formula(uncounted=SIDE_BRANCHES)
        rule = self.rule_for(facts.kind)
        if rule is None:
            return Formula(uncounted=f"{KINDS[facts.kind].title}: not counted by {self.name}")
        return rule(facts)

    def count(self, facts: OpFacts) -> int:
        return self.formula(facts).value


CONVENTIONS: dict[str, Convention] = {}


def register_convention(c: Convention) -> Convention:
    if c.rule is None and c.name not in Counts.__dataclass_fields__:
        raise ValueError(f"convention {c.name!r} needs a rule or a field of Counts for each kind's rule")
    CONVENTIONS[c.name] = c
    return c


register_convention(
    Convention(
        "paper",
        "paper (conv + FC weight multiply-adds)",
        "mult-adds = one multiply-add per weight use in conv and fully connected layers "
        "(batch 1); bias, batch norm, activations, pooling and elementwise ops not counted",
        "convolution and fully connected weights (RBF units included)",
    )
)
register_convention(
    Convention(
        "fvcore",
        "fvcore FlopCountAnalysis (eval mode)",
        "mult-adds as fvcore.nn.FlopCountAnalysis counts them in eval mode: conv and linear "
        "without bias, batch norm 2 per element, layer norm 5 per element, adaptive average "
        "pooling 1 per input element; other ops (a mean, elementwise multiplies), and side "
        "branches whose output is not returned, ignored",
        "convolution and linear weights, batch and layer norm, adaptive average pooling",
        counts_side_branches=False,
    )
)
register_convention(
    Convention(
        "torchinfo",
        "torchinfo summary (Total mult-adds)",
        "mult-adds as torchinfo.summary reports them: per leaf module, (weight + bias) x output "
        "positions for Conv* classes, weight + bias once for other classes, times the batch",
        "every leaf module's weight and bias parameters (BN included)",
        rule=torchinfo_macs,
    )
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
    )
)
register_convention(
    Convention(
        "thop",
        "thop profile (ultralytics-thop 2.x)",
        "mult-adds as ultralytics-thop's profile reports them: conv and linear without bias, "
        "batch norm 4 per element, average pooling one add per pooled input plus one divide per "
        "output, softmax 3F - 1; activations and max pooling zero",
        "conv and linear weights, batch norm, average pooling, softmax",
    )
)
register_convention(
    Convention(
        "flopcounter",
        "PyTorch FlopCounterMode (in mult-adds)",
        "mult-adds as torch.utils.flop_counter.FlopCounterMode counts them (it reports FLOPs = 2 x "
        "these): aten convolutions and matrix products without bias, wherever they run; everything "
        "else not counted",
        "convolution and matrix-product multiply-adds",
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
