"""Sweeps: one experiment run once per seed (and per point of a parameter grid), a run directory
each, and the aggregate over seeds.

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

A **grid** (``plastix sweep ... --grid meta.l1=1e-4,1e-3 --grid task.steps=50,100``)
runs the product of its values, every point once per seed. Its runs live in
numbered point directories, ``point-<i>/seed-<k>/``, with the index in
``sweep.toml`` (``grid``: key -> values; point ``i`` is the ``i``-th
combination, the last key varying fastest) and, for a reader of the directory,
in ``point-<i>/point.toml`` (the point's settings). A directory named by the
values themselves (``meta.l1=1e-4,task.steps=50``) would be neither safe nor
stable: a value may hold ``/``, ``:``, quotes or spaces (a string, a list),
the name may pass a file system's 255-byte limit, ``1e-4`` and ``0.0001`` are
one value, and a case-insensitive file system merges ``"A"`` and ``"a"``.
``sweep.json`` then holds the grid and, per point, its values and the
aggregate over its seeds; ``figures/sweep.png`` draws each metric against the
first key that has several values, a line per combination of the others.
Every point's config is validated before anything is made (a refused value is
named: ``--grid meta.l1=-1: config error: ...``); a key set twice (also by
``--set``) is refused, and so is a grid of more than :data:`MAX_RUNS` runs
unless the caller allows that many (``--max-runs``).

With the ``ray`` backend each run is one Ray task (one CPU) that runs the
seed with the local backend in its worker, all runs at once; the run
directories must then be on a file system every node of the cluster sees (on
one machine they are).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import os
import re
import shutil
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tomli_w
from pydantic import BaseModel

from plastix.experiment import _ray, _runner
from plastix.experiment import _rundir as rd
from plastix.experiment._backend import BACKENDS, LOCAL, Placement
from plastix.experiment._config import Config, apply_overrides, dump_config, parse_value, validate
from plastix.experiment._errors import SEED_LIMIT, UserError
from plastix.experiment._family import get

SPEC = "sweep.toml"
AGGREGATE = "sweep.json"
FIGURE = "sweep.png"
POINT = "point.toml"  # in a grid point's directory: the point's settings, for whoever reads it
ERROR = "error.txt"  # in a run's directory: the traceback of its last failure
MAX_SEEDS = 10_000  # seeds in one sweep: a run directory each
#: Runs (points x seeds) of a grid sweep unless ``max_runs`` (``--max-runs``) allows more. A grid is a
#: product: a value or two too many in each of a few keys makes thousands of run directories (each
#: with its checkpoint and figures) and days of computing, so a larger grid is run only by stating
#: its size; a seed list is typed out and has its own bound (MAX_SEEDS).
MAX_RUNS = 1_000

#: ``progress(seed, generation, row)``: after each generation of a seed run in this process.
Progress = Callable[[int, int, dict], None]
#: ``report(seed, status, error)``: status ``"started"``, ``"skipped"`` (finished before),
#: ``"finished"`` or ``"failed"`` (``error``: one line). In a grid sweep, also ``point=`` the
#: grid point's label, e.g. ``"point-1 (meta.l1=0.001)"``.
Report = Callable[..., None]

_SEEDS = re.compile(r"(\d+)(?:-(\d+))?", re.ASCII)


class Spec(NamedTuple):
    """What a sweep directory runs (``sweep.toml``).

    Attributes:
        config: the resolved config as TOML data, without ``seed`` and ``versions`` (and, in a
            grid sweep, before the grid's values are set).
        seeds: the seeds, ascending.
        source: the config as given (a path or a shipped config's name), for the record.
        overrides: the ``--set`` overrides, for the record (``config`` includes them).
        grid: key -> its values, in the order given (empty: a seed sweep).
    """

    config: dict[str, Any]
    seeds: list[int]
    source: str = ""
    overrides: list[str] = []
    grid: dict[str, list[Any]] = {}


class Run(NamedTuple):
    """One run of a sweep: a seed of a grid point (``point`` ``None`` in a sweep without a grid)."""

    point: int | None
    seed: int

    @property
    def name(self) -> str:
        """Its directory in the sweep's: ``seed-3``, or ``point-1/seed-3``."""
        return f"seed-{self.seed}" if self.point is None else f"point-{self.point}/seed-{self.seed}"


def _shortened(text: str, limit: int = 160) -> str:
    """``text`` with its middle cut out when longer than ``limit`` (the run's own error.txt has it all)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 60]} ... {text[-50:]}"


class SweepFailed(UserError):
    """Some runs failed (the others finished and are kept); ``failed``: seed (in a grid sweep the
    :class:`Run`) -> one-line error."""

    def __init__(self, path: Path, failed: Mapping[Run, str], runs: Sequence[Run]):
        grid = any(r.point is not None for r in runs)
        self.failed = {(r if grid else r.seed): e for r, e in sorted(failed.items())}
        first, *_ = self.failed
        n_ok = len(runs) - len(failed)
        retry = f"retry the others with the same sweep or `plastix resume {path}`"
        # The counts first, and the first error shortened: a long one (a path) must not crowd them
        # out of the one line an error gets.
        why = _shortened(self.failed[first])
        if not grid:
            super().__init__(
                f"sweep {path}: {n_ok} of {len(runs)} finished and kept; seed{'s' * (len(failed) > 1)} "
                f"{', '.join(map(str, self.failed))} failed (seed {first}: {why}); {retry}"
            )
            return
        names = [r.name for r in self.failed]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(
            f"sweep {path}: {n_ok} of {len(runs)} runs finished and kept; run{'s' * (len(names) > 1)} "
            f"{shown} failed ({names[0]}: {why}); {retry}"
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


# --- grids -------------------------------------------------------------------------------------


def _split_values(text: str) -> list[str]:
    """``V1,V2,...`` cut at the commas outside brackets, braces and quotes: ``[1, 2],[3]`` is two."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1  # an escaped character of a TOML basic string, a quote perhaps
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid KEY=V1,V2,...`` texts as ``{key: [values]}``, keys and values in the order given.

    Each value is read as ``--set KEY=VALUE`` reads its value (TOML: ``3``, ``1e-4``, ``true``,
    ``[1, 2]``; anything else is a string); a comma inside brackets, braces or quotes belongs to
    its value (``[1, 2],[3, 4]`` is two lists). :class:`UserError` for an item without ``=``, an
    empty key or value, or a key given twice (its values belong in one ``--grid``); the grid's
    other checks are :func:`sweep`'s.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--grid {item!r}: expected section.key=value1,value2,...")
        key, text = (x.strip() for x in item.split("=", 1))
        if not key:
            raise UserError(f"--grid {item!r}: no key before '='")
        texts = _split_values(text)
        if "" in texts:
            raise UserError(f"--grid {item!r}: an empty value (write the values as V1,V2,...)")
        if key in grid:
            raise UserError(f"--grid {key}: given twice; give all its values in one --grid {key}=V1,V2,...")
        grid[key] = [parse_value(t) for t in texts]
    return grid


def format_value(value: Any, bare: bool = True) -> str:
    """A grid value as ``--set`` text that reads back as the same value: ``0.0001``, ``"3"``, ``[1, 2]``.

    A string is written bare (``cma_es``) where it reads back as itself, and quoted otherwise and
    always inside a list or table (``bare=False``), where TOML wants every string quoted.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # the shortest text of the float; TOML reads inf and nan as Python writes them
    if isinstance(value, str):
        plain = bare and value and parse_value(value) == value and not re.search(r"[,\s\"'\[\]{}]", value)
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, False) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))} = {format_value(v, False)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return tomli_w.dumps({"v": value})[4:].strip()  # a TOML date or time


def _overlap(a: str, b: str) -> bool:
    """Whether setting the keys ``a`` and ``b`` touches one value: equal, or one a section of the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _same(a: Any, b: Any) -> bool:
    """One value given twice (``1e-4`` and ``0.0001``; ``1`` and ``1.0``), but ``true`` is not ``1``."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last key varying fastest: point ``i`` is the ``i``-th."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def point_label(values: Mapping[str, Any]) -> str:
    """A grid point's values as ``--set`` text: ``meta.l1=0.0001, task.steps=50``."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in values.items())


def grid_text(grid: Mapping[str, Sequence[Any]]) -> str:
    """The grid as ``--grid`` texts: ``meta.l1=0.0001,0.001 task.steps=50,100`` (``none`` if empty)."""
    return " ".join(f"{k}={','.join(map(format_value, v))}" for k, v in grid.items()) or "none"


def _check_grid(grid: Mapping[str, Sequence[Any]], overrides: Sequence[str], n_seeds: int, max_runs: int):
    """The grid's keys and size, before any config is validated; see :func:`sweep`."""
    keys = list(grid)
    for i, key in enumerate(keys):
        if key == "seed":
            raise UserError("--grid seed=...: a sweep sets each run's seed from --seeds")
        for other in keys[:i]:
            if _overlap(key, other):
                raise UserError(f"--grid {other} and --grid {key}: one sets what the other sets")
        for o in overrides:
            k = o.split("=", 1)[0].strip()
            if _overlap(key, k):
                raise UserError(f"--grid {key} and --set {k}: a key is either swept or set, not both")
        values = list(grid[key])
        if not values:
            raise UserError(f"--grid {key}: no values")
        for j, v in enumerate(values):
            if any(_same(v, w) for w in values[:j]):
                raise UserError(f"--grid {key}: the value {format_value(v)} is given twice")
    n_points = math.prod(len(v) for v in grid.values())
    runs = n_points * n_seeds
    if runs > max_runs:
        raise UserError(
            f"--grid: {n_points} points x {n_seeds} seed{'s' * (n_seeds != 1)} = {runs} runs, "
            f"more than {max_runs}; pass --max-runs {runs} to run them all"
        )


def _with(base: dict[str, Any], values: Mapping[str, Any]) -> Config:
    """``base`` (a spec's config) with ``values`` set as ``--set`` sets them, validated."""
    raw = apply_overrides(copy.deepcopy(base), [f"{k}={format_value(v)}" for k, v in values.items()])
    return validate(raw)


def point_configs(base: dict[str, Any], grid: Mapping[str, Sequence[Any]]) -> list[Config]:
    """The config of every grid point (:func:`points`): ``base`` with the point's values set.

    :class:`UserError` for the first point refused, naming the value when it is refused on its
    own (``--grid meta.l1=-1: config error: meta.l1: ...``), else the point (a joint check, such
    as the memory estimate, refused the combination).
    """
    configs = []
    for i, values in enumerate(points(grid)):
        try:
            configs.append(_with(base, values))
        except UserError as err:
            for k, v in values.items():
                try:
                    _with(base, {k: v})
                except UserError as alone:
                    raise UserError(f"--grid {k}={format_value(v)}: {alone}") from None
            raise UserError(f"--grid point {i} ({point_label(values)}): {err}") from None
    return configs


# --- the sweep directory ---------------------------------------------------------------------------


def seed_dir(path: Path, seed: int) -> Path:
    """The run directory of ``seed`` in the sweep ``path`` (one without a grid)."""
    return Path(path) / f"seed-{seed}"


def run_dir(path: Path, run: Run) -> Path:
    """The run directory of ``run`` in the sweep ``path``."""
    return Path(path) / run.name


def runs(spec: Spec) -> list[Run]:
    """The sweep's runs: per grid point (or once, without a grid) one per seed."""
    n = math.prod(len(v) for v in spec.grid.values()) if spec.grid else 0
    return [Run(p, s) for p in (range(n) if spec.grid else [None]) for s in spec.seeds]


def is_sweep(path: Path) -> bool:
    return (Path(path) / SPEC).is_file()


def _config_data(cfg: Config) -> dict[str, Any]:
    """``cfg`` as TOML data without what differs between a sweep's runs (seed, package versions)."""
    raw = tomllib.loads(dump_config(cfg))
    raw.pop("seed", None)
    raw.pop("versions", None)
    return raw


def _read_grid(data: Any) -> dict[str, list[Any]]:
    if not isinstance(data, dict) or not all(isinstance(v, list) and v for v in data.values()):
        raise TypeError("grid: expected key = [values, ...]")
    return {str(k): list(v) for k, v in data.items()}


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
            _read_grid(data.get("grid", {})),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{f}: not a valid sweep spec ({type(err).__name__}: {err})") from None


def write_spec(path: Path, spec: Spec) -> None:
    data: dict[str, Any] = {"source": spec.source, "overrides": spec.overrides, "seeds": spec.seeds}
    if spec.grid:  # a seed sweep's spec stays as it always was
        data["grid"] = spec.grid
        head = (
            "# The spec of this sweep (plastix sweep): point-<i>/ is the i-th combination of the grid's\n"
            "# values (the last key varying fastest); the config of its seed-<k>/ runs is [config] with\n"
            "# those values set (see point-<i>/point.toml), seed aside.\n"
        )
    else:
        head = "# The spec of this sweep (plastix sweep): the config of every seed-<k>/ run, seed aside.\n"
    data["config"] = spec.config
    rd.atomic_write(Path(path) / SPEC, (head + tomli_w.dumps(data)).encode())


def _write_point(path: Path, point: int, values: Mapping[str, Any]) -> None:
    """``point-<i>/point.toml``: the point's settings, so that the directory says what it is."""
    f = Path(path) / f"point-{point}" / POINT
    if f.is_file():
        return
    f.parent.mkdir(parents=True, exist_ok=True)
    head = f"# Grid point {point} of the sweep in the directory above: these settings on its config.\n"
    rd.atomic_write(f, (head + tomli_w.dumps(dict(values))).encode())


def _resolved(data: dict) -> dict:
    """``data`` (a spec's config) with every default filled in; as it is if it is no valid config."""
    try:
        return _config_data(validate(copy.deepcopy(data)))
    except UserError:
        return data


def _config_difference(have: dict, want: dict) -> str | None:
    """The first setting in which two configs differ, as ``key: a, not b``; ``None`` if they agree.

    Both are read as configs first, so that a key a later plastix added with its default (say
    ``track = []``) does not set a sweep written before apart from the same sweep started now.
    """
    changed = rd.differences(_resolved(have), _resolved(want))
    if not changed:
        return None
    k, a, b = (v if v is not rd.UNSET else "(default)" for v in changed[0])
    return f"{k}: {a!r}, not {b!r}"


def _prepare(path: Path, spec: Spec, force: bool) -> None:
    """Make ``path`` the sweep of ``spec``: new, or continued when it already is; see the module doc."""
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a directory")
    if is_sweep(path):
        if not force:
            old = read_spec(path)
            if old.seeds != spec.seeds:
                why = f"seeds {format_seeds(old.seeds)}, not {format_seeds(spec.seeds)}"
            elif list(old.grid.items()) != list(spec.grid.items()):  # the order numbers the points
                why = f"grid {grid_text(old.grid)}, not {grid_text(spec.grid)}"
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


def _mismatch(path: Path, run: Run, config: dict[str, Any]) -> str | None:
    """Why ``run``'s directory holds a run other than the sweep's (seed, ``config``), if it does."""
    f = run_dir(path, run) / rd.CONFIG
    if not f.is_file():
        return None
    try:
        raw = tomllib.loads(f.read_text())
    except tomllib.TOMLDecodeError as err:
        return f"{f}: invalid TOML: {err}"
    if raw.get("seed") != run.seed:
        return f"{f} has seed {raw.get('seed')!r}, not {run.seed}"
    raw.pop("seed", None)
    raw.pop("versions", None)
    why = _config_difference(raw, config)
    return None if why is None else f"{f} is not the sweep's config ({why})"


def finished(path: Path, run: Run) -> bool:
    """Whether the run has finished (written its ``summary.json``)."""
    return (run_dir(path, run) / rd.SUMMARY).is_file()


def unfinished_runs(path: Path) -> dict[Run, int]:
    """The sweep's unfinished runs -> the generations each has recorded so far (0: not started)."""
    path = Path(path)
    return {r: len(rd.read_metrics(run_dir(path, r))) for r in runs(read_spec(path)) if not finished(path, r)}


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
    grid: Mapping[str, Sequence[Any]] | None = None,
    max_runs: int = MAX_RUNS,
    force: bool = False,
    placement: Placement = LOCAL,
    source: str = "",
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
    report: Report | None = None,
    only: Collection[int] | None = None,
) -> dict:
    """Run ``cfg`` once per seed (and grid point) into ``path`` and aggregate the results over seeds.

    Continues a sweep of the same spec in ``path``. A sweep of another spec or
    a run there is refused unless ``force`` (which starts it over); any other
    non-empty directory is refused. Every grid point's config is validated
    before anything is made.

    Args:
        cfg: the config, ``--set`` overrides applied; its own seed is replaced by each seed.
        seeds: the seeds, e.g. :func:`parse_seeds` of ``"0-7"``.
        path: the sweep directory.
        grid: key -> values (e.g. :func:`parse_grid`): the sweep runs every combination, each
            point's config ``cfg`` with its values set as ``--set`` sets them. Refused: the key
            ``seed``, a key also among ``overrides``, two keys of which one is a section of the
            other, a value given twice, and more than ``max_runs`` runs (points x seeds).
        max_runs: the most runs a grid sweep may make (:data:`MAX_RUNS`).
        force: start an existing sweep (or overwrite a run) in ``path`` over.
        placement: ``local``: the runs one after another in this process;
            ``ray``: all at once, one Ray task each, on the cluster at
            ``placement.address`` (else ``RAY_ADDRESS``, else a local one).
        source, overrides: the config as given and the overrides, recorded in ``sweep.toml``.
        progress: per generation of a run in this process (``local``).
        report: per run, when it starts, is skipped (finished before), finishes or fails.
        only: run only these of ``seeds`` now and leave the others unfinished (a sweep too long
            for one sitting, run in pieces); ``None``: all.

    Returns:
        The aggregate (``sweep.json``, :func:`aggregate`).

    Raises:
        SweepFailed: after every run has run, if any failed.
    """
    _check_placement(placement)
    if any(o.split("=", 1)[0].strip() == "seed" for o in overrides):
        raise UserError("--set seed=...: a sweep sets each run's seed from --seeds")
    seeds = sorted(set(seeds))
    if not seeds or seeds[0] < 0:
        raise UserError(f"--seeds {format_seeds(seeds)!r}: give one or more seeds >= 0")
    grid = {k: list(v) for k, v in (grid or {}).items()}
    base = _config_data(cfg)
    if grid:
        _check_grid(grid, overrides, len(seeds), max_runs)
        configs = point_configs(base, grid)
    else:
        configs = [cfg]
    for c in configs:
        c.task.ready(c)  # e.g. data files present: refused before any directory is made
    if only is not None and set(only) - set(seeds):
        raise UserError(f"seeds {format_seeds(set(only) - set(seeds))} are not among the sweep's")
    path = Path(path)
    _prepare(path, Spec(base, list(seeds), str(source), list(overrides), grid), force)
    return _complete(path, configs, placement, progress, report, only)


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
    if spec.grid:
        configs = point_configs(spec.config, spec.grid)
    else:
        configs = [validate({**spec.config, "seed": spec.seeds[0]})]
    for c in configs:
        c.task.ready(c)
    return _complete(path, configs, placement, progress, report)


def _teller(spec: Spec, report: Report | None) -> Callable[..., None]:
    """``tell(run, status, error)``: ``report`` of the run, with its grid point's label in a grid sweep."""
    if report is None:
        return lambda run, status, error=None: None
    labels = [f"point-{i} ({point_label(v)})" for i, v in enumerate(points(spec.grid))]

    def tell(run: Run, status: str, error: str | None = None) -> None:
        if run.point is None:
            report(run.seed, status, error)
        else:
            report(run.seed, status, error, point=labels[run.point])

    return tell


def _complete(
    path: Path,
    configs: Sequence[Config],
    placement: Placement,
    progress: Progress | None,
    report: Report | None,
    only: Collection[int] | None = None,
) -> dict:
    """Run every unfinished run of the sweep in ``path`` (``configs``: one per grid point, or the one;
    ``only``: of these seeds), then write the aggregate and its figure."""
    spec = read_spec(path)
    tell = _teller(spec, report)
    if spec.grid:
        for i, values in enumerate(points(spec.grid)):
            _write_point(path, i, values)
        expected = [_config_data(c) for c in configs]
    else:
        expected = [spec.config]
    todo, failed = {}, {}
    for r in runs(spec):
        p = r.point or 0
        why = _mismatch(path, r, expected[p])
        if why is not None:  # never overwritten: the user decides what that run is
            failed[r] = why
            tell(r, "failed", why)
        elif finished(path, r):
            tell(r, "skipped")
        elif only is not None and r.seed not in only:
            continue  # left for a later piece
        else:
            todo[r] = configs[p].model_copy(update={"seed": r.seed})
    if todo or failed:
        # An aggregate written before no longer describes every run.
        (path / AGGREGATE).unlink(missing_ok=True)
    run = _run_local if placement.backend == "local" else _run_ray
    failed.update(run(path, todo, placement, progress, tell))
    if failed:
        raise SweepFailed(path, failed, runs(spec))
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


def _keep_traceback(path: Path, run: Run, text: str) -> None:
    d = run_dir(path, run)
    d.mkdir(parents=True, exist_ok=True)
    (d / ERROR).write_text(text)


def _run_local(
    path: Path, todo: dict[Run, Config], placement: Placement, progress: Progress | None, tell
) -> dict[Run, str]:
    """The runs one after another in this process; run -> error of those that failed."""
    failed = {}
    local = Placement(devices=placement.devices)
    for r, cfg in todo.items():
        tell(r, "started")
        try:
            run_seed(
                run_dir(path, r),
                cfg,
                local,
                None if progress is None else functools.partial(progress, r.seed),
            )
        except Exception as err:  # one run's failure must not cost the others theirs
            failed[r] = _describe(err)
            _keep_traceback(path, r, traceback.format_exc())
            tell(r, "failed", failed[r])
        else:
            tell(r, "finished")
    return failed


def _ray_task(path: str, config: str, devices: int | None) -> None:
    """One run in a Ray worker: its run with the local backend, written to ``path``."""
    run_seed(Path(path), validate(tomllib.loads(config)), Placement(devices=devices))


def _run_ray(
    path: Path, todo: dict[Run, Config], placement: Placement, progress: Progress | None, tell
) -> dict[Run, str]:
    """Every run at once, one Ray task each; run -> error of those that failed."""
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
        for r, cfg in todo.items():
            refs[task.remote(str(run_dir(path, r).resolve()), dump_config(cfg), placement.devices)] = r
            tell(r, "started")
        failed = {}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                r = refs.pop(done[0])
                try:
                    ray.get(done[0])
                except ray.exceptions.RayError as err:
                    cause = getattr(err, "cause", None)
                    failed[r] = _describe(cause if isinstance(cause, BaseException) else err)
                    _keep_traceback(path, r, re.sub(r"\x1b\[[0-9;]*m", "", str(err)))  # the remote one
                    tell(r, "failed", failed[r])
                else:
                    tell(r, "finished")
        except KeyboardInterrupt:  # the runs continue from their checkpoints when run again
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
        return failed
    finally:
        if owned:
            ray.shutdown()


# --- the aggregate ---------------------------------------------------------------------------------


def finite_number(x: Any) -> float | None:
    """A finite float, else ``None`` (JSON has no NaN; a missing value is not a zero)."""
    if isinstance(x, bool) or not isinstance(x, int | float | np.number):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def stats(values: list[float | None]) -> dict[str, Any]:
    """Mean and standard error (sample sd / sqrt(n)) of the values given; ``se`` is ``None`` for n < 2."""
    v = np.array([x for x in values if x is not None], np.float64)
    n = int(v.size)
    mean = finite_number(v.mean()) if n else None
    se = finite_number(v.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"mean": mean, "se": se, "n": n, "values": values}


def _over_seeds(family_name: str | None, dirs: Mapping[int, Path]) -> dict[str, Any]:
    """The aggregate of the runs ``dirs`` (seed -> run directory): see :func:`aggregate`."""
    family = get(family_name)
    heads, todo = {}, []
    for s, d in dirs.items():
        summary = rd.read_summary(d)
        if summary is None:
            todo.append(s)
        else:
            heads[s] = family.headline(summary)
    names = list(dict.fromkeys(k for h in heads.values() for k in h))
    agg: dict[str, Any] = {
        "seeds": list(heads),
        "metrics": {k: stats([finite_number(h.get(k)) for h in heads.values()]) for k in names},
    }
    if todo:
        agg["unfinished"] = todo
    return agg


def aggregate(path: Path) -> dict:
    """The sweep's aggregate over its finished seeds, as ``sweep.json`` holds it.

    Without a grid, ``{"seeds": [...], "metrics": {name: {"mean", "se", "n", "values"}}}``:
    the finished seeds, and per metric (:attr:`~plastix.experiment.Family.headline`
    of each seed's summary) the value of each of those seeds (``None`` where a
    seed has none), their mean and standard error over the ``n`` seeds with a
    value. With unfinished seeds, ``"unfinished"`` lists them.

    With a grid, ``{"grid": {key: [values]}, "seeds": [...], "points": [...]}``:
    the grid, the sweep's seeds, and per point (in :func:`points` order)
    ``{"point": i, "values": {key: value}}`` with the aggregate above of its
    seeds; ``"unfinished"`` then lists the unfinished runs' directories
    (``point-1/seed-3``).
    """
    path = Path(path)
    spec = read_spec(path)
    family = spec.config.get("family")
    if not spec.grid:
        return _over_seeds(family, {s: seed_dir(path, s) for s in spec.seeds})
    out: dict[str, Any] = {"grid": spec.grid, "seeds": spec.seeds, "points": []}
    todo = []
    for i, values in enumerate(points(spec.grid)):
        agg = _over_seeds(values.get("family", family), {s: run_dir(path, Run(i, s)) for s in spec.seeds})
        out["points"].append({"point": i, "values": values, **agg})
        todo += [Run(i, s).name for s in agg.get("unfinished", [])]
    if todo:
        out["unfinished"] = todo
    return out


def table(agg: dict) -> list[str]:
    """The aggregate (of a seed sweep, or of one grid point) as aligned text lines: metric,
    mean ± se, n, the per-seed values."""
    rows = [("metric", "mean ± se", "n", "values")]
    for name, m in agg["metrics"].items():
        mean = "-" if m["mean"] is None else f"{m['mean']:.4g}"
        if m["se"] is not None:
            mean += f" ± {m['se']:.2g}"
        values = ", ".join("-" if v is None else f"{v:.4g}" for v in m["values"])
        rows.append((name, mean, str(m["n"]), values))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}" for r in rows]


