"""Contracts that every combination of registered components, every optimiser and every family meets.

Parametrised over the registries (evosax style): a new rule, network, task,
optimiser or family is checked here without new test code. The combination
matrix is every rule x network x task triple: those whose contracts fit
(:func:`plastix.experiment.components.rule_misfit`, ``task_misfit``) build
from the components' ``tiny`` sections and run, the others are refused in
one line. Each family's ``tiny`` config supplies the optimiser and report tests.
"""

import copy
import pickle
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import experiment, tasks
from plastix import rules as experiment_rules
from plastix.experiment import _runner, components

FAMILIES = sorted(experiment.registry())
OPTIMIZERS = sorted(experiment.OPTIMIZERS)


def _misfit(rule: str, network: str, task: str) -> str | None:
    """Why the triple cannot run (the message validation gives), or ``None``."""
    net_cls, task_cls = components.get("network", network), components.get("task", task)
    why = components.task_misfit(task_cls, net_cls)
    if why:
        return f"task.kind: {why}"
    net, rc = net_cls(**net_cls.tiny), components.get("rule", rule)(**components.get("rule", rule).tiny)
    for p in sorted(net.projections()):
        why = components.rule_misfit(rc, net, p)
        if why:
            return f"rules.{p}: {why}"
    return None


TRIPLES = [
    (r, n, t)
    for n in sorted(components.components("network"))
    for t in sorted(components.components("task"))
    for r in sorted(components.components("rule"))
]
COMPATIBLE = [x for x in TRIPLES if _misfit(*x) is None]
INCOMPATIBLE = [x for x in TRIPLES if _misfit(*x) is not None]


def _triple_config(rule: str, network: str, task: str, *overrides: str):
    """The config of a triple from its components' ``tiny`` sections."""
    net_cls = components.get("network", network)
    rule_cls = components.get("rule", rule)
    raw = {
        "name": f"{rule}-{network}-{task}",
        "network": {"kind": network, **copy.deepcopy(net_cls.tiny)},
        "task": {"kind": task, **copy.deepcopy(components.get("task", task).tiny)},
        "rules": {
            p: {"kind": rule, **copy.deepcopy(rule_cls.tiny)} for p in net_cls(**net_cls.tiny).projections()
        },
        "meta": {"generations": 2, "popsize": 4, "unstable_loss": 300.0},
    }
    return experiment.validate(experiment.apply_overrides(raw, list(overrides)))


def _ids(triple):
    return "-".join(triple)


_compiles = {"on": False, "n": 0}


def _count(event, duration, **kwargs):
    if _compiles["on"] and event == "/jax/core/compile/backend_compile_duration":
        _compiles["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


def _config(family: str, *overrides: str):
    raw = {**copy.deepcopy(dict(experiment.registry()[family].tiny)), "family": family}
    return experiment.validate(experiment.apply_overrides(raw, list(overrides)))


@pytest.fixture(scope="module", params=COMPATIBLE, ids=_ids)
def exp(request):
    return experiment.build(_triple_config(*request.param))


def test_the_matrix_covers_every_registered_component():
    """Every rule, network and task runs in at least one triple; the shipped ones give 11 of 80."""
    for role, i in (("rule", 0), ("network", 1), ("task", 2)):
        assert {x[i] for x in COMPATIBLE} == set(components.components(role)), role
    assert len(TRIPLES) == len(COMPATIBLE) + len(INCOMPATIBLE)


@pytest.mark.parametrize("triple", INCOMPATIBLE, ids=_ids)
def test_an_incompatible_triple_is_one_line(triple):
    with pytest.raises(experiment.UserError) as err:
        _triple_config(*triple)
    msg = str(err.value)
    assert msg == f"config error: {_misfit(*triple)}" and "\n" not in msg


@pytest.mark.parametrize("triple", COMPATIBLE, ids=_ids)
def test_a_compatible_triple_runs_and_reports(triple, tmp_path):
    """Two generations through the runner (the second compiles nothing, the checkpoint pickles) and
    its family's reports: summary, figures, final arrays."""
    cfg = _triple_config(*triple)
    compiled = {}

    def progress(gen, row):  # called after each generation: count what the second one compiles
        if gen == 2:
            compiled["second"] = _compiles["n"]
        _compiles.update(on=gen == 1, n=0)

    try:
        summary = _runner.run(cfg, tmp_path / "run", progress=progress)
    finally:
        _compiles["on"] = False
    assert compiled["second"] == 0
    assert experiment._rundir.load_checkpoint(tmp_path / "run")["generation"] == 2
    assert np.isfinite(summary["loss"]) and set(summary["theta"]) == set(cfg.rules)
    assert summary["rule"] and len(summary["rule"].split("; ")) == len(cfg.rules)
    assert all(isinstance(line, str) for line in cfg.spec.summary_lines(summary))
    figures = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert "loss.png" in figures and len(figures) >= 2  # the family's own beside loss.png
    final = np.load(tmp_path / "run" / "final.npz")
    assert all(any(k.startswith(f"theta_{p}") for k in final) for p in cfg.rules)


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def _first_step(exp):
    key = jax.random.PRNGKey(0)
    episode = exp.task.sample(key)
    state = exp.network.init(key)
    x = exp.task.inputs(episode, jnp.asarray(0), key)
    return episode, state, x


def test_network_contract(exp):
    episode, state, x = _first_step(exp)
    assert set(state.w) == set(exp.network.plastic)
    assert not bool(exp.network.unstable(state))
    new, out, local = exp.network.step(state, x)
    assert jax.tree.structure(new) == jax.tree.structure(state)
    for p in exp.network.plastic:
        # A projection's weights: one [post, pre] matrix, or a tuple of them (one per layer).
        w = state.w[p]
        assert all(x.ndim == 2 and x.dtype == jnp.float32 for x in jax.tree.leaves(w))
        assert jax.tree.structure(local[p]["w"]) == jax.tree.structure(w)
        assert set(exp.rules[p].needs) <= set(local[p]), (p, exp.rules[p].needs, set(local[p]))
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(out))
    _close(jax.jit(exp.network.step)(state, x), (new, out, local))
    _close(pickle.loads(pickle.dumps(new)), new)  # network states pickle (recordings, checkpoints)
    # Applying no change keeps every weight.
    kept = exp.network.apply(new, {p: jax.tree.map(jnp.zeros_like, new.w[p]) for p in exp.network.plastic})
    _close(kept.w, new.w)


