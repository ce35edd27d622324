"""``summary --verify``: agreement, the first disagreeing layer, and refusal by estimate."""

from __future__ import annotations

import dataclasses
import json

from cnninspect.ops.formulas import formula, term
from cnninspect.ops.kinds import KINDS

from conftest import invoke


def test_verify_ok_through_the_cli():
    r = invoke("summary", "mobilenet_v1", "--resolution", "128", "--verify", "--levels", "1")
    assert r.exit_code == 0, r.stderr
    assert "verify: OK - 85 layers, 510 checks" in r.stdout
    data = json.loads(invoke("summary", "lenet5", "--verify", "-f", "json").stdout)
    assert data["verify"]["ok"] is True and data["verify"]["mismatch"] is None


def test_verify_reports_the_first_disagreeing_layer(monkeypatch):
    """A counting regression (batch norm counted with 3 parameters per channel) is caught."""
    broken = dataclasses.replace(KINDS["bn2d"], params=lambda a: formula(
        term("weight", ("C", a["ch"])), term("bias", ("2C", 2 * a["ch"]))))
    monkeypatch.setitem(KINDS, "bn2d", broken)
    r = invoke("summary", "mobilenet_v1", "--resolution", "64", "--verify", "-f", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["verify"]["ok"] is False
    assert data["verify"]["mismatch"] == {
        "layer": "conv1.bn", "what": "parameter count", "analysis": "96", "module": "64"}
    text = invoke("summary", "mobilenet_v1", "--resolution", "64", "--verify", "-L", "1").stdout
    assert "MISMATCH - first disagreeing layer: conv1.bn: parameter count is 96 in the analysis but 64" in text


def test_verify_refuses_when_the_estimate_is_over_the_limit():
    r = invoke("summary", "efficientnet:b7", "--verify")
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert "\n" not in err and "would need about" in err and "GB" in err
    assert "--resolution" in err and "--verify-max-mb" in err
    small = invoke("summary", "mobilenet_v1", "--verify", "--verify-max-mb", "100")
    assert small.exit_code == 2 and "100 MB" in small.stderr
