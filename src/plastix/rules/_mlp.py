"""Rules parametrised by a small multilayer perceptron, applied elementwise per synapse."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from plastix.rules._base import Rule

# Which side of the synapse a signal lives on: presynaptic signals are [batch, pre] (or [pre]
# for one sample a step), postsynaptic ones [batch, post], synaptic ones [post, pre].
MLP_SIDES = {
    "pre": "pre",
    "pre_trace": "pre",
    "pre_error": "pre",
    "post": "post",
    "post_trace": "post",
    "post_free": "post",
    "error": "post",
    "w": "syn",
}
TRACES = {"pre_trace": "pre", "post_trace": "post"}  # a trace the rule keeps of a spike train
ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "softplus": jax.nn.softplus, "sigmoid": jax.nn.sigmoid}


def _layers(theta) -> list[tuple[jax.Array, jax.Array]]:
    n = len(theta) // 2
    return [(theta[f"w{i + 1}"], theta[f"b{i + 1}"]) for i in range(n)]


def mlp(
    inputs: Sequence[str] = ("pre", "post", "w"),
    hidden: Sequence[int] = (16,),
    gates: Sequence[str] = (),
    scale: float = 1.0,
    init_std: float = 0.1,
    activation: str = "tanh",
    tau_pre: float = 0.02,
    tau_post: float = 0.02,
    symbols: Mapping[str, str] | None = None,
) -> Rule:
    r"""A rule whose function is a multilayer perceptron of the synapse's local signals.

    .. math:: \Delta w_{ij} = s \,\Big\langle \sum_k g^k_{ij}\, f_\theta(z_{ij})_k \Big\rangle_{batch},
              \qquad z_{ij} = (u_1, \dots, u_n)_{ij}

    where ``u`` are the ``inputs`` at synapse ``(i, j)`` (a presynaptic signal
    ``x_j``, a postsynaptic one ``y_i``, or the weight ``w_ij``), ``f_theta`` is
    an MLP with ``hidden`` units and one output per gate, and ``g^k`` are the
    ``gates``: signals that switch each output on, e.g. ``("pre", "post")`` for
    a spiking neuron, so that ``dw = S_j f_0 + S_i f_1`` changes weights only
    at spikes, as pair-based spike-timing rules do; with no gates, one output
    and ``dw = s f(z)``. This is the MLP rule of Confavreux et al. (NeurIPS
    2023) and Mehta et al. (NeurIPS 2024): the polynomial and spike-trace rules
    are special cases of what it can express, with theta the MLP's weights.

    The MLP acts elementwise: the same function at every synapse, evaluated
    on ``[batch, post, pre, n_inputs]`` and averaged over the batch. Signals
    without a batch axis (one spiking step, ``[pre]``) are one sample.

    ``pre_trace`` and ``post_trace`` among the inputs are traces the rule keeps
    of the ``pre`` and ``post`` spike trains when the network gives none:
    ``x <- x exp(-dt / tau) + S`` with ``tau_pre``, ``tau_post`` (seconds) and
    the network's step ``dt``, read before this step's spikes are added.

    Theta is ``{"w1": [n_inputs, h_1], "b1": [h_1], ..., "wL": [h_L-1, n_out],
    "bL": [n_out]}``; ``init_theta`` draws hidden weights ``N(0, 1 / fan_in)``,
    the output layer ``N(0, init_std^2 / fan_in)`` and zero biases.

    Args:
        inputs: local signals the MLP reads, by name (keys of :data:`MLP_SIDES`).
        hidden: hidden layer sizes (``()``: a linear function of the inputs).
        gates: local signals that gate one output each (``()``: one ungated output).
        scale: ``s``, the size of ``dw`` per unit of the MLP's output.
        init_std: scale of the output layer's initial weights.
        activation: of the hidden layers, a key of :data:`ACTIVATIONS`.
        tau_pre, tau_post: time constants of the traces the rule keeps, seconds.
        symbols: how each input prints.
    """
    inputs, hidden, gates = tuple(inputs), tuple(int(h) for h in hidden), tuple(gates)
    unknown = [v for v in (*inputs, *gates) if v not in MLP_SIDES]
    if unknown:
        raise ValueError(f"unknown signal(s) {unknown}; allowed: {sorted(MLP_SIDES)}")
    if not inputs or len(set(inputs)) != len(inputs):
        raise ValueError(f"inputs must be distinct signal names, at least one; got {list(inputs)}")
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be >= 1, got {list(hidden)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {sorted(ACTIVATIONS)}")
    if not (tau_pre > 0 and tau_post > 0):
        raise ValueError(f"trace time constants must be > 0, got {tau_pre}, {tau_post}")
    act = ACTIVATIONS[activation]
    sizes = (len(inputs), *hidden, max(len(gates), 1))
    traced = tuple(v for v in inputs if v in TRACES)
    keys = [f"{p}{i + 1}" for i in range(len(sizes) - 1) for p in ("w", "b")]
    needs = tuple(dict.fromkeys([*(TRACES[v] if v in TRACES else v for v in inputs), *gates, "w"]))
    if traced:
        needs = (*needs, "dt")

    def init_theta(key):
        theta = {}
        ks = jax.random.split(key, len(sizes) - 1)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            gain = init_std if i == len(sizes) - 2 else 1.0
            theta[f"w{i + 1}"] = gain / math.sqrt(a) * jax.random.normal(ks[i], (a, b))
            theta[f"b{i + 1}"] = jnp.zeros((b,))
        return theta

    def init_state(w):
        if not traced:
            return ()
        return (jnp.zeros(w.shape[-1], w.dtype), jnp.zeros(w.shape[-2], w.dtype))

    def _batched(v):
        return v if v.ndim == 2 else v[None]

    def _at_synapse(v, name, shape):
        """``[batch, post, pre]`` view of a signal (no copy until the MLP needs one)."""
        side = MLP_SIDES[name]
        if side == "syn":
            return jnp.broadcast_to(v, shape)[None]
        v = _batched(v)
        return v[:, None, :] if side == "pre" else v[:, :, None]

    def update(theta, local, state):
        w = local["w"]
        signals = dict(local)
        if traced:  # decay, read, then add this step's spikes
            x_pre, x_post = state
            dt = local["dt"]
            x_pre = x_pre * jnp.exp(-dt / tau_pre)
            x_post = x_post * jnp.exp(-dt / tau_post)
            signals["pre_trace"], signals["post_trace"] = x_pre, x_post
            s_pre = jnp.asarray(local["pre"], w.dtype).reshape(x_pre.shape)
            s_post = jnp.asarray(local["post"], w.dtype).reshape(x_post.shape)
            state = (x_pre + s_pre, x_post + s_post)
        z = [_at_synapse(jnp.asarray(signals[v], w.dtype), v, w.shape) for v in inputs]
        batch = max(x.shape[0] for x in z)
        z = jnp.stack([jnp.broadcast_to(x, (batch, *w.shape)) for x in z], axis=-1)  # [B, M, N, k]
        layers = _layers(theta)
        h = z
        for wl, bl in layers[:-1]:
            h = act(h @ wl.astype(w.dtype) + bl.astype(w.dtype))
        out = h @ layers[-1][0].astype(w.dtype) + layers[-1][1].astype(w.dtype)  # [B, M, N, gates or 1]
        if gates:
            g = jnp.stack(
                [
                    jnp.broadcast_to(
                        _at_synapse(jnp.asarray(local[v], w.dtype), v, w.shape), (batch, *w.shape)
                    )
                    for v in gates
                ],
                axis=-1,
            )
            out = out * g
        dw = scale * jnp.mean(jnp.sum(out, axis=-1), axis=0)
        return dw.astype(w.dtype), state

    names = tuple(f"norm_{k}" for k in keys)

    def summary(theta):
        # The size of each weight array: the few numbers metrics.csv keeps of the MLP.
        return {f"norm_{k}": jnp.linalg.norm(theta[k]) for k in keys}

    sym = {**{v: v for v in MLP_SIDES}, **(symbols or {})}

    def describe(theta):
        n = sum(int(np.size(theta[k])) for k in keys)
        z = ", ".join(sym.get(v, v) for v in inputs)
        body = (
            f"f({z})" if not gates else " + ".join(f"{sym.get(g, g)} f_{i}({z})" for i, g in enumerate(gates))
        )
        shape = "-".join(str(s) for s in sizes)
        scaled = body if scale == 1 else f"{scale:g} ({body})"
        return f"dw = {scaled} with f an MLP {shape} ({activation}, {n} weights)"

    return Rule(init_theta, init_state, update, names, needs, sym, summary=summary, describe=describe)
