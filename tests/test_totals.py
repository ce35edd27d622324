"""The totals-only fast path (cnninspect/measure/totals.py) equals the full analysis: on every
bundled spec and variant, under every convention, across resolutions (tiny ones where
stride-2 blocks keep a 1x1 size included), widths, depths and TensorFlow padding, and on
random specs. Errors are the full path's errors, word for word."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnninspect.measure.analysis import analyze, weight_depth
from cnninspect.resolve.catalog import bundled_names, load_bundled
from cnninspect.ops.conventions import CONVENTIONS
from cnninspect.base.errors import CnnInspectError
from cnninspect.ops.kinds import KINDS
from cnninspect.resolve.resolver import Overrides, resolve
from cnninspect.lang.spec import spec_from_text
from cnninspect.measure.totals import TotalsEngine

from test_properties import SCALE, random_spec


def _full(spec, point, base=None, convention="paper"):
    """What the full path gives: (totals, weight depth), or the error text."""
    base = base or Overrides()
    engine = TotalsEngine(spec, convention, base)  # only for its Overrides arithmetic
    over = engine.overrides(point)
    try:
        model = resolve(spec, point.get("variant"), over)
    except CnnInspectError as exc:
        return str(exc)
    return analyze(model, convention).totals, weight_depth(model)


def _fast(engine, point, used=None):
    try:
        m = engine.measure(point)
    except CnnInspectError as exc:
        return str(exc)
    if used is not None:
        used.append(m.fast)
    return m.totals, m.weight_depth


def test_every_reshape_rule_names_a_known_spatial_effect():
    """Each record's reshape rule (None: always resolve in full) says what it does to H x W."""
    for kind, record in KINDS.items():
        rule = record.reshape
        assert rule is None or rule.spatial in ("same", "window", "global", "flat"), kind


@pytest.mark.parametrize("name", bundled_names())
def test_fast_totals_equal_the_full_analysis_on_bundled_specs(name):
    spec = load_bundled(name)
    d = spec.default_resolution
    points = []
    for variant in [None, *spec.variants]:
        # tiny inputs (too small for some nets: the same error), then around the default
        for r in (8, 16, 33, 64, 97, d - 29, d + 13):
            points.append({"variant": variant, "resolution": r})
        points.append({"variant": variant})  # its own resolution (B7: 600)
        points += [{"variant": variant, "resolution": r, "width": 0.6} for r in (33, d + 1, d - 17)]
    points += [{"resolution": r, "depth": 1.7} for r in (33, d + 1, d - 17)]
    used: list[bool] = []
    for convention in CONVENTIONS:
        engine = TotalsEngine(spec, convention)
        for point in points:
            assert _fast(engine, point, used) == _full(spec, point, convention=convention), (convention, point)
    from cnninspect.resolve.ir import ops
    from cnninspect.resolve.resolver import resolve
    full_path_only = {op.kind for _, op in ops(resolve(spec).root) if KINDS[op.kind].reshape is None}
    if full_path_only:  # e.g. ConvNeXt's channels-last blocks: every point resolved in full
        assert sum(used) == 0, full_path_only
    else:
        assert sum(used) >= 3, f"the fast path took only {sum(used)} of {len(used)} points"


def test_tf_padding_is_recomputed_per_resolution():
    spec = load_bundled("efficientnet")
    base = Overrides(padding="tf")
    engine = TotalsEngine(spec, "paper", base)
    for r in (31, 32, 33, 64, 65, 224, 225):
        point = {"resolution": r, "width": 0.5}
        assert _fast(engine, point) == _full(spec, point, base), r
    assert engine.fallbacks <= 2


def test_a_spec_that_reads_its_resolution_is_resolved_in_full():
    spec = spec_from_text(
        "name: t\ninput: {channels: 3, resolution: 32}\nlayers:\n"
        "  - conv: {out: 8, kernel: 3}\n"
        "  - conv: {out: 16, kernel: 3, stride: 2}\n    when: {resolution: [32]}\n"
        "  - avgpool: {global: true}\n  - flatten\n  - linear: {out: 10}\n",
        "t.yaml",
    )
    engine = TotalsEngine(spec)
    for r in (32, 64, 32, 48):
        point = {"resolution": r}
        assert _fast(engine, point) == _full(spec, point), r
    assert engine.fallbacks == 4  # every point: the structure depends on the resolution


def test_errors_are_the_full_paths_errors():
    spec = load_bundled("alexnet")
    engine = TotalsEngine(spec)
    for point in ({"resolution": 227}, {"resolution": 40}, {"resolution": 227, "width": 0.5}, {"resolution": 60}):
        fast, full = _fast(engine, point), _full(spec, point)
        assert fast == full, point
    assert isinstance(_fast(engine, {"resolution": 40}), str)  # too small for AlexNet


@settings(max_examples=100 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_spec(), st.lists(st.integers(4, 70), min_size=2, max_size=5), st.sampled_from([1.0, 1.0, 0.5, 1.6]),
       st.sampled_from(list(CONVENTIONS)))
def test_fast_totals_equal_the_full_analysis_on_random_specs(case, resolutions, width, convention):
    text, _fits = case
    try:
        spec = spec_from_text(text, "random.yaml")
    except CnnInspectError:
        return
    engine = TotalsEngine(spec, convention)
    for r in resolutions:
        point = {"resolution": r, "width": width}
        assert _fast(engine, point) == _full(spec, point, convention=convention), (r, width, text)


def test_an_op_kind_without_a_rule_is_resolved_in_full(monkeypatch):
    """A new op kind gets no rule until someone writes one: its models take the full path."""
    import dataclasses

    monkeypatch.setitem(KINDS, "bn2d", dataclasses.replace(KINDS["bn2d"], reshape=None))
    spec = load_bundled("mobilenet_v1")
    engine = TotalsEngine(spec)
    used: list[bool] = []
    for r in (96, 128, 160):
        point = {"resolution": r, "width": 0.5}
        assert _fast(engine, point, used) == _full(spec, point)
    assert used == [False, False, False]
    (template,) = next(iter(engine.templates.values()))
    assert template.root is None and "no reshape rule for op kind bn2d" in template.reason


def test_bounded_caches_start_afresh_without_mixing_models(monkeypatch):
    """Memo and signatures are bounded (flat memory on long grids); clearing them mid-grid
    must not let an old subtree be taken for a new one."""
    import cnninspect.measure.totals as totals

    monkeypatch.setattr(totals, "SIGNATURE_LIMIT", 200)
    monkeypatch.setattr(totals, "MEMO_LIMIT", 50)
    spec = load_bundled("efficientnet")
    engine = TotalsEngine(spec)
    for width in (0.5, 0.6, 0.7, 0.8):
        for r in (64, 97, 64):
            point = {"width": width, "resolution": r}
            assert _fast(engine, point) == _full(spec, point), point
    assert engine.compiler.size < 400  # started afresh: 4 widths of about 140 distinct subtrees each
