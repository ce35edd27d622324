"""The cost of one training step (forward plus backward), as plain data: no torch.

:func:`cnninspect.capture.training.run_training` measures it on a meta copy of a module with
``torch.utils.flop_counter.FlopCounterMode`` around the forward pass and ``loss.backward()``;
the convention is FlopCounterMode's (2 FLOPs per multiply-add of a matrix product or
convolution, nothing else counted), so mult-adds are FLOPs / 2. The loss is :data:`LOSS`; the
inputs need no gradient (the first layer computes its weights' gradient, not its input's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LOSS = "sum of every floating-point output (out.sum())"
CONVENTION = "FlopCounterMode (torch.utils.flop_counter) around the forward pass and loss.backward()"


@dataclass(frozen=True)
class StepLayer:
    """One module's own share of a training step, in FLOPs as FlopCounterMode counts them."""

    path: str
    torch_class: str
    forward_flops: int
    backward_flops: int

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops


@dataclass(frozen=True)
class TrainingStep:
    """Forward plus backward of one training step, per module and in total (FLOPs for the
    whole batch; mult-adds are half)."""

    layers: tuple[StepLayer, ...]
    forward_flops: int
    backward_flops: int
    batch: int
    notes: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops


def fold(layers: Sequence[StepLayer], levels: int, types: Mapping[str, str] | None = None) -> tuple[StepLayer, ...]:
    """``layers`` folded to ``levels`` levels of the module tree, as ``--levels`` folds the
    layer table: a layer whose path has more than ``levels`` parts (``block1.conv1`` has two)
    adds its forward and backward to its ancestor of ``levels`` parts, so a block's row is its
    subtree's total and the rows still add up to the step's total. Rows keep the order in
    which their first layer comes; the model's own row (path ``""``) stays itself. A folded
    row's type is ``types[path]`` (the layer table's type of that row), else the class of the
    layer at that very path, else empty."""
    groups: dict[str, list[StepLayer]] = {}
    for layer in layers:
        key = ".".join(layer.path.split(".")[:levels]) if layer.path else ""
        groups.setdefault(key, []).append(layer)
    out = []
    for key, members in groups.items():
        own = next((m.torch_class for m in members if m.path == key), "")
        out.append(StepLayer(key, (types or {}).get(key, own) if len(members) > 1 or members[0].path != key else own,
                             sum(m.forward_flops for m in members), sum(m.backward_flops for m in members)))
    return tuple(out)
