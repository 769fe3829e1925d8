"""`plastix sweep`: a run directory per seed, continued seed by seed, aggregated over seeds; local and Ray.

One two-seed sweep of the tiny config (module fixture) is what most tests read
or copy and change, so the whole module runs on one xdist worker: the group of
the Ray tests, which share a cluster.
"""

import csv
import json
import math
import shutil
import statistics

import pytest

from plastix import cli
from plastix.experiment import _sweep, load

pytestmark = pytest.mark.xdist_group("ray")

SEEDS = [0, 1]


def sweep(*args) -> int:
    return cli.main(["sweep", *map(str, args), "--quiet"])


def rows(run):
    with open(run / "metrics.csv") as fh:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def summary(run):
    s = json.loads((run / "summary.json").read_text())
    s.pop("wall_s")
    return s


@pytest.fixture(scope="module")
def local(tiny_config_module, tmp_path_factory):
    """The sweep of seeds 0-1, and beside it (``crashed/``) seed 1's files as a crash after generation 3
    leaves them (its checkpoint and metrics of that moment)."""
    root = tmp_path_factory.mktemp("sweep")
    out = root / "local"

    def keep_generation_3(seed, gen, row):
        if (seed, gen) == (1, 3):
            shutil.copytree(out / "seed-1", root / "crashed")

    cfg = load(tiny_config_module)
    _sweep.sweep(cfg, SEEDS, out, source=str(tiny_config_module), progress=keep_generation_3)
    return out


@pytest.fixture
def copy(local, tmp_path):
    """A copy of the local sweep to change."""
    return shutil.copytree(local, tmp_path / "copy")


def test_seeds_syntax():
    assert _sweep.parse_seeds("0-7") == list(range(8))
    assert _sweep.parse_seeds("0,3,5") == [0, 3, 5]
    assert _sweep.parse_seeds(" 9, 0-3") == [0, 1, 2, 3, 9]
    assert _sweep.format_seeds([0, 1, 2, 3, 9]) == "0-3,9"


def test_aggregate_of_the_family_headline_with_missing_values(tmp_path):
    # A spiking sweep's files as far as the aggregate reads them: spec and summaries.
    _sweep.write_spec(tmp_path, _sweep.Spec({"name": "s", "family": "spiking"}, [0, 1, 2]))
    for seed, rate, loss in [(0, 4.0, float("nan")), (1, 6.0, 0.5)]:
        run = tmp_path / f"seed-{seed}"
        run.mkdir()
        s = {"loss": loss, "heldout_loss": 1.0 + seed, "angles": {}, "heldout_rate": rate}
        (run / "summary.json").write_text(json.dumps(s))
    agg = _sweep.aggregate(tmp_path)
    assert agg["seeds"] == [0, 1] and agg["unfinished"] == [2]
    m = agg["metrics"]
    assert m["heldout_rate"] == {"mean": 5.0, "se": 1.0, "n": 2, "values": [4.0, 6.0]}
    assert m["loss"] == {"mean": 0.5, "se": None, "n": 1, "values": [None, 0.5]}
    json.dumps(agg, allow_nan=False)
    lines = _sweep.table(agg)
    assert lines[1].split() == ["loss", "0.5", "1", "-,", "0.5"]
    assert lines[3].split()[:4] == ["heldout_rate", "5", "±", "1"]


