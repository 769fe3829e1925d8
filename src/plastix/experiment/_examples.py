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
    r"""Train the LIF neuron on ``episode`` as the loss does, recording per input group.

    :func:`plastix.tasks.unroll` with a :class:`plastix.tasks.Recorder`, so the
    final state is the one the loss scores. Per chunk of ``chunk`` steps and
    per input group ``g`` it records the mean synaptic currents (pA)

    .. math:: I_{E,g} = g_{leak}\, g_{E,g} (E_E - V), \qquad I_{I,g} = g_{leak}\, g_{I,g} (E_I - V)

    where ``g_{E,g}`` is the part of the excitatory conductance due to group
    ``g``'s afferents (conductances are sums over synapses, so the per-group
    parts add up to the neuron's ``g_E``), and the mean inhibitory weight per
    group at the chunk's end.
    """
    cfg = exp.config
    n = cfg.network
    p = {**networks.VOGELS_2011, **n.params}
    groups = networks.afferent_groups(n.n_exc, n.n_inh, n.n_groups)
    dtype = jnp.asarray(0.0).dtype
    onehot_e = jax.nn.one_hot(groups[: n.n_exc], n.n_groups, dtype=dtype)  # [n_exc, G]
    onehot_i = jax.nn.one_hot(groups[n.n_exc :], n.n_groups, dtype=dtype)  # [n_inh, G]
    size_i = jnp.sum(onehot_i, axis=0)
    decay_e, decay_i = math.exp(-n.dt / p["tau_exc"]), math.exp(-n.dt / p["tau_inh"])

    def init(state):
        return jnp.zeros(n.n_groups, dtype), jnp.zeros(n.n_groups, dtype)

    def step(carry, state, x, new):
        ge, gi = carry
        x = x.astype(dtype)
        # Conductances per group, from the weights the spikes met (before the update).
        ge = ge * decay_e + p["gbar_exc"] * ((new.aux["w_exc"] * x[: n.n_exc]) @ onehot_e)
        gi = gi * decay_i + p["gbar_inh"] * ((state.w["inh"][0] * x[n.n_exc :]) @ onehot_i)
        v = new.aux["v"][0]
        i_e = p["g_leak"] * ge * (p["e_exc"] - v)
        i_i = p["g_leak"] * gi * (p["e_inh"] - v)
        return (ge, gi), (i_e, i_i, (new.w["inh"][0] @ onehot_i) / size_i)

    w_before = exp.network.init(jax.random.split(key)[0]).w["inh"][0]  # unroll's initial state
    final, (i_e, i_i, w_group) = tasks.unroll(
        exp.rules,
        exp.network,
        exp.task,
        theta,
        episode,
        key,
        chunk=cfg.task.chunk,
        record=tasks.Recorder(init, step, lambda o: (jnp.mean(o[0], 0), jnp.mean(o[1], 0), o[2][-1])),
    )
    return {
        "w_inh_before": w_before,
        "w_inh_after": final.w["inh"][0],
        "w_inh_group_before": (w_before @ onehot_i) / size_i,
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
