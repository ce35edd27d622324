"""A layer made by a user-defined block keeps where it was called (issue 22): the IR's
origin holds the chain of block calls, the call written in ``layers`` first, so a
difference inside a block points at the table row or call that made it, then the block."""

from __future__ import annotations

import json

from cnninspect.measure.analysis import analyze
from cnninspect.lang.spec import spec_from_text
from cnninspect.resolve.resolver import resolve

from conftest import invoke

SPEC = """\
name: t
input: {channels: 3, resolution: 8}
blocks:
  unit:
    params:
      out: {channels: true}
    layers:
      - {name: conv, conv: {out: $out, kernel: 3, bn: true, act: relu}}
  pair:
    params:
      out: {channels: true}
    layers:
      - {name: a, unit: {out: $out}}
      - {name: b, unit: {out: $out}}
layers:
  - {name: stem, conv: {out: 4, kernel: 3}}
  - {name: s1, pair: {out: 8}}
  - {name: s2, pair: {out: 16}}
"""


def test_origins_chain_the_block_calls_outermost_first():
    model = resolve(spec_from_text(SPEC, "t.yaml"))
    rows = {r.name: r for r in analyze(model, "paper").rows}
    stem, deep = rows["stem"].origin, rows["s2.b.conv"].origin
    assert (stem.line, stem.calls, stem.located) == (16, (), "t.yaml:16")
    # s2 (line 18) calls pair, whose entry b (line 14) calls unit, whose entry is line 8
    assert (deep.line, deep.calls) == (8, (("t.yaml", 18), ("t.yaml", 14)))
    assert deep.located == "t.yaml:18, block at 14 > 8"
    assert rows["s1.a.conv"].origin.located == "t.yaml:17, block at 13 > 8"


def test_summary_json_lists_the_calls(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(SPEC)
    data = json.loads(invoke("summary", str(path), "-f", "json").stdout)
    layers = {x["name"]: x for x in data["layers"]}
    assert layers["s2.b.conv.conv"]["spec"] == f"{path}:8"
    assert layers["s2.b.conv.conv"]["spec_calls"] == [f"{path}:18", f"{path}:14"]
    assert layers["stem"]["spec_calls"] == []