# --- figures ---------------------------------------------------------------------------------------


def write_figure(path: Path) -> Path:
    """(Re)draw ``figures/sweep.png`` from the finished runs' summaries (and, without a grid, metrics)."""
    import matplotlib.pyplot as plt

    from plastix import plotting

    path = Path(path)
    spec = read_spec(path)
    agg = aggregate(path)
    if spec.grid:
        names = list(dict.fromkeys(k for p in agg["points"] for k in p["metrics"]))
        metrics = {
            k: [p["metrics"][k]["values"] if k in p["metrics"] else [] for p in agg["points"]] for k in names
        }
        labels = {k: key_label(spec.config, k) for k in spec.grid}
        drawn = grid_sweep(spec.grid, [p["values"] for p in agg["points"]], metrics, labels)
    else:
        curves = {}
        for s in agg["seeds"]:
            rows = rd.read_metrics(seed_dir(path, s))
            if rows:
                curves[s] = (
                    np.array([r["generation"] for r in rows]),
                    np.array([r["loss_best"] for r in rows]),
                )
        drawn = plotting.seed_sweep(agg["seeds"], {k: m["values"] for k, m in agg["metrics"].items()}, curves)
    fig = plotting.figure_of(drawn)
    out = path / rd.FIGURES / FIGURE
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


