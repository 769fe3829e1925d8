"""The gd_approx family through the CLI: methods side by side, coefficient spread, figures, config errors."""

import json

import jax
import numpy as np
import pytest

from plastix import cli, experiment

SETS = [
    "network.sizes=[6, 3]",
    "task.samples=20",
    "task.test_samples=30",
    "task.episodes=4",
    "task.heldout_episodes=6",
    "task.shared_generations=3",
    "task.curve_episodes=3",
    "meta.generations=4",
    "meta.validate_every=2",
    "meta.validate_episodes=3",
]


def _quick(sets=SETS):
    return [a for s in sets for a in ("--set", s)] + ["--quiet"]


QUICK = _quick()


def _show(out, capsys):
    capsys.readouterr()
    assert cli.main(["show", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_teacher_run_puts_gd_shared_and_per_synapse_side_by_side(tmp_path, capsys):
    out = tmp_path / "teacher"
    assert cli.main(["run", "gd_approx_teacher", "--out", str(out), *QUICK]) == 0
    text = capsys.readouterr().out
    assert "held-out test MSE: gd" in text and "per_synapse" in text and "dw_ij" in text
    s = _show(out, capsys)
    by = s["heldout_loss_by_method"]
    assert set(by) == {"gd", "shared", "per_synapse"} and all(np.isfinite(v) and v >= 0 for v in by.values())
    # The per-synapse entry is the run's own held-out score (the same episodes, the same MSE).
    assert by["per_synapse"] == pytest.approx(s["heldout_metrics"]["mse"], rel=1e-5)
    assert s["gd_learning_rate"] > 0 and len(s["shared_theta"]["l1"]) == 3
    spread = s["coefficient_spread"]["l1"]
    assert set(spread) == {"g2", "g0", "b"}
    for v in spread.values():
        assert v["sd"] >= 0 and (v["sd_over_abs_mean"] is None or v["sd_over_abs_mean"] >= 0)
    final = np.load(out / "final.npz")
    assert final["theta_l1"].shape == (3, 6, 3)  # [post, pre, (g2, g0, b)]
    c = final["theta_l1"].reshape(-1, 3)
    assert spread["g0"]["mean"] == pytest.approx(c[:, 1].mean(), rel=1e-5)
    assert spread["g0"]["sd"] == pytest.approx(c[:, 1].std(), rel=1e-4)
    for name in ("curve_gd", "curve_shared", "curve_per_synapse"):
        assert final[name].shape == (3, 21) and np.all(np.isfinite(final[name]))
    # Gradient descent's curve falls: it learns the teacher.
    assert final["curve_gd"][:, -1].mean() < 0.5 * final["curve_gd"][:, 0].mean()
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"theta_l1_g2", "theta_l1_g2_sd", "validation_loss"} <= set(header)
    for fig in (
        "loss.png",
        "coefficients.png",
        "coefficient_histograms.png",
        "learning_curves.png",
        "tuning.png",
    ):
        assert (out / "figures" / fig).stat().st_size > 5000
    # Gradient descent's step is the best of its tuning curve, whose best is interior.
    tuning = {float(k): v for k, v in s["gd_tuning"].items()}
    assert tuning[s["gd_learning_rate"]] == min(tuning.values())
    assert min(tuning) < s["gd_learning_rate"] < max(tuning)
    assert "coefficient_inverse_variance_corr" not in s  # isotropic inputs: nothing to follow


def test_coefficients_following_the_inverse_input_variances_score_one():
    """With ``task.input_spread`` the summary says how each per-synapse coefficient follows 1 / var_j."""
    from plastix.experiment.families import gd_approx

    cfg = experiment.load(
        experiment.shipped_config("gd_approx_teacher"),
        ["task.setting=family", "task.input_spread=10", "network.sizes=[6, 3]"],
    )
    exp = experiment.build(cfg)
    key = jax.random.PRNGKey(cfg.seed)
    inverse = 1.0 / np.asarray(cfg.task.input_scales(key, 6)) ** 2
    assert inverse.max() / inverse.min() > 2  # spread
    rng = np.random.default_rng(0)
    theta = np.stack(
        [np.tile(inverse, (3, 1)), np.tile(-inverse, (3, 1)), rng.normal(size=(3, 6))], axis=-1
    )  # [post, pre, (g2, g0, b)]: g2 = 1 / var_j, g0 = -1 / var_j, b unrelated
    corr = gd_approx._inverse_variance_corr(exp, {"l1": theta})
    assert corr["g2"] == pytest.approx(1.0) and corr["g0"] == pytest.approx(-1.0) and abs(corr["b"]) < 0.9
    headline = gd_approx.headline({"coefficient_inverse_variance_corr": corr})
    assert headline["corr_g2_inverse_variance"] == pytest.approx(1.0)


def test_digits_run_reports_accuracy_by_method(tmp_path, capsys):
    out = tmp_path / "digits"
    quick = _quick([s for s in SETS if not s.startswith("network.sizes")] + ["task.samples=60"])
    assert cli.main(["run", "gd_approx_digits", "--out", str(out), *quick]) == 0
    s = _show(out, capsys)
    acc = s["heldout_accuracy_by_method"]
    assert set(acc) == {"gd", "shared", "per_synapse"} and all(0 <= v <= 1 for v in acc.values())
    assert acc["gd"] > 0.3  # 60 online samples of 10 digits: well above chance (0.1)


def test_shared_rule_run_has_no_per_synapse_entry_and_is_its_own_shared_baseline(tmp_path, capsys):
    out = tmp_path / "shared"
    args = ["run", "gd_approx_teacher", "--out", str(out), *QUICK, "--set", "rules.l1.per_synapse=false"]
    assert cli.main(args) == 0
    s = _show(out, capsys)
    by = s["heldout_loss_by_method"]
    assert by["per_synapse"] is None and "shared_gap_closed" not in s
    assert by["shared"] == pytest.approx(s["heldout_metrics"]["mse"], rel=1e-5)
    assert s["shared_theta"]["l1"] == pytest.approx(s["theta"]["l1"])
    assert all(v["sd"] == 0 for v in s["coefficient_spread"]["l1"].values())


def test_mean_deviation_with_penalty_trajectory_objective_and_evosax(tmp_path, capsys):
    out = tmp_path / "traj"
    extra = [
        "--set", "rules.l1.parametrisation=mean_deviation",
        "--set", "rules.l1.deviation_penalty=10.0",
        "--set", "rules.l1.init_spread=0.01",
        "--set", "task.objective=trajectory",
        "--set", "task.gd_learning_rate=0.05",
        "--set", "meta.optimizer=evosax",
        "--set", "meta.popsize=6",
        "--set", "meta.sigma0=0.01",
    ]  # fmt: skip
    assert cli.main(["run", "gd_approx_teacher", "--out", str(out), *QUICK, *extra]) == 0
    s = _show(out, capsys)
    assert s["gd_learning_rate"] == 0.05 and s["gd_tuning"] == {"0.05": pytest.approx(s["gd_tuning"]["0.05"])}
    assert "distance" in s["heldout_metrics"] and s["heldout_loss"] == pytest.approx(
        s["heldout_metrics"]["distance"], rel=1e-5
    )
    assert set(s["heldout_loss_by_method"]) == {"gd", "shared", "per_synapse"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task.problem=digits"], "digits need network.sizes from 64 inputs to 10 outputs"),
        (["task.setting=family"], "the digits are one fixed problem"),
        (["task.objective=trajectory"], "needs task.gd_learning_rate"),
        (["rules.l1.parametrisation=lowrank"], "rules.l1.parametrisation"),
        (["meta.optimizer=cma_es", "network.sizes=[64, 20]"], "CMA_diagonal = true"),
        (["meta.optimizer=evosax", "meta.popsize=5"], "popsize must be even"),
        (["meta.optimizer=evosax", "meta.strategy=Nope"], "unknown evosax strategy 'Nope'"),
    ],
)
def test_config_errors_are_one_line(overrides, message, capsys):
    base = "gd_approx_digits" if "task.setting=family" in overrides else "gd_approx_teacher"
    if "task.problem=digits" in overrides:
        base = "gd_approx_teacher"
    args = ["check", base]
    for o in overrides:
        args += ["--set", o]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_sep_cma_accepts_thousands_of_coefficients():
    cfg = experiment.load(
        experiment.shipped_config("gd_approx_digits"),
        ["meta.optimizer=cma_es", "meta.cma_options={CMA_diagonal = true}"],
    )
    exp = experiment.build(cfg)
    assert exp.theta0["l1"].shape == (10, 64, 3)
