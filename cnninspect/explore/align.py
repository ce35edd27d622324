"""Aligning the layers of two reports (``compare A B --layers``).

Two models rarely name their layers alike (a spec's ``stage1.0.body.conv`` is torchvision's
``layer1.0.conv1``), so layers are aligned by structure with the same alignment as
``compare --equal`` and the ``reference`` check rule (:func:`cnninspect.explore.sameness.align_layers`):
the leaf rows of each report in execution order are matched as sequences on their signature
(kind, input and output shapes, parameters), the stretches left over on shapes and
parameters (another class name), then on kind (the same layer at another width or
resolution), then on parameters (the same weights in another form: LeNet's C5 is a 5x5
convolution, or a linear layer on the flattened map); layers executed in another order (a
projection shortcut before or after its body) are paired afterwards. Layers that are the
identity at inference or only move data (:data:`cnninspect.explore.sameness.NOOP_TYPES`: dropout,
flatten, identity ...) are left out. Each aligned pair is then marked:

* ``same``: kind, shapes, parameters and mult-adds all equal (a module's own parameter
  against a spec's layer: parameters equal);
* ``differs``: matched, but something differs (the ``what`` list says which);
* ``only A`` / ``only B``: a layer the other model has no counterpart for.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..measure.analysis import Row
from .sameness import NOOP_TYPES, PARAMETER_TYPE, Layer, align_layers, kind


@dataclass(frozen=True)
class AlignedPair:
    a: Row | None
    b: Row | None
    mark: str  # same | differs | only A | only B
    what: tuple[str, ...] = ()


def _compare(a: Row, b: Row) -> AlignedPair:
    """A module's own parameter (a layer scale's ``gamma``, multiplied in its container's
    ``forward``) has no type, shapes or cost of its own: only its parameters are compared."""
    what = []
    own = PARAMETER_TYPE in (a.type, b.type)
    if not own and kind(a.type) != kind(b.type):
        what.append("type")
    if not own and (a.input_shape != b.input_shape or a.output_shape != b.output_shape):
        what.append("shape")
    if a.params != b.params:
        what.append("params")
    if not own and a.mult_adds != b.mult_adds:
        what.append("mult-adds")
    return AlignedPair(a, b, "differs" if what else "same", tuple(what))


def _leaves(rows: tuple[Row, ...]) -> list[Layer]:
    return [Layer(r, {}) for r in rows if r.is_leaf and not (r.type in NOOP_TYPES and r.params == 0)]


def align(a_rows: tuple[Row, ...], b_rows: tuple[Row, ...]) -> list[AlignedPair]:
    """The leaf rows of two reports, aligned by structure."""
    pairs = []
    for m in align_layers(_leaves(a_rows), _leaves(b_rows)):
        if m.a is not None and m.b is not None:
            pairs.append(_compare(m.a.row, m.b.row))
        elif m.a is not None:
            pairs.append(AlignedPair(m.a.row, None, "only A"))
        elif m.b is not None:
            pairs.append(AlignedPair(None, m.b.row, "only B"))
    return pairs
