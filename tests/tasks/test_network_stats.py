"""The network statistics against spike trains whose statistics are known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks
from plastix.networks import NetState, Network

DT = 1e-3
N_EXC, N_INH = 300, 100


def spiking(kind: str, rate: float) -> Network:
    """A stand-in network whose neurons spike on their own: Bernoulli(``rate dt``) per step
    (``"poisson"``), or every ``1 / rate`` s at a random phase (``"regular"``)."""
    period = round(1 / (rate * DT))

    def init(key):
        k1, k2 = jax.random.split(key)
        aux = {"v": jnp.zeros(N_EXC + N_INH), "key": k1, "t": jnp.zeros((), jnp.int32)}
        aux["phase"] = jax.random.randint(k2, (N_EXC + N_INH,), 0, period)
        return NetState({}, aux)

    def step(state, x):
        a = state.aux
        key, sub = jax.random.split(a["key"])
        if kind == "poisson":
            s = jax.random.bernoulli(sub, rate * DT, (N_EXC + N_INH,))
        else:
            s = (a["t"] + a["phase"]) % period == 0
        return state._replace(aux={**a, "key": key, "t": a["t"] + 1}), s.astype(jnp.float32), {}

    return Network(init, step, lambda s, dw: s, lambda s: jnp.zeros((), bool), ())


def statistics(net, seconds=20.0, window=15.0):
    steps = round(seconds / DT)
    start = steps - round(window / DT)
    rec = tasks.network_recorder(N_EXC, N_INH, DT, start, round(0.1 / DT), ())
    task = tasks.Task(lambda k: None, lambda ep, t, k: jnp.zeros(jnp.shape(t) + (0,)), None, steps)
    final, records = jax.jit(lambda k: tasks.unroll({}, net, task, {}, None, k, chunk=10, record=rec))(
        jax.random.PRNGKey(0)
    )
    return tasks.network_statistics(records, final, N_EXC, DT, window, 10 * DT, start // 10, {})


def test_poisson_spikes_have_unit_cv_and_fano():
    st = {k: float(v) for k, v in statistics(spiking("poisson", 10.0)).items()}
    print(st)
    # Bernoulli(p) per 1 ms step: geometric intervals, CV = sqrt(1 - p); counts binomial, Fano = 1 - p.
    p = 10.0 * DT
    assert st["rate_e"] == pytest.approx(10.0, rel=0.03)
    assert st["rate_i"] == pytest.approx(10.0, rel=0.05)
    assert st["cv_isi"] == pytest.approx(np.sqrt(1 - p), abs=0.03)
    assert st["fano_temporal"] == pytest.approx(1 - p, abs=0.05)
    assert st["fano_spatial"] == pytest.approx(1 - p, abs=0.05)
    assert st["autocov"] < 0.1  # independent neurons: a population rate without memory
    assert tasks.plausible({**st, "w_blow": 0.0, "w_creep": 0.0})


def test_regular_spikes_have_zero_cv_and_are_not_plausible():
    st = {k: float(v) for k, v in statistics(spiking("regular", 10.0)).items()}
    print(st)
    assert st["rate_e"] == pytest.approx(10.0, rel=0.01)
    assert st["cv_isi"] == pytest.approx(0.0, abs=1e-6)
    # Exactly one spike per 100 ms bin: no variance in time or across neurons.
    assert st["fano_temporal"] == pytest.approx(0.0, abs=1e-6)
    assert st["fano_spatial"] == pytest.approx(0.0, abs=1e-6)
    assert not tasks.plausible({**st, "w_blow": 0.0, "w_creep": 0.0})


def test_weight_blow_up_and_creep_of_a_plastic_network():
    """A pathway whose weights grow until they hit the bound: w_blow and w_creep say so."""
    w_max = 2.0
    net = networks.recurrent(
        80, 20, plastic=("ee",), p=0.2, w={"ee": 0.5, "ie": 20.0}, w_max=w_max, max_events=1.0
    )
    task = tasks.network_stability(80, 20, ("ee",), {"ee": w_max}, train_time=0.5, score_time=0.5)
    theta = {"ee": jnp.asarray([0.0, 0.2, 0.0, 0.0, 0.02, 0.02])}  # + per postsynaptic spike
    key = jax.random.PRNGKey(1)
    final, records = jax.jit(
        lambda: tasks.unroll(
            {"ee": rules.spike_trace()},
            net,
            task,
            theta,
            task.sample(key),
            key,
            chunk=100,
            record=task.record,
        )
    )()
    loss, st = task.loss(final, records, None)
    w = np.asarray(records["w"]["ee"])
    assert np.all(np.diff(w) >= 0) and w[-1] > w[0]
    s = w[49]  # the mean weight at the window's start: 0.5 s, the end of the 50th 10 ms bin
    creep = abs(2 * (w[-1] - s) / (w[-1] + s))
    assert float(st["w_creep"]) == pytest.approx(creep, rel=1e-5)
    pre = np.asarray(final.aux["pre"]["ee"])
    at = (np.asarray(final.w["ee"]) >= w_max * (1 - 1e-6))[pre < 80].mean()
    assert float(st["w_blow"]) == pytest.approx(at, rel=1e-6) and at > 0.2
    assert float(loss) > 1.0
