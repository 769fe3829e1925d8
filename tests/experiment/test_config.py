import contextlib
import tomllib

import jax
import numpy as np
import pytest

from plastix import experiment
from plastix.experiment import UserError


def test_shipped_configs_validate():
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.toml"))
    assert {"oja", "oja_n100", "pca"} <= {p.stem for p in configs}
    for p in configs:
        cfg = experiment.load(p)
        experiment.build(cfg)


@pytest.mark.parametrize(
    "override,needle",
    [
        ("network.foo=1", "network.foo"),
        ("network.n_in=abc", "network.n_in"),
        ("network.n_in=0", "network.n_in"),
        ("network.n_out=5", "n_out (5) must not exceed n_in (3)"),
        ("task.kind=xyz", "task.kind"),
        ("rules.ff.reference=foo", "rules.ff.reference"),
        ("meta.optimizer=nelder", "meta.optimizer"),
        ("task.samples=2", "task.samples (2) must be 0 or >= network.n_in (3)"),
        ("rules.ff.init=best", "rules.ff.init"),
        ("nokey", "section.key=value"),
    ],
)
def test_bad_values_name_the_field(tiny_config, override, needle):
    with pytest.raises(UserError) as err:
        experiment.load(tiny_config, [override])
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="not found"):
        experiment.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(UserError, match="invalid TOML"):
        experiment.load(bad)


def test_overrides_are_typed(tiny_config):
    cfg = experiment.load(tiny_config, ["network.eta=0.1", "task.resample=true", "meta.l1=1e-3", "name=x"])
    assert cfg.network.eta == 0.1 and cfg.task.resample is True and cfg.meta.l1 == 1e-3 and cfg.name == "x"


def test_reference_init_needs_a_reference(tiny_config, tmp_path):
    cfg = experiment.load(tiny_config, ["rules.ff.init=reference"])
    exp = experiment.build(cfg)
    assert float(exp.theta0["ff"] @ exp.references["ff"][1]) == 2.0  # Oja: A110 = 1, A021 = -1
    no_ref = tmp_path / "no_ref.toml"
    no_ref.write_text(tiny_config.read_text().replace('reference = "oja"', ""))
    with pytest.raises(UserError, match="init = 'reference' needs a reference"):
        experiment.load(no_ref, ["rules.ff.init=reference"])


@pytest.mark.parametrize(
    "override,needle",
    [
        ("family=spiking", "network.kind: family 'spiking' runs network 'lif'; got 'linear'"),
        (
            "family=nope",
            "family: unknown family 'nope'; "
            "allowed: ['feedback', 'gd_approx', 'pca', 'recurrent', 'spiking']",
        ),
        (
            "network.kind=lif",
            "task.kind: task 'pca' needs 'linear_map', which network 'lif' does not give "
            "(it gives: spikes, afferent_groups)",
        ),
        (
            "network.kind=rnn",
            "network.kind: unknown network 'rnn'; allowed: ['clamped', 'lif', 'linear', 'mlp', 'recurrent']",
        ),
        (
            "task.kind=target_rate",
            "task.kind: task 'target_rate' needs 'spikes', which network 'linear' does not give "
            "(it gives: rates, linear_map)",
        ),
        ("rules.ff.kind=nope", "rules.ff.kind: unknown rule 'nope'; allowed: ["),
    ],
)
def test_components_that_do_not_fit_are_refused_in_one_line(override, needle):
    from pathlib import Path

    oja = Path(__file__).resolve().parents[2] / "configs" / "oja.toml"  # every section names its kind
    with pytest.raises(UserError) as err:
        experiment.load(oja, [override])
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "rule,needle",
    [
        ("spike_trace", "rule 'spike_trace' needs 'dt', which network 'linear' does not give"),
        ("term_library", "rule 'term_library' needs 'error', which network 'linear' does not give"),
    ],
)
def test_a_rule_whose_needs_the_network_does_not_give_is_refused(tiny_config, rule, needle):
    """The rule's contract against the projection's: one line naming the signal and what there is."""
    raw = experiment.apply_overrides(tomllib.loads(tiny_config.read_text()), [])
    raw["rules"] = {"ff": {"kind": rule}}
    with pytest.raises(UserError) as err:
        experiment.validate(raw)
    msg = str(err.value)
    assert msg.startswith("config error: rules.ff: " + needle) and "for projection 'ff'" in msg
    assert msg.endswith("(it gives: pre, post, w)") and "\n" not in msg


