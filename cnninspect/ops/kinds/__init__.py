"""The registry of op kinds: one :class:`~cnninspect.ops.kind.OpKind` record per kind, grouped
by family (a file each); importing this package registers them all in :data:`KINDS`.

Adding a kind is one record in the family's file (plus, if YAML should say it, the
language's name for it in ``lang/layertypes.py`` and its expansion in ``resolve/expand.py``);
``docs/architecture.md`` shows a worked example.
"""

from __future__ import annotations

from ..kind import KINDS, OpKind, Role
from . import conv, dense, norm, activation, pool, elementwise, layout  # noqa: F401  (registers the records)

TEACH_KINDS: tuple[str, ...] = tuple(k.kind for k in KINDS.values() if k.teach)

__all__ = ["KINDS", "OpKind", "Role", "TEACH_KINDS"]