#: Units a config field's description names at its end (``"time step, s"``, ``"target rate, Hz"``).
_UNIT = re.compile(r",\s*(s|ms|Hz|mV|nS|degrees)\s*(?:\(.*\))?$")


def key_label(config: dict[str, Any], key: str) -> str:
    """An axis label for the config setting ``key``: ``network.dt (s)``, or the key and its field's
    description when that names no unit (``meta.l1: L1 penalty on theta``); ``key`` alone when the
    config has no such field (a grid over a component's own keys)."""
    try:
        node: Any = validate({**config}, memory=False)
    except UserError:
        return key
    description = None
    for part in key.split("."):
        if isinstance(node, BaseModel):
            field = type(node).model_fields.get(part)
            description = field.description if field else None
            node = getattr(node, part, None)
        elif isinstance(node, dict):
            description, node = None, node.get(part)
        else:
            return key
    if not description:
        return key
    unit = _UNIT.search(description)
    if unit:
        return f"{key} ({unit[1]})"
    return f"{key}: {description if len(description) <= 40 else description[:37] + '...'}"


def metric_label(name: str) -> str:
    """A y-axis label for a headline metric, with its unit: angles in degrees, rates in Hz, losses in
    the task's own units."""
    if "angle" in name:
        unit = "degrees"
    elif "rate" in name:
        unit = "Hz"
    elif name.startswith("accuracy"):
        unit = "fraction correct"
    elif "corr" in name:
        unit = "correlation"
    elif name.endswith("_closed"):
        unit = "fraction"
    elif "loss" in name or name.startswith(("mse", "gap")):
        unit = "task's loss units"
    else:
        unit = "a.u."
    return f"{name} ({unit})"


