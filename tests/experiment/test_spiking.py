"""The spiking experiment (lif + target_rate + spike_trace) through config, runner, CLI and figures."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from plastix import cli, experiment
from plastix.experiment import UserError, _runner

# A few hundred milliseconds of simulated time with 100 afferents: seconds, not
# minutes. The conductances per spike are 10x Vogels' so 80 excitatory
# afferents drive the neuron as 800 would.
TINY_SPIKING = """
name = "tiny_spiking"
seed = 2

[network]
kind = "lif"
n_exc = 80
n_inh = 20
n_groups = 4
params = { gbar_exc = 0.14, gbar_inh = 0.35 }

[task]
kind = "target_rate"
train_time = 0.4
score_time = 0.2
window = 0.1
bin_size = 0.1
chunk = 100
episodes = 2
heldout_episodes = 3

[rules.inh]
kind = "spike_trace"
reference = "vogels_istdp"
init_std = 0.01

[meta]
generations = 3
popsize = 4
sigma0 = 1.0
scale = [1e-2, 1e-2, 1e-2, 1e-2, 1e-2, 1e-2]
unstable_loss = 300.0
"""


@pytest.fixture
def spiking_config(tmp_path):
    p = tmp_path / "tiny_spiking.toml"
    p.write_text(TINY_SPIKING)
    return p


def _rows(path):
    with open(path / "metrics.csv") as fh:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def plastix(*args):
    return subprocess.run(
        [sys.executable, "-m", "plastix.cli", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def test_spiking_run_writes_rate_metrics_figures_and_summary(spiking_config, tmp_path):
    out = tmp_path / "run"
    r = plastix("run", spiking_config, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "held-out rate" in r.stdout and "tau_pre" in r.stdout and "angle to vogels_istdp" in r.stdout
    rows = _rows(out)
    assert len(rows) == 3
    for name in ("alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post"):
        assert f"theta_inh_{name}" in rows[0]
    for fig in ("coefficients.png", "loss.png", "alpha_beta.png", "balance.png"):
        assert (out / "figures" / fig).stat().st_size > 5000
    s = json.loads(plastix("show", out, "--json").stdout)
    assert len(s["theta"]["inh"]) == 6 and set(s["angles"]) == {"vogels_istdp"}
    assert len(s["heldout_rates"]) == 3 and s["target_rate"] == 5.0
    # Rates are spike counts over a 0.1 s window: multiples of 10 Hz.
    assert np.allclose(np.array(s["heldout_rates"]) % 10, 0) and s["heldout_rate"] >= 0
    assert s["heldout_rate"] == pytest.approx(np.mean(s["heldout_rates"]))
    # The same datasets as the held-out loss.
    assert s["heldout_rate"] == pytest.approx(s["heldout_metrics"]["rate"], rel=1e-5)
    assert "rate" in s["heldout_metrics"] and "rate" in s["reference_heldout_metrics"]
    arr = np.load(out / "final.npz")
    assert arr["w_inh_group"].shape == (60, 4) and arr["current_exc"].shape == (60, 4)  # 10 ms chunks
    assert arr["rate"].shape == (6,) and np.all(arr["current_exc"] > 0) and np.all(arr["current_inh"] <= 0)
    # The recorded episode ends where the inner loop does: its last bins are the recorded rate.
    assert np.allclose(arr["w_inh_group"][-1], arr["w_inh_after"].reshape(4, 5).mean(1), rtol=1e-5)


def test_spiking_resume_repeats_the_uninterrupted_run(spiking_config, tmp_path):
    # Both runs stop before the final scoring (covered above), which keeps this test short.
    cfg = experiment.load(spiking_config, ["meta.generations=2"])
    full, cut = tmp_path / "full", tmp_path / "cut"

    class Crash(Exception):
        pass

    def crash_at(n):
        def progress(gen, row):
            if gen == n:
                raise Crash

        return progress

    with pytest.raises(Crash):
        _runner.run(cfg, full, progress=crash_at(2))
    with pytest.raises(Crash):
        _runner.run(cfg, cut, progress=crash_at(1))
    assert len(_rows(cut)) == 1
    with pytest.raises(Crash):
        _runner.resume(cut, progress=crash_at(2))
    assert len(_rows(full)) == 2 and _rows(cut) == _rows(full)


@pytest.mark.parametrize(
    "override,needle",
    [
        ("network.n_inh=21", "must be multiples of n_groups (4)"),
        ("network.dt=0", "network.dt"),
        ("network.params={tau_x=1}", "unknown LIF parameter"),
        ("network.n_in=3", "network.n_in"),
        ("task.window=0.3", "window (0.3 s) is longer than score_time"),
        ("task.train_time=0.45", "train_time"),
        ("task.chunk=7", "task.chunk (7) must divide"),
        ("task.steps=10", "task.steps"),
        ("task.kind=pca", "task."),
        ("rules.inh.reference=oja", "no spike_trace rule"),
        ("rules.inh.kind=polynomial", "rules.inh"),
        ("rules.inh.init=zero", "init = 'zero'"),
        ("meta.unstable_loss=100", "silent neuron"),
        ("meta.optimizer=adam", "meta.optimizer"),
        ("meta.sigma0=-1", "meta.sigma0"),
        ("meta.prune=[0.1]", "meta.prune thresholds only polynomial or term_library rules; rules.inh is"),
    ],
)
def test_bad_spiking_values_name_the_field(spiking_config, override, needle):
    """Refused by validation, or by the builders' own checks (a time grid) when the experiment is
    built (``plastix check`` and ``run`` build it before any run directory is made)."""
    with pytest.raises(UserError) as err:
        experiment.build(experiment.load(spiking_config, [override]))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_scale_must_match_theta(spiking_config):
    with pytest.raises(UserError, match="meta.scale has 2 entries; the rules have 6"):
        experiment.load(spiking_config, ["meta.scale=[1, 2]"])


def test_lif_without_plastic_rules_or_with_a_linear_task_is_refused(spiking_config, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_SPIKING.replace("[rules.inh]", "[rules.ff]"))
    with pytest.raises(UserError, match=r"plastic projections \[.inh.\] of network .lif."):
        experiment.load(bad)


def test_finite_difference_builds_and_steps(spiking_config):
    cfg = experiment.load(
        spiking_config, ["meta.optimizer=finite_difference", "meta.epsilon=0.1", "meta.learning_rate=0.05"]
    )
    exp = experiment.build(cfg)
    opt = exp.optimizer
    prepared = opt.prepare(exp.train_loss, exp.theta0)
    state = opt.init(exp.theta0, cfg.seed)
    state, m = opt.step(state, prepared, _runner.generation_key(cfg, 0))
    theta = opt.theta(state, prepared)["inh"]
    assert np.isfinite(m["loss_best"]) and m["grad_norm"] >= 0
    # Adam's first step moves every coefficient with a non-zero gradient by lr (in units of scale).
    step = np.abs(np.asarray(theta) - np.asarray(exp.theta0["inh"])) / 1e-2
    assert np.all((step < 0.05 * 1.01) & ((step > 0.05 * 0.99) | (step < 1e-6)))


@pytest.mark.parametrize("optimizer", ["cma_es", "finite_difference"])
def test_sign_constraint_holds_in_every_generation_and_the_summary(spiking_config, tmp_path, optimizer):
    out = tmp_path / optimizer
    sets = ["rules.inh.signs=true", "rules.inh.increment_max=0.004", "rules.inh.l1=1.0"]
    sets += [f"meta.optimizer={optimizer}", "meta.learning_rate=2.0", "meta.epsilon=0.5"]
    args = ["run", str(spiking_config), "--out", str(out), "--quiet"]
    assert cli.main(args + [x for kv in sets for x in ("--set", kv)]) == 0
    bound = 0.004 * (1 + 1e-6)  # float32
    for r in _rows(out):  # theta as applied: inside the bounds in every generation
        assert -bound <= float(r["theta_inh_alpha"]) <= 0 <= float(r["theta_inh_beta"]) <= bound
        assert abs(float(r["theta_inh_gamma"])) <= bound and abs(float(r["theta_inh_kappa"])) <= bound
    summary = json.loads((out / "summary.json").read_text())
    alpha, beta = summary["theta"]["inh"][:2]
    assert alpha <= 0 <= beta
    # Detailed balance and fluctuation of the recorded held-out episode.
    assert summary["corr_w"] is None or -1 <= summary["corr_w"] <= 1
    assert summary["w_inh_fluctuation"] is None or summary["w_inh_fluctuation"] >= 0
    assert summary["w_inh_mean"] >= 0


def test_balance_measures():
    from plastix.experiment.families.spiking import balance

    t = np.arange(10) * 0.1 + 0.05
    steady = np.tile([1.0, 2.0, 3.0], (10, 1))
    b = balance([1, 2, 3], [2, 4, 6], steady, t, train_time=0.5)
    assert b["corr_w"] == pytest.approx(1.0) and b["w_inh_fluctuation"] == 0 and b["w_inh_mean"] == 2.0
    assert b["tuning"] == pytest.approx(1.0)  # inhibition mirrors excitation in proportion
    flat = balance([1, 2, 3], [1.0, 1.01, 1.02], steady, t, train_time=0.5)
    assert flat["corr_w"] == pytest.approx(1.0) and flat["tuning"] < 0.05  # co-tuned, but hardly
    jumpy = np.where(np.arange(10)[:, None] % 2 == 0, 0.0, 2.0) * np.ones((1, 3))  # 0, 2, 0, 2, ...
    b = balance([1, 2, 3], [3, 2, 1], jumpy, t, train_time=0.4)
    assert b["corr_w"] == pytest.approx(-1.0) and b["w_inh_fluctuation"] == pytest.approx(1.0)
    assert balance([1, 1, 1], [1, 2, 3], steady, t, 0.5)["corr_w"] is None


def test_list_names_the_spiking_components(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("lif", "target_rate", "spike_trace", "vogels_istdp", "finite_difference"):
        assert word in out
