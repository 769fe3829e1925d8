"""Recovery: CMA-ES rediscovers Oja's rule from random coefficients (N = 3)."""

import pytest

from plastix import experiment


@pytest.mark.slow
def test_cma_es_rediscovers_oja_from_a_random_rule(tmp_path):
    cfg = experiment.load(
        experiment.__file__.rsplit("/src/", 1)[0] + "/configs/oja.toml",
        ["meta.target_angle=10", "meta.generations=800", "task.heldout_episodes=50"],
    )
    summary = experiment.run(cfg, tmp_path / "run")
    assert summary["angles"]["oja"] < 10.0, summary["rule"]
    # The rule is Oja's up to scale: x·y and y²·w dominate with opposite signs.
    theta = dict(zip(summary["names"]["ff"], summary["theta"]["ff"], strict=True))
    assert theta["110"] > 0 > theta["021"]
    assert abs(theta["110"] / theta["021"] + 1) < 0.3
    assert summary["heldout_loss"] < 0.1
