"""Bundled architecture specs (YAML data), installed as cnninspect.specs."""
