"""`plastix export --brian2`: the exported Brian2 script runs, and the CLI verb on run directories."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from plastix import cli, rules
from plastix.experiment import UserError, _export, brian2_script


def _brian2_importable() -> bool:
    try:
        import brian2  # noqa: F401
    except Exception:  # ImportError, or AttributeError under numpy >= 2.4
        return False
    return True


needs_brian2 = pytest.mark.skipif(not _brian2_importable(), reason="brian2 not importable")


def run_script(path, seconds, cwd):
    rate, w, _ = run_args(path, ["--duration", str(seconds), "--target", "numpy"], cwd)
    return rate, w


def run_args(path, args, cwd):
    """Run an exported script with ``args``: its rate, mean inhibitory weight and whole output."""
    out = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rate = float(re.search(r"rate over the last \S+ s: ([\d.]+) Hz", out.stdout)[1])
    w = float(re.search(r"mean inhibitory weight: ([\d.]+)", out.stdout)[1])
    return rate, w, out.stdout


@needs_brian2
@pytest.mark.slow
def test_exported_vogels_script_runs_and_the_rule_acts(tmp_path):
    # The neuron starts at 20-35 Hz (weak inhibition), above Vogels' target of
    # 5 Hz, so the rule must potentiate inhibition; with a zero rule the weights
    # stay where they started.
    for name, theta in (("vogels", rules.vogels_istdp(eta=0.02)), ("zero", [0, 0, 0, 0, 0.02, 0.02])):
        (tmp_path / f"{name}.py").write_text(
            brian2_script(list(np.asarray(theta)), duration=90.0, window=2.0)
        )
    rate_v, w_v = run_script(tmp_path / "vogels.py", 2, tmp_path)
    rate_0, w_0 = run_script(tmp_path / "zero.py", 2, tmp_path)
    assert w_0 == pytest.approx(0.1)
    assert 5.0 < rate_0 < 100.0  # excitation alone: a firing, not saturated neuron
    assert w_v > 0.2  # inhibition grew
    assert rate_v < rate_0  # and brought the rate down


@needs_brian2
@pytest.mark.slow
def test_quick_check_and_the_transient_warning(tmp_path, monkeypatch):
    # Training episodes of 1 s + 0.5 s: the default is two episodes, 3 s, with
    # the rate measured over its last 0.5 s, past the 1 s transient. --quick
    # (shortened here to keep the test short) measures inside the transient.
    monkeypatch.setattr(_export, "QUICK_DURATION", 1.0)
    theta = list(np.asarray(rules.vogels_istdp(eta=0.02)))
    script = tmp_path / "model.py"
    script.write_text(brian2_script(theta, task_params={"train_time": 1.0, "score_time": 0.5}, window=0.5))
    *_, quick = run_args(script, ["--quick"], tmp_path)
    assert "simulated 1 s in" in quick and "with Brian2's numpy target" in quick
    assert "rate measured over 0.5-1 s (the last 0.5 s)" in quick
    (warning,) = [line for line in quick.splitlines() if line.startswith("warning:")]
    assert "the first 1 s are a start-up transient" in warning and "at least 1.5 s" in warning
    *_, full = run_args(script, ["--target", "numpy"], tmp_path)
    assert "simulated 3 s in" in full and "rate measured over 2.5-3 s (the last 0.5 s)" in full
    assert "warning" not in full


def constant(text: str, name: str) -> float:
    """The value of a script's top-level constant ``name = value  # comment``."""
    return float(re.search(rf"^{name} = (\S+)", text, re.MULTILINE)[1])


def test_default_duration_is_two_training_episodes():
    theta = [0.0, 0.0, 0.0, 0.0, 0.02, 0.02]
    text = brian2_script(theta, task_params={"train_time": 10.0, "score_time": 5.0}, window=5.0)
    assert _export.default_duration(10.0, 5.0) == 30.0 > 10.0 + 5.0
    expected = {"DURATION": 30.0, "QUICK_DURATION": 10.0, "TRAIN_TIME": 10.0, "WINDOW": 5.0}
    assert {k: constant(text, k) for k in expected} == expected
    assert 'prefs.codegen.target = "numpy"' in text  # the docstring says how to check quickly
    # the target_rate task's own defaults (60 s + 30 s) without task settings; --quick never longer
    assert constant(brian2_script(theta), "DURATION") == 180.0
    short = brian2_script(theta, duration=4.0)
    assert constant(short, "DURATION") == constant(short, "QUICK_DURATION") == 4.0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError, match="--duration must be a positive"):
            brian2_script(theta, duration=bad)


