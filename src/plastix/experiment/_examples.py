"""Task-specific arrays saved with a finished run: what its figures and summary need.

Each task kind has a hook ``(exp, theta, episode_key, heldout) -> (arrays, summary)``,
``heldout`` being the held-out metrics per episode (``tasks.meta_loss`` with
``per_episode``): ``arrays`` go to ``final.npz`` (one example episode trained
with the final rule), ``summary`` entries are added to ``summary.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from plastix import networks, tasks
from plastix.experiment._build import Experiment


def _pca(exp: Experiment, theta, key, heldout) -> tuple[dict, dict]:
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.task, theta, episode, k_run)
    return {
        "w_effective": np.asarray(networks.effective_weights(final)),
        "pcs": np.asarray(episode["pcs"]),
    }, {}


def record_target_rate(exp: Experiment, theta, episode, key) -> dict[str, jax.Array]:
    r"""Train the LIF neuron on ``episode`` as :func:`plastix.tasks.unroll` does, recording per group.

    Same initial state, input spikes (``chunk`` at a time, same keys) and
    update order as the inner loop, so the final state is the one the loss
    scores. Per chunk of ``chunk`` steps and per input group ``g`` it records
    the mean synaptic currents (pA)

    .. math:: I_{E,g} = g_{leak}\, g_{E,g} (E_E - V), \qquad I_{I,g} = g_{leak}\, g_{I,g} (E_I - V)

    where ``g_{E,g}`` is the part of the excitatory conductance due to group
    ``g``'s afferents (conductances are sums over synapses, so the per-group
    parts add up to the neuron's ``g_E``), and the mean inhibitory weight per
    group at the chunk's end.
    """
    cfg = exp.config
    n, chunk = cfg.network, cfg.task.chunk
    rule, network, task = exp.rules["inh"], exp.network, exp.task
    p = {**networks.VOGELS_2011, **n.params}
    groups = networks.afferent_groups(n.n_exc, n.n_inh, n.n_groups)
    dtype = jnp.asarray(0.0).dtype
    onehot_e = jax.nn.one_hot(groups[: n.n_exc], n.n_groups, dtype=dtype)  # [n_exc, G]
    onehot_i = jax.nn.one_hot(groups[n.n_exc :], n.n_groups, dtype=dtype)  # [n_inh, G]
    decay_e, decay_i = math.exp(-n.dt / p["tau_exc"]), math.exp(-n.dt / p["tau_inh"])

    k_init, k_data = jax.random.split(key)  # as in tasks.unroll
    state = network.init(k_init)
    w_before = state.w["inh"][0]

    def step(carry, x):
        state, rs, ge, gi = carry
        w_inh = state.w["inh"][0]
        state, _, local = network.step(state, x)
        dw, rs = rule.update(theta["inh"], local["inh"], rs)
        x = x.astype(dtype)
        ge = ge * decay_e + p["gbar_exc"] * ((state.aux["w_exc"] * x[: n.n_exc]) @ onehot_e)
        gi = gi * decay_i + p["gbar_inh"] * ((w_inh * x[n.n_exc :]) @ onehot_i)
        v = state.aux["v"][0]
        i_e = p["g_leak"] * ge * (p["e_exc"] - v)
        i_i = p["g_leak"] * gi * (p["e_inh"] - v)
        return (network.apply(state, {"inh": dw}), rs, ge, gi), (i_e, i_i)

    def chunk_body(carry, c):
        xs = task.inputs(episode, c * chunk + jnp.arange(chunk), jax.random.fold_in(k_data, c))
        carry, (i_e, i_i) = jax.lax.scan(step, carry, xs)
        w_group = (carry[0].w["inh"][0] @ onehot_i) / jnp.sum(onehot_i, axis=0)
        return carry, (jnp.mean(i_e, 0), jnp.mean(i_i, 0), w_group)

    zeros = jnp.zeros(n.n_groups, dtype)
    carry = (state, rule.init_state(state.w["inh"]), zeros, zeros)
    (final, _, _, _), (i_e, i_i, w_group) = jax.lax.scan(
        chunk_body, carry, jnp.arange(task.num_steps // chunk)
    )
    size = jnp.sum(onehot_i, axis=0)
    return {
        "w_inh_before": w_before,
        "w_inh_after": final.w["inh"][0],
        "w_inh_group_before": (w_before @ onehot_i) / size,
        "w_inh_group": w_group,
        "w_exc_group": (final.aux["w_exc"] @ onehot_e) / jnp.sum(onehot_e, axis=0),
        "current_exc": i_e,
        "current_inh": i_i,
        "counts": final.aux["counts"],
    }


def _target_rate(exp: Experiment, theta, key, heldout) -> tuple[dict, dict]:
    cfg = exp.config
    t, n = cfg.task, cfg.network
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    rec = jax.jit(lambda th, ep, k: record_target_rate(exp, th, ep, k))(theta, episode, k_run)
    arrays = {k: np.asarray(v) for k, v in rec.items()}
    arrays["rate"] = arrays.pop("counts") / t.bin_size  # Hz, one value per bin
    arrays["chunk_time"] = (np.arange(arrays["current_exc"].shape[0]) + 0.5) * t.chunk * n.dt
    # Mean inhibitory input rate (all groups, whole episode): nu_pre of the
    # rule's mean-field steady state (plotting.alpha_beta_plane).
    arrays["nu_pre"] = np.asarray(float(jnp.mean(episode["rates"])))
    arrays["target"] = np.asarray(t.target)
    arrays["train_time"] = np.asarray(t.train_time)
    arrays["bin_size"] = np.asarray(t.bin_size)

    # The held-out rate per dataset: the episodes of the held-out loss, so their
    # mean is its "rate".
    rates = np.asarray(heldout["rate"], np.float64)
    summary = {
        "heldout_rates": [float(r) for r in rates],
        "heldout_rate": float(rates.mean()),
        "heldout_rate_sd": float(rates.std()),
        "target_rate": t.target,
    }
    return arrays, summary


# Task kind -> hook.
EXAMPLES: dict[str, Callable] = {"pca": _pca, "target_rate": _target_rate}
