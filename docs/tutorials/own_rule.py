"""Write your own plasticity rule and meta-learn its coefficients with plastix.

Run it with ``python docs/tutorials/own_rule.py``; the docs page ``tutorials/own_rule.md`` shows
this script section by section, and ``tests/test_tutorials.py`` runs it.
"""

# --8<-- [start:imports]
import tempfile
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from plastix import analysis, experiment, meta, networks, rules, tasks
from plastix.experiment import RuleSection, components

# --8<-- [end:imports]


# --8<-- [start:local]
def local_shapes(config: str) -> dict[str, dict[str, object]]:
    """The shapes of ``local``, what a shipped config's network gives each plastic projection's rule
    in one inner step (layered projections give a tuple: one shape per layer)."""
    cfg = experiment.load(experiment.shipped_config(config))
    parts = experiment.parts(cfg)
    key = jax.random.PRNGKey(0)
    x = parts.task.inputs(parts.task.sample(key), jnp.asarray(0), key)
    # Shapes only: jax.eval_shape traces one step without computing it.
    _, _, local = jax.eval_shape(parts.network.step, parts.network.init(key), x)
    return {
        p: {k: jax.tree.map(lambda a: tuple(a.shape), v) for k, v in sig.items()} for p, sig in local.items()
    }


NETWORKS = {"linear": "oja", "lif": "istdp_quick", "mlp": "fa_digits", "clamped": "gd_approx_teacher"}


def print_local_shapes() -> dict[str, dict]:
    shapes = {net: local_shapes(config) for net, config in NETWORKS.items()}
    for net, projections in shapes.items():
        for p, signals in projections.items():
            print(f"{net:8s} {p:4s} " + ", ".join(f"{k} {v}" for k, v in sorted(signals.items())))
    return shapes


# --8<-- [end:local]


# --8<-- [start:rule]
NAMES = ("hebb", "oja_decay", "decay")


def hebb_decay(init_std: float = 0.1) -> rules.Rule:
    """``dw = a <y x> + b <y^2> w + c w``: Hebbian growth and two kinds of decay (Oja's rule is
    ``a = 1, b = -1, c = 0``), batch means over the step's samples."""

    def update(theta, local, state):
        # [batch, pre] and [batch, post] on rate networks; one sample a step ([pre]) is a batch of one.
        x, y, w = jnp.atleast_2d(local["pre"]), jnp.atleast_2d(local["post"]), local["w"]
        hebb = y.T @ x / x.shape[0]  # <y_i x_j>, [post, pre]
        oja_decay = jnp.mean(y**2, axis=0)[:, None] * w  # <y_i^2> w_ij
        return theta[0] * hebb + theta[1] * oja_decay + theta[2] * w, state

    return rules.Rule(
        init_theta=lambda key: init_std * jax.random.normal(key, (len(NAMES),)),
        init_state=lambda w: (),  # a rate rule keeps no traces
        update=update,
        names=NAMES,
        needs=("pre", "post", "w"),
        symbols={"pre": "x", "post": "y", "w": "w"},
    )


OJA = jnp.array([1.0, -1.0, 0.0])  # Oja's rule as a theta of hebb_decay

# --8<-- [end:rule]


# --8<-- [start:python]
def learn_in_python(generations: int = 30, seed: int = 0) -> dict:
    """CMA-ES on the rule's 3 coefficients: one linear neuron, 3 inputs, its principal component."""
    rule = hebb_decay()
    net = networks.linear(n_in=3, n_out=1)
    task = tasks.pca(n_in=3, n_out=1, num_steps=50, batch=100, scale_spread=2.0)
    loss = tasks.meta_loss({"ff": rule}, net, task, num_episodes=8)

    opt = meta.cma_es(popsize=8, sigma0=0.5)
    theta0 = {"ff": rule.init_theta(jax.random.PRNGKey(seed))}
    prepared, state = opt.prepare(loss, theta0), opt.init(theta0, seed=seed)
    losses = []
    for g in range(generations):
        state, metrics = opt.step(state, prepared, jax.random.fold_in(jax.random.PRNGKey(seed), g))
        losses.append(float(metrics["loss_best"]))
    theta = np.asarray(opt.theta(state, prepared)["ff"])
    print(f"loss: generation 0 {losses[0]:.3f}, generation {generations - 1} {losses[-1]:.3f}")
    print("learned", analysis.pretty(theta, rule))
    print(f"angle to Oja's rule: {analysis.angle(theta, OJA):.1f} degrees")
    return {"losses": losses, "theta": theta, "angle": analysis.angle(theta, OJA)}


# --8<-- [end:python]


# --8<-- [start:section]
class HebbDecayConfig(RuleSection):
    """``[rules.<projection>] kind = "hebb_decay"``: the section that builds the rule from a config."""

    description = "Hebbian growth with Oja's decay and a plain decay, 3 coefficients"
    kind: Literal["hebb_decay"] = "hebb_decay"

    def needs(self) -> tuple[str, ...]:
        return ("pre", "post", "w")  # checked against what the network gives the projection

    def rule(self, projection) -> rules.Rule:
        return hebb_decay(self.init_std)


def learn_from_a_config(generations: int = 5) -> dict:
    components.register(HebbDecayConfig)
    raw = {
        "name": "own_rule",
        "network": {"kind": "linear", "n_in": 3, "n_out": 1},
        "task": {"kind": "pca", "steps": 50, "batch": 100, "episodes": 8, "heldout_episodes": 8},
        "rules": {"ff": {"kind": "hebb_decay"}},
        "meta": {"optimizer": "cma_es", "generations": generations, "popsize": 8, "sigma0": 0.5},
    }
    cfg = experiment.validate(raw)  # the same checks as `plastix run`
    with tempfile.TemporaryDirectory() as tmp:
        summary = experiment.run(cfg, Path(tmp) / "run")
    print(f"config run: family {cfg.family}, held-out loss {summary['heldout_loss']:.3f}")
    return summary


# --8<-- [end:section]


# --8<-- [start:main]
def main() -> dict:
    return {"shapes": print_local_shapes(), "python": learn_in_python(), "config": learn_from_a_config()}


if __name__ == "__main__":
    main()
# --8<-- [end:main]
