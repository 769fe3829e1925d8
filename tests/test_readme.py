"""The README's quickstart runs as written and does what it says."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def quickstart_seeds(benchmark_script):
    return benchmark_script("quickstart_seeds")


@pytest.mark.slow
@pytest.mark.rounding
def test_quickstart_rediscovers_oja_for_most_seeds(quickstart_seeds):
    """Seeds 0-4 of the quickstart, each in a fresh interpreter as a reader runs it: at least 4 within 10°.

    One seed's angle is the end of one noisy trajectory that the machine's
    floating-point rounding steers (one seed of an earlier CMA-ES quickstart
    ended 31.8° from Oja on one processor and 3.5° on another), so the test
    asks for a fraction of seeds. Measured with ``benchmarks/quickstart_seeds.py
    --seeds 0-19`` (``benchmarks/results/quickstart_seeds.json``): 20 of 20
    seeds within 10° here (median 2.4°, worst 5.4°), 20 of 20 under XLA's
    fast-math CPU code (worst 6.4°) and 19 of 20 in float64 (seed 0 at 10.2°):
    59 of 60, at which rate this test fails with probability 0.003 (0.05 at
    the rate's one-sided 95 % lower bound, 0.92). The earlier CMA-ES
    quickstart: 15 of 20, failing such a test with probability 0.37.
    """
    angles = [quickstart_seeds.run_seed(seed, README)["angle"] for seed in range(5)]
    assert sum(a < 10.0 for a in angles) >= 4, angles


def test_quickstart_is_short_and_seeded(quickstart_seeds):
    assert len(quickstart_seeds.code_block(README).strip().splitlines()) <= 18
    assert "seed = 3" in quickstart_seeds.quickstart(README, 3)


def test_readme_gives_the_two_commands_and_existing_configs():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    for name in re.findall(r"`configs/(\w+)\.toml`", text):
        assert (README.parent / "configs" / f"{name}.toml").is_file()
