"""Resolved model -> numbers: the per-layer report (analysis), device memory, receptive
fields and the totals-only fast path. Numbers only, no text, no torch."""
