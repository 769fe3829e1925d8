r"""Supervised regression and classification learned online, one sample per inner step.

An episode holds ``samples`` training pairs ``(x, t)`` (presented in order, one
per inner step) and ``test_samples`` fresh pairs of the same problem. The task
loss is the test mean squared error of the trained network,

.. math:: L = \frac{1}{S\,n_{out}} \sum_{s} \lVert y(x_s) - t_s \rVert^2 ,

(``mse``; with one-hot targets also ``accuracy``, the fraction of test samples
whose largest output is the target's). With ``objective = "trajectory"`` the
loss is instead the mean squared distance per step between the weights the
rule produced and those gradient descent produced on the same samples from
the same start, which the task records beside the network
(:func:`gradient_twin`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState
from plastix.networks._clamped import clamped_forward, gd_errors, layer_names
from plastix.tasks._base import Recorder, Task

OBJECTIVES = ("task", "trajectory")


def gradient_twin(sizes, learning_rate: float) -> Recorder:
    r"""Gradient descent beside the network, on the same samples from the same initial weights.

    Per step the twin takes ``W_l += lr e_l a_{l-1}^T`` (backprop's ``e_l =
    -dL/dz_l`` for ``L = |t - y|^2 / 2`` on the step's sample,
    :func:`plastix.networks.gd_errors`) and the recorder accumulates the
    squared distance of the network's weights to the twin's,

    .. math:: D = \sum_t \sum_l \lVert W_l(t) - W_l^{GD}(t) \rVert^2 / n_{weights},

    the trajectory objective of Karageorgiou Kaneen et al. (2020). For a
    network of ``sizes`` with projections ``l1 .. lL``
    (:func:`plastix.networks.clamped`); records ``D``.
    """
    names = layer_names(len(sizes) - 1)
    n_weights = sum(a * b for a, b in zip(sizes[1:], sizes[:-1], strict=True))

    def init(state):
        return {p: state.w[p] for p in names}, jnp.zeros((), state.w[names[0]].dtype)

    def step(carry, state, x, new, out):
        shadow, distance = carry
        s = [shadow[p] for p in names]
        xs, ts = x["x"].astype(s[0].dtype)[None], x["target"].astype(s[0].dtype)[None]
        acts, _ = clamped_forward(s, xs)
        errs = gd_errors(s, acts, ts)
        shadow = {p: s[l] + learning_rate * errs[l].T @ acts[l] for l, p in enumerate(names)}
        gap = sum(jnp.sum((new.w[p] - shadow[p]) ** 2) for p in names) / n_weights
        return (shadow, distance + gap), None

    return Recorder(init, step, finish=lambda carry, outs: carry[1])


def supervised(
    sample: Callable[[jax.Array], dict],
    predict: Callable[[NetState, jax.Array], jax.Array],
    num_steps: int,
    objective: str = "task",
    classes: bool = False,
    twin: Recorder | None = None,
) -> Task:
    """A task from ``sample(key) -> {"x", "target", "test_x", "test_target"}`` (``[S, D]``, ``[S, out]``).

    Args:
        sample: draws one episode's training and test pairs.
        predict: ``(state, x [B, D]) -> y [B, out]``, the trained network's output.
        num_steps: training pairs per episode (one per inner step).
        objective: ``"task"`` (test MSE) or ``"trajectory"`` (distance to gradient descent).
        classes: targets are one-hot: report ``accuracy``.
        twin: with ``objective = "trajectory"``, the recorder of gradient descent's
            trajectory (:func:`gradient_twin`).

    Inputs of step ``t``: ``{"x": x_t [D], "target": t_t [out]}``.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {list(OBJECTIVES)}")
    if (objective == "trajectory") != (twin is not None):
        raise ValueError("objective 'trajectory' needs twin (tasks.gradient_twin), and only it")

    def inputs(episode, t, key):
        return {"x": episode["x"][t], "target": episode["target"][t]}

    def loss(state, records, episode):
        y, t = predict(state, episode["test_x"]), episode["test_target"]
        metrics = {"mse": jnp.mean((y - t) ** 2)}
        if classes:
            hit = jnp.argmax(y, axis=1) == jnp.argmax(t, axis=1)
            metrics["accuracy"] = jnp.mean(hit.astype(y.dtype))
        if objective == "trajectory":
            metrics["distance"] = records / num_steps
            return metrics["distance"], metrics
        return metrics["mse"], metrics

    return Task(sample, inputs, loss, num_steps, twin)


