"""Counting rules for operators cnninspect does not count (``--rules docs/examples/rules.py``).

Each rule receives one recorded call (``cnninspect.ops.aten_rules.OpCall``: tensors as
``TensorMeta`` with ``shape``, batch included, ``dtype`` and ``numel``) and returns that call's
multiply-adds for the whole batch, or None to leave it uncounted.
"""

import math


def fft_r2c(call):
    """A real-to-complex FFT over the last dims: half a complex multiply-add (2 real ones)
    per input element per radix-2 stage (log2 of the transformed size)."""
    x = call.tensor(0)
    dims = call.arg(1, "dim")
    size = math.prod(x.shape[d] for d in dims)
    return x.numel * math.ceil(math.log2(size))


def gate(call):
    """x * sigmoid(w): one multiply per output element (the sigmoid of the small w is free)."""
    return call.out().numel


RULES = {"aten::_fft_r2c": fft_r2c, "docs_demo::gate": gate}
