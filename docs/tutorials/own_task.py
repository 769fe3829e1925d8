"""Write your own task: what a network trained by a rule should end up doing, and its score.

Run it with ``python docs/tutorials/own_task.py``; the docs page ``tutorials/own_task.md`` shows
this script section by section, and ``tests/test_tutorials.py`` runs it.
"""

# --8<-- [start:imports]
import tempfile
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from plastix import analysis, experiment, meta, networks, rules, tasks
from plastix.experiment import Family, TaskSection, components

# --8<-- [end:imports]


# --8<-- [start:task]
def input_mean(n_in: int, num_steps: int = 50, batch: int = 50, noise: float = 0.5) -> tasks.Task:
    """One linear neuron should learn the mean of its inputs: an episode is a random mean ``mu``
    (``|mu| = 1``), each step shows ``batch`` samples ``mu + noise * N(0, I)``, and the loss is
    ``|w - mu|``. The recorder keeps the neuron's mean output over the episode."""

    def sample(key):
        mu = jax.random.normal(key, (n_in,))
        return {"mu": mu / jnp.linalg.norm(mu)}

    def inputs(episode, t, key):
        # Stateless: the samples of step t are drawn inside the jitted inner loop.
        return episode["mu"] + noise * jax.random.normal(key, (batch, n_in))

    def loss(state, records, episode):
        w = state.w["ff"][0]
        return jnp.linalg.norm(w - episode["mu"]), {"mean_output": records}

    record = tasks.Recorder(
        init=lambda state: 0.0,  # the running sum of the output
        step=lambda total, state, x, new, out: (total + jnp.mean(out), None),
        finish=lambda total, outs: total / num_steps,
    )
    return tasks.Task(sample, inputs, loss, num_steps, record)


# --8<-- [end:task]


# --8<-- [start:python]
def learn_in_python(generations: int = 25, seed: int = 0) -> dict:
    """A polynomial rule of ``x`` and ``w`` meta-learned on the task by CMA-ES (``dw = x - w`` solves it)."""
    rule = rules.polynomial(order=1, variables=("pre", "w"))  # 4 coefficients: 1, w, x, x·w
    net = networks.linear(n_in=4, n_out=1, eta=0.1)
    task = input_mean(n_in=4)
    loss = tasks.meta_loss({"ff": rule}, net, task, num_episodes=8, l1=0.01)

    opt = meta.cma_es(popsize=10, sigma0=0.5)
    theta0 = {"ff": rule.init_theta(jax.random.PRNGKey(seed))}
    prepared, state = opt.prepare(loss, theta0), opt.init(theta0, seed=seed)
    losses = []
    for g in range(generations):
        state, metrics = opt.step(state, prepared, jax.random.fold_in(jax.random.PRNGKey(seed), g))
        losses.append(float(metrics["loss_best"]))
    theta = np.asarray(opt.theta(state, prepared)["ff"])
    print(f"loss: generation 0 {losses[0]:.3f}, generation {generations - 1} {losses[-1]:.3f}")
    print("learned", analysis.pretty(theta, rule))

    # One episode with the learned rule, unrolled by hand: the final weights and the records.
    episode = task.sample(jax.random.PRNGKey(100))
    final, mean_output = tasks.unroll(
        {"ff": rule}, net, task, {"ff": theta}, episode, jax.random.PRNGKey(1), record=task.record
    )
    error = float(jnp.linalg.norm(final.w["ff"][0] - episode["mu"]))
    print(f"held-out episode: |w - mu| = {error:.3f}, mean output {float(mean_output):.3f}")
    return {"losses": losses, "theta": theta, "error": error, "rule": rule}


# --8<-- [end:python]


# --8<-- [start:section]
class InputMeanConfig(TaskSection):
    """``[task] kind = "input_mean"``: the section that builds the task from a config."""

    description = "a linear neuron learns the mean of its inputs"
    requires = ("linear_map",)  # what the network must give (the linear network gives it)
    kind: Literal["input_mean"] = "input_mean"
    steps: int = Field(50, ge=1)
    batch: int = Field(50, ge=1)
    noise: float = Field(0.5, ge=0)

    def tasks(self, cfg):
        # (training task, held-out task or None: fresh episodes of the training task)
        return input_mean(cfg.network.n_in, self.steps, self.batch, self.noise), None


def rules_text(exp, theta):
    return {p: analysis.pretty(theta[p], exp.rules[p]) for p in theta}


def example(exp, theta, key, heldout):
    """The held-out mean output per episode, for ``summary.json``; no arrays for ``final.npz``."""
    return {}, {"mean_output": [float(v) for v in heldout["mean_output"]]}


MEAN = Family(
    name="input_mean",
    description="a linear neuron learns the mean of its inputs",
    networks=("linear",),
    tasks=("input_mean",),
    rule="polynomial",
    rules_text=rules_text,
    example=example,
    figures=lambda exp, history, arrays: {},  # the generic loss.png only
    default_rules={"ff": {"order": 1, "variables": ["pre", "w"]}},
)


def learn_from_a_config(generations: int = 5) -> dict:
    components.register(InputMeanConfig)
    experiment.register(MEAN)
    raw = {
        "name": "input_mean",
        "family": "input_mean",
        "network": {"kind": "linear", "n_in": 4, "n_out": 1, "eta": 0.1},
        "task": {"kind": "input_mean", "episodes": 8, "heldout_episodes": 8},
        "meta": {"optimizer": "cma_es", "generations": generations, "popsize": 10, "sigma0": 0.5},
    }
    cfg = experiment.validate(raw)
    with tempfile.TemporaryDirectory() as tmp:
        summary = experiment.run(cfg, Path(tmp) / "run")
    print(f"config run: family {cfg.family}, held-out loss {summary['heldout_loss']:.3f}")
    return summary


# --8<-- [end:section]


# --8<-- [start:main]
def main() -> dict:
    return {"python": learn_in_python(), "config": learn_from_a_config()}


if __name__ == "__main__":
    main()
# --8<-- [end:main]
