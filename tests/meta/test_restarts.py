"""IPOP- and BIPOP-CMA-ES (pycma's restarts) one generation at a time: restarts that grow the
population, an end when they are used up, and a checkpoint that resumes bit for bit."""

import pickle

import jax
import jax.numpy as jnp
import pytest

from plastix import meta


def rastrigin(theta, key):
    """Many local minima (the global one at 0, value 0): a run of a small population stalls."""
    x = theta["a"]
    loss = 10 * x.size + jnp.sum(x**2 - 10 * jnp.cos(2 * jnp.pi * x))
    return loss, {"task_loss": loss, "unstable": jnp.float32(0.0)}


STALL = {"tolfun": 1e-3, "tolx": 1e-3, "tolstagnation": 30}  # end a run quickly


def _run(opt, generations=2000, save_at=None):
    theta0 = {"a": jnp.full(4, 2.0)}
    prepared, state = opt.prepare(rastrigin, theta0), opt.init(theta0, 0)
    rows, saved = [], None
    for g in range(generations):
        state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
        rows.append(m)
        if g == save_at:
            saved = pickle.dumps(state)
        if opt.stopped(state):
            break
    return rows, state, prepared, saved


@pytest.mark.parametrize("bipop", [False, True])
def test_restarts_grow_the_population_and_end_when_used_up(bipop):
    opt = meta.cma_es(popsize=6, sigma0=0.5, options=STALL, restarts=3, bipop=bipop)
    rows, state, prepared, _ = _run(opt)
    runs = [r["run"] for r in rows]
    assert runs == sorted(runs) and runs[-1] >= 4  # every restart used (BIPOP's small runs extra)
    sizes = {r["run"]: r["popsize"] for r in rows}
    assert sizes[1] == 6 and max(sizes.values()) == 6 * 2**3  # IPOP: doubled per large restart
    assert opt.stopped(state).startswith(f"CMA-ES restarts used up ({runs[-1]} runs")
    assert len(rows) < 2000
    with pytest.raises(RuntimeError, match="restarts used up"):
        opt.step(state, prepared, jax.random.PRNGKey(0))


@pytest.mark.parametrize("bipop", [False, True])
def test_a_checkpoint_resumes_bit_for_bit_across_restarts(bipop):
    opt = meta.cma_es(popsize=6, sigma0=0.5, options=STALL, restarts=2, bipop=bipop)
    rows, _, prepared, saved = _run(opt, save_at=50)
    assert rows[50]["run"] >= 2  # saved after a restart
    state = pickle.loads(saved)
    resumed = rows[:51]
    for g in range(51, len(rows)):
        state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
        resumed.append(m)
    assert resumed == rows and opt.stopped(state) is not None


def test_without_restarts_nothing_changes():
    plain = meta.cma_es(popsize=6, sigma0=0.5)
    rows, state, _, _ = _run(plain, generations=30)
    assert "run" not in rows[0] and plain.stopped(state) is None and len(rows) == 30