def teacher(
    n_in: int,
    n_out: int,
    predict: Callable[[NetState, jax.Array], jax.Array],
    hidden: int = 0,
    gain: float = 2.0,
    samples: int = 100,
    test_samples: int = 200,
    noise: float = 0.0,
    fixed: jax.Array | None = None,
    objective: str = "task",
    twin: Recorder | None = None,
    input_scales: jax.Array | None = None,
    input_correlation: float = 0.0,
) -> Task:
    r"""Regression onto a random teacher network: ``x ~ N(0, I)``, ``t = T x`` or ``t = T_2 tanh(T_1 x)``.

    ``T ~ N(0, 1/n_in)`` (linear, ``hidden = 0``), else ``T_1 ~ N(0, gain^2/n_in)``
    ``[hidden, n_in]`` and ``T_2 ~ N(0, 1/hidden)``: with ``gain`` well above 1 the
    teacher saturates and no linear map fits it, so a student needs a hidden
    layer. Training targets get ``N(0, noise^2)`` noise; test targets are exact.

    Args:
        fixed: a key: every episode has the teacher of that key (one fixed
            task; episodes differ in samples, their order and the student's
            initial weights). ``None``: a new teacher per episode (a task family).
        input_scales, input_correlation: inputs with fixed heterogeneous statistics,
            common to every episode: ``x_j = s_j (sqrt(1 - c) z_j + sqrt(c) z_0)``
            with ``z ~ N(0, I)``, so input ``j`` has variance ``s_j^2`` and every
            pair correlation ``c`` (one shared factor ``z_0``); ``None``: ``s = 1``.
    """
    if n_in < 1 or n_out < 1 or hidden < 0 or samples < 1 or test_samples < 1:
        raise ValueError("teacher: n_in, n_out, samples, test_samples must be >= 1 and hidden >= 0")

    def draw_teacher(key):
        k1, k2 = jax.random.split(key)
        if hidden == 0:
            t = jax.random.normal(k1, (n_out, n_in)) / jnp.sqrt(n_in)
            return lambda x: x @ t.T
        t1 = gain * jax.random.normal(k1, (hidden, n_in)) / jnp.sqrt(n_in)
        t2 = jax.random.normal(k2, (n_out, hidden)) / jnp.sqrt(hidden)
        return lambda x: jnp.tanh(x @ t1.T) @ t2.T

    def draw_inputs(key, n):
        z = jax.random.normal(key, (n, n_in + 1))
        c = input_correlation
        x = jnp.sqrt(1.0 - c) * z[:, 1:] + jnp.sqrt(c) * z[:, :1]
        return x if input_scales is None else x * input_scales

    def sample(key):
        k_t, k_x, k_test, k_noise = jax.random.split(key, 4)
        f = draw_teacher(k_t if fixed is None else fixed)
        x, test_x = draw_inputs(k_x, samples), draw_inputs(k_test, test_samples)
        target = f(x) + noise * jax.random.normal(k_noise, (samples, n_out))
        return {"x": x, "target": target, "test_x": test_x, "test_target": f(test_x)}

    return supervised(sample, predict, samples, objective, twin=twin)


def labelled(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    predict: Callable[[NetState, jax.Array], jax.Array],
    samples: int = 200,
    test_samples: int = 200,
    objective: str = "task",
    twin: Recorder | None = None,
) -> Task:
    """Classification of a fixed labelled pool (e.g. the digits): targets are one-hot.

    Each episode draws ``samples`` training and ``test_samples`` test items,
    all distinct, from the pool ``x [n, D]`` in a random order; a held-out
    score uses a task on another pool.
    """
    x = np.asarray(x, np.float32)
    labels = np.asarray(labels)
    if x.ndim != 2 or labels.shape != x.shape[:1]:
        raise ValueError(f"need x [n, D] and labels [n]; got {x.shape} and {labels.shape}")
    if samples < 1 or test_samples < 1 or samples + test_samples > x.shape[0]:
        raise ValueError(
            f"samples ({samples}) + test_samples ({test_samples}) must be positive and at most "
            f"the pool's {x.shape[0]} items"
        )
    onehot = np.eye(n_classes, dtype=np.float32)[labels]

    def sample(key):
        idx = jax.random.permutation(key, x.shape[0])[: samples + test_samples]
        xs, ts = jnp.asarray(x)[idx], jnp.asarray(onehot)[idx]
        return {
            "x": xs[:samples],
            "target": ts[:samples],
            "test_x": xs[samples:],
            "test_target": ts[samples:],
        }

    return supervised(sample, predict, samples, objective, classes=True, twin=twin)
