"""A generation spread over several local devices gives the run of one device.

XLA reads the CPU device count at import, so each case runs in a child
process with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

TWO = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}


def child(code: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=TWO, timeout=600, check=False
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def plastix(*args):
    return subprocess.run(
        [sys.executable, "-m", "plastix.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=TWO,
        timeout=600,
        check=False,
    )


def rows(path):
    with open(path / "metrics.csv") as fh:
        return [{k: float(v) for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def test_a_population_sharded_over_two_devices_scores_as_on_one():
    # 7 candidates: 4 + 3 on two devices, the last padded with a copy and dropped.
    out = child(
        """
import json, jax, numpy as np
from plastix import meta
from plastix.experiment import build, load, shipped_config
cfg = load(shipped_config("oja"), ["task.episodes=4", "task.steps=30", "meta.popsize=7"])
exp = build(cfg, 1)
flat = np.random.default_rng(0).normal(size=(7, 27)).astype(np.float32) * 0.1
key = jax.random.PRNGKey(0)
one = meta.prepare_population(exp.train_loss, exp.theta0).evaluate(flat, key)
two = meta.prepare_population(exp.train_loss, exp.theta0, jax.devices()).evaluate(flat, key)
two_dev = build(cfg, 2)  # a generation of the runner's: the population spread over both
print(json.dumps({
    "devices": len(jax.devices()),
    "one": np.asarray(one[0]).tolist(), "two": np.asarray(two[0]).tolist(),
    "unstable": [np.asarray(one[1]["unstable"]).tolist(), np.asarray(two[1]["unstable"]).tolist()],
    "exp_devices": len(two_dev.devices),
    "sharded": two_dev.population is not meta.prepare_population,
}))
"""
    )
    assert out["devices"] == 2 and out["exp_devices"] == 2 and out["sharded"]
    assert len(out["two"]) == 7
    # Each candidate's arithmetic is the same; XLA's CPU code for a batch of 4
    # rounds a little differently from a batch of 7 (float32).
    np.testing.assert_allclose(out["two"], out["one"], rtol=1e-5, atol=1e-6)
    assert out["unstable"][0] == out["unstable"][1]


@pytest.mark.parametrize("optimizer", ["cma_es", "gradient"])
def test_a_run_on_two_devices_equals_the_run_on_one(tiny_config, tmp_path, optimizer):
    # gradient descent has one theta: its episodes are spread over the devices instead.
    # CMA-ES runs twice on two devices: the same device count repeats a run bit for bit.
    counts = (1, 2, 2) if optimizer == "cma_es" else (1, 2)
    runs = []
    for k, n in enumerate(counts):
        out = tmp_path / f"r{k}"
        r = plastix(
            "run", tiny_config, "--out", out, "--quiet", "--devices", n,
            "--set", f"meta.optimizer='{optimizer}'", "--set", "meta.learning_rate=0.01",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        runs.append((rows(out), np.load(out / "final.npz")["theta_ff"]))
    (one, theta1), (two, theta2) = runs[:2]
    assert len(one) == len(two) == 6
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(theta2, theta1, rtol=1e-4, atol=1e-5)
    print(f"{optimizer}: max |theta(2 devices) - theta(1 device)| = {np.abs(theta2 - theta1).max():.3g}")
    if optimizer == "cma_es":
        assert runs[2][0] == two
        np.testing.assert_array_equal(runs[2][1], theta2)


def test_more_devices_than_the_machine_has_is_one_line(tiny_config, tmp_path):
    out = tmp_path / "run"
    r = plastix("run", tiny_config, "--out", out, "--quiet", "--devices", 3)
    assert r.returncode == 2 and not out.exists()  # refused before the run directory is made
    assert r.stderr.strip().splitlines() == [
        "plastix: error: devices = 3: this machine has 2 cpu device(s) "
        "(for CPU devices: XLA_FLAGS=--xla_force_host_platform_device_count=N)"
    ]
    r = plastix("run", tiny_config, "--out", out, "--quiet", "--devices", 0)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--devices 0" in r.stderr
