"""Components and a family registered from outside plastix run through the whole CLI, with no
change under src/, and combine with the shipped components.

The toy components: a 2-input linear neuron ``y = w . x`` (a network), a task
whose loss is the distance of ``w`` to the unit vector along the inputs'
principal axis, and a 4-coefficient rule ``dw = a x y + b y^2 w + c x + d w``
(Oja's rule is ``a = 1, b = -1``); the toy family pairs them. Everything below
is what a user writes in their own module.
"""

import json
from typing import Literal

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from pydantic import Field

from plastix import cli, experiment, networks, rules, tasks
from plastix.experiment import Family, NetworkSection, Projection, RuleSection, TaskSection, components


def toy_network(eta: float) -> networks.Network:
    def init(key):
        return networks.NetState({"w": 0.1 * jax.random.normal(key, (1, 2))})

    def step(state, x):  # x: [2], one sample per step
        y = state.w["w"] @ x
        return state, y, {"w": {"pre": x, "post": y, "w": state.w["w"]}}

    def apply(state, dw):
        return state._replace(w={"w": jnp.clip(state.w["w"] + eta * dw["w"], -10.0, 10.0)})

    def unstable(state):
        return ~jnp.all(jnp.isfinite(state.w["w"])) | (jnp.max(jnp.abs(state.w["w"])) >= 10.0)

    return networks.Network(init, step, apply, unstable, ("w",))


def toy_task(steps: int) -> tasks.Task:
    def sample(key):
        angle = jax.random.uniform(key, (), minval=0.0, maxval=jnp.pi)
        return {"axis": jnp.stack([jnp.cos(angle), jnp.sin(angle)])}

    def inputs(episode, t, key):
        k1, k2 = jax.random.split(key)
        return 2.0 * jax.random.normal(k1) * episode["axis"] + 0.3 * jax.random.normal(k2, (2,))

    def loss(state, records, episode):
        w = state.w["w"][0]
        s = jnp.sign(w @ episode["axis"] + 1e-12)
        return jnp.linalg.norm(w - s * episode["axis"]), {"w_norm": jnp.linalg.norm(w)}

    return tasks.Task(sample, inputs, loss, steps)


NAMES = ("xy", "yyw", "x", "w")


def toy_rule() -> rules.Rule:
    def update(theta, local, state):
        # Signals carry a leading batch axis, or none for one sample a step: averaged over it.
        x, y, w = jnp.atleast_2d(local["pre"]), jnp.atleast_2d(local["post"]), local["w"]
        xy, yy, xm = y.T @ x / len(x), jnp.mean(y**2, 0)[:, None] * w, jnp.broadcast_to(x.mean(0), w.shape)
        return jnp.tensordot(theta, jnp.stack([xy, yy, xm, w]), 1), state

    return rules.Rule(
        init_theta=lambda key: 0.1 * jax.random.normal(key, (4,)),
        init_state=lambda w: (),
        update=update,
        names=NAMES,
        needs=("pre", "post", "w"),
        symbols={},
    )


class ToyNetworkConfig(NetworkSection):
    description = "a 2-input linear neuron"
    gives = ("toy_readout",)
    kind: Literal["toy_linear"] = "toy_linear"
    eta: float = Field(0.05, gt=0)

    def projections(self):
        return {"w": Projection(("pre", "post", "w"), (1, 2))}

    def network(self, **options):
        return toy_network(self.eta)


class ToyTaskConfig(TaskSection):
    description = "the distance of w to the inputs' principal axis"
    requires = ("toy_readout",)
    kind: Literal["toy_axis"] = "toy_axis"
    steps: int = Field(60, ge=1)
    episodes: int = 4
    heldout_episodes: int = 4

    def tasks(self, cfg):
        return toy_task(self.steps), None


class ToyRuleConfig(RuleSection):
    description = "four terms, Oja's two among them"
    references = ("toy_oja",)
    kind: Literal["toy4"] = "toy4"

    def needs(self):
        return ("pre", "post", "w")

    def rule(self, projection):
        return toy_rule()


def _text(exp, theta):
    return {
        p: "dw = "
        + " + ".join(f"{c:.3g} {n}" for c, n in zip(np.asarray(theta[p]), exp.rules[p].names, strict=True))
        for p in theta
    }


def _example(exp, theta, key, heldout):
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.task, theta, episode, k_run)
    w = np.asarray(final.w["w"])
    return {"w": w, "axis": np.asarray(episode["axis"])}, {
        "toy_w_norms": [float(v) for v in heldout["w_norm"]]
    }


def _figures(exp, history, arrays):
    fig, ax = plt.subplots()
    ax.plot(history.generations, history.theta["w"])
    if arrays is not None:
        ax.set_title(f"final |w| = {np.linalg.norm(arrays['w']):.2f}")
    return {"toy.png": fig}


