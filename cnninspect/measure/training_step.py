"""The cost of one training step (forward plus backward), as plain data: no torch.

:func:`cnninspect.capture.training.run_training` measures it on a meta copy of a module with
``torch.utils.flop_counter.FlopCounterMode`` around the forward pass and ``loss.backward()``;
the convention is FlopCounterMode's (2 FLOPs per multiply-add of a matrix product or
convolution, nothing else counted), so mult-adds are FLOPs / 2. The loss is :data:`LOSS`; the
inputs need no gradient (the first layer computes its weights' gradient, not its input's).
"""

from __future__ import annotations

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
