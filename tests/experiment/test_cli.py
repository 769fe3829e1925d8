import csv
import json
import math
import subprocess
import sys

import pytest

from plastix import cli
from plastix.experiment import _runner


def plastix(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "plastix.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def _rows(path):
    with open(path / "metrics.csv") as fh:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def test_run_writes_metrics_figures_and_json_summary(tiny_config, tmp_path):
    out = tmp_path / "run"
    r = plastix("run", tiny_config, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "learned rule" in r.stdout and "angle to oja" in r.stdout
    rows = _rows(out)
    assert len(rows) == 6
    for col in (
        "generation",
        "loss_best",
        "loss_mean",
        "n_unstable",
        "angle_oja",
        "theta_ff_110",
        "theta_ff_021",
    ):
        assert col in rows[0]
    for fig in ("coefficients.png", "loss.png", "weights.png"):
        assert (out / "figures" / fig).stat().st_size > 5000
    cfg = (out / "config.toml").read_text()
    assert "seed = 3" in cfg and "[versions]" in cfg and "jax" in cfg
    s = json.loads(plastix("show", out, "--json").stdout)
    assert s["generations"] == 6 and set(s["angles"]) == {"oja"} and len(s["theta"]["ff"]) == 27
    for k in ("loss", "heldout_loss", "reference_heldout_loss", "rule", "wall_s"):
        assert k in s
    assert s["rule"].startswith("dw = eta (")
    r = plastix("plot", out)
    assert r.returncode == 0 and "loss.png" in r.stdout


def test_resume_after_a_crash_repeats_the_uninterrupted_run(tiny_config, tmp_path):
    from plastix.experiment import load

    cfg = load(tiny_config)
    full, cut = tmp_path / "full", tmp_path / "cut"
    _runner.run(cfg, full)

    class Crash(Exception):
        pass

    def crash_at_3(gen, row):
        if gen == 3:
            raise Crash

    with pytest.raises(Crash):
        _runner.run(cfg, cut, progress=crash_at_3)
    # A row written just before the crash but never checkpointed must be redone, not kept.
    with open(cut / "metrics.csv", "a") as fh:
        fh.write("3," + ",".join(["0"] * len(_rows(cut)[0])) + "\n")  # complete, never checkpointed
        fh.write("4,0.1,0.2")  # cut short mid-line
    r = plastix("resume", cut, "--quiet")
    assert r.returncode == 0, r.stderr
    assert _rows(cut) == _rows(full)
    assert (
        json.loads((cut / "summary.json").read_text())["theta"]
        == json.loads((full / "summary.json").read_text())["theta"]
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "network.foo=1"], "network.foo"),
        (["--set", "network.n_in=abc"], "network.n_in"),
        (["--set", "task.kind=nope"], "task.kind"),
        (["--set", "rules.ff.kind=nope"], "rules.ff.kind"),
        (["--set", "network.n_in=0"], "network.n_in"),
        (["--set", "network.n_out=4"], "n_out"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_config, tmp_path, args, needle):
    r = plastix("run", tiny_config, "--out", tmp_path / "x", "--quiet", *args)
    assert r.returncode == 2
    assert needle in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_missing_config_and_existing_run_are_refused(tiny_config, tmp_path):
    r = plastix("run", tmp_path / "missing.toml", "--quiet")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    out = tmp_path / "run"
    assert plastix("run", tiny_config, "--out", out, "--quiet", "--set", "meta.generations=1").returncode == 0
    before = (out / "metrics.csv").read_bytes()
    r = plastix("run", tiny_config, "--out", out, "--quiet")
    assert r.returncode == 2 and "already holds a run" in r.stderr and r.stderr.count("\n") == 1
    assert (out / "metrics.csv").read_bytes() == before
    r = plastix("resume", tmp_path / "nothing")
    assert r.returncode == 2 and "not a run directory" in r.stderr
    r = plastix("frobnicate")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_list_names_configs_and_components(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("oja_n100", "pca", "polynomial", "anti_hebbian", "cma_es", "gradient", "linear"):
        assert word in out


def test_resume_can_extend_a_finished_run(tiny_config, tmp_path):
    from plastix.experiment import load

    _runner.run(load(tiny_config, ["meta.generations=8"]), tmp_path / "eight")
    _runner.run(load(tiny_config), tmp_path / "six")
    r = plastix("resume", tmp_path / "six", "--generations", "8", "--quiet")
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "six") == _rows(tmp_path / "eight")
    r = plastix("resume", tmp_path / "six", "--generations", "5")
    assert r.returncode == 2 and "has already run 8 generations" in r.stderr


def test_float64_runs_end_to_end(tiny_config, tmp_path):
    # x64 is process-global in JAX, hence a subprocess.
    out = tmp_path / "f64"
    r = plastix(
        "run", tiny_config, "--out", out, "--quiet", "--set", 'dtype="float64"', "--set", "meta.generations=2"
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    # What two generations of CMA-ES find depends on rounding; that the run ends with a finite
    # rule and a held-out loss within the unstable-candidate cap (100) does not.
    assert all(math.isfinite(x) for x in s["theta"]["ff"])
    assert math.isfinite(s["heldout_loss"]) and 0 <= s["heldout_loss"] <= 100
    assert 'dtype = "float64"' in (out / "config.toml").read_text()


def test_pruned_run_reports_the_sparser_rule_and_the_learned_one(tiny_config, tmp_path):
    out = tmp_path / "pruned"
    r = plastix("run", tiny_config, "--out", out, "--quiet", "--set", "meta.prune=[0.1, 0.3]")
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    p, learned = s["prune"], s["learned"]
    assert p["thresholds"] == [0.0, 0.1, 0.3] and len(p["losses"]) == 3 and p["kept"][0] == 27
    i = p["thresholds"].index(p["threshold"])
    assert p["losses"][i] == min(p["losses"]) and p["kept"] == sorted(p["kept"], reverse=True)
    assert sum(x != 0 for x in s["theta"]["ff"]) == p["kept"][i]
    # The rule as learned is the CMA-ES mean of the last generation, as in metrics.csv.
    last = _rows(out)[-1]
    assert learned["theta"]["ff"][13] == pytest.approx(float(last["theta_ff_111"]))
    assert "angle_oja" in last and ("pruned below" in r.stdout or "pruning: no threshold" in r.stdout)


def test_prune_refuses_fractions_outside_0_1(tiny_config, tmp_path):
    r = plastix("run", tiny_config, "--out", tmp_path / "x", "--quiet", "--set", "meta.prune=[1.5]")
    assert r.returncode == 2 and "meta.prune" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_one_run_builds_its_experiment_once_and_validation_builds_nothing(tiny_config, tmp_path, monkeypatch):
    """``plastix check`` builds the parts once (the builders' own checks), validation none, and
    ``plastix run`` builds them once: before the run directory is made, and its figures come from
    that experiment."""
    from plastix import experiment
    from plastix.experiment import _build, load

    calls = []
    parts = _build.parts

    def counted(cfg):
        calls.append(cfg.name)
        return parts(cfg)

    monkeypatch.setattr(_build, "parts", counted)
    monkeypatch.setattr(experiment, "parts", counted)
    load(tiny_config)
    assert calls == []
    assert cli.main(["check", str(tiny_config)]) == 0
    assert len(calls) == 1
    calls.clear()
    assert cli.main(["run", str(tiny_config), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert len(calls) == 1 and (tmp_path / "r" / "figures" / "loss.png").is_file()
