"""The spec language's reuse and arithmetic: expressions, ``$in``/``$index``, conditions,
user-defined blocks, tables, includes and extends; their errors are located (file, line,
column of the expression's part, key path) and reach the CLI as one line, exit 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnninspect.analysis import analyze
from cnninspect.errors import SpecError
from cnninspect.ir import ops, walk
from cnninspect.lang import expr as E
from cnninspect.lang.spec import load_spec, spec_from_text
from cnninspect.resolve import Overrides, resolve

from conftest import invoke

HEAD = "name: t\ninput: {channels: 3, resolution: 16}\n"


def resolved(text: str, **overrides):
    return resolve(spec_from_text(HEAD + text, "t.yaml"), None, Overrides(**overrides))


def error(text: str, **overrides) -> SpecError:
    with pytest.raises(SpecError) as info:
        resolved(text, **overrides)
    return info.value


def convs(model) -> list[tuple[str, int, int]]:
    """(name, in channels, out channels) of every convolution."""
    return [(q, op.attrs["in_ch"], op.attrs["out_ch"]) for q, op in ops(model.root) if op.kind == "conv2d"]


# --- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,env,value",
    [
        ("$c * 4", {"c": 16}, 64),
        ("round_to($x * 1.5, 8)", {"x": 20}, 32),
        ("make_divisible($x // 4, 8)", {"x": 72}, 24),
        ("make_divisible(20, 8)", {}, 24),  # 16 would lose more than 10%
        ("min($a, 8) + max($a, 8)", {"a": 3}, 11),
        ("2 if $index == 0 else 1", {"index": 0}, 2),
        ("$s == 'relu' and not $b", {"s": "relu", "b": False}, True),
        ("round(2.5) + floor(-0.5) + ceil(0.2) + int(-1.7)", {}, 2 - 1 + 1 - 1),
        ("$in // 2", {"in": 7}, 3),
        ("2 ** 10", {}, 1024),
    ],
)
def test_expression_values(text, env, value):
    assert E.parse(text.replace("$", "$") if "$" in text else text + " + 0 * 0", _LOC).evaluate(env) == value


_LOC = E.Location("t.yaml", 3, 10)


@pytest.mark.parametrize(
    "text,message,offset",
    [
        ("$c.__class__", "an attribute", 0),
        ("__import__('os')", "unknown function '__import__'", 0),
        ("$c[0]", "indexing", 0),
        ("[$c]", "a list", 0),
        ("lambda: $c", "lambda", 0),
        ("$c * width", "unknown name 'width'; write $width", 5),
        ("$c *", "not a valid expression", 4),
        ("$ c", "'$' must be followed", 0),
        ("round_to($c)", "takes 2 arguments, got 1", 0),
        ("max($c, key=1)", "positional arguments only", 0),
        ("$c \u00d7 2", "is not allowed in an expression", 3),
        ("$c" + " + 1" * 200, "the limit is 500", 500),
    ],
)
def test_expressions_outside_the_whitelist_are_refused_at_their_column(text, message, offset):
    with pytest.raises(E.ExprError) as info:
        E.parse(text, _LOC)
    assert message in str(info.value)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    "text,env,message",
    [
        ("$c / ($c - 4)", {"c": 4}, "division by zero"),
        ("10 ** 20", {}, "too large"),
        ("2 ** 100", {}, "exponent 100 is out of range"),
        ("$s * 2", {"s": "relu"}, "arithmetic needs numbers"),
        ("1 if $c else 2", {"c": 3}, "must be true or false"),
        ("$nope + 1", {"c": 1}, "unknown parameter '$nope'"),
        ("(-8) ** 0.5", {}, "not a real number"),
        ("1e300 * 1e300", {}, "out of range"),
        ("'a' < 1", {}, "cannot order"),
    ],
)
def test_evaluation_errors(text, env, message):
    with pytest.raises(E.ExprError, match=re.escape(message)):
        E.parse(text, _LOC).evaluate(env)


def test_expressions_in_fields_lists_and_repeat():
    m = resolved(
        "params: {c: 8, k: 5, n: 2}\nlayers:\n"
        "  - conv: {out: $c * 2, kernel: [1, $k], padding: valid}\n"
        "  - conv: {out: $in // 2, kernel: 1}\n    repeat: $n\n"
    )
    assert convs(m) == [("conv0", 3, 16), ("conv1.0", 16, 8), ("conv1.1", 8, 4)]
    assert next(op for _, op in ops(m.root)).attrs["kernel"] == (1, 5)


def test_expression_errors_are_located_at_the_column(tmp_spec):
    text = HEAD + "params: {c: 8}\nlayers:\n  - conv: {out: $c * widht, kernel: 3}\n"
    path = tmp_spec(text)
    r = invoke("summary", str(path))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    # the expression starts at column 17; 'widht' is 5 characters into it
    assert r.stderr.startswith(f"error: {path}:5:22: layers[0].conv.out: unknown name 'widht'")
    quoted = tmp_spec(HEAD + "params: {c: 8}\nlayers:\n  - conv: {out: \"$c // $x\", kernel: 3}\n", "q.yaml")
    err = invoke("summary", str(quoted)).stderr
    assert ":5:24: layers[0].conv.out: unknown parameter '$x'" in err  # inside the quotes


def test_expression_values_are_checked_for_every_variant_on_load():
    text = HEAD + "params: {c: 8}\nvariants:\n  odd: {c: 3}\nlayers:\n  - conv: {out: 8, kernel: $c - 2}\n"
    spec_from_text(text.replace("c: 3", "c: 5"), "t.yaml")
    spec_from_text(text, "t.yaml")  # a 1x1 kernel for the variant is fine; a 0 is not:
    with pytest.raises(SpecError, match=re.escape("$c - 3 = 0 (variant 'odd', line 5)")):
        spec_from_text(text.replace("$c - 2", "$c - 3"), "t.yaml")
    with pytest.raises(SpecError, match="variant 'zero', line 5: division by zero"):
        spec_from_text(text.replace("odd: {c: 3}", "zero: {c: 0}").replace("$c - 2", "16 // $c"), "t.yaml")


def test_when_conditions_and_index():
    m = resolved(
        "params: {deep: false}\nlayers:\n"
        "  - conv: {out: 4, kernel: 3}\n    when: \"not $deep\"\n"
        "  - conv: {out: \"8 if $index == 0 else 4\", kernel: 1}\n    repeat: 3\n"
    )
    assert [c[2] for c in convs(m)] == [4, 8, 4, 4]
    e = error("layers:\n  - conv: {out: 4, kernel: 3}\n    when: \"$in + 1\"\n")
    assert "the condition gives 4, not true or false" in str(e)


# --- user-defined blocks -------------------------------------------------------------------

FIRE = """blocks:
  fire:
    help: "SqueezeNet's fire module"
    label: "Fire {squeeze}/{expand}"
    params:
      squeeze: {help: "squeeze channels"}
      expand: {help: "channels of each expand branch"}
    layers:
      - name: squeeze
        conv: {out: $squeeze, kernel: 1, act: relu}
      - name: expand
        concat:
          - [{conv: {out: $expand, kernel: 1, act: relu}}]
          - [{conv: {out: $expand, kernel: 3, act: relu}}]