def grid_sweep(
    grid: Mapping[str, Sequence[Any]],
    values: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Sequence[Sequence[float | None]]],
    key_labels: Mapping[str, str] | None = None,
    axes=None,
):
    """A grid sweep: each metric against one grid key, a line per combination of the other keys.

    One panel per metric. The x axis is the first key with more than one value
    (numbers on a numeric axis, logarithmic when they are positive and span a
    factor of 10 or more; other values as categories). Each combination of the
    other keys' values is a line of means with a bar of one standard error
    (sample sd / sqrt(n); none for a single seed) over the per-seed values,
    which are drawn faintly behind it. The line's colour is the value of the
    second key, its marker (and dash) the combination of the keys after it, so
    that three or more keys stay apart; the first panel's legend names both
    (when each has at most 12 entries; else more values go dark to light).

    Args:
        grid: key -> its values, in order.
        values: each grid point's values (key -> value), in :func:`points` order.
        metrics: metric -> per point, the per-seed values (``None`` or NaN: missing, not drawn).
        key_labels: key -> axis label (default: the key).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from plastix import plotting

    labels = dict(key_labels or {})
    keys = list(grid)
    x_key = next((k for k in keys if len(grid[k]) > 1), keys[0])
    others = [k for k in keys if k != x_key]
    xs = list(grid[x_key])
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs)
    if numeric:
        where = [float(v) for v in xs]
        log = min(where) > 0 and max(where) >= 10 * min(where)
    else:
        where, log = [float(i) for i in range(len(xs))], False

    # A line per combination of the other keys: colour from the first of them, style from the rest.
    colour_key, style_keys = (others[0], others[1:]) if others else (None, [])
    colour_values = list(grid[colour_key]) if colour_key else [None]
    styles = points({k: grid[k] for k in style_keys})
    cmap = plt.get_cmap("viridis")
    n_col = len(colour_values)
    colours = [f"C{c}" if n_col <= 10 else cmap(0.9 * c / (n_col - 1)) for c in range(n_col)]
    markers, dashes = "osD^vPX*<>", ["-", "--", ":", "-."]
    lines: dict[tuple[int, int], list[int]] = {}
    for i, v in enumerate(values):
        c = colour_values.index(v[colour_key]) if colour_key else 0
        lines.setdefault((c, styles.index({k: v[k] for k in style_keys})), []).append(i)
    # Lines side by side, so that their error bars do not hide one another: a fraction of the
    # closest spacing of the x values (a ratio on a log axis).
    axis = np.log(where) if log else np.array(where)
    gaps = np.diff(np.unique(axis))
    step = 0.12 * (gaps.min() if gaps.size else 1.0) if 1 < len(lines) <= 12 else 0.0
    dodge = [step * ((g + 0.5) / len(lines) - 0.5) for g in range(len(lines))]

    n_panels = max(1, len(metrics))
    ncols = min(3, n_panels)
    nrows = -(-n_panels // ncols)
    if axes is None:
        axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)[1]
        new = True
    else:
        axes, new = np.asarray(axes, dtype=object).reshape(nrows, ncols), False
    flat = axes.ravel()
    for ax, (name, per_point) in zip(flat, metrics.items(), strict=False):
        for g, ((c, st), members) in enumerate(lines.items()):
            mx, my, se = [], [], []
            for i in members:
                x = axis[xs.index(values[i][x_key])] + dodge[g]
                x = float(np.exp(x) if log else x)
                v = np.array([np.nan if y is None else float(y) for y in per_point[i]], np.float64)
                v = v[np.isfinite(v)]
                ax.scatter(np.full(v.size, x), v, color=colours[c], s=9, alpha=0.35, lw=0)
                if v.size:
                    mx.append(x)
                    my.append(v.mean())
                    se.append(v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0)
            style = {"marker": markers[st % 10], "ls": dashes[st // 10 % 4]}
            ax.errorbar(mx, my, yerr=se, color=colours[c], ms=4, lw=1.4, capsize=3, **style)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(labels.get(x_key, x_key), fontsize=8)
        ax.set_ylabel(metric_label(name), fontsize=8)
        if log:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(where, [format_value(v) for v in xs], fontsize=7, rotation=30 if len(xs) > 4 else 0)
    if others and metrics:
        handles, notes = [], []
        if n_col <= 12:
            handles += [
                Line2D([], [], color=colours[c], marker="o", ms=4, label=f"{colour_key}={format_value(v)}")
                for c, v in enumerate(colour_values)
            ]
        else:
            notes.append(f"colour: {colour_key} (dark to light)")
        if style_keys and len(styles) <= 12:
            handles += [
                Line2D(
                    [],
                    [],
                    color="k",
                    marker=markers[s % 10],
                    ls=dashes[s // 10 % 4],
                    ms=4,
                    label=point_label(v),
                )
                for s, v in enumerate(styles)
            ]
        elif style_keys:
            notes.append(f"marker: {', '.join(style_keys)} ({len(styles)} combinations)")
        if handles:
            flat[0].legend(handles=handles, fontsize=7)
        if notes:
            flat[0].text(0.02, 0.98, "; ".join(notes), transform=flat[0].transAxes, fontsize=7, va="top")
    for ax in flat[len(metrics) :]:
        ax.axis("off")
    if new:
        plotting.figure_of(axes).tight_layout()
    return axes
