"""Aligning the layers of two reports (``compare A B --layers``).

Two models rarely name their layers alike (a spec's ``stage1.0.body.conv`` is torchvision's
``layer1.0.conv1``), so layers are aligned by what they are: the leaf rows of each report,
in execution order, are matched as sequences (:class:`difflib.SequenceMatcher`) on their
type and input and output shapes; the stretches left unmatched are matched again on type alone
(the same layer at another width or resolution), then on parameters and mult-adds (the same
weights in another form: LeNet's C5 is a 5x5 convolution, or a linear layer on the flattened
map). Each aligned pair is then marked:

* ``same``: type, shapes, parameters and mult-adds all equal;
* ``differs``: matched, or facing each other in a stretch where both models have layers,
  but something differs (the ``what`` list says which);
* ``only A`` / ``only B``: a layer the other model has no counterpart for.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from ..measure.analysis import Row


@dataclass(frozen=True)
class AlignedPair:
    a: Row | None
    b: Row | None
    mark: str  # same | differs | only A | only B
    what: tuple[str, ...] = ()


def _key(r: Row) -> tuple[object, ...]:
    return (r.type, r.input_shape, r.output_shape)


def _compare(a: Row, b: Row) -> AlignedPair:
    what = []
    if a.type != b.type:
        what.append("type")
    if a.input_shape != b.input_shape or a.output_shape != b.output_shape:
        what.append("shape")
    if a.params != b.params:
        what.append("params")
    if a.mult_adds != b.mult_adds:
        what.append("mult-adds")
    return AlignedPair(a, b, "differs" if what else "same", tuple(what))


def align(a_rows: tuple[Row, ...], b_rows: tuple[Row, ...]) -> list[AlignedPair]:
    """The leaf rows of two reports, aligned."""
    a = [r for r in a_rows if r.is_leaf]
    b = [r for r in b_rows if r.is_leaf]
    return _match(a, b, [_key, lambda r: r.type, _weights])


def _weights(r: Row) -> object:
    # layers without parameters never match on this key (each is unique)
    return (r.params, r.mult_adds) if r.params else id(r)


def _match(a: list[Row], b: list[Row], keys: list[Callable[[Row], object]]) -> list[AlignedPair]:
    key, then = keys[0], keys[1:]
    matcher = difflib.SequenceMatcher(a=[key(r) for r in a], b=[key(r) for r in b], autojunk=False)
    pairs: list[AlignedPair] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [_compare(a[i1 + k], b[j1 + k]) for k in range(i2 - i1)]
        elif then and i2 > i1 and j2 > j1:
            pairs += _match(a[i1:i2], b[j1:j2], then)
        else:
            pairs += [AlignedPair(r, None, "only A") for r in a[i1:i2]]
            pairs += [AlignedPair(None, r, "only B") for r in b[j1:j2]]
    return pairs
