"""Run, resume and summarise an experiment: the only place that loops over generations."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from plastix import meta, rules
from plastix.experiment import _rundir as rd
from plastix.experiment import _seeds
from plastix.experiment._backend import LOCAL, Placement, open_backend
from plastix.experiment._backend import check as check_placement
from plastix.experiment._build import Experiment, build
from plastix.experiment._config import Config, dump_config
from plastix.experiment._errors import UserError
from plastix.experiment._figures import write_figures
from plastix.experiment._interrupt import Guard, interruptible
from plastix.experiment._progress import Stages, row_info
from plastix.experiment._seeds import EXAMPLE, HELDOUT, PRUNE, VALIDATE
from plastix.experiment._tracking import open_tracker
from plastix.experiment._tracking import require as require_trackers


def _key(cfg: Config, stream: int) -> jax.Array:
    return _seeds.stream(cfg.seed, stream)


def generation_key(cfg: Config, generation: int) -> jax.Array:
    """Training episodes of a generation: fixed, or fresh each generation with ``resample``."""
    return _seeds.generation_key(cfg.seed, generation, cfg.task.resample)


def theta_columns(exp: Experiment, theta) -> dict[str, float]:
    """``theta_<p>_<name>`` per number of each rule's summary (:func:`plastix.rules.summarise`):
    each coefficient, for a per-synapse rule its mean over synapses and ``_sd``."""
    return {
        f"theta_{p}_{n}": v for p in sorted(theta) for n, v in rules.summarise(exp.rules[p], theta[p]).items()
    }


def _theta_summary(exp: Experiment, theta) -> dict[str, list[float]]:
    """Theta for ``summary.json``: the summary numbers without the spreads (``names`` names them)."""
    out = {}
    for p, v in theta.items():
        numbers = rules.summarise(exp.rules[p], v)  # once per projection: a per-synapse rule's is not cheap
        out[p] = [numbers[n] for n in exp.rules[p].names]
    return out


def theta_arrays(exp: Experiment, theta) -> dict[str, np.ndarray]:
    """Theta for ``final.npz``: ``theta_<p>``, ``[size]`` or per synapse ``[post, pre, size]``; a
    pytree theta (an MLP's weights) one array per leaf, ``theta_<p>_<path>``."""
    out = {}
    for p, v in theta.items():
        rule = exp.rules[p]
        if rule.synapses is not None:
            out[f"theta_{p}"] = np.asarray(rule.synapses(v))
        elif rule.summary is None:
            out[f"theta_{p}"] = np.asarray(v)
        else:
            for path, leaf in jax.tree_util.tree_leaves_with_path(v):
                name = "_".join(
                    str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path
                )
                out[f"theta_{p}_{name}"] = np.asarray(leaf)
    return out


def columns(exp: Experiment, theta) -> dict[str, float]:
    """A generation's metrics columns beyond the optimiser's (theta aside): angles, the family's own."""
    row = {f"angle_{k}": v for k, v in exp.angles(theta).items()}
    if exp.family.columns is not None:
        row.update(exp.family.columns(exp, theta))
    return row


def _stop(cfg: Config, row: dict) -> str | None:
    m = cfg.meta
    if m.target_loss is not None and row["loss_best"] <= m.target_loss:
        return f"loss_best <= {m.target_loss}"
    angles = [v for k, v in row.items() if k.startswith("angle_")]
    if m.target_angle is not None and angles and max(angles) <= m.target_angle:
        return f"every angle <= {m.target_angle} degrees"
    return None


def execute(
    path: Path,
    progress: Callable | None = None,
    placement: Placement = LOCAL,
    guard: Guard | None = None,
    exp: Experiment | None = None,
    stages: Stages | None = None,
) -> dict:
    """Run (or continue) the experiment in ``path`` to its end and write the summary.

    The run directory must exist with its ``config.toml``; a checkpoint, if
    present, is continued from. Metrics rows beyond the checkpoint (written
    just before a crash) are dropped, so a resumed run repeats them exactly.

    With ``meta.validate_every`` the current theta is scored every that many
    generations (and after the last) on fixed validation episodes of the
    training distribution; with ``meta.select = "best"`` the final rule is the
    theta of lowest validation loss rather than the last one, so that a late
    drift of the outer loop (say into a rule that explodes on some episodes)
    does not decide the result. The held-out episodes never take part.

    ``placement`` says where populations are scored (:mod:`._backend`); the
    driver keeps the optimiser state, checkpoints and metrics in any case.

    ``guard`` (:func:`._interrupt.interruptible`, set up by :func:`run` and
    :func:`resume`) turns SIGINT and SIGTERM into a clean stop: the generation
    in progress finishes and is checkpointed, whatever ``meta.checkpoint_every``
    says, and :class:`._interrupt.Interrupted` is raised.

    ``exp``: the experiment of the run's config, when the caller built it already.
    ``stages`` times the stages (and shows them, with its display); their times go into the
    summary's ``timings``.
    """
    if guard is None:  # signals keep their usual effect
        guard = Guard(path)
    stages = stages or Stages()
    if exp is None:
        with stages("build"):
            exp = build(rd.read_config(path), placement.devices)
    cfg = exp.config
    m_cfg = cfg.meta
    opt = exp.optimizer
    with open_backend(exp, placement) as backend:
        prepared = opt.prepare(exp.train_loss, exp.theta0, backend.population)
        validate = None if exp.validation_loss is None else jax.jit(exp.validation_loss)
        ckpt = rd.load_checkpoint(path)
        # The config as the run started, kept in every checkpoint: a resume refuses an edited one.
        started = (path / rd.CONFIG).read_text() if ckpt is None else ckpt.get("config")
        if ckpt is None:
            state, start, wall, stopped, best = opt.init(exp.theta0, cfg.seed), 0, 0.0, None, None
            rd.write_metrics(path, [])
        else:
            state, start, wall, stopped = ckpt["state"], ckpt["generation"], ckpt["wall_s"], ckpt["stopped"]
            best = ckpt.get("best")
            rd.check_state(path, lambda: opt.theta(state, prepared), exp.theta0)
            rd.write_metrics(path, rd.read_metrics(path, upto=start))
        guard.saved = start
        t0 = time.perf_counter() - wall
        gen = start
        guard.defer()  # a signal from here on lets the generation in progress finish
        tracker = open_tracker(cfg.track, path, start=start)  # metrics.csv's rows, mirrored
        with (
            stages("generations", total=m_cfg.generations, done=start) as advance,
            contextlib.closing(tracker),
        ):
            while gen < m_cfg.generations and stopped is None:
                state, m = opt.step(state, prepared, generation_key(cfg, gen))
                theta = exp.project(opt.theta(state, prepared))
                row = {"generation": gen, **m, **columns(exp, theta)}
                gen += 1
                stopped = _stop(cfg, row) or opt.stopped(state)
                if validate is not None:
                    row["validation_loss"] = float("nan")
                    if gen % m_cfg.validate_every == 0 or gen == m_cfg.generations or stopped:
                        row["validation_loss"] = v = float(validate(theta, _key(cfg, VALIDATE))[0])
                        if best is None or v < best["loss"]:
                            best = {
                                "loss": v,
                                "generation": row["generation"],  # as in metrics.csv: 0-based
                                "theta": jax.tree.map(np.asarray, theta),
                            }
                row["wall_s"] = time.perf_counter() - t0
                row.update(theta_columns(exp, theta))
                rd.append_metrics(path, row)
                tracker.log(row["generation"], row)
                # read once: it decides both the checkpoint and the stop
                interrupted = guard.signum is not None
                if gen % m_cfg.checkpoint_every == 0 or gen == m_cfg.generations or stopped or interrupted:
                    payload = {"state": state, "generation": gen, "wall_s": row["wall_s"], "stopped": stopped}
                    payload.update(best=best, **({"config": started} if started else {}))
                    rd.save_checkpoint(path, payload)
                    guard.saved = gen
                if progress:
                    progress(gen, row)
                advance(gen, row_info(row))
                if interrupted:
                    break
        guard.deliver()  # every generation so far is checkpointed; a signal meanwhile stops here
    wall = time.perf_counter() - t0
    theta, selected = exp.project(opt.theta(state, prepared)), None
    if best is not None:
        selected = {
            "select": m_cfg.select,
            "best_generation": best["generation"],
            "best_validation_loss": best["loss"],
        }
        if m_cfg.select == "best":
            theta = jax.tree.map(jnp.asarray, best["theta"])
    return finish(path, exp, theta, gen, wall, stopped, selected, opt.result(state, prepared), stages)


def finish(
    path: Path,
    exp: Experiment,
    theta,
    generations: int,
    wall: float,
    stopped: str | None,
    selected: dict | None = None,
    outer: Mapping[str, Any] | None = None,
    stages: Stages | None = None,
) -> dict:
    """Score the final rule on the training and on fresh held-out episodes; save arrays and summary.

    ``selected`` (with validation) says which generation's theta this is; it goes into the summary.
    ``outer``: what the outer loop holds beyond the point (``MetaOptimizer.result``), saved in
    ``final.npz`` as ``optimizer_<name>``.

    With ``meta.prune`` the rule is first sparsified (:func:`plastix.meta.prune`);
    the summary keeps the rule as learned under ``learned``.

    ``stages`` times the final scoring and the figures; the summary's ``timings`` say how long
    each stage took in this process (compilation counted apart).
    """
    cfg = exp.config
    stages = stages or Stages()
    # Steps of very different cost (a family's baselines may take minutes): no time-left estimate.
    with stages("final scoring", total=5 if cfg.meta.prune is not None else 4, uniform=False) as advance:
        summary = _score(path, exp, theta, generations, wall, stopped, selected, outer, advance)
    rd.write_summary(path, summary)
    with stages("figures"):
        write_figures(path, exp)
    summary["timings"] = stages.timings()
    summary["provenance"] = rd.provenance()
    rd.write_summary(path, summary)
    return summary


def _score(path, exp, theta, generations, wall, stopped, selected, outer, advance) -> dict:
    """:func:`finish`'s scoring: the summary, and ``final.npz`` written; ``advance(k, what)`` after
    each of its steps."""
    cfg = exp.config
    pruned, step = {}, 0

    def done(what: str) -> None:
        nonlocal step
        step += 1
        advance(step, what)

    if cfg.meta.prune is not None:
        res = meta.prune(exp.train_loss, theta, _key(cfg, PRUNE), cfg.meta.prune)
        pruned = {
            "prune": {
                "threshold": res.threshold,
                "thresholds": res.thresholds,
                "losses": res.losses,
                "kept": res.kept,
            },
            "learned": {
                "angles": exp.angles(theta),
                "theta": _theta_summary(exp, theta),
                "rule": "; ".join(exp.family.rules_text(exp, theta).values()),
            },
        }
        theta = res.theta
        done("pruned; scoring the training episodes")
    train_loss, train_m = jax.jit(exp.train_loss)(theta, generation_key(cfg, max(generations - 1, 0)))
    done("training episodes scored; scoring the held-out episodes")
    heldout = jax.jit(exp.heldout_loss)
    held_loss, held_m = heldout(theta, _key(cfg, HELDOUT))
    done("held-out episodes scored; scoring the reference rules")
    per_episode = {k: np.asarray(v) for k, v in held_m.pop("episodes").items()}
    # The reference rules (coefficients as published, scale 1) on the same
    # held-out datasets: the yardstick for the learned rule's loss.
    ref_loss, ref_m = None, {}
    if set(exp.references) == set(theta):
        ref = {p: r.astype(theta[p].dtype) for p, (_, r) in exp.references.items()}
        ref_m = {k: float(v) for k, v in heldout(ref, _key(cfg, HELDOUT))[1].items() if k != "episodes"}
        ref_loss = ref_m["task_loss"]
    done("reference rules scored; running an example episode (and the family's baselines)")
    # One held-out episode trained with the final rule, for the figures, and
    # whatever else the task reports (e.g. the held-out rate per dataset).
    arrays, extra = exp.family.example(exp, theta, _key(cfg, EXAMPLE), per_episode)
    done("example episode run")
    arrays.update(theta_arrays(exp, theta))
    # What the outer loop holds beyond its point (an ES's search distribution), flat like its theta.
    arrays.update({f"optimizer_{k}": np.asarray(v) for k, v in (outer or {}).items()})
    rd.write_final(path, arrays)
    summary = {
        "name": cfg.name,
        "generations": generations,
        "stopped": stopped or "generations done",
        "loss": float(train_m["task_loss"]),
        "meta_loss": float(train_loss),
        "heldout_loss": float(held_m["task_loss"]),
        "heldout_unstable": float(held_m["unstable"]),
        "reference_heldout_loss": ref_loss,
        "heldout_metrics": {k: float(v) for k, v in held_m.items()},
        "reference_heldout_metrics": ref_m,
        "angles": exp.angles(theta),
        "theta": _theta_summary(exp, theta),
        "names": {p: list(exp.rules[p].names) for p in theta},
        "rule": "; ".join(exp.family.rules_text(exp, theta).values()),
        "wall_s": wall,
        **({"selected": selected} if selected else {}),
        **pruned,
        **extra,
    }
    return summary


def run(
    cfg: Config,
    path: Path,
    force: bool = False,
    progress: Callable | None = None,
    placement: Placement = LOCAL,
    stages: Stages | None = None,
) -> dict:
    """Start a new run of ``cfg`` in ``path`` (refusing to overwrite a run unless ``force``).

    Whatever can be refused is refused before anything is built or shown (an
    existing run in ``path``, a missing data file). The experiment is built once,
    before the run directory is made: a builder's error (a time grid, say) leaves
    nothing behind. The directory is locked while the run writes it
    (:func:`._rundir.locked`): a second process is refused. ``stages``: see :func:`execute`.
    """
    cfg.task.ready(cfg)  # e.g. data files present
    check_placement(cfg, placement)
    require_trackers(cfg.track)
    rd.check_new(path, force)
    stages = stages or Stages()
    made = not path.exists()
    try:
        with rd.locked(path, create=True), stages.listening():  # the lock first: refused before shown
            with stages("build"):
                exp = build(cfg, placement.devices)
            rd.create(path, cfg, force)
            with interruptible(path) as guard:
                return execute(path, progress, placement, guard, exp, stages)
    except BaseException:
        if made and path.is_dir() and [p.name for p in path.iterdir()] == [rd.LOCK]:  # nothing written
            (path / rd.LOCK).unlink()
            path.rmdir()
        raise


def finished(path: Path) -> bool:
    """Whether the run in ``path`` has its summary and nothing left to run (a budget reached or a
    target met); a resume of it has nothing to do."""
    ckpt, summary = rd.load_checkpoint(path), rd.read_summary(path)
    # `timings` goes into the summary last, once the figures are written: a run killed in between
    # is finished by a resume (so is a finished run of a plastix without timings: scored again).
    if ckpt is None or summary is None or "timings" not in summary:
        return False
    return ckpt["stopped"] is not None or ckpt["generation"] >= rd.read_config(path).meta.generations


def resume(
    path: Path,
    progress: Callable | None = None,
    placement: Placement = LOCAL,
    stages: Stages | None = None,
) -> dict:
    """Continue an interrupted run; with the same seed it repeats the uninterrupted numbers.

    A finished run is not touched: its summary is returned as it is. A run whose
    ``config.toml`` was edited after it started (other than its generation budget)
    is refused in one line naming the changed keys.
    """
    require_trackers(rd.read_config(path).track)  # a clear error when `path` is not a run
    stages = stages or Stages()
    with rd.locked(path):
        ckpt = rd.resumable(path)  # a damaged checkpoint or metrics file: refused before anything compiles
        rd.check_unchanged(path, ckpt)
        if finished(path):
            return rd.read_summary(path)
        rd.discard_partial(path)
        saved = 0 if ckpt is None else ckpt["generation"]
        with stages.listening(), interruptible(path, saved=saved) as guard:
            return execute(path, progress, placement, guard, stages=stages)


def extend(path: Path, generations: int) -> Config:
    """Set a run's ``meta.generations`` (in its ``config.toml``) so that ``resume`` runs to it.

    Raising it continues a finished run; lowering it ends an unfinished one sooner,
    but never below the generations it has run already.
    """
    cfg = rd.read_config(path)
    if generations < 1:
        raise UserError(f"--generations {generations}: must be at least 1")
    with rd.locked(path):
        ckpt = rd.resumable(path)  # checked before the config is rewritten
        rd.check_unchanged(path, ckpt)
        done = 0 if ckpt is None else ckpt["generation"]
        if ckpt is not None and ckpt["stopped"] is not None:
            raise UserError(
                f"--generations: the run stopped on its target ({ckpt['stopped']}); nothing to extend"
            )
        if generations < done:
            raise UserError(
                f"--generations {generations}: the run has already run {done} generations; "
                f"give {done} or more"
            )
        cfg = cfg.model_copy(update={"meta": cfg.meta.model_copy(update={"generations": generations})})
        rd.atomic_write(path / rd.CONFIG, dump_config(cfg).encode())
    return cfg
