"""`plastix sweep`: a run directory per seed (and grid point), continued run by run, aggregated over
seeds; local and Ray.

One two-seed sweep of the tiny config and one two-point grid of it (module
fixtures) are what most tests read or copy and change, so the whole module runs
on one xdist worker: the group of the Ray tests, which share a cluster.
"""

import csv
import json
import math
import shutil
import statistics
import tomllib

import numpy as np
import pytest

from plastix import cli
from plastix.experiment import _sweep, load, registry, validate

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
    s.pop("timings", None)  # seconds, which differ between two runs of the same numbers
    s.pop("provenance", None)  # when it finished
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


def test_a_seed_sweep_is_stored_as_it_always_was(local):
    # No grid, no point directories, and sweep.toml / sweep.json with exactly the keys they always had.
    assert sorted(p.name for p in local.iterdir()) == [
        "figures",
        "seed-0",
        "seed-1",
        "sweep.json",
        "sweep.toml",
    ]
    text = (local / "sweep.toml").read_text()
    assert text.startswith("# The spec of this sweep (plastix sweep): the config of every seed-<k>/ run")
    assert set(tomllib.loads(text)) == {"source", "overrides", "seeds", "config"}
    assert set(json.loads((local / "sweep.json").read_text())) == {"seeds", "metrics"}
    assert _sweep.read_spec(local).grid == {}


def test_a_sweep_written_before_a_new_defaulted_key_is_still_the_same_sweep(local):
    """A spec's config without a key that a later plastix added with its default (``track``) is
    the same config; a changed value is still named."""
    spec = _sweep.read_spec(local)
    old = {k: v for k, v in spec.config.items() if k != "track"}
    assert "track" in spec.config and _sweep._config_difference(old, spec.config) is None
    changed = {**old, "meta": {**old["meta"], "l1": 0.5}}
    assert _sweep._config_difference(changed, spec.config).startswith("meta.l1: 0.5, not")


# --- grids ---------------------------------------------------------------------------------------

GRID = {"meta.l1": [0.0, 0.01]}  # two points
GENERATIONS = 3


@pytest.fixture(scope="module")
def grid(tiny_config_module, tmp_path_factory):
    """A grid sweep of two points x seeds 0-1, and beside it (``crashed/``) point 1's seed 1 as a crash
    after its generation 2 leaves it."""
    root = tmp_path_factory.mktemp("grid")
    out = root / "grid"
    running = {}

    def report(seed, status, error=None, point=None):
        running["point"] = point

    def keep_generation_2(seed, gen, row):
        if running["point"].startswith("point-1 ") and (seed, gen) == (1, 2):
            shutil.copytree(out / "point-1" / "seed-1", root / "crashed")

    overrides = [f"meta.generations={GENERATIONS}"]
    cfg = load(tiny_config_module, overrides)
    _sweep.sweep(
        cfg, SEEDS, out, grid=GRID, source=str(tiny_config_module), overrides=overrides,
        progress=keep_generation_2, report=report,
    )  # fmt: skip
    return out


@pytest.fixture
def grid_copy(grid, tmp_path):
    return shutil.copytree(grid, tmp_path / "grid-copy")


def test_grid_values_read_as_set_reads_them_and_write_back_the_same():
    grid = _sweep.parse_grid(["meta.l1=1e-4,0.001", " task.steps = 5, 10", 'x.y=[1, 2],[3],"a,b",cma_es'])
    assert grid == {"meta.l1": [1e-4, 1e-3], "task.steps": [5, 10], "x.y": [[1, 2], [3], "a,b", "cma_es"]}
    values = [1e-4, 1e-300, 3, True, "cma_es", "1", "a,b", " x", "[y]", 'q"uote', [[1], ["a"]]]
    for value in [*values, {"a": [1, "b"]}]:
        assert _sweep.parse_grid([f"k={_sweep.format_value(value)}"])["k"] == [value], value
    assert _sweep.points({"a": [1, 2], "b": ["x", "y", "z"]})[1:4] == [
        {"a": 1, "b": "y"}, {"a": 1, "b": "z"}, {"a": 2, "b": "x"},
    ]  # fmt: skip


