"""A Python ``nn.Module`` -> the same Report: references (pymodels), inputs, the guarded call
into user code, the captured forward pass (forward, meta_shapes: torch) and its trace,
analysed under the conventions (module_analysis)."""
