"""Recovery: CMA-ES rediscovers Oja's rule from random coefficients (N = 3), for most seeds."""

import json
import os

import pytest

from plastix import experiment

#: The float64 leg of ``make test-rounding`` sets JAX_ENABLE_X64; runs of a config follow its dtype.
DTYPE = "float64" if os.environ.get("JAX_ENABLE_X64", "").lower() in ("1", "true") else "float32"
SEEDS = range(6)


def recovered(summary: dict) -> bool:
    """Oja's rule up to scale: within 10°, x·y and y²·w dominant with opposite signs, held-out loss < 0.1."""
    theta = dict(zip(summary["names"]["ff"], summary["theta"]["ff"], strict=True))
    return (
        summary["angles"]["oja"] < 10.0
        and theta["110"] > 0 > theta["021"]
        and abs(theta["110"] / theta["021"] + 1) < 0.3
        and summary["heldout_loss"] < 0.1
    )


@pytest.mark.slow
@pytest.mark.rounding
def test_cma_es_rediscovers_oja_from_a_random_rule_for_most_seeds(tmp_path):
    """Seeds 0-5 of ``configs/oja.toml``, stopped at 10° or 800 generations: at least 3 recover Oja.

    Which rule one seed's CMA-ES settles on depends on the machine's rounding
    (terms such as ``x·w``, whose mean over a zero-mean batch is zero, so that the
    loss barely sees them, shrink only slowly under the L1 prior), so the test
    asks for a fraction of seeds. Measured with this test's overrides,
    ``plastix sweep configs/oja.toml --seeds 0-19 --set meta.target_angle=10
    --set meta.generations=800 --set task.heldout_episodes=50``: 17 of 20
    seeds recover Oja by :func:`recovered` (seed 2 settles 21.9° away with a
    large ``x·w²`` term; seeds 4 and 19 end at 10.3° and 10.4° after 800
    generations), and 18 of 20 with XLA's fast-math CPU code (the same command
    under ``XLA_FLAGS=--xla_cpu_enable_fast_math=true``; seeds 10 and 14 end at
    13.4° and 23.0°). At the pooled rate, 35 of 40, this test fails with
    probability 0.003 (0.035 at the rate's one-sided 95 % lower bound, 0.75).
    """
    sets = ["meta.target_angle=10", "meta.generations=800", "task.heldout_episodes=50", f'dtype="{DTYPE}"']
    cfg = experiment.load(experiment.__file__.rsplit("/src/", 1)[0] + "/configs/oja.toml", sets)
    out = tmp_path / "sweep"
    experiment.sweep(cfg, SEEDS, out)
    summaries = {s: json.loads((out / f"seed-{s}" / "summary.json").read_text()) for s in SEEDS}
    found = {seed: (round(s["angles"]["oja"], 1), s["rule"]) for seed, s in summaries.items()}
    assert sum(map(recovered, summaries.values())) >= 3, found
