"""The spec language: everything a YAML spec can say, and nothing about what it becomes.

* :mod:`.yamlsrc` - safe, located YAML loading (file:line:column on every value);
* :mod:`.fields` - field kinds (integers, pairs, choices, ...) that validate values;
* :mod:`.layertypes` - the registry of built-in layer types and their fields;
* :mod:`.spec` - a spec file (plus the files it includes or extends) -> frozen :class:`Spec`.

This package imports nothing of resolution (``resolve``, ``scope``, ``expand``, ``ir``); the
resolver imports it. Its only dependency outside itself is the activation and op
vocabulary of :mod:`cnninspect.ops.primitives` (names, no behaviour).
"""
