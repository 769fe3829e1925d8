"""A run directory written by plastix 0.1 (flat ``[meta]``, families that built everything) still
shows, plots and resumes.

``data/run_before_components`` is such a run: ``configs/istdp_quick.toml`` shortened (2 s
episodes), finite differences with ``fd_epsilon = 0.5``, 2 generations, figures dropped. Its
``config.toml`` holds every key of the old flat ``[meta]``, among them the gradient's
``clip_norm = 1.0``, which the finite-difference section must not take for its own.
"""

import json
import math
import shutil
from pathlib import Path

from plastix import cli, experiment
from plastix.experiment import _rundir

OLD = Path(__file__).parent / "data" / "run_before_components"


def _copy(tmp_path) -> Path:
    run = tmp_path / "old"
    shutil.copytree(OLD, run)
    return run


def test_the_old_config_reads_as_the_new_sections(recwarn):
    cfg = _rundir.read_config(OLD)
    m = cfg.meta
    assert m.optimizer == "finite_difference" and m.epsilon == 0.5 and m.optax == "adam"
    assert m.clip_norm is None  # the old fd_clip_norm (absent: none), not the gradient's clip_norm
    assert not hasattr(m, "popsize") and not hasattr(m, "es_strategy")
    assert [str(w.message) for w in recwarn] == ["meta.fd_epsilon is now meta.epsilon (read as such)"]


def test_an_old_run_shows_and_plots(tmp_path, capsys):
    run = _copy(tmp_path)
    assert cli.main(["show", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["name"] == "istdp_quick" and summary["generations"] == 2
    assert cli.main(["plot", str(run)]) == 0
    written = {Path(p).name for p in capsys.readouterr().out.split()}
    assert {"loss.png", "coefficients.png", "alpha_beta.png", "balance.png"} <= written


def test_an_old_run_resumes_to_the_numbers_of_a_fresh_run(tmp_path, capsys):
    """Resumed past its end, the old run keeps its rows and continues as a fresh run of its config."""
    run = _copy(tmp_path)
    stored = _rundir.read_metrics(run)
    assert cli.main(["resume", str(run), "--generations", "3", "--quiet"]) == 0
    rows = _rundir.read_metrics(run)
    fresh = tmp_path / "fresh"
    cfg = experiment.load(run / "config.toml")
    experiment.run(cfg, fresh)
    capsys.readouterr()

    def strip(rows, keys):
        return [{k: r[k] for k in keys if k != "wall_s"} for r in rows]

    # The outer loop now reports whether it gave a step up (`rejected`, `step_scale`): the old
    # rows keep their numbers and get those columns empty.
    old_keys, new_keys = list(stored[0]), list(rows[0])
    assert set(new_keys) - set(old_keys) == {"rejected", "step_scale"}
    assert all(math.isnan(r["rejected"]) for r in rows[:2])
    assert len(rows) == 3 and strip(rows[:2], old_keys) == strip(stored, old_keys)
    assert strip(rows, old_keys) == strip(_rundir.read_metrics(fresh), old_keys)
    assert strip(rows[2:], new_keys) == strip(_rundir.read_metrics(fresh)[2:], new_keys)
