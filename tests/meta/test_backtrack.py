"""The descent outer loops give up a step that lands where every episode is unstable.

The meta-loss of such a theta is the constant penalty, its gradient zero: a loop that takes the
step stays there for good. The toy loss below is ``(x - 3)^2`` where ``x <= 2`` and the penalty
100 (every episode unstable) beyond, so the constrained optimum is the edge, ``x = 2``, loss 1.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import meta
from plastix.meta._gradient import GradientState


def cliff(theta, key):
    x = theta["a"][0]
    bad = x > 2.0
    loss = jnp.where(bad, 100.0, (x - 3.0) ** 2)
    return loss, {"task_loss": loss, "unstable": bad.astype(jnp.float32)}


def _run(opt, loss=cliff, steps=40, x0=0.0):
    theta0 = {"a": jnp.array([x0])}
    prepared, state = opt.prepare(loss, theta0), opt.init(theta0, 0)
    rows = []
    for i in range(steps):
        state, m = opt.step(state, prepared, jax.random.PRNGKey(i))
        rows.append(m)
    return float(opt.theta(state, prepared)["a"][0]), rows


def _descents(backtrack):
    return {
        "gradient": meta.gradient(0.5, "sgd", clip_norm=None, backtrack=backtrack),
        "finite_difference": meta.finite_difference(0.5, 0.01, "sgd", clip_norm=6.0, backtrack=backtrack),
    }


@pytest.mark.parametrize("name", ["gradient", "finite_difference"])
def test_without_backtracking_a_step_over_the_cliff_holds_the_run_for_good(name):
    x, rows = _run(_descents(None)[name])
    assert x == pytest.approx(3.0)  # the first step jumps to 3, beyond the edge, and stays
    assert [r["loss_best"] for r in rows[1:]] == [100.0] * 39
    assert sum(r["rejected"] for r in rows) == 0


@pytest.mark.parametrize("name", ["gradient", "finite_difference"])
def test_backtracking_gives_the_step_up_and_reaches_the_edge(name):
    x, rows = _run(_descents(0.5)[name])
    assert rows[1]["rejected"] == 1 and rows[1]["step_scale"] == 0.5  # the point 3 given up
    assert 1.9 < x < 2.05  # the constrained optimum (the last step, not yet scored, may just cross it)
    assert min(r["loss_best"] for r in rows) < 1.25  # a point next to the edge was scored
    # Rejections keep coming as the loop presses against the edge, each halving the step.
    assert sum(r["rejected"] for r in rows) >= 3
    assert all(r["loss_best"] <= 100.0 for r in rows)


@pytest.mark.parametrize("name", ["gradient", "finite_difference"])
def test_a_loop_that_never_rejects_is_the_plain_loop_exactly(name):
    def bowl(theta, key):
        x = theta["a"][0] + 0.1 * jax.random.normal(key)
        return (x - 1.0) ** 2, {"task_loss": (x - 1.0) ** 2, "unstable": jnp.float32(0.0)}

    with_guard, rows = _run(_descents(0.5)[name], bowl, steps=25)
    without, _ = _run(_descents(None)[name], bowl, steps=25)
    assert with_guard == without  # bit for bit: the step's scale stays exactly 1
    assert {r["step_scale"] for r in rows} == {1.0} and not any(r["rejected"] for r in rows)


def test_a_fraction_of_unstable_episodes_can_be_enough_to_reject():
    def half(theta, key):
        x = theta["a"][0]
        frac = jnp.where(x > 2.0, 0.5, 0.0)  # beyond 2, half the episodes explode
        loss = (x - 3.0) ** 2 + 10 * frac
        return loss, {"task_loss": loss, "unstable": frac}

    lenient, _ = _run(meta.gradient(0.5, "sgd", clip_norm=None), half, x0=1.0)
    strict, rows = _run(meta.gradient(0.5, "sgd", clip_norm=None, reject_unstable=0.5), half, x0=1.0)
    assert lenient == pytest.approx(3.0)  # a step to 3 is kept: not every episode is unstable
    assert strict < 2.05 and sum(r["rejected"] for r in rows) >= 1


def test_a_state_without_a_guard_steps_as_the_plain_loop():
    """A checkpoint written before the guard existed holds ``GradientState(theta, opt_state)``."""
    opt = meta.gradient(0.5, "sgd", clip_norm=None)
    theta0 = {"a": jnp.array([0.0])}
    prepared, fresh = opt.prepare(cliff, theta0), opt.init(theta0, 0)
    old = GradientState(fresh.theta, fresh.opt_state)
    assert old.guard is None
    a, _ = opt.step(old, prepared, jax.random.PRNGKey(0))
    b, _ = opt.step(fresh, prepared, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(a.theta["a"], b.theta["a"])
    assert a.guard is not None


def test_a_drift_through_partly_unstable_points_goes_back_to_the_last_clean_one():
    """Beyond x = 2 a growing fraction of episodes explodes (all beyond 3), while the stable ones
    pull on towards 4: each step is accepted until every episode explodes. The loop then returns to
    the last point where none did, not to the point one step before, already deep in the region."""

    def slope(theta, key):
        x = theta["a"][0]
        frac = jnp.clip(x - 2.0, 0.0, 1.0)
        loss = (x - 4.0) ** 2 + 10 * jax.lax.stop_gradient(frac)  # a penalty has no gradient
        return loss, {"task_loss": loss, "unstable": frac}

    opt = meta.gradient(0.05, "sgd", clip_norm=None)
    theta0 = {"a": jnp.array([1.0])}
    prepared, state = opt.prepare(slope, theta0), opt.init(theta0, 0)
    xs, rows = [], []
    for i in range(16):
        xs.append(float(opt.theta(state, prepared)["a"][0]))
        state, m = opt.step(state, prepared, jax.random.PRNGKey(i))
        rows.append(m)
    first = next(i for i, r in enumerate(rows) if r["rejected"])
    assert xs[first] > 3.0 and any(2.0 < x < 3.0 for x in xs[:first])  # drifted through the slope
    back = xs[first + 1]
    assert back <= 2.0 and back == max(x for x in xs[:first] if x <= 2.0)  # the last clean point