def test_rule_contract(exp):
    episode, state, x = _first_step(exp)
    _, _, local = exp.network.step(state, x)
    for i, (p, rule) in enumerate(sorted(exp.rules.items())):
        theta = rule.init_theta(jax.random.PRNGKey(i))
        assert all(t.dtype == jnp.float32 for t in jax.tree.leaves(theta))
        # A rule describes its theta in a few named numbers (metrics.csv) and in words.
        assert list(experiment_rules.summarise(rule, theta)) == [
            n for name in rule.names for n in (name, f"{name}_sd")[: 1 + (rule.synapses is not None)]
        ]
        assert isinstance(experiment_rules.describe(rule, theta), str)
        if rule.summary is None:
            # [size] for a shared rule; per-synapse rules: leaves [post, pre, size] (or [size], a mean).
            assert all(t.shape[-1] == rule.size for t in jax.tree.leaves(theta))
            if rule.synapses is None:
                assert theta.shape == (rule.size,)
            else:
                assert rule.synapses(theta).shape == (*state.w[p].shape, rule.size)
        sizes = exp.network.sizes or {}
        if p in sizes:  # a sparse projection: traces per neuron, a change of the synapses that spiked
            rs = rule.init_state(jax.ShapeDtypeStruct(sizes[p], state.w[p].dtype))
            dw, rs2 = rule.update(theta, local[p], rs)
            assert isinstance(dw, experiment_rules.SynapseDelta)
            assert dw.index.shape == dw.value.shape and dw.value.dtype == state.w[p].dtype
        else:
            rs = rule.init_state(state.w[p])
            dw, rs2 = rule.update(theta, local[p], rs)
            assert jax.tree.structure(dw) == jax.tree.structure(state.w[p])
            for d, w in zip(jax.tree.leaves(dw), jax.tree.leaves(state.w[p]), strict=True):
                assert d.shape == w.shape and d.dtype == w.dtype
        assert jax.tree.structure(rs2) == jax.tree.structure(rs)
        _close(jax.jit(rule.update)(theta, local[p], rs), (dw, rs2))
        # vmap over a population of thetas equals one call per theta.
        pop = jax.tree.map(lambda t: t + 0.1 * jax.random.normal(jax.random.PRNGKey(9), (3, *t.shape)), theta)
        batched, _ = jax.vmap(rule.update, in_axes=(0, None, None))(pop, local[p], rs)
        assert all(
            b.shape == (3, *d.shape)
            for b, d in zip(jax.tree.leaves(batched), jax.tree.leaves(dw), strict=True)
        )
        for k in range(3):
            one = jax.tree.map(lambda t, k=k: t[k], pop)
            _close(jax.tree.map(lambda b, k=k: b[k], batched), rule.update(one, local[p], rs)[0])