TOY = Family(
    name="toy",
    description="a 2-input neuron finds its inputs' principal axis",
    networks=("toy_linear",),
    tasks=("toy_axis",),
    rule="toy4",
    rules_text=_text,
    example=_example,
    figures=_figures,
    columns=lambda exp, theta: {"theta_norm": float(jnp.linalg.norm(theta["w"]))},
    summary_lines=lambda s: [f"toy: held-out |w| {np.mean(s['toy_w_norms']):.3f}"],
    default_rules={"w": {"reference": "toy_oja"}},
    tiny={"network": {"kind": "toy_linear"}, "task": {"steps": 10}, "meta": {"generations": 2, "popsize": 4}},
)

TOY_TOML = """
name = "toy"
seed = 1

[network]
kind = "toy_linear"

[meta]
generations = 3
popsize = 6
sigma0 = 0.3
"""


@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setitem(rules.REFERENCES, "toy_oja", lambda rule: jnp.array([1.0, -1.0, 0.0, 0.0]))
    for section in (ToyNetworkConfig, ToyTaskConfig, ToyRuleConfig):
        components.register(section)
    experiment.register(TOY)
    path = tmp_path / "toy.toml"
    path.write_text(TOY_TOML)
    yield path
    experiment.unregister("toy")
    for role, kind in (("network", "toy_linear"), ("task", "toy_axis"), ("rule", "toy4")):
        components.unregister(role, kind)


def test_a_family_from_outside_runs_through_run_show_resume_and_plot(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["check", str(toy)]) == 0
    text = capsys.readouterr().out
    assert "family 'toy'" in text and 'kind = "toy4"' in text and 'family = "toy"' in text

    assert cli.main(["run", str(toy), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "learned rule  dw = " in text and "angle to toy_oja" in text and "toy: held-out |w|" in text
    rows = experiment._rundir.read_metrics(out)
    assert len(rows) == 3 and {"angle_toy_oja", "theta_norm", "theta_w_xy", "theta_w_w"} <= set(rows[0])

    assert cli.main(["show", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["generations"] == 3 and s["names"]["w"] == list(NAMES) and len(s["toy_w_norms"]) == 4
    assert s["heldout_metrics"]["w_norm"] == pytest.approx(np.mean(s["toy_w_norms"]), rel=1e-5)

    # Raise the budget of the finished run: the same rows as a 5-generation run from scratch.
    assert cli.main(["resume", str(out), "--generations", "5", "--quiet"]) == 0
    assert (
        cli.main(["run", str(toy), "--out", str(tmp_path / "five"), "--quiet", "--set", "meta.generations=5"])
        == 0
    )
    capsys.readouterr()

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]

    five = experiment._rundir.read_metrics(tmp_path / "five")
    assert strip(experiment._rundir.read_metrics(out)) == strip(five)

    assert cli.main(["plot", str(out)]) == 0
    figs = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[-1] for p in figs} == {"loss.png", "toy.png"}
    assert all((out / "figures" / f).stat().st_size > 5000 for f in ("loss.png", "toy.png"))
    assert set(np.load(out / "final.npz")) == {"w", "axis", "theta_w", "optimizer_mean", "optimizer_stds"}


def test_plugin_components_are_listed_and_checked_by_their_contracts(toy, tmp_path, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "toy_linear" in out and "toy_axis" in out and "toy4" in out
    # The shipped pca task needs what the toy network does not give: one line, its reason.
    assert cli.main(["check", str(toy), "--set", "task.kind=pca"]) == 2
    err = capsys.readouterr().err
    assert (
        "task 'pca' needs 'linear_map', which network 'toy_linear' does not give (it gives: toy_readout)"
        in err
    )
    assert err.count("\n") == 1
    # A shipped rule that needs only what the toy network gives runs on it...
    assert (
        cli.main(
            ["run", str(toy), "--set", "rules.w.kind=polynomial", "--out", str(tmp_path / "p"), "--quiet"]
        )
        == 0
    )
    assert "learned rule" in capsys.readouterr().out
    # ... and one that needs more is refused by its contract.
    assert cli.main(["check", str(toy), "--set", "rules.w.kind=spike_trace"]) == 2
    err = capsys.readouterr().err
    assert "rules.w: rule 'spike_trace' needs 'dt', which network 'toy_linear' does not give" in err
    assert cli.main(["check", str(toy), "--set", "rules.x.kind=toy4"]) == 2
    err = capsys.readouterr().err
    assert "plastic projections ['w'] of network 'toy_linear'" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="already registered"):
        experiment.register(TOY)
    with pytest.raises(ValueError, match="network 'nope' is no registered component"):
        experiment.register(TOY._replace(name="toy2", networks=("nope",)))


def test_the_toy_rule_runs_on_a_shipped_network(toy, tmp_path):
    """The plugin rule on the shipped linear network and pca task: contracts, not families, decide."""
    raw = {
        "network": {"kind": "linear", "n_in": 3, "n_out": 1},
        "task": {"kind": "pca", "steps": 10, "batch": 20, "episodes": 2, "heldout_episodes": 2},
        "rules": {"ff": {"kind": "toy4"}},
        "meta": {"generations": 2, "popsize": 4},
    }
    cfg = experiment.validate(raw)
    assert cfg.family == "pca" and cfg.rules["ff"].kind == "toy4"
    summary = experiment.run(cfg, tmp_path / "run")
    assert np.isfinite(summary["heldout_loss"]) and len(summary["heldout_pc_angles"]) == 1