def test_script_carries_the_theta_and_a_separate_rule_block():
    theta = [-1e-4, 2e-4, 3e-3, 4e-3, 0.015, 20.0]  # tau_post above tau_max: clipped as the rule does
    text = brian2_script(theta, {"w_inh_max": 50.0, "tau_m": 0.01}, tau_max=10.0)
    compile(text, "model.py", "exec")
    rule = text[
        text.index("# ---------------------------------------------------------------- learned rule") :
    ]
    rule = rule[
        : rule.index("# ---------------------------------------------------------------- end of rule")
    ]
    for line in ("alpha = -0.0001", "beta = 0.0002", "gamma = 0.003", "kappa = 0.004", "w_inh_max = 50.0"):
        assert line in rule
    assert "tau_pre = 0.015 * second" in rule and "tau_post = 10.0 * second" in rule
    for code in (_export.RULE_MODEL, _export.RULE_ON_PRE, _export.RULE_ON_POST):
        for line in code.splitlines():
            assert "    " + line in rule
    assert "tau_m = 0.01 * second" in text


@pytest.mark.parametrize(
    "theta, needle",
    [([0.0] * 5, "has 5 values"), ([0, 0, 0, float("nan"), 0.01, 0.01], "non-finite")],
)
def test_bad_theta_is_a_user_error(theta, needle):
    from plastix.experiment import UserError

    with pytest.raises(UserError, match=needle):
        brian2_script(theta)


QUICK_SPIKING = [
    "--set",
    "task.train_time=1.0",
    "--set",
    "task.score_time=1.0",
    "--set",
    "task.window=1.0",
    "--set",
    "task.episodes=1",
    "--set",
    "task.heldout_episodes=1",
    "--set",
    "meta.generations=1",
    "--set",
    "meta.popsize=2",
    "--quiet",
]


@pytest.fixture(scope="module")
def spiking_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "istdp"
    assert cli.main(["run", "istdp_quick", "--out", str(out), *QUICK_SPIKING]) == 0
    return out


@pytest.mark.slow
def test_cli_exports_a_spiking_run(spiking_run, tmp_path, capsys):
    target = tmp_path / "model.py"
    capsys.readouterr()
    assert cli.main(["export", "--brian2", str(spiking_run), "--out", str(target)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == str(target)  # the path, then how to run it: a quick check first
    assert f"python {target} --quick" in printed[1] and "numpy" in printed[1]
    text = target.read_text()
    compile(text, str(target), "exec")
    theta = json.loads((spiking_run / "summary.json").read_text())["theta"]["inh"]
    for name, value in zip(("alpha", "beta", "gamma", "kappa"), theta, strict=False):
        assert f"{name} = {value!r}" in text
    # two of the run's 1 s + 1 s episodes; the transient is its 1 s of training
    assert constant(text, "DURATION") == 4.0 and constant(text, "TRAIN_TIME") == 1.0
    custom = tmp_path / "custom.py"
    assert cli.main(["export", "--brian2", str(spiking_run), "--out", str(custom), "--duration", "7"]) == 0
    assert constant(custom.read_text(), "DURATION") == 7.0
    # An existing output is kept unless --force.
    target.write_text("keep me")
    capsys.readouterr()
    assert cli.main(["export", "--brian2", str(spiking_run), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--force" in err and len(err.splitlines()) == 1
    assert target.read_text() == "keep me"
    assert cli.main(["export", "--brian2", str(spiking_run), "--out", str(target), "--force"]) == 0
    assert target.read_text() == text


def test_cli_export_refuses_non_spiking_and_missing_runs(tiny_config, tmp_path, capsys):
    rate_run = tmp_path / "rate_run"
    rate_run.mkdir()
    (rate_run / "config.toml").write_text(tiny_config.read_text())
    cases = [
        (["export", "--brian2", str(rate_run)], "spiking"),
        (["export", "--brian2", str(tmp_path / "nowhere")], "not a run directory"),
        (["export", str(rate_run)], "--brian2"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert _exit_code(argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    assert not (rate_run / "brian2_model.py").exists()


def _exit_code(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse errors
        return e.code
