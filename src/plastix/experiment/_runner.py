"""Run, resume and summarise an experiment: the only place that loops over generations."""

from __future__ import annotations

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
from plastix.experiment._seeds import EXAMPLE, HELDOUT, PRUNE, VALIDATE


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
    """
    if guard is None:  # signals keep their usual effect
        guard = Guard(path)
    if exp is None:
        exp = build(rd.read_config(path), placement.devices)
    cfg = exp.config
    m_cfg = cfg.meta
    opt = exp.optimizer
    with open_backend(exp, placement) as backend:
        prepared = opt.prepare(exp.train_loss, exp.theta0, backend.population)
        validate = None if exp.validation_loss is None else jax.jit(exp.validation_loss)
        ckpt = rd.load_checkpoint(path)
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
        while gen < m_cfg.generations and stopped is None:
            state, m = opt.step(state, prepared, generation_key(cfg, gen))
            theta = exp.project(opt.theta(state, prepared))
            row = {"generation": gen, **m, **columns(exp, theta)}
            gen += 1
            stopped = _stop(cfg, row)
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
            interrupted = guard.signum is not None  # read once: it decides both the checkpoint and the stop
            if gen % m_cfg.checkpoint_every == 0 or gen == m_cfg.generations or stopped or interrupted:
                payload = {"state": state, "generation": gen, "wall_s": row["wall_s"], "stopped": stopped}
                rd.save_checkpoint(path, {**payload, "best": best})
                guard.saved = gen
            if progress:
                progress(gen, row)
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
    return finish(path, exp, theta, gen, wall, stopped, selected, opt.result(state, prepared))


def finish(
    path: Path,
    exp: Experiment,
    theta,
    generations: int,
    wall: float,
    stopped: str | None,
    selected: dict | None = None,
    outer: Mapping[str, Any] | None = None,
) -> dict:
    """Score the final rule on the training and on fresh held-out episodes; save arrays and summary.

    ``selected`` (with validation) says which generation's theta this is; it goes into the summary.
    ``outer``: what the outer loop holds beyond the point (``MetaOptimizer.result``), saved in
    ``final.npz`` as ``optimizer_<name>``.

    With ``meta.prune`` the rule is first sparsified (:func:`plastix.meta.prune`);
    the summary keeps the rule as learned under ``learned``.
    """
    cfg = exp.config
    pruned = {}
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
    train_loss, train_m = jax.jit(exp.train_loss)(theta, generation_key(cfg, max(generations - 1, 0)))
    heldout = jax.jit(exp.heldout_loss)
    held_loss, held_m = heldout(theta, _key(cfg, HELDOUT))
    per_episode = {k: np.asarray(v) for k, v in held_m.pop("episodes").items()}
    # The reference rules (coefficients as published, scale 1) on the same
    # held-out datasets: the yardstick for the learned rule's loss.
    ref_loss, ref_m = None, {}
    if set(exp.references) == set(theta):
        ref = {p: r.astype(theta[p].dtype) for p, (_, r) in exp.references.items()}
        ref_m = {k: float(v) for k, v in heldout(ref, _key(cfg, HELDOUT))[1].items() if k != "episodes"}
        ref_loss = ref_m["task_loss"]
    # One held-out episode trained with the final rule, for the figures, and
    # whatever else the task reports (e.g. the held-out rate per dataset).
    arrays, extra = exp.family.example(exp, theta, _key(cfg, EXAMPLE), per_episode)
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
    rd.write_summary(path, summary)
    write_figures(path, exp)
    return summary


def run(
    cfg: Config,
    path: Path,
    force: bool = False,
    progress: Callable | None = None,
    placement: Placement = LOCAL,
) -> dict:
    """Start a new run of ``cfg`` in ``path`` (refusing to overwrite a run unless ``force``).

    The experiment is built once, before the run directory is made: a builder's
    error (a time grid, a missing data file) leaves nothing behind.
    """
    cfg.task.ready(cfg)  # e.g. data files present
    check_placement(cfg, placement)
    exp = build(cfg, placement.devices)
    rd.create(path, cfg, force)
    with interruptible(path) as guard:
        return execute(path, progress, placement, guard, exp)


def resume(path: Path, progress: Callable | None = None, placement: Placement = LOCAL) -> dict:
    """Continue an interrupted run; with the same seed it repeats the uninterrupted numbers."""
    rd.read_config(path)  # a clear error when `path` is not a run
    ckpt = rd.resumable(path)  # a damaged checkpoint or metrics file: refused before anything compiles
    rd.discard_partial(path)
    with interruptible(path, saved=0 if ckpt is None else ckpt["generation"]) as guard:
        return execute(path, progress, placement, guard)


def extend(path: Path, generations: int) -> Config:
    """Raise a run's ``meta.generations`` (in its ``config.toml``) so ``resume`` continues it."""
    cfg = rd.read_config(path)
    if generations <= cfg.meta.generations:
        raise UserError(f"--generations {generations}: the run already has {cfg.meta.generations}; give more")
    ckpt = rd.resumable(path)  # checked before the config is rewritten
    if ckpt is not None and ckpt["stopped"] is not None:
        raise UserError(
            f"--generations: the run stopped on its target ({ckpt['stopped']}); nothing to extend"
        )
    cfg = cfg.model_copy(update={"meta": cfg.meta.model_copy(update={"generations": generations})})
    rd.atomic_write(path / rd.CONFIG, dump_config(cfg).encode())
    return cfg
