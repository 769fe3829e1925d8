"""Seed sweeps: one experiment run once per seed, a run directory each, and the aggregate over seeds.

A sweep directory holds

- ``sweep.toml``: the spec — the resolved config (seed aside), the seeds, and
  for the record where the config came from and the ``--set`` overrides;
- ``seed-<k>/``: an ordinary run directory per seed (``plastix resume`` and
  ``plastix show`` work on each one);
- ``sweep.json``, once every seed has finished: per metric (the generic ones
  and the family's :attr:`~plastix.experiment.Family.headline`) the per-seed
  values, their mean and standard error;
- ``figures/sweep.png``: those values per seed with mean ± standard error, and
  every seed's loss curve.

Sweeping into a directory that holds a sweep of the same spec continues it:
finished seeds (a ``summary.json``) are kept, interrupted ones continue from
their checkpoint, the others start. A sweep of another spec there is refused
unless ``force`` (which starts it over). A seed that fails does not stop the
others; the sweep then raises :class:`SweepFailed` naming it, and running it
again retries only what is unfinished.

With the ``ray`` backend each seed is one Ray task (one CPU) that runs the
seed with the local backend in its worker, all seeds at once; the seed
directories must then be on a file system every node of the cluster sees (on
one machine they are).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tomli_w

from plastix.experiment import _ray, _runner
from plastix.experiment import _rundir as rd
from plastix.experiment._backend import BACKENDS, LOCAL, Placement
from plastix.experiment._config import Config, dump_config, validate
from plastix.experiment._errors import SEED_LIMIT, UserError
from plastix.experiment._family import get

SPEC = "sweep.toml"
AGGREGATE = "sweep.json"
FIGURE = "sweep.png"
ERROR = "error.txt"  # in a seed's directory: the traceback of its last failure
MAX_SEEDS = 10_000  # seeds in one sweep: a run directory each

#: ``progress(seed, generation, row)``: after each generation of a seed run in this process.
Progress = Callable[[int, int, dict], None]
#: ``report(seed, status, error)``: status ``"started"``, ``"skipped"`` (finished before),
#: ``"finished"`` or ``"failed"`` (``error``: one line).
Report = Callable[[int, str, str | None], None]

_SEEDS = re.compile(r"(\d+)(?:-(\d+))?", re.ASCII)


class Spec(NamedTuple):
    """What a sweep directory runs (``sweep.toml``).

    Attributes:
        config: the resolved config as TOML data, without ``seed`` and ``versions``.
        seeds: the seeds, ascending.
        source: the config as given (a path or a shipped config's name), for the record.
        overrides: the ``--set`` overrides, for the record (``config`` includes them).
    """

    config: dict[str, Any]
    seeds: list[int]
    source: str = ""
    overrides: list[str] = []


class SweepFailed(UserError):
    """Some seeds failed (the others finished and are kept); ``failed``: seed -> one-line error."""

    def __init__(self, path: Path, failed: dict[int, str], seeds: Sequence[int]):
        self.failed = dict(sorted(failed.items()))
        first, *_ = self.failed
        n_ok = len(seeds) - len(failed)
        super().__init__(
            f"sweep {path}: seed{'s' * (len(failed) > 1)} {', '.join(map(str, self.failed))} failed "
            f"(seed {first}: {self.failed[first]}); {n_ok} of {len(seeds)} finished and kept; "
            f"retry the others with the same sweep or `plastix resume {path}`"
        )


def parse_seeds(text: str) -> list[int]:
    """``0-7``, ``0,3,5`` or ``0-3,9`` as the ascending list of seeds; :class:`UserError` otherwise."""
    seeds: list[int] = []
    for item in text.split(","):
        m = _SEEDS.fullmatch(item.strip())
        if m is None:
            raise UserError(f"--seeds {text!r}: expected seeds such as 0-7, 0,3,5 or 0-3,9")
        lo = int(m[1])
        hi = lo if m[2] is None else int(m[2])
        if hi < lo:
            raise UserError(f"--seeds {text!r}: the range {lo}-{hi} is empty (write {hi}-{lo})")
        if hi >= SEED_LIMIT:
            raise UserError(f"--seeds {text!r}: seeds must be below {SEED_LIMIT}, got {hi}")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:  # checked before the list is made: 0-99999999999
            raise UserError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds in one sweep")
        seeds.extend(range(lo, hi + 1))
    twice = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if twice:
        raise UserError(f"--seeds {text!r}: seed {twice[0]} is given twice")
    return sorted(seeds)


def format_seeds(seeds: Iterable[int]) -> str:
    """The shortest :func:`parse_seeds` text of ``seeds``: ``[0, 1, 2, 3, 9]`` -> ``0-3,9``."""
    parts: list[str] = []
    run: list[int] = []
    for s in sorted(seeds):
        if run and s != run[-1] + 1:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run = []
        run.append(s)
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


def seed_dir(path: Path, seed: int) -> Path:
    """The run directory of ``seed`` in the sweep ``path``."""
    return Path(path) / f"seed-{seed}"


def is_sweep(path: Path) -> bool:
    return (Path(path) / SPEC).is_file()


def _config_data(cfg: Config) -> dict[str, Any]:
    """``cfg`` as TOML data without what differs between a sweep's runs (seed, package versions)."""
    raw = tomllib.loads(dump_config(cfg))
    raw.pop("seed", None)
    raw.pop("versions", None)
    return raw


def read_spec(path: Path) -> Spec:
    """The spec in ``path/sweep.toml``; :class:`UserError` when ``path`` is no sweep directory."""
    f = Path(path) / SPEC
    if not f.is_file():
        raise UserError(f"{path}: not a sweep directory (no {SPEC})")
    try:
        data = tomllib.loads(f.read_text())
        return Spec(
            dict(data["config"]),
            [int(s) for s in data["seeds"]],
            str(data.get("source", "")),
            [str(o) for o in data.get("overrides", [])],
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{f}: not a valid sweep spec ({type(err).__name__}: {err})") from None


def write_spec(path: Path, spec: Spec) -> None:
    data = {"source": spec.source, "overrides": spec.overrides, "seeds": spec.seeds, "config": spec.config}
    head = "# The spec of this sweep (plastix sweep): the config of every seed-<k>/ run, seed aside.\n"
    rd.atomic_write(Path(path) / SPEC, (head + tomli_w.dumps(data)).encode())


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _config_difference(have: dict, want: dict) -> str | None:
    """The first setting in which two configs differ, as ``key: a, not b``; ``None`` if they agree."""
    a, b = _flat(have), _flat(want)
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            return f"{k}: {a.get(k, '(default)')!r}, not {b.get(k, '(default)')!r}"
    return None


def _prepare(path: Path, spec: Spec, force: bool) -> None:
    """Make ``path`` the sweep of ``spec``: new, or continued when it already is; see the module doc."""
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a directory")
    if is_sweep(path):
        if not force:
            old = read_spec(path)
            if old.seeds != spec.seeds:
                why = f"seeds {format_seeds(old.seeds)}, not {format_seeds(spec.seeds)}"
            else:
                why = _config_difference(old.config, spec.config)
            if why is None:
                return  # the same sweep: continue it
            raise UserError(
                f"--out {path}: holds a sweep of another spec ({why}); use --force to start it over, "
                "or another --out"
            )
        shutil.rmtree(path)
    elif path.exists() and any(path.iterdir()):
        if not rd.is_run(path):
            raise UserError(
                f"--out {path}: exists, is not empty and holds no sweep; choose another directory"
            )
        if not force:
            raise UserError(f"--out {path}: holds a run, not a sweep (use --force to overwrite it)")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    write_spec(path, spec)


def _mismatch(path: Path, spec: Spec, seed: int) -> str | None:
    """Why ``seed-<k>/`` holds a run other than this sweep's seed ``k``, if it does."""
    f = seed_dir(path, seed) / rd.CONFIG
    if not f.is_file():
        return None
    try:
        raw = tomllib.loads(f.read_text())
    except tomllib.TOMLDecodeError as err:
        return f"{f}: invalid TOML: {err}"
    if raw.get("seed") != seed:
        return f"{f} has seed {raw.get('seed')!r}, not {seed}"
    raw.pop("seed", None)
    raw.pop("versions", None)
    why = _config_difference(raw, spec.config)
    return None if why is None else f"{f} is not the sweep's config ({why})"


def finished(path: Path, seed: int) -> bool:
    """Whether the seed's run has finished (written its ``summary.json``)."""
    return (seed_dir(path, seed) / rd.SUMMARY).is_file()


def unfinished(path: Path) -> dict[int, int]:
    """The sweep's unfinished seeds -> the generations each has recorded so far (0: not started)."""
    spec = read_spec(path)
    return {s: len(rd.read_metrics(seed_dir(path, s))) for s in spec.seeds if not finished(path, s)}


def _check_placement(placement: Placement) -> None:
    if placement.backend not in BACKENDS:
        raise UserError(f"--backend {placement.backend!r}: allowed: {', '.join(BACKENDS)}")
    if placement.workers is not None:
        raise UserError(
            "--workers: a sweep runs each seed as one Ray task, scored locally in its worker; "
            "leave --workers out"
        )
    if placement.backend == "local" and placement.address is not None:
        raise UserError("--address goes with --backend ray")


def sweep(
    cfg: Config,
    seeds: Sequence[int],
    path: Path,
    *,
    force: bool = False,
    placement: Placement = LOCAL,
    source: str = "",
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
    report: Report | None = None,
) -> dict:
    """Run ``cfg`` once per seed into ``path/seed-<k>/`` and aggregate the results over seeds.

    Continues a sweep of the same spec in ``path``. A sweep of another spec or
    a run there is refused unless ``force`` (which starts it over); any other
    non-empty directory is refused.

    Args:
        cfg: the config, ``--set`` overrides applied; its own seed is replaced by each seed.
        seeds: the seeds, e.g. :func:`parse_seeds` of ``"0-7"``.
        path: the sweep directory.
        force: start an existing sweep (or overwrite a run) in ``path`` over.
        placement: ``local``: the seeds one after another in this process;
            ``ray``: all at once, one Ray task each, on the cluster at
            ``placement.address`` (else ``RAY_ADDRESS``, else a local one).
        source, overrides: the config as given and the overrides, recorded in ``sweep.toml``.
        progress: per generation of a seed run in this process (``local``).
        report: per seed, when it starts, is skipped (finished before), finishes or fails.

    Returns:
        The aggregate (``sweep.json``): ``{"seeds": [...], "metrics": {name: {"mean", "se", "n",
        "values"}}}``.

    Raises:
        SweepFailed: after every seed has run, if any failed.
    """
    _check_placement(placement)
    if any(o.split("=", 1)[0].strip() == "seed" for o in overrides):
        raise UserError("--set seed=...: a sweep sets each run's seed from --seeds")
    seeds = sorted(set(seeds))
    if not seeds or seeds[0] < 0:
        raise UserError(f"--seeds {format_seeds(seeds)!r}: give one or more seeds >= 0")
    cfg.task.ready(cfg)  # e.g. data files present: refused before any directory is made
    path = Path(path)
    _prepare(path, Spec(_config_data(cfg), list(seeds), str(source), list(overrides)), force)
    return _complete(path, cfg, placement, progress, report)


def resume_sweep(
    path: Path,
    placement: Placement = LOCAL,
    progress: Progress | None = None,
    report: Report | None = None,
) -> dict:
    """Continue the sweep in ``path`` from its ``sweep.toml``, as running it again would."""
    _check_placement(placement)
    path = Path(path)
    spec = read_spec(path)
    cfg = validate({**spec.config, "seed": spec.seeds[0]})
    cfg.task.ready(cfg)
    return _complete(path, cfg, placement, progress, report)


def _complete(
    path: Path, cfg: Config, placement: Placement, progress: Progress | None, report: Report | None
) -> dict:
    """Run every unfinished seed of the sweep in ``path``, then write the aggregate and its figure."""
    spec = read_spec(path)
    report = report or (lambda seed, status, error=None: None)
    todo, failed = {}, {}
    for s in spec.seeds:
        why = _mismatch(path, spec, s)
        if why is not None:  # never overwritten: the user decides what that run is
            failed[s] = why
            report(s, "failed", why)
        elif finished(path, s):
            report(s, "skipped", None)
        else:
            todo[s] = cfg.model_copy(update={"seed": s})
    if todo or failed:
        # An aggregate written before no longer describes every seed.
        (path / AGGREGATE).unlink(missing_ok=True)
    run = _run_local if placement.backend == "local" else _run_ray
    failed.update(run(path, todo, placement, progress, report))
    if failed:
        raise SweepFailed(path, failed, spec.seeds)
    agg = aggregate(path)
    rd.atomic_write(path / AGGREGATE, json.dumps(agg, indent=2, allow_nan=False).encode())
    write_figure(path)
    return agg


def run_seed(path: Path, cfg: Config, placement: Placement = LOCAL, progress=None) -> dict:
    """One seed's run to its end: continued when ``path`` holds its ``config.toml``, else started."""
    if (path / rd.CONFIG).is_file():
        summary = _runner.resume(path, progress, placement)
    else:
        # Without a config.toml the directory holds no run to keep (at most a failure's traceback).
        summary = _runner.run(cfg, path, force=True, progress=progress, placement=placement)
    (path / ERROR).unlink(missing_ok=True)
    return summary


def _describe(err: BaseException) -> str:
    """An exception in one line: a user error's message, else its type and first line."""
    first = (str(err).strip().splitlines() or [""])[0]
    if isinstance(err, UserError):
        return first
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _keep_traceback(path: Path, seed: int, text: str) -> None:
    d = seed_dir(path, seed)
    d.mkdir(parents=True, exist_ok=True)
    (d / ERROR).write_text(text)


def _run_local(
    path: Path, todo: dict[int, Config], placement: Placement, progress: Progress | None, report: Report
) -> dict[int, str]:
    """The seeds one after another in this process; seed -> error of those that failed."""
    failed = {}
    local = Placement(devices=placement.devices)
    for s, cfg in todo.items():
        report(s, "started", None)
        try:
            run_seed(
                seed_dir(path, s), cfg, local, None if progress is None else functools.partial(progress, s)
            )
        except Exception as err:  # one seed's failure must not cost the others theirs
            failed[s] = _describe(err)
            _keep_traceback(path, s, traceback.format_exc())
            report(s, "failed", failed[s])
        else:
            report(s, "finished", None)
    return failed


def _ray_task(path: str, config: str, devices: int | None) -> None:
    """One seed in a Ray worker: its run with the local backend, written to ``path``."""
    run_seed(Path(path), validate(tomllib.loads(config)), Placement(devices=devices))


def _run_ray(
    path: Path, todo: dict[int, Config], placement: Placement, progress: Progress | None, report: Report
) -> dict[int, str]:
    """Every seed at once, one Ray task each; seed -> error of those that failed."""
    if not todo:
        return {}
    ray = _ray.import_ray()
    # A connection this process already has is used as it is.
    owned, _ = _ray.connect(ray, placement.address)
    try:
        # The workers choose their JAX platform as this process was told to.
        env = {k: os.environ[k] for k in ("JAX_PLATFORMS",) if k in os.environ}
        task = ray.remote(num_cpus=1)(_ray_task).options(
            **({"runtime_env": {"env_vars": env}} if env else {})
        )
        refs = {}
        for s, cfg in todo.items():
            refs[task.remote(str(seed_dir(path, s).resolve()), dump_config(cfg), placement.devices)] = s
            report(s, "started", None)
        failed = {}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                s = refs.pop(done[0])
                try:
                    ray.get(done[0])
                except ray.exceptions.RayError as err:
                    cause = getattr(err, "cause", None)
                    failed[s] = _describe(cause if isinstance(cause, BaseException) else err)
                    _keep_traceback(path, s, re.sub(r"\x1b\[[0-9;]*m", "", str(err)))  # the remote one
                    report(s, "failed", failed[s])
                else:
                    report(s, "finished", None)
        except KeyboardInterrupt:  # the seeds continue from their checkpoints when run again
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
        return failed
    finally:
        if owned:
            ray.shutdown()


def _number(x: Any) -> float | None:
    """A finite float, else ``None`` (JSON has no NaN; a missing value is not a zero)."""
    if isinstance(x, bool) or not isinstance(x, int | float | np.number):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _stats(values: list[float | None]) -> dict[str, Any]:
    """Mean and standard error (sample sd / sqrt(n)) of the values given; ``se`` is ``None`` for n < 2."""
    v = np.array([x for x in values if x is not None], np.float64)
    n = int(v.size)
    mean = _number(v.mean()) if n else None
    se = _number(v.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"mean": mean, "se": se, "n": n, "values": values}


def aggregate(path: Path) -> dict:
    """The sweep's aggregate over its finished seeds, as ``sweep.json`` holds it.

    ``{"seeds": [...], "metrics": {name: {"mean", "se", "n", "values"}}}``:
    the finished seeds, and per metric (:attr:`~plastix.experiment.Family.headline`
    of each seed's summary) the value of each of those seeds (``None`` where a
    seed has none), their mean and standard error over the ``n`` seeds with a
    value. With unfinished seeds, ``"unfinished"`` lists them.
    """
    path = Path(path)
    spec = read_spec(path)
    family = get(spec.config.get("family"))
    heads, todo = {}, []
    for s in spec.seeds:
        summary = rd.read_summary(seed_dir(path, s))
        if summary is None:
            todo.append(s)
        else:
            heads[s] = family.headline(summary)
    names = list(dict.fromkeys(k for h in heads.values() for k in h))
    agg: dict[str, Any] = {
        "seeds": list(heads),
        "metrics": {k: _stats([_number(h.get(k)) for h in heads.values()]) for k in names},
    }
    if todo:
        agg["unfinished"] = todo
    return agg


def table(agg: dict) -> list[str]:
    """The aggregate as aligned text lines: metric, mean ± se, n, the per-seed values."""
    rows = [("metric", "mean ± se", "n", "values")]
    for name, m in agg["metrics"].items():
        mean = "-" if m["mean"] is None else f"{m['mean']:.4g}"
        if m["se"] is not None:
            mean += f" ± {m['se']:.2g}"
        values = ", ".join("-" if v is None else f"{v:.4g}" for v in m["values"])
        rows.append((name, mean, str(m["n"]), values))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}" for r in rows]


def write_figure(path: Path) -> Path:
    """(Re)draw ``figures/sweep.png`` from the finished seeds' summaries and metrics."""
    import matplotlib.pyplot as plt

    from plastix import plotting

    path = Path(path)
    agg = aggregate(path)
    curves = {}
    for s in agg["seeds"]:
        rows = rd.read_metrics(seed_dir(path, s))
        if rows:
            curves[s] = (np.array([r["generation"] for r in rows]), np.array([r["loss_best"] for r in rows]))
    drawn = plotting.seed_sweep(agg["seeds"], {k: m["values"] for k, m in agg["metrics"].items()}, curves)
    fig = plotting.figure_of(drawn)
    out = path / rd.FIGURES / FIGURE
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
