"""The outer-loop interface shared by evolution strategies and gradient descent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax

from plastix.tasks._base import LossFn

Array = jax.Array
Theta = Mapping[str, Array]


class MetaOptimizer(NamedTuple):
    """An outer loop as pure-style functions (evosax's ask/tell, optax's factories).

    Attributes:
        prepare: ``(loss_fn, template, population) -> prepared``: compiles, once
            per run, what ``step`` evaluates (a population evaluation for an ES,
            a value-and-grad for gradient descent). ``template`` is a theta
            pytree; ``population`` (:data:`plastix.meta.Population`, default one
            device) says where a population is scored: sharded over local
            devices, or on a Ray cluster.
        init: ``(theta0, seed) -> state``; the state pickles, so a run resumes.
        step: ``(state, prepared, key) -> (state, metrics)``: one generation.
            ``key`` selects the episodes the generation is scored on. Metrics
            hold at least ``loss_best``, ``loss_mean`` and ``n_unstable``.
        theta: ``(state, prepared) -> theta``: the current estimate (the
            distribution mean for an ES).
        result: ``(state, prepared) -> {name: array}``, what the outer loop
            holds beyond the point ``theta``, for ``final.npz`` (the search
            distribution of an ES, samples of a posterior); default none.
        stopped: ``state -> reason | None``: the outer loop has nothing left to
            run (CMA-ES whose restarts are used up), and the run ends; default never.
    """

    prepare: Callable[[LossFn, Theta], Any]
    init: Callable[[Theta, int], Any]
    step: Callable[[Any, Any, Array], tuple[Any, dict[str, float]]]
    theta: Callable[[Any, Any], Theta]
    result: Callable[[Any, Any], Mapping[str, Any]] = lambda state, prepared: {}
    stopped: Callable[[Any], str | None] = lambda state: None