def test_the_family_is_resolved_and_written(tiny_config):
    cfg = experiment.load(tiny_config)
    assert cfg.family == "pca" and cfg.spec.name == "pca" and 'family = "pca"' in experiment.dump_config(cfg)
    assert experiment.load(tiny_config, ["family=pca"]) == cfg


def test_meta_holds_the_chosen_optimisers_fields_only(tiny_config):
    cfg = experiment.load(tiny_config, ["meta.optimizer=gradient", "meta.schedule=cosine"])
    assert cfg.meta.optimizer == "gradient" and cfg.meta.schedule == "cosine"
    assert not hasattr(cfg.meta, "popsize") and not hasattr(cfg.meta, "sigma0")
    assert "popsize" not in experiment.dump_config(cfg)
    # A key of another optimiser is refused by none and ignored, as it always was.
    assert (
        experiment.load(tiny_config, ["meta.optimizer=gradient", "meta.popsize=7"]).meta.optimizer
        == "gradient"
    )
    with pytest.raises(UserError, match=r"meta.schedule: Input should be 'constant' or 'cosine'"):
        experiment.load(tiny_config, ["meta.optimizer=gradient", "meta.schedule=linear"])


def test_a_cosine_schedule_decays_the_step_to_zero_over_the_generations():
    """Adam's step on a loss of constant gradient is the learning rate: 0.02 at first, ~0 at the end."""
    import jax.numpy as jnp

    from plastix.experiment.components.optimizers import GradientConfig

    for schedule, last in (("constant", 0.02), ("cosine", 0.02 * 0.5 * (1 + np.cos(np.pi * 9 / 10)))):
        opt = GradientConfig(learning_rate=0.02, schedule=schedule, generations=10, clip_norm=None).build(
            None
        )
        theta0 = {"ff": jnp.zeros(3)}
        prepared = opt.prepare(
            lambda t, key: (jnp.sum(t["ff"]), {"task_loss": jnp.sum(t["ff"]), "unstable": 0.0}), theta0
        )
        state, thetas = opt.init(theta0, 0), [np.zeros(3)]
        for g in range(10):
            state, _ = opt.step(state, prepared, jax.random.PRNGKey(g))
            thetas.append(np.asarray(opt.theta(state, prepared)["ff"]))
        steps = np.abs(np.diff(thetas, axis=0))[:, 0]
        np.testing.assert_allclose(steps[0], 0.02, rtol=1e-3)
        np.testing.assert_allclose(steps[-1], last, rtol=1e-2)


@pytest.mark.parametrize(
    "old,new,warns",
    [
        # The gradient's clip_norm is no finite-difference setting: only fd_clip_norm is.
        (
            {"optimizer": "finite_difference", "fd_epsilon": 0.5, "clip_norm": 1.0},
            {"epsilon": 0.5, "clip_norm": None},
            True,
        ),
        (
            {"optimizer": "finite_difference", "fd_epsilon": 0.05, "fd_clip_norm": 2.0},
            {"clip_norm": 2.0},
            True,
        ),
        (
            {"optimizer": "evosax", "es_strategy": "SNES", "popsize": 6},
            {"strategy": "SNES", "popsize": 6},
            True,
        ),
        ({"optimizer": "gradient", "gradient_optimizer": "adam", "popsize": 6}, {"optax": "adam"}, False),
    ],
)
def test_the_flat_meta_of_plastix_0_1_is_read_as_the_optimisers_section(tiny_config, old, new, warns):
    """Renamed keys are read under their new names (a warning when not at their default), other
    optimisers' keys are dropped."""
    raw = tomllib.loads(tiny_config.read_text())
    raw["meta"] = {**raw.get("meta", {}), **old}
    with pytest.warns(experiment.ConfigWarning) if warns else contextlib.nullcontext():
        cfg = experiment.validate(raw)
    assert {k: getattr(cfg.meta, k) for k in new} == new
