import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, tasks


def _run(net, xs, w_inh=None, key=0):
    """Scan ``net.step`` over input spikes ``xs`` ``[steps, n_aff]``; return final state and V trace."""
    state = net.init(jax.random.PRNGKey(key))
    if w_inh is not None:
        state = state._replace(w={"inh": jnp.full_like(state.w["inh"], w_inh)})

    def body(state, x):
        state, s, _ = net.step(state, x)
        return state, (state.aux["v"][0], s[0])

    return jax.lax.scan(body, state, xs)


def test_init_step_shapes_dtypes_and_locals():
    net = networks.lif()
    state = net.init(jax.random.PRNGKey(0))
    assert state.w["inh"].shape == (1, 200) and state.w["inh"].dtype == jnp.float32
    assert state.aux["w_exc"].shape == (800,)
    x = jnp.zeros(1000).at[jnp.array([3, 850])].set(1.0)
    new, out, local = net.step(state, x)
    assert out.shape == (1,) and set(local) == {"inh"}
    assert set(local["inh"]) == {"pre", "post", "w", "dt"} and local["inh"]["pre"].shape == (200,)
    assert jax.tree.structure(new) == jax.tree.structure(state)
    assert all(
        a.dtype == b.dtype and a.shape == b.shape
        for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state), strict=True)
    )
    # The spikes of this step increment the conductances by gbar * w.
    np.testing.assert_allclose(new.aux["ge"], 0.014 * state.aux["w_exc"][3], rtol=1e-6)
    np.testing.assert_allclose(new.aux["gi"], 0.035 * 0.1, rtol=1e-6)


def test_excitatory_tuning_is_vogels_curve():
    net = networks.lif()
    w = np.asarray(net.init(jax.random.PRNGKey(1)).aux["w_exc"]).reshape(8, 100)
    clean = 0.3 + 1.1 / (1 + (np.arange(1, 9) - 5.0) ** 4)
    assert np.all(w >= clean[:, None]) and np.all(w <= clean[:, None] + 0.1)
    assert np.argmax(w.mean(1)) == 4  # group 5 (1-based) is preferred
    np.testing.assert_array_equal(networks.afferent_groups()[[0, 799, 800, 999]], [0, 7, 0, 7])


def test_relaxes_to_conductance_weighted_reversal_potential():
    # Frozen conductances (huge synaptic time constants): V -> V_inf exactly.
    net = networks.lif(n_exc=8, n_inh=8, tau_exc=1e9, tau_inh=1e9, v_th=100.0)
    x = jnp.zeros((3000, 16)).at[0].set(1.0)
    state, (v, _) = _run(net, x, w_inh=2.0)
    ge, gi = float(state.aux["ge"][0]), float(state.aux["gi"][0])
    v_inf = (-60.0 + ge * 0.0 + gi * -80.0) / (1 + ge + gi)
    np.testing.assert_allclose(v[-1], v_inf, atol=1e-3)  # float32 rounding
    # Without input the neuron sits at rest.
    _, (v0, s0) = _run(net, jnp.zeros((100, 16)))
    np.testing.assert_allclose(v0, -60.0) and not np.any(s0)


def test_refractory_period_and_reset_match_brian2_convention():
    # Strong constant drive: the neuron fires, is held at reset for 5 ms, fires again.
    net = networks.lif(n_exc=8, n_inh=8, tau_exc=1e9)
    x = jnp.zeros((2000, 16)).at[0, :8].set(50.0)
    _, (v, s) = _run(net, x)
    spikes = np.flatnonzero(np.asarray(s))
    assert len(spikes) > 3
    first = spikes[0]
    np.testing.assert_allclose(v[first : first + 50], -60.0)  # reset, then 49 refractory steps
    assert v[first + 50] > -60.0
    assert np.min(np.diff(spikes)) >= 50


def _v_trace(dt, seconds=0.3, record_every=1e-3, spikes=False):
    """Membrane potential every ms for input spikes on a 1 ms grid (identical for every dt)."""
    net = networks.lif(n_exc=80, n_inh=16, dt=dt, v_th=-50.0 if spikes else 100.0)
    rng = np.random.default_rng(0)
    grid = (rng.random((round(seconds / 1e-3), 96)) < 0.15).astype(np.float32)  # ~150 Hz per afferent
    steps_per_ms = round(1e-3 / dt)
    xs = np.zeros((grid.shape[0] * steps_per_ms, 96), np.float32)
    xs[::steps_per_ms] = grid
    state, (v, s) = _run(net, jnp.asarray(xs), w_inh=0.5)
    return np.asarray(v)[steps_per_ms - 1 :: steps_per_ms], int(np.sum(s))


def test_integration_error_against_finer_dt():
    # Exponential Euler with conductances frozen over a step (Brian2's
    # `exponential_euler`): first order in dt. Measured on this input (V between
    # -60 and -46 mV, no spikes), reference dt = 0.01 ms: max |V_dt - V_ref| =
    # 0.26 mV at dt = 0.2 ms, 0.12 mV at 0.1 ms, 0.054 mV at 0.05 ms. With
    # spikes, 2 s of this input give 86 spikes at 0.01 ms, 89 at 0.1 ms.
    ref, _ = _v_trace(1e-5)
    errs = {dt: np.max(np.abs(_v_trace(dt)[0] - ref)) for dt in (2e-4, 1e-4, 5e-5)}
    print("max |V - V_ref| (mV):", errs, "V range", ref.min(), ref.max())
    assert errs[1e-4] < 0.3
    assert 1.6 < errs[2e-4] / errs[1e-4] < 2.5 and 1.6 < errs[1e-4] / errs[5e-5] < 2.5


def test_apply_bounds_weights_and_flags_instability():
    net = networks.lif(w_inh_max=10.0)
    state = net.init(jax.random.PRNGKey(0))
    assert not bool(net.unstable(state))
    down = net.apply(state, {"inh": -jnp.ones((1, 200))})
    np.testing.assert_array_equal(down.w["inh"], 0.0)
    assert not bool(net.unstable(down))
    up = net.apply(state, {"inh": jnp.full((1, 200), jnp.inf)})
    assert bool(net.unstable(up)) and np.all(np.isfinite(up.w["inh"]))
    nan = net.apply(state, {"inh": jnp.full((1, 200), jnp.nan)})
    assert bool(net.unstable(nan)) and np.all(np.isfinite(nan.w["inh"]))


def test_the_task_recorder_counts_spikes_per_bin():
    """plastix.tasks.spike_counts bins the neuron's output: 2 bins of 100 steps; the third unrecorded."""
    net = networks.lif(n_exc=8, n_inh=8, tau_exc=1e9, dt=1e-4)
    x = jnp.zeros((300, 16)).at[0, :8].set(50.0)
    rec = tasks.spike_counts(2, 100)
    state = net.init(jax.random.PRNGKey(0))

    def body(carry, x):
        state, c = carry
        new, s, _ = net.step(state, x)
        c, _ = rec.step(c, state, x, new, s)
        return (new, c), s[0]

    (state, c), s = jax.lax.scan(body, (state, rec.init(state)), x)
    s = np.asarray(s)
    np.testing.assert_array_equal(rec.finish(c, None), [s[:100].sum(), s[100:200].sum()])
    assert s[:100].sum() > 0 and float(state.aux["n_spikes"]) == s.sum()


@pytest.mark.parametrize("kw", [{"n_exc": 801}, {"bin_size": 1.00005}, {"tau_x": 1.0}, {"dt": 0.0}])
def test_bad_arguments_raise(kw):
    with pytest.raises(ValueError):
        networks.lif(**kw)