def test_a_grid_runs_every_point_once_per_seed_and_aggregates_each_point_over_its_seeds(grid):
    spec = _sweep.read_spec(grid)
    assert spec.grid == GRID and spec.seeds == SEEDS and spec.config["meta"]["l1"] == 0.0
    assert sorted(p.name for p in grid.iterdir()) == [
        "figures",
        "point-0",
        "point-1",
        "sweep.json",
        "sweep.toml",
    ]
    agg = json.loads((grid / "sweep.json").read_text())
    assert agg["grid"] == GRID and agg["seeds"] == SEEDS and "unfinished" not in agg
    assert [p["values"] for p in agg["points"]] == [{"meta.l1": 0.0}, {"meta.l1": 0.01}]
    headline = registry()["pca"].headline
    for i, point in enumerate(agg["points"]):
        assert tomllib.loads((grid / f"point-{i}" / "point.toml").read_text()) == point["values"]
        summaries = []
        for s in SEEDS:
            run = grid / f"point-{i}" / f"seed-{s}"
            config = tomllib.loads((run / "config.toml").read_text())
            assert config["seed"] == s and config["meta"]["l1"] == GRID["meta.l1"][i]
            assert len(rows(run)) == GENERATIONS
            summaries.append(json.loads((run / "summary.json").read_text()))
        assert point["point"] == i and point["seeds"] == SEEDS
        assert list(point["metrics"]) == list(headline(summaries[0])) and "angle_oja" in point["metrics"]
        for name, values in {
            "loss": [s["loss"] for s in summaries],
            "heldout_loss": [s["heldout_loss"] for s in summaries],
            "angle_oja": [s["angles"]["oja"] for s in summaries],
        }.items():
            m = point["metrics"][name]
            assert m["values"] == values and m["n"] == 2
            assert m["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert m["se"] == pytest.approx(statistics.stdev(values) / math.sqrt(2), rel=1e-9)
    # The L1 penalty is part of each point's training loss: the points' runs are not one run twice.
    assert agg["points"][0]["metrics"]["loss"] != agg["points"][1]["metrics"]["loss"]


def test_show_prints_a_table_per_grid_point(grid, capsys):
    assert cli.main(["show", str(grid)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "tiny — grid sweep of 2 points x 2 seeds (0-1): --grid meta.l1=0.0,0.01"
    agg = json.loads((grid / "sweep.json").read_text())
    for point in agg["points"]:
        at = out.index(f"  point-{point['point']}  meta.l1={point['values']['meta.l1']!r}")
        assert out[at + 1].split() == ["metric", "mean", "±", "se", "n", "values"]
        for line, (name, m) in zip(out[at + 2 :], point["metrics"].items(), strict=False):
            assert line.split()[0] == name and f"{m['mean']:.4g} ± {m['se']:.2g}" in line
    assert cli.main(["show", str(grid), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == agg
    assert cli.main(["plot", str(grid)]) == 0
    assert capsys.readouterr().out.strip() == str(grid / "figures" / "sweep.png")


def test_resuming_a_grid_continues_only_its_unfinished_runs_with_the_same_numbers(grid, grid_copy, capsys):
    # Point 1's seed 1 as a crash after its generation 2 left it; point 0's seed 0 never started.
    shutil.rmtree(grid_copy / "point-1" / "seed-1")
    shutil.copytree(grid.parent / "crashed", grid_copy / "point-1" / "seed-1")
    shutil.rmtree(grid_copy / "point-0" / "seed-0")
    kept = {
        r: (grid_copy / r / "summary.json").stat().st_mtime_ns for r in ("point-0/seed-1", "point-1/seed-0")
    }

    assert cli.main(["show", str(grid_copy)]) == 0
    out = capsys.readouterr().out
    assert "sweep unfinished: runs point-0/seed-0 (not started), point-1/seed-1 (2 of 3 generations)" in out
    assert cli.main(["show", str(grid_copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unfinished"] == ["point-0/seed-0", "point-1/seed-1"]

    assert cli.main(["resume", str(grid_copy), "--quiet"]) == 0
    for r, mtime in kept.items():
        assert (grid_copy / r / "summary.json").stat().st_mtime_ns == mtime  # finished: left alone
    for r in ("point-0/seed-0", "point-1/seed-1"):
        assert rows(grid_copy / r) == rows(grid / r) and summary(grid_copy / r) == summary(grid / r)
    assert json.loads((grid_copy / "sweep.json").read_text()) == json.loads((grid / "sweep.json").read_text())
    # Running the same command again continues (here: keeps) it too; another grid there is refused.
    spec = _sweep.read_spec(grid_copy)
    again = [spec.source, "--seeds", "0-1", "--out", grid_copy, "--set", *spec.overrides]
    assert sweep(*again, "--grid", "meta.l1=0.0,0.01") == 0
    assert sweep(*again, "--grid", "meta.l1=0.0,0.02") == 2
    assert (
        "holds a sweep of another spec (grid meta.l1=0.0,0.01, not meta.l1=0.0,0.02)"
        in capsys.readouterr().err
    )


def test_a_failed_grid_run_is_named_and_the_others_still_finish(grid, grid_copy, capsys):
    corrupt(grid_copy / "point-1" / "seed-0")
    (grid_copy / "point-0" / "seed-1" / "summary.json").unlink()
    assert cli.main(["resume", str(grid_copy), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("plastix: point-1 (meta.l1=0.01), seed 0 failed: ") and "state.pkl" in err[0]
    assert len(err) == 2 and "3 of 4 runs finished and kept; run point-1/seed-0 failed" in err[1]
    assert summary(grid_copy / "point-0" / "seed-1") == summary(grid / "point-0" / "seed-1")
    assert not (grid_copy / "sweep.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "meta.l1=0.1,-1"], "--grid meta.l1=-1: config error: meta.l1: "),
        (["--grid", "meta.nope=1,2"], "--grid meta.nope=1: config error: meta.nope: unknown key"),
        (["--grid", "meta.l1=0.1", "--grid", "task.steps=5,0"], "--grid task.steps=0: config error: "),
        (["--grid", "meta.l1=0.1", "--grid", "meta.l1=0.2"], "--grid meta.l1: given twice"),
        (["--grid", "meta.l1=0.1,0.2", "--set", "meta.l1=0.3"], "--grid meta.l1 and --set meta.l1: "),
        (["--grid", "meta=1", "--grid", "meta.l1=0.1"], "--grid meta and --grid meta.l1: "),
        (["--grid", "meta.l1=1e-4,0.0001"], "--grid meta.l1: the value 0.0001 is given twice"),
        (["--grid", "seed=1,2"], "a sweep sets each run's seed from --seeds"),
        (["--grid", "meta.l1=0.1,"], "an empty value"),
        (["--grid", "meta.l1"], "expected section.key=value1,value2,..."),
        (["--grid", "task.steps=1,2,3", "--grid", "meta.l1=0,1", "--seeds", "0-99"], "6 points x 100 seeds"),
        (["--grid", "meta.l1=0,1", "--max-runs", "0"], "--max-runs 0: must be at least 1"),
    ],
)  # fmt: skip
def test_a_bad_grid_is_refused_in_one_line_before_anything_is_made(
    tiny_config, tmp_path, capsys, args, message
):
    out = tmp_path / "sw"
    seeds = [] if "--seeds" in args else ["--seeds", "0-1"]
    limit = ["--max-runs", "500"] if "0-99" in args else []
    assert sweep(tiny_config, *seeds, "--out", out, *args, *limit) == 2
    err = capsys.readouterr().err
    assert err.startswith("plastix: error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_the_run_limit_counts_points_times_seeds(tiny_config):
    cfg = load(tiny_config)
    with pytest.raises(_sweep.UserError, match="pass --max-runs 1200 to run them all"):
        _sweep.sweep(cfg, range(200), "never", grid={"meta.l1": [0, 1, 2], "task.steps": [1, 2]})
    assert _sweep.MAX_RUNS == 1000


def test_the_grid_figure_labels_its_axes_with_units_for_one_two_and_more_keys(grid):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    # Grids of one, two and three keys, and the legend each gets: colour per value of the second key,
    # marker per value of the third.
    cases = [
        ({"meta.l1": [0.0, 1e-3, 1e-2]}, None),
        ({"meta.l1": [1e-4, 1e-3], "task.steps": [50, 100]}, ["task.steps=50", "task.steps=100"]),
        (
            {"meta.optimizer": ["cma_es", "evosax_es"], "task.steps": [5, 10], "meta.l1": [1, 2, 3]},
            ["task.steps=5", "task.steps=10", "meta.l1=1", "meta.l1=2", "meta.l1=3"],
        ),
    ]
    for g, legend in cases:
        values = _sweep.points(g)
        metrics = {
            k: [list(rng.normal(size=3)) for _ in values] for k in ("loss", "heldout_loss", "angle_oja")
        }
        axes = _sweep.grid_sweep(g, values, metrics, {"meta.l1": "meta.l1: L1 penalty on theta"})
        drawn = [ax for ax in axes.ravel() if ax.axison]
        assert len(drawn) == 3
        for ax in drawn:
            assert ax.get_xlabel() in ("meta.l1: L1 penalty on theta", "meta.optimizer")
            assert ax.get_ylabel().endswith(("(task's loss units)", "(degrees)"))
            assert len(ax.get_lines()) >= len(values) // len(next(iter(g.values())))  # a line per group
        got = drawn[0].get_legend()
        assert (None if got is None else [t.get_text() for t in got.get_texts()]) == legend
        plt.close(drawn[0].figure)
    # The sweep's own figure, and the labels of its axes.
    assert (grid / "figures" / "sweep.png").stat().st_size > 5000
    config = _sweep.read_spec(grid).config
    assert _sweep.key_label(config, "meta.l1") == "meta.l1: L1 penalty on theta"
    assert _sweep.key_label(config, "rules.ff.nope") == "rules.ff.nope"
    assert _sweep.metric_label("heldout_rate") == "heldout_rate (Hz)"


def test_grid_key_units_come_from_the_field_description():
    spiking = _sweep._config_data(validate({**registry()["spiking"].tiny, "family": "spiking"}))
    assert _sweep.key_label(spiking, "task.target") == "task.target (Hz)"
    assert _sweep.key_label(spiking, "network.dt") == "network.dt (s)"


def test_on_ray_a_grid_run_gives_its_local_run(grid, grid_copy, ray_address):
    # One Ray task for the one unfinished run, of the second point: it runs that point's config.
    shutil.rmtree(grid_copy / "point-1" / "seed-1")
    where = ["--address", ray_address] if ray_address else []
    assert cli.main(["resume", str(grid_copy), "--quiet", "--backend", "ray", *where]) == 0
    assert rows(grid_copy / "point-1" / "seed-1") == rows(grid / "point-1" / "seed-1")
    assert summary(grid_copy / "point-1" / "seed-1") == summary(grid / "point-1" / "seed-1")
    assert json.loads((grid_copy / "sweep.json").read_text()) == json.loads((grid / "sweep.json").read_text())
