"""The memory estimate: shipped configs fit, sizes beyond the machine are refused in validation."""

from __future__ import annotations

import copy
import re
import tomllib

import pytest

from plastix import cli
from plastix.experiment import UserError, _family, load, shipped_configs, validate
from plastix.experiment._family import human_bytes, machine_memory, memory, memory_estimate, registry

MB, GB = 10**6, 10**9

#: per family, a size far beyond any machine (the rest of the family's tiny config).
HUGE = {
    "pca": ["network.n_in=1000000"],
    "spiking": ["network.n_exc=800000000"],
    "feedback": ["network.sizes=[64, 1000000000, 10]"],
    "gd_approx": ["network.sizes=[200000, 50000]"],
    "recurrent": ["network.n_exc=20000000"],
}
REFUSAL = re.compile(
    r"config error: this run needs about [0-9.e+]+ (TB|PB) of memory \((?P<how>[^\n]+)\); "
    r"this machine has (?P<have>[0-9.]+ [kMGTP]?B)"
)


def _tiny(family: str, overrides=()) -> dict:
    from plastix.experiment import apply_overrides

    raw = {**copy.deepcopy(dict(registry()[family].tiny)), "family": family}
    return apply_overrides(raw, list(overrides))


def test_every_shipped_family_estimates_its_memory():
    """From its components' footprints: every family's tiny config has a positive estimate."""
    assert set(HUGE) == set(registry())
    for name in registry():
        cfg = validate(_tiny(name))
        mem = memory(cfg)
        assert mem.data > 0 and mem.state > 0 and mem.step > 0 and mem.steps > 0, name
        assert memory_estimate(cfg)[0] > mem.fixed, name


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_each_shipped_config_fits_well_within_this_machine(name):
    cfg = load(shipped_configs()[name])
    total, how = memory_estimate(cfg)
    assert 1 * MB < total < 8 * GB, (name, human_bytes(total), how)
    have = machine_memory()
    assert have is None or total < have / 2
    assert cfg.dtype in how and "\n" not in how


@pytest.mark.parametrize("family", sorted(HUGE))
def test_a_huge_size_is_refused_in_one_line_with_the_estimate(family, tmp_path, capsys):
    import tomli_w

    raw = _tiny(family, HUGE[family])
    with pytest.raises(UserError) as err:
        validate(copy.deepcopy(raw))
    msg = str(err.value)
    m = REFUSAL.fullmatch(msg)
    assert m, msg
    assert m["have"] == human_bytes(machine_memory()) and "episodes" in m["how"] and "float32" in m["how"]
    # The CLI: exit 2, one line, and `plastix run` makes no run directory.
    config = tmp_path / "huge.toml"
    config.write_text(tomli_w.dumps(raw))
    out = tmp_path / "run"
    for argv in (["check", str(config)], ["run", str(config), "--out", str(out), "--quiet"]):
        assert cli.main(argv) == 2
        assert capsys.readouterr().err == f"plastix: error: {msg}\n"
    assert not out.exists()


def test_the_cli_refuses_the_shipped_pca_config_with_a_million_inputs(capsys):
    assert cli.main(["check", "pca", "--set", "network.n_in=1000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plastix: error: config error: this run needs about ") and err.count("\n") == 1
    assert " TB of memory (" in err and "weights 5 x 1000000" in err and "; this machine has " in err


def _estimate(raw) -> int:
    return memory_estimate(validate(copy.deepcopy(raw)))[0]


def test_the_estimate_grows_with_popsize_and_episodes_as_documented():
    raw = tomllib.loads((shipped_configs()["pca"]).read_text())  # the generation is its peak
    raw["meta"].pop("cma_options")  # full CMA-ES (the shipped config's is separable)
    cfg = load(shipped_configs()["pca"])
    mem = memory(cfg)
    d, episodes, popsize = mem.coefficients, cfg.task.episodes, cfg.meta.popsize
    each = mem.state + mem.step
    base = _estimate(raw)
    outer = popsize * d * 16 + 3 * d * d * 8  # flat thetas (host and device), full CMA-ES's d x d matrices
    assert base == mem.fixed + episodes * mem.data + popsize * episodes * each + outer
    # Each candidate: its state and step on every episode, and its flat theta.
    for extra in (2, 20):
        more = copy.deepcopy(raw)
        more["meta"]["popsize"] = popsize + extra
        assert _estimate(more) - base == extra * (episodes * each + d * 16)
    # Each episode: its data, and every candidate's state and step on it.
    more = copy.deepcopy(raw)
    more["task"]["episodes"] = episodes + 5
    assert _estimate(more) - base == 5 * (mem.data + popsize * each)
    # sep-CMA-ES keeps no d x d matrices.
    diagonal = copy.deepcopy(raw)
    diagonal["meta"]["cma_options"] = {"CMA_diagonal": True}
    assert base - _estimate(diagonal) == 3 * d * d * 8
    # Finite differences score 2 d + 1 thetas on every episode.
    fd = copy.deepcopy(raw)
    fd["meta"]["optimizer"] = "finite_difference"
    n = 2 * d + 1
    assert _estimate(fd) == mem.fixed + episodes * mem.data + n * episodes * each + n * d * 16


def test_a_meta_gradient_without_remat_stores_every_step():
    raw = tomllib.loads((shipped_configs()["fa_digits"]).read_text())
    cfg = load(shipped_configs()["fa_digits"])
    mem = memory(cfg)
    no_remat = copy.deepcopy(raw)
    no_remat.setdefault("task", {})["heldout_episodes"] = 1  # the generation is the peak
    remat = copy.deepcopy(no_remat)
    no_remat["meta"]["remat"], remat["meta"]["remat"] = False, True
    episodes = cfg.task.episodes
    stored_remat = (mem.steps // mem.chunk + mem.chunk) * mem.state
    stored_all = mem.steps * (mem.state + mem.step)
    assert _estimate(no_remat) - _estimate(remat) == episodes * (stored_all - stored_remat)


def test_the_machine_decides(monkeypatch):
    """The same config: refused on a machine too small for it, accepted where the size is unknown."""
    path = shipped_configs()["oja"]
    total, _ = memory_estimate(load(path))
    monkeypatch.setattr(_family, "machine_memory", lambda: total - 1)
    with pytest.raises(UserError, match=f"needs about {human_bytes(total)} .*; this machine has"):
        load(path)
    monkeypatch.setattr(_family, "machine_memory", lambda: total)
    load(path)
    monkeypatch.setattr(_family, "machine_memory", lambda: None)
    load(path)


def test_a_run_that_was_made_reads_back_whatever_this_machine_has(tmp_path, monkeypatch, capsys):
    """show / plot / export / resume read a run's config without the estimate: it was made."""
    from plastix.experiment import dump_config

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(dump_config(load(shipped_configs()["oja"])))
    monkeypatch.setattr(_family, "machine_memory", lambda: 1000)
    assert cli.main(["show", str(run)]) == 0
    assert "unfinished after 0 generations" in capsys.readouterr().out
    assert cli.main(["list"]) == 0  # lists the shipped configs, too large or not
    assert "oja" in capsys.readouterr().out
    assert cli.main(["check", "oja"]) == 2
    assert "this machine has 1 kB" in capsys.readouterr().err


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3_240_000) == "3.24 MB"
    assert human_bytes(3.7e12) == "3.7 TB"
    assert human_bytes(10**400) == "1e+285 PB"  # absurd sizes still print
