"""Spec -> resolved model: finding specs (catalog), resolution (resolver, scope, expand,
scaling) and the frozen IR it produces. No torch."""