def test_task_contract(exp):
    key = jax.random.PRNGKey(1)
    episode = exp.task.sample(key)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(episode))
    records = None
    if exp.task.record is None:
        final = tasks.unroll(exp.rules, exp.network, exp.task, exp.theta0, episode, key)
    else:  # what the task reads of the trajectory
        final, records = tasks.unroll(
            exp.rules, exp.network, exp.task, exp.theta0, episode, key, record=exp.task.record
        )
        assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(records))
    loss, metrics = exp.task.loss(final, records, episode)
    assert loss.shape == () and bool(jnp.isfinite(loss))
    assert all(jnp.shape(v) == () for v in metrics.values())


def test_meta_loss_contract(exp):
    f, key = exp.train_loss, jax.random.PRNGKey(2)
    eager, _ = f(exp.theta0, key)
    jitted, metrics = jax.jit(f)(exp.theta0, key)
    _close(jitted, eager)
    assert {"task_loss", "unstable"} <= set(metrics)
    # A population of random thetas, wild ones included: vmapped equals one by one,
    # and every loss is finite, the task loss at most the penalty of an unstable rule.
    spread = jnp.array([0.0, 1.0, 10.0, 1000.0])

    def wild(t, key):
        noise = jax.random.normal(key, (4, *t.shape)) * (jnp.abs(t).max() + 1e-3)
        return t + spread.reshape(4, *[1] * t.ndim) * noise

    leaves, tree = jax.tree.flatten(exp.theta0)
    pop = jax.tree.unflatten(tree, [wild(t, jax.random.PRNGKey(10 + i)) for i, t in enumerate(leaves)])
    losses, m = jax.jit(jax.vmap(f, in_axes=(0, None)))(pop, key)
    assert losses.shape == (4,) and bool(jnp.all(jnp.isfinite(losses)))
    assert bool(jnp.all(m["task_loss"] <= exp.config.meta.unstable_loss))
    for i in (0, 1):
        _close(losses[i], jax.jit(f)(jax.tree.map(lambda t, i=i: t[i], pop), key)[0])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_optimizer_contract(family, optimizer):
    cfg = _config(family, f"meta.optimizer={optimizer}")
    exp = experiment.build(cfg)
    opt = exp.optimizer
    prepared = opt.prepare(exp.train_loss, exp.theta0)
    _compiles.update(on=True, n=0)
    try:
        state, m = opt.step(opt.init(exp.theta0, cfg.seed), prepared, _runner.generation_key(cfg, 0))
    finally:
        _compiles["on"] = False
    assert _compiles["n"] > 0  # the listener sees compilations: the check below means something
    assert {"loss_best", "loss_mean", "n_unstable"} <= set(m) and np.isfinite(m["loss_best"])
    # The optimiser state pickles (checkpoints), and the copy continues identically.
    copy_ = pickle.loads(pickle.dumps(state))
    _compiles.update(on=True, n=0)
    try:
        state, m2 = opt.step(state, prepared, _runner.generation_key(cfg, 1))
    finally:
        _compiles["on"] = False
    assert _compiles["n"] == 0, f"the second generation compiled {_compiles['n']} computation(s)"
    _, m3 = opt.step(copy_, prepared, _runner.generation_key(cfg, 1))
    assert {k: m2[k] for k in ("loss_best", "loss_mean")} == {k: m3[k] for k in ("loss_best", "loss_mean")}
    theta = opt.theta(state, prepared)
    # What the outer loop holds beyond its point (final.npz): finite arrays, flat over theta's numbers.
    dim = sum(x.size for x in jax.tree.leaves(exp.theta0))
    for name, v in opt.result(state, prepared).items():
        assert np.asarray(v).shape[-1] == dim and np.all(np.isfinite(np.asarray(v))), name
    assert jax.tree.structure(theta) == jax.tree.structure(exp.theta0)
    assert jax.tree.map(jnp.shape, theta) == jax.tree.map(jnp.shape, exp.theta0)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_contract(family):
    """A family's tiny config resolves to a config of it that validates to itself, and its default
    triple is one the matrix runs through its reports (test_a_compatible_triple_runs_and_reports)."""
    spec = experiment.registry()[family]
    cfg = _config(family)
    assert cfg.family == family and isinstance(cfg, experiment.config_model(spec))
    assert experiment.validate(tomllib.loads(experiment.dump_config(cfg))) == cfg
    kinds = {rc.kind for rc in cfg.rules.values()}
    assert all((k, cfg.network.kind, cfg.task.kind) in COMPATIBLE for k in kinds)
