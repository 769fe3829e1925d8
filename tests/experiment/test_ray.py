"""`--backend ray`: populations scored on Ray actors give the local results; faults and bad input."""

import concurrent.futures
import json
import os
import signal
import socket
import sys
import time

import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from plastix import cli, meta
from plastix.experiment import Placement, build, load, open_backend
from plastix.experiment import _rundir as rd
from plastix.experiment._runner import generation_key

pytestmark = pytest.mark.xdist_group("ray")


def _address(ray_address):
    return ["--address", ray_address] if ray_address else []


def _local_run(cfg):
    """The outer loop on one local device: losses per generation and the final flat theta."""
    exp = build(cfg, 1)
    opt = exp.optimizer
    prepared = opt.prepare(exp.train_loss, exp.theta0)
    state, rows = opt.init(exp.theta0, cfg.seed), []
    for g in range(cfg.meta.generations):
        state, m = opt.step(state, prepared, generation_key(cfg, g))
        rows.append([m["loss_best"], m["loss_mean"], m["sigma"]])
    return np.array(rows), np.asarray(ravel_pytree(opt.theta(state, prepared))[0])


def test_cli_run_on_two_workers_matches_local(tiny_config, tmp_path, ray_address, capsys):
    pytest.importorskip("ray")
    import ray

    connected = ray.is_initialized()  # e.g. by an earlier test in this process
    out = tmp_path / "run"
    args = ["run", str(tiny_config), "--out", str(out), "--quiet", "--backend", "ray", "--workers", "2"]
    code = cli.main([*args, *_address(ray_address)])
    assert code == 0, capsys.readouterr().err
    assert ray.is_initialized() == connected  # disconnected only if the backend connected
    summary = json.loads((out / rd.SUMMARY).read_text())
    assert summary["generations"] == 6
    rows = rd.read_metrics(out)
    got = np.array([[r["loss_best"], r["loss_mean"], r["sigma"]] for r in rows])
    want, theta = _local_run(load(tiny_config))
    # Chunks of 3 candidates instead of one batch of 6: equal up to float32 rounding
    # (measured: bit for bit, on XLA's CPU backend).
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(summary["theta"]["ff"]), theta, rtol=1e-5, atol=1e-6)


def _kill_during(population, thetas, key):
    """Score ``thetas`` (of a shape not scored yet) while the only actor's process is killed."""
    import ray

    pid = ray.get(population.actors[0].pid.remote())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(population.evaluate, thetas, key)
        time.sleep(0.1)  # submitted; the actor compiles for this shape for a second or more
        os.kill(pid, signal.SIGKILL)
        return future, pid


def test_a_killed_worker_is_restarted_with_the_same_results_then_gives_up(
    tiny_config, ray_address, monkeypatch
):
    pytest.importorskip("ray")
    import ray

    from plastix.experiment import UserError, _ray

    monkeypatch.setattr(_ray, "RESTARTS", 1)
    cfg = load(tiny_config)
    exp = build(cfg, 1)
    flat = np.asarray(ravel_pytree(exp.theta0)[0])
    thetas = (flat + np.random.default_rng(0).normal(0, 0.3, (cfg.meta.popsize, flat.size))).astype(
        np.float32
    )
    key = generation_key(cfg, 0)
    local = meta.prepare_population(exp.train_loss, exp.theta0).evaluate(thetas, key)
    connected = ray.is_initialized()
    with open_backend(exp, Placement("ray", ray_address, workers=1)) as backend:
        assert backend.name == "ray" and backend.description.endswith(", 1 worker")
        population = backend.population
        population(exp.train_loss, exp.theta0)  # what the outer loop prepares
        future, pid = _kill_during(population, thetas, key)
        losses, metrics = future.result(timeout=300)
        assert ray.get(population.actors[0].pid.remote()) != pid  # a restarted actor scored them
        # One worker scores the whole population in one batch: the local numbers, bit for bit.
        np.testing.assert_array_equal(losses, np.asarray(local[0]))
        np.testing.assert_array_equal(metrics["task_loss"], np.asarray(local[1]["task_loss"]))
        np.testing.assert_array_equal(population.evaluate(thetas, key)[0], losses)
        # The second death, past the bound (one candidate more: a new shape, compiled first).
        future, _ = _kill_during(population, np.concatenate([thetas, thetas[:1]]), key)
        with pytest.raises(
            UserError, match=r"^ray worker failed 2 times scoring a generation \(candidates 0-6 of 7\): "
        ):
            future.result(timeout=300)
    assert ray.is_initialized() == connected


def test_without_ray_a_one_line_error(tiny_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
    code = cli.main(["run", str(tiny_config), "--out", str(tmp_path / "r"), "--quiet", "--backend", "ray"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == 'plastix: error: --backend ray needs Ray: pip install "plastix[ray]"\n'


def test_gradient_descent_is_refused(tiny_config, tmp_path, capsys):
    pytest.importorskip("ray")
    args = ["run", str(tiny_config), "--out", str(tmp_path / "r"), "--quiet", "--backend", "ray"]
    code = cli.main([*args, "--set", "meta.optimizer=gradient"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "gradient" in err and "local devices" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "address, says",
    [(None, "cannot reach a Ray cluster there"), ("nonsense", "expected HOST:PORT")],
    ids=["nothing-listening", "no-port"],
)
def test_a_bad_address_is_one_line_naming_it(tiny_config, tmp_path, capsys, address, says):
    pytest.importorskip("ray")
    address = address or f"127.0.0.1:{_free_port()}"
    args = ["run", str(tiny_config), "--out", str(tmp_path / "r"), "--quiet", "--backend", "ray"]
    code = cli.main([*args, "--address", address])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"plastix: error: --address {address}") and says in err


@pytest.mark.parametrize(
    "env, home_token, token",
    [
        ({}, False, False),  # no token anywhere: Ray's default (no authentication)
        ({}, True, True),  # ~/.ray/auth_token, as Ray writes it: as `ray start` does
        ({"RAY_AUTH_TOKEN": "abc"}, False, True),
        ({"RAY_AUTH_TOKEN_PATH": "{tmp}/t"}, False, True),
        ({"RAY_AUTH_TOKEN_PATH": "{tmp}/missing"}, False, False),
        ({"RAY_AUTH_MODE": "disabled"}, True, False),  # the user's explicit choice stands
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "abc"}, False, False),  # set already
    ],
    ids=["none", "home-file", "token-variable", "token-path", "missing-path", "explicit-mode", "mode-set"],
)
def test_a_token_the_driver_has_is_used_as_ray_start_does(tmp_path, env, home_token, token):
    # A pure function of an environment: this process's own (and Ray's cached token) stay as they are.
    from plastix.experiment import _ray

    (tmp_path / "t").write_text("0" * 64)
    if home_token:
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("0" * 64)
    environ = {name: value.format(tmp=tmp_path) for name, value in env.items()}
    assert _ray.token_mode(environ, str(tmp_path)) is token
