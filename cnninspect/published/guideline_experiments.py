"""ShuffleNet V2's guideline experiments (Ma et al. 2018, Section 2) as data, and the verdict
on whether a machine's measurements show the paper's direction.

``guidelines/experiments.yaml`` lists the four experiments (G1-G4); each configuration is a
spec in ``guidelines/`` (with a variant). :func:`judge` compares measured (or predicted)
times with the published direction:

* ``order: increasing``: each configuration is slower than the one before it (G1, G2);
* ``order: first-fastest``: the first configuration is faster than every other (G3, G4).

The verdict is ``yes`` when the direction holds, ``partly`` when the first configuration is
the fastest but the order between the others does not hold, ``no`` otherwise. Pure data: the
timing is done by the command (``cnninspect guidelines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..lang.yamlsrc import parse_yaml
from ..resolve.ir import Model

ORDERS = ("increasing", "first-fastest")


@dataclass(frozen=True)
class Configuration:
    label: str
    spec: str  # a file in guidelines/
    variant: str | None


@dataclass(frozen=True)
class Experiment:
    id: str
    guideline: str
    table: str
    published: str
    order: str
    configurations: tuple[Configuration, ...]


def folder() -> Path:
    """The folder of the guideline specs (installed package data)."""
    return Path(str(resources.files("cnninspect.published").joinpath("guidelines")))


@cache
def load_experiments() -> tuple[str, tuple[Experiment, ...]]:
    """The paper's citation and the four experiments, in order."""
    path = folder() / "experiments.yaml"
    data = parse_yaml(path.read_text(encoding="utf-8"), "cnninspect/published/guidelines/experiments.yaml").to_python()
    experiments = []
    for e in data["experiments"]:
        assert e["order"] in ORDERS, f"{e['id']}: unknown order {e['order']!r}"
        configs = tuple(Configuration(c["label"], c["spec"], c.get("variant")) for c in e["configurations"])
        experiments.append(Experiment(e["id"], e["guideline"], e["table"], e["published"], e["order"], configs))
    return data["paper"], tuple(experiments)


def resolve_configuration(config: Configuration) -> Model:
    """The resolved spec of one configuration."""
    from ..lang.spec import load_spec
    from ..resolve.resolver import Overrides, resolve

    spec = load_spec(folder() / config.spec, label=f"cnninspect/published/guidelines/{config.spec}")
    return resolve(spec, config.variant, Overrides())


def judge(order: str, seconds: Sequence[float]) -> str:
    """``yes``, ``partly`` or ``no``: do ``seconds`` (in the experiment's order) show the direction?"""
    first_fastest = all(seconds[0] < s for s in seconds[1:])
    if order == "increasing":
        holds = all(a < b for a, b in zip(seconds, seconds[1:]))
    else:
        holds = first_fastest
    if holds:
        return "yes"
    return "partly" if first_fastest else "no"
