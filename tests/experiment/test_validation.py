"""Validation-based selection of the final rule (``meta.validate_every``, ``meta.select``)."""

import json
import math

import numpy as np
import pytest

from plastix.experiment import _runner, load
from plastix.experiment._config import UserError

SETTINGS = ["meta.validate_every=2", "meta.validate_episodes=3", "meta.select=best", "meta.generations=7"]


def _rows(path):
    from plastix.experiment import _rundir

    return _rundir.read_metrics(path)


def test_best_validation_theta_is_the_final_rule(tiny_config, tmp_path):
    cfg = load(tiny_config, SETTINGS)
    summary = _runner.run(cfg, tmp_path / "run")
    rows = _rows(tmp_path / "run")
    scored = [
        (int(r["generation"]), r["validation_loss"]) for r in rows if math.isfinite(r["validation_loss"])
    ]
    # After every second generation and after the last (7 is odd); generations count from 0.
    assert [g for g, _ in scored] == [1, 3, 5, 6]
    best_gen, best_loss = min(scored, key=lambda s: s[1])
    sel = summary["selected"]
    assert sel["select"] == "best" and sel["best_generation"] == best_gen
    assert sel["best_validation_loss"] == pytest.approx(best_loss)
    row = rows[best_gen]
    names = summary["names"]["ff"]
    np.testing.assert_allclose(summary["theta"]["ff"], [row[f"theta_ff_{n}"] for n in names], rtol=1e-6)
    # The validation episodes are their own stream: the held-out score is not what selected.
    assert summary["heldout_loss"] != pytest.approx(best_loss)


def test_select_last_keeps_the_last_theta_and_reports_the_best(tiny_config, tmp_path):
    cfg = load(tiny_config, SETTINGS[:2] + ["meta.generations=7"])
    summary = _runner.run(cfg, tmp_path / "run")
    last = _rows(tmp_path / "run")[-1]
    names = summary["names"]["ff"]
    np.testing.assert_allclose(summary["theta"]["ff"], [last[f"theta_ff_{n}"] for n in names], rtol=1e-6)
    assert summary["selected"]["select"] == "last"


def test_resume_repeats_the_selection(tiny_config, tmp_path):
    cfg = load(tiny_config, SETTINGS)
    full = _runner.run(cfg, tmp_path / "full")

    class Crash(Exception):
        pass

    def crash_at_5(gen, row):
        if gen == 5:
            raise Crash

    with pytest.raises(Crash):
        _runner.run(cfg, tmp_path / "cut", progress=crash_at_5)
    cut = _runner.resume(tmp_path / "cut")
    assert cut["selected"] == full["selected"] and cut["theta"] == full["theta"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # noqa: E731
    a, b = strip(_rows(tmp_path / "cut")), strip(_rows(tmp_path / "full"))
    assert json.dumps(a) == json.dumps(b)


def test_select_best_needs_validation(tiny_config):
    with pytest.raises(UserError, match="validate_every"):
        load(tiny_config, ["meta.select=best"])