@pytest.mark.parametrize("seeds", ["", "a", "0-", "3-1", "1-2-3", "-1", "0,0-2", "1.5"])
def test_bad_seeds_are_a_one_line_error(tiny_config, tmp_path, capsys, seeds):
    out = tmp_path / "sw"
    assert cli.main(["sweep", str(tiny_config), f"--seeds={seeds}", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plastix: error: --seeds") and err.count("\n") == 1
    assert not out.exists()


def test_a_run_directory_per_seed_and_the_aggregate_of_their_summaries(local):
    spec = _sweep.read_spec(local)
    assert spec.seeds == SEEDS and spec.config["name"] == "tiny" and "seed" not in spec.config
    summaries = []
    for s in SEEDS:
        run = local / f"seed-{s}"
        assert f"seed = {s}\n" in (run / "config.toml").read_text()
        assert (run / "checkpoint" / "state.pkl").is_file() and len(rows(run)) == 6
        summaries.append(json.loads((run / "summary.json").read_text()))
    agg = json.loads((local / "sweep.json").read_text())
    assert agg["seeds"] == SEEDS
    assert list(agg["metrics"]) == ["loss", "heldout_loss", "angle_oja", "pc_angle_0", "dw_corr_oja"]
    want = {
        "loss": [s["loss"] for s in summaries],
        "heldout_loss": [s["heldout_loss"] for s in summaries],
        "angle_oja": [s["angles"]["oja"] for s in summaries],
    }
    for name, values in want.items():
        m = agg["metrics"][name]
        assert m["values"] == values and m["n"] == 2
        assert m["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert m["se"] == pytest.approx(statistics.stdev(values) / math.sqrt(2), rel=1e-9)
    assert (local / "figures" / "sweep.png").stat().st_size > 5000


def test_show_prints_the_table_and_the_json_of_sweep_json(local, capsys):
    assert cli.main(["show", str(local)]) == 0
    out = capsys.readouterr().out
    assert "tiny — sweep of 2 seeds (0-1)" in out
    agg = json.loads((local / "sweep.json").read_text())
    for name, m in agg["metrics"].items():
        line = next(x for x in out.splitlines() if x.split()[:1] == [name])
        assert f"{m['mean']:.4g} ± {m['se']:.2g}" in line and " 2 " in line
        assert ", ".join(f"{v:.4g}" for v in m["values"]) in line
    assert cli.main(["show", str(local), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == agg
    assert cli.main(["plot", str(local)]) == 0
    assert capsys.readouterr().out.strip() == str(local / "figures" / "sweep.png")


def test_rerunning_continues_only_the_unfinished_seed_with_the_same_numbers(local, copy, capsys):
    # Seed 1 as a crash after its generation 3 left it (the sweep.json of before is stale).
    shutil.rmtree(copy / "seed-1")
    shutil.copytree(local.parent / "crashed", copy / "seed-1")
    assert not (copy / "seed-1" / "summary.json").exists() and len(rows(copy / "seed-1")) == 3
    seed_0 = (copy / "seed-0" / "summary.json").stat().st_mtime_ns

    assert cli.main(["show", str(copy)]) == 0
    assert "sweep unfinished: seed 1 (3 of 6 generations)" in capsys.readouterr().out
    assert cli.main(["show", str(copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unfinished"] == [1]

    assert sweep(_sweep.read_spec(copy).source, "--seeds", "0-1", "--out", copy) == 0
    assert (copy / "seed-0" / "summary.json").stat().st_mtime_ns == seed_0  # finished: left alone
    assert rows(copy / "seed-1") == rows(local / "seed-1")
    assert summary(copy / "seed-1") == summary(local / "seed-1")
    assert json.loads((copy / "sweep.json").read_text()) == json.loads((local / "sweep.json").read_text())


def corrupt(run):
    """A run interrupted, with a checkpoint that cannot be read: resuming it fails."""
    (run / "summary.json").unlink()
    (run / "checkpoint" / "state.pkl").write_bytes(b"not a checkpoint")


def test_a_failed_seed_is_named_and_the_others_still_finish(local, copy, capsys):
    corrupt(copy / "seed-0")
    (copy / "seed-1" / "summary.json").unlink()  # finished its generations, not its summary
    assert cli.main(["resume", str(copy), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("plastix: seed 0 failed: ") and "state.pkl" in err[0]
    assert len(err) == 2 and err[1].startswith("plastix: error: sweep ")
    assert "seed 0 failed" in err[1] and "1 of 2 finished and kept" in err[1]
    assert "Traceback" in (copy / "seed-0" / "error.txt").read_text()
    assert summary(copy / "seed-1") == summary(local / "seed-1")
    assert not (copy / "sweep.json").exists()


def test_sweep_refuses_another_spec_and_directories_that_hold_no_sweep(local, copy, tmp_path, capsys):
    cfg = _sweep.read_spec(copy).source
    before = (copy / "sweep.toml").read_text()
    cases = [
        (["--seeds", "0-2", "--out", copy], "holds a sweep of another spec (seeds 0-1, not 0-2)"),
        (
            ["--seeds", "0-1", "--set", "meta.generations=7", "--out", copy],
            "holds a sweep of another spec (meta.generations: 6, not 7)",
        ),
        (["--seeds", "0-1", "--set", "seed=4", "--out", copy], "a sweep sets each run's seed"),
        (["--seeds", "0-1", "--out", copy / "seed-0"], "holds a run, not a sweep"),
        (["--seeds", "0-1", "--out", local.parent], "holds no sweep"),
        (["--seeds", "0-1", "--workers", "2", "--backend", "ray", "--out", tmp_path / "w"], "--workers"),
        (["--seeds", "0-1", "--address", "127.0.0.1:1", "--out", tmp_path / "a"], "--backend ray"),
    ]
    for args, message in cases:
        assert sweep(cfg, *args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("plastix: error: ") and message in err and err.count("\n") == 1, err
    assert (copy / "sweep.toml").read_text() == before
    assert not (tmp_path / "w").exists() and not (tmp_path / "a").exists()
    # A seed directory that holds another run is named and left as it is.
    run = copy / "seed-0" / "config.toml"
    run.write_text(run.read_text().replace("generations = 6", "generations = 7"))
    assert sweep(cfg, "--seeds", "0-1", "--out", copy) == 2
    err = capsys.readouterr().err
    assert "plastix: seed 0 failed: " in err and "(meta.generations: 7, not 6)" in err
    assert "generations = 7" in run.read_text() and (copy / "seed-0" / "summary.json").is_file()


def test_on_ray_each_seed_gives_its_local_run_and_a_failed_seed_is_named(local, copy, ray_address, capsys):
    # One Ray task per unfinished seed, both at once: seed 0 fails, seed 1 runs from scratch.
    corrupt(copy / "seed-0")
    shutil.rmtree(copy / "seed-1")
    where = ["--address", ray_address] if ray_address else []
    cfg = _sweep.read_spec(copy).source
    assert sweep(cfg, "--seeds", "0-1", "--out", copy, "--backend", "ray", *where) == 2
    err = capsys.readouterr().err
    assert "plastix: seed 0 failed: " in err and "state.pkl" in err
    assert "plastix: error: sweep " in err and "seed 0 failed" in err and "1 of 2 finished" in err
    assert rows(copy / "seed-1") == rows(local / "seed-1")
    assert summary(copy / "seed-1") == summary(local / "seed-1")
    assert "state.pkl" in (copy / "seed-0" / "error.txt").read_text()  # the worker's traceback
    assert not (copy / "sweep.json").exists()