"""


def test_a_block_is_used_like_a_layer_type():
    m = resolved(FIRE + "layers:\n  - fire: {squeeze: 4, expand: 8}\n  - name: f2\n    fire: {squeeze: 2, expand: 4}\n")
    names = [q for q, _, _ in walk(m.root)]
    assert "fire0.squeeze.conv" in names and "f2.expand.branch1.conv0.conv" in names
    assert m.root.children[0].label == "Fire 4/8" and m.output_shape == (8, 16, 16)
    row = next(r for r in analyze(m).rows if r.name == "fire0.squeeze.conv")
    assert row.origin.line == 11  # the line inside the block's definition (HEAD is 2 lines)


def test_block_width_scaling_and_channels_parameters():
    text = FIRE + (
        "  unit:\n    params: {out: {channels: true}, w_in: {default: $in}}\n    layers:\n"
        "      - conv: {out: $out, kernel: 1}\n      - conv: {out: $w_in // 2, kernel: 1}\n"
        "channel_rounding: {rule: divisor, divisor: 8}\n"
        "layers:\n  - conv: {out: 32, kernel: 3}\n  - fire: {squeeze: 16, expand: 32}\n  - unit: {out: 40}\n"
    )
    full = [c[2] for c in convs(resolved(text))]
    half = [c[2] for c in convs(resolved(text, width=0.5))]
    assert full == [32, 16, 32, 32, 40, 32]
    # literal channels scale once at the leaf (fire), a 'channels' parameter once at the call
    # (40 x 0.5 -> 24 with the divisor rule), $in-derived values never again (16 // 2)
    assert half == [16, 8, 16, 16, 24, 16]


def test_block_call_errors_are_located(tmp_spec):
    cases = [
        ("layers:\n  - fire: {squeeze: 4, expnad: 8}\n", "18:32", "layers[0].fire.expnad: block 'fire' has no parameter 'expnad' (did you mean 'expand'?)"),
        ("layers:\n  - fire: {squeeze: 4}\n", "18:5", "layers[0].fire: missing required argument 'expand'"),
        ("layers:\n  - fire: {squeeze: 0, expand: 8}\n", "18:21", "layers[0].fire.squeeze: 0: must be a positive integer, got 0 (as blocks.fire.layers[0].conv.out)"),
        ("layers:\n  - fire: {squeeze: 4, expand: 8}\n  - flatten\n  - fire: {squeeze: 4, expand: 8}\n", "11:9",
         "blocks.fire.layers[0]: convolution needs a feature map but its input is the flat vector 4096 (in block 'fire' used at layers[2], line 20)"),
        ("layers:\n  - fir: {squeeze: 4, expand: 8}\n", "18:5", "unknown layer type 'fir' (did you mean 'fire'?)"),
    ]
    for body, at, message in cases:
        path = tmp_spec(HEAD + FIRE + body)
        r = invoke("summary", str(path))
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"error: {path}:{at}: "), (at, r.stderr)
        assert message in r.stderr, (message, r.stderr)


def test_block_definition_errors():
    e = error("blocks:\n  b:\n    params: [x]\n    layers:\n      - b: {x: 1}\nlayers:\n  - b: {x: 1}\n")
    assert "block 'b' uses itself (b -> b)" in str(e)
    e = error("blocks:\n  conv:\n    layers: [flatten]\nlayers: [flatten]\n")
    assert "'conv' is a built-in name" in str(e)
    e = error("blocks:\n  b:\n    label: 'B {y}'\n    params: [x]\n    layers: [flatten]\nlayers: [flatten]\n")
    assert "the label names '{y}'" in str(e)
    e = error("blocks:\n  b:\n    params: [x]\n    layers:\n      - conv: {out: $y, kernel: 1}\nlayers: [flatten]\n")
    assert "unknown parameter '$y'" in str(e) and e.loc.line == 7


def test_a_one_entry_block_takes_the_calls_name():
    m = resolved(
        "blocks:\n  res:\n    params: [c]\n    layers:\n      - residual:\n"
        "          - conv: {out: $c, kernel: 3}\n"
        "layers:\n  - name: r\n    res: {c: 3}\n    repeat: 2\n"
    )
    names = [q for q, _, _ in walk(m.root)]
    assert "r.0.body.conv0" in names and "r.1.shortcut" in names
    assert m.root.children[0].label == "res x2"


def test_repeat_sets_a_blocks_stride_to_one_after_the_first_copy():
    m = resolved(
        "blocks:\n  down:\n    params: {stride: 1}\n    layers:\n"
        "      - conv: {out: 8, kernel: 3, stride: $stride}\n      - conv: {out: 8, kernel: 1}\n"
        "        when: \"$stride == 2\"\n"
        "layers:\n  - down: {stride: 2}\n    repeat: 3\n"
    )
    strides = [op.attrs["stride"] for _, op in ops(m.root) if op.kind == "conv2d"]
    assert strides == [(2, 2), (1, 1), (1, 1), (1, 1)]  # the second conv only in the first copy


# --- tables ------------------------------------------------------------------------------------


def test_a_table_expands_into_one_entry_per_row():
    m = resolved(
        "layers:\n  - name: stage\n    table:\n      type: conv\n      columns: [out, stride, repeat]\n"
        "      fields: {kernel: 3, bn: true}\n      rows:\n        - [8, 2, 1]\n        - [16, 2, 2]\n"
    )
    assert [c.name for c in m.root.children] == ["stage1", "stage2"]
    assert m.root.children[1].repeat == 2 and m.output_shape == (16, 4, 4)
    e = error("layers:\n  - table:\n      type: conv\n      columns: [out, kernel]\n      rows:\n        - [8]\n")
    assert "a row needs 2 values (out, kernel), got 1 values" in str(e) and e.path.endswith("rows[0]")
    e = error("layers:\n  - table:\n      type: conv\n      columns: [out, kernal]\n      rows:\n        - [8, 3]\n")
    assert "'conv' has no field 'kernal'" in str(e) and (e.loc.line, e.loc.column) == (8, 15)


# --- includes and extends ----------------------------------------------------------------------


def test_include_and_extends(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "blocks.yaml").write_text(FIRE)
    base = tmp_path / "base.yaml"
    base.write_text(
        HEAD + "include: [lib/blocks.yaml]\nparams: {s: 4, num_classes: 10}\nvariants:\n  a: {s: 2}\n"
        "layers:\n  - fire: {squeeze: $s, expand: 8}\n  - mean\n  - linear: {out: $num_classes}\n"
    )
    child = tmp_path / "sub" / "child.yaml"
    child.parent.mkdir()
    child.write_text("extends: ../base.yaml\nname: child\nparams: {s: 6}\nvariants:\n  b: {s: 3}\n")
    with pytest.raises(SpecError, match=r"\.\./base\.yaml is outside .*/sub, .*CNNINSPECT_INCLUDE_PATH"):
        load_spec(child)  # out of the named spec's tree: only when allowed
    monkeypatch.setenv("CNNINSPECT_INCLUDE_PATH", str(tmp_path))
    spec = load_spec(child)
    assert spec.name == "child" and set(spec.variants) == {"b"} and spec.params["s"].default == 6
    model = resolve(spec)
    assert convs(model)[0][2] == 6 and model.output_shape == (10,)
    assert "fire" in spec.blocks


@pytest.mark.parametrize(
    "files,message",
    [
        ({"a.yaml": "extends: b.yaml\nname: a\n", "b.yaml": "extends: a.yaml\nname: b\n"}, "already being read (a cycle"),
        ({"a.yaml": HEAD + "include: [http://example.com/x.yaml]\nlayers: [flatten]\n"}, "URLs are not fetched"),
        ({"a.yaml": HEAD + "include: [missing.yaml]\nlayers: [flatten]\n"}, "missing.yaml: no such file"),
        ({"a.yaml": HEAD + "include: [l.yaml]\nlayers: [flatten]\n", "l.yaml": HEAD + "layers: [flatten]\n"},
         "an included file may only declare blocks and include"),
        ({"a.yaml": HEAD + "include: [l.yaml]\n" + FIRE + "layers: [flatten]\n", "l.yaml": FIRE},
         "block 'fire' is defined twice"),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": HEAD + "layers: [flatten]\n"}, "an extending spec needs its own 'name'"),
    ],
)
def test_include_and_extends_errors(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = invoke("summary", str(tmp_path / "a.yaml"))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr, r.stderr
    assert re.match(r"error: \S+\.yaml:\d+:\d+: ", r.stderr), r.stderr


def test_deep_extends_chains_are_refused(tmp_path):
    for i in range(12):
        (tmp_path / f"s{i}.yaml").write_text(f"extends: s{i + 1}.yaml\nname: s{i}\n")
    (tmp_path / "s12.yaml").write_text(HEAD + "layers: [flatten]\n")
    with pytest.raises(SpecError, match="nested deeper than 8 files"):
        load_spec(tmp_path / "s0.yaml")


def test_errors_in_an_extended_file_name_that_file(tmp_path):
    (tmp_path / "base.yaml").write_text(HEAD + "layers:\n  - conv: {out: 0, kernel: 3}\n")
    (tmp_path / "a.yaml").write_text("extends: base.yaml\nname: a\n")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "a.yaml", label=str(Path("x") / "a.yaml"))
    assert str(info.value).startswith(f"{Path('x') / 'base.yaml'}:4:17: layers[0].conv.out")


def test_layer_types_lists_a_specs_blocks(tmp_spec):
    path = tmp_spec(HEAD + FIRE + "layers:\n  - fire: {squeeze: 4, expand: 8}\n")
    listing = invoke("layer-types", "--spec", str(path))
    assert listing.exit_code == 0 and "block (spec)" in listing.stdout and "squeeze, expand" in listing.stdout
    detail = invoke("layer-types", "fire", "--spec", str(path), "--format", "json")
    import json

    data = json.loads(detail.stdout)
    assert data["block"] is True and data["label"] == "Fire {squeeze}/{expand}"
    assert [p["field"] for p in data["params"]] == ["squeeze", "expand"]
    assert data["params"][0]["help"] == "squeeze channels" and data["params"][0]["default"] == "required"
    bad = invoke("layer-types", "fier", "--spec", str(path))
    assert bad.exit_code == 2 and "did you mean 'fire'" in bad.stderr
