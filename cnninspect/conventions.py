"""Counting conventions: what a "mult-add" counts, as named, swappable rule sets.

Tools disagree on a model's cost mostly because they count different things. Each
:class:`Convention` maps every primitive op kind to a rule ``OpFacts -> int`` (multiply-adds
for a batch of one) or to ``None``, meaning "deliberately not counted". A kind missing from a
convention is an error, never a silent zero; a test checks every convention covers every op.

* ``paper`` (default): one multiply-add per weight use in convolution and fully connected
  layers (and LeNet's RBF units), as the MobileNet, EfficientNet and ResNet papers count.
  Bias, batch norm, activations, pooling and elementwise ops (residual add, SE multiply) are
  not counted.
* ``fvcore``: what ``fvcore.nn.FlopCountAnalysis(model.eval(), x).total()`` returns for our
  built modules: convolution and linear without bias, plus batch norm (2 per element when
  affine, eval mode), layer norm (5 per element when affine, else 4) and adaptive average
  pooling (1 per input element); ``x.mean((2, 3))`` and elementwise multiplies are not
  counted (fvcore has no handle for them).
* ``torchinfo``: what ``torchinfo.summary(...).total_mult_adds`` returns: for each leaf
  module, the parameters named ``weight``/``bias`` times the output positions for classes
  whose name contains ``Conv``, once per sample for other classes.

FLOPs, when asked for with ``--unit flops``, are 2 x mult-adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from .ops import OPS, Shape


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


Rule = Callable[[OpFacts], int]


class UncoveredOp(KeyError):
    """A convention has no rule for an op kind (a bug: every kind must be covered)."""


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

    def count(self, facts: OpFacts) -> int:
        if facts.side_branch and not self.counts_side_branches:
            return 0
        try:
            rule = self.rules[facts.kind]
        except KeyError:
            raise UncoveredOp(f"convention '{self.name}' has no rule for op kind '{facts.kind}'") from None
        return 0 if rule is None else int(rule(facts))


CONVENTIONS: dict[str, Convention] = {}


def register_convention(c: Convention) -> Convention:
    CONVENTIONS[c.name] = c
    return c


def _spatial(shape: Shape) -> int:
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def conv_macs(f: OpFacts) -> int:
    """Output elements x (input channels per group) x kernel area."""
    kh, kw = f.attrs["kernel"]
    return math.prod(f.out_shape) * (f.attrs["in_ch"] // f.attrs["groups"]) * kh * kw


def table_conv_macs(f: OpFacts) -> int:
    """Output positions x connected input maps summed over output maps x kernel area."""
    kh, kw = f.attrs["kernel"]
    return _spatial(f.out_shape) * sum(len(r) for r in f.attrs["connections"]) * kh * kw


def dense_macs(f: OpFacts) -> int:
    """Inputs x outputs, at every position (one position for a flat vector, ``H x W`` for a
    fully connected layer on a channels-last ``H x W x C`` tensor)."""
    return math.prod(f.out_shape[:-1]) * int(f.attrs["in_f"] * f.attrs["out_f"])


def layernorm_fvcore(f: OpFacts) -> int:
    """fvcore's ``aten::layer_norm`` handle: 5 per element with a learned affine, else 4."""
    return (5 if f.params else 4) * math.prod(f.in_shape)


def _ignored(*kinds: str) -> dict[str, Rule | None]:
    return {k: None for k in kinds}


_ALL = tuple(OPS)

register_convention(
    Convention(
        "paper",
        "paper (conv + FC weight multiply-adds)",
        "mult-adds = one multiply-add per weight use in conv and fully connected layers "
        "(batch 1); bias, batch norm, activations, pooling and elementwise ops not counted",
        "convolution and fully connected weights (RBF units included)",
        {
            **_ignored(*_ALL),
            "conv2d": conv_macs,
            "conv_table": table_conv_macs,
            "linear": dense_macs,
            "rbf": dense_macs,
        },
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
        {
            **_ignored(*_ALL),
            "conv2d": conv_macs,
            "conv_table": table_conv_macs,
            "linear": dense_macs,
            "bn2d": lambda f: 2 * math.prod(f.in_shape),
            "bn1d": lambda f: 2 * math.prod(f.in_shape),
            "layernorm": layernorm_fvcore,
            "gavgpool": lambda f: math.prod(f.in_shape),
        },
        counts_side_branches=False,
    )
)


def torchinfo_macs(f: OpFacts) -> int:
    """torchinfo 1.8 ``LayerInfo.calculate_macs`` for a batch of one."""
    total = 0
    for name, (numel, _trainable) in f.params.items():
        if name in ("weight", "bias"):
            total += numel * _spatial(f.out_shape) if "Conv" in f.torch_class else numel
        elif "weight" in name or "bias" in name:
            total += (f.out_shape[0] if f.out_shape else 1) * numel
    return total


register_convention(
    Convention(
        "torchinfo",
        "torchinfo summary (Total mult-adds)",
        "mult-adds as torchinfo.summary reports them: per leaf module, (weight + bias) x output "
        "positions for Conv* classes, weight + bias once for other classes",
        "every leaf module's weight and bias parameters (BN included)",
        {k: torchinfo_macs for k in _ALL},
    )
)


def get_convention(name: str) -> Convention:
    from .errors import UsageError, did_you_mean

    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown convention '{name}'{did_you_mean(name, CONVENTIONS)}; available: "
            + ", ".join(CONVENTIONS)
        ) from None


UNITS = {"macs": 1, "flops": 2}
UNIT_TITLES = {"macs": "mult-adds", "flops": "FLOPs (2 x mult-adds)"}
