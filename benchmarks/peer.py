"""Run one peer tool on a module built by cnninspect, in its own process.

    python benchmarks/peer.py fvcore efficientnet:b7
    python benchmarks/peer.py torchinfo resnet:50
    python benchmarks/peer.py ptflops mobilenet_v1
    python benchmarks/peer.py fvcore benchmarks/models.py:resnet50 3x224x224

Prints one JSON line: {"tool", "model", "count", "unit"}. The module is the very one
``cnninspect`` analyses (``cnninspect.build.builder.build_module`` for a spec, the function or class
of a Python reference), with real float32 weights, because every peer runs a real forward pass,
in eval mode and under ``torch.no_grad()``, as a user counting a model's cost would run it
(with gradients on, fvcore's traced forward pass on EfficientNet-B7 at 600x600 keeps every
activation for backward: about 4.3 GB instead of about 0.9 GB).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from typing import Any


def main(tool: str, target: str, input_text: str | None = None) -> None:
    import torch

    from cnninspect.capture.targets import target_of

    if target_of(target).python:
        from cnninspect.capture.pymodels import load, parse_input, parse_pyref

        module = load(parse_pyref(target)).factory().eval()  # type: ignore[misc]
        per_sample = parse_input(input_text or "3x224x224")
    else:
        from cnninspect.build.builder import build_module
        from cnninspect.resolve.catalog import parse_target
        from cnninspect.resolve.resolver import resolve

        t = parse_target(target)
        model = resolve(t.spec, t.variant)
        module = build_module(model)
        per_sample = tuple(model.input_shape)
    shape = (1,) + tuple(per_sample)
    warnings.filterwarnings("ignore")
    with torch.no_grad():
        count, unit = _count(tool, module, shape, tuple(per_sample))
    print(json.dumps({"tool": tool, "model": target, "count": count, "unit": unit}))


def _count(tool: str, module: Any, shape: tuple[int, ...], per_sample: tuple[int, ...]) -> tuple[int, str]:
    import torch

    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        logging.getLogger("fvcore").setLevel(logging.ERROR)
        fca = FlopCountAnalysis(module, torch.randn(shape))
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return int(fca.total()), "fvcore flops (= mult-adds)"
    if tool == "torchinfo":
        import torchinfo

        stats = torchinfo.summary(module, input_size=shape, verbose=0, device="cpu")
        return int(stats.total_mult_adds), "torchinfo mult-adds"
    if tool == "ptflops":
        from ptflops import get_model_complexity_info

        macs, _params = get_model_complexity_info(
            module, per_sample, as_strings=False, print_per_layer_stat=False, verbose=False
        )
        return int(macs), "ptflops MACs"
    raise SystemExit(f"unknown tool {tool!r}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
