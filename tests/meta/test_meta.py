import jax
import numpy as np
import pytest

from plastix import meta, networks, rules, tasks


def _loss(n_in=3, steps=40, episodes=4, **kw):
    return tasks.meta_loss(
        {"ff": rules.polynomial()},
        networks.linear(n_in, 1),
        tasks.pca(n_in, 1, num_steps=steps),
        episodes,
        **kw,
    )


def test_cma_generation_is_one_compiled_call():
    f = _loss()
    opt = meta.cma_es(popsize=8, sigma0=0.3)
    theta0 = {"ff": rules.polynomial().init_theta(jax.random.PRNGKey(0))}
    prepared = opt.prepare(f, theta0)
    state = opt.init(theta0, seed=0)
    for g in range(3):
        state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
    # The second and third generations reused the first compilation.
    assert prepared.evaluate._cache_size() == 1
    assert {"loss_best", "loss_mean", "n_unstable"} <= set(m)
    assert m["loss_best"] <= m["loss_mean"]
    assert opt.theta(state, prepared)["ff"].shape == (27,)


def test_cma_is_deterministic_given_seed_and_survives_pickling():
    import pickle

    f = _loss()
    opt = meta.cma_es(popsize=6)
    theta0 = {"ff": rules.polynomial().init_theta(jax.random.PRNGKey(1))}
    prepared = opt.prepare(f, theta0)

    def run(state, gens, start=0):
        out = []
        for g in range(start, start + gens):
            state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
            out.append(m["loss_best"])
        return state, out

    _, full = run(opt.init(theta0, 5), 4)
    state, first = run(opt.init(theta0, 5), 2)
    state = pickle.loads(pickle.dumps(state))
    _, second = run(state, 2, start=2)
    assert first + second == full


def test_cma_counts_unstable_candidates_without_crashing():
    f = _loss(unstable_loss=10.0)
    opt = meta.cma_es(popsize=10, sigma0=20.0)  # wild candidates: many explode
    theta0 = {"ff": rules.hebb()}
    prepared = opt.prepare(f, theta0)
    state, m = opt.step(opt.init(theta0, 0), prepared, jax.random.PRNGKey(0))
    assert m["n_unstable"] > 0 and np.isfinite(m["loss_mean"]) and m["loss_mean"] <= 10.0


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_gradient_descent_lowers_the_meta_loss(name):
    f = _loss(remat=True)
    opt = meta.gradient(learning_rate=0.05 if name == "adam" else 0.5, optimizer=name)
    theta0 = {"ff": 0.5 * rules.oja() + 0.05}
    prepared = opt.prepare(f, theta0)
    state = opt.init(theta0, 0)
    key = jax.random.PRNGKey(0)
    losses = []
    for _ in range(15):
        state, m = opt.step(state, prepared, key)
        losses.append(m["loss_best"])
    assert losses[-1] < 0.8 * losses[0]


def test_remat_bounds_meta_gradient_memory_and_keeps_the_value():
    key = jax.random.PRNGKey(0)
    theta = {"ff": rules.oja()}
    plain = jax.grad(lambda t: _loss(steps=60)(t, key)[0])(theta)
    remat = jax.grad(lambda t: _loss(steps=60, remat=True)(t, key)[0])(theta)
    np.testing.assert_allclose(plain["ff"], remat["ff"], rtol=1e-4, atol=1e-6)


def test_unknown_optax_optimiser():
    with pytest.raises(ValueError, match="unknown optax"):
        meta.gradient(optimizer="nope")


def test_remat_keeps_meta_gradient_memory_flat_in_unroll_length():
    # XLA's compile-time memory analysis: deterministic, no timing involved.
    def temp_bytes(steps, remat):
        f = tasks.meta_loss(
            {"ff": rules.polynomial()},
            networks.linear(20, 1),
            tasks.pca(20, 1, num_steps=steps, samples=500),
            4,
            remat=remat,
        )
        grad = jax.jit(jax.grad(lambda t, k: f(t, k)[0]))
        compiled = grad.lower({"ff": rules.oja()}, jax.random.PRNGKey(0)).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    short, long = temp_bytes(100, True), temp_bytes(1000, True)
    assert long < 2 * short  # 10x the steps, less than 2x the memory (one small carry per step)
    assert temp_bytes(1000, False) > 20 * long  # without remat every step's intermediates are kept
