"""`plastix` command line: parse, call plastix.experiment, print. Nothing else.

Only the standard library is imported before the arguments are parsed, and a
config is found and read (:mod:`plastix.experiment._files`) before JAX is:
``--help``, ``--version`` and a misspelt config name answer at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

# pycma's per-generation eigendecomposition is tiny; a multi-threaded BLAS only
# adds contention with JAX's own threads (18 ms instead of 0.07 ms under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


#: The longest error line printed: a message quoting a huge value keeps its start and its end.
_MAX_ERROR = 400


def _one_line(message: object, limit: int = _MAX_ERROR) -> str:
    """``message`` as one readable line: unprintable characters escaped, and the middle of a very
    long one (a 50 MB string quoted back) cut out and counted."""

    def shown(t: str) -> str:
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in t)

    text = str(message)
    if len(text) <= limit:
        return shown(text)
    head, tail = text[: limit * 3 // 4], text[-(limit // 4) :]
    return f"{shown(head)} [... {len(text) - len(head) - len(tail)} characters ...] {shown(tail)}"


def _error(message: object) -> None:
    """``plastix: error: MESSAGE`` on stderr, in one line whatever it quotes (a path with a newline)."""
    sys.stderr.write(f"plastix: error: {_one_line(message)}\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        _error(message)
        raise SystemExit(2)


def _placement(parser: argparse.ArgumentParser) -> None:
    """Where a run's generations are evaluated (the results do not depend on it)."""
    parser.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="local devices, or a Ray cluster"
    )
    parser.add_argument("--address", metavar="HOST:PORT", help="Ray cluster to connect to (--backend ray)")
    parser.add_argument("--workers", type=int, metavar="N", help="Ray actors scoring the population")
    parser.add_argument(
        "--devices", type=int, metavar="N", help="local devices per process (default: the config's, else all)"
    )


def _placement_of(args):
    from plastix.experiment import Placement, UserError

    for flag in ("workers", "devices"):
        n = getattr(args, flag)
        if n is not None and n < 1:
            raise UserError(f"--{flag} {n}: must be at least 1")
    return Placement(args.backend, args.address, args.workers, args.devices)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plastix")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plastix", description="Discover synaptic plasticity rules by meta-learning.")
    p.add_argument("--version", action="version", version=f"plastix {_version()}")
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run an experiment config into a new run directory")
    r.add_argument("config", help="TOML config (a path, or the name of a shipped config: `plastix list`)")
    r.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value"
    )
    r.add_argument("--out", type=Path, help="run directory (default: runs/<name>-<time>)")
    r.add_argument("--seed", type=int, help="override the config's seed")
    r.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    _placement(r)
    s = sub.add_parser("resume", help="continue an interrupted run")
    s.add_argument("dir", type=Path)
    s.add_argument(
        "--generations",
        type=int,
        help="set the run's generation budget and continue: raise it (a finished run too) or lower it",
    )
    s.add_argument("--quiet", action="store_true")
    _placement(s)
    s = sub.add_parser("plot", help="redraw a run's figures")
    s.add_argument("dir", type=Path)
    s = sub.add_parser("show", help="summarise a run")
    s.add_argument("dir", type=Path)
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s = sub.add_parser("check", help="validate a config and print it resolved, without running it")
    s.add_argument("config", help="TOML config (a path, or the name of a shipped config)")
    s.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value"
    )
    s.add_argument("--seed", type=int, help="override the config's seed")
    sub.add_parser("list", help="families, shipped configs, rules, tasks, networks, optimisers")
    s = sub.add_parser(
        "export",
        help="write a run's learned rule as a runnable simulator script",
        epilog="A quick check of the Brian2 script: python FILE --quick (Brian2's numpy target, "
        'prefs.codegen.target = "numpy": no C++ compilation, which takes 35 s to over two minutes on a '
        "first run with the default cython target, and a shorter simulation).",
    )
    s.add_argument("dir", type=Path)
    s.add_argument("--brian2", action="store_true", required=True, help="a Brian2 script (spiking runs)")
    s.add_argument("--out", type=Path, help="output file (default: DIR/brian2_model.py)")
    s.add_argument(
        "--duration",
        type=float,
        help="the script's default simulated time, s (default: two training episodes, "
        "2 x (task.train_time + task.score_time))",
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing output file")
    s = sub.add_parser(
        "sweep", help="run a config once per seed (and per --grid point), a run directory each, and aggregate"
    )
    s.add_argument("config", help="TOML config (a path, or the name of a shipped config)")
    s.add_argument("--seeds", required=True, metavar="SEEDS", help="e.g. 0-7, 0,3,5 or 0-3,9")
    s.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value"
    )
    s.add_argument("--out", type=Path, help="sweep directory (default: runs/<name>-sweep-<time>)")
    s.add_argument("--force", action="store_true", help="start an existing sweep in --out over")
    s.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2,...",
        help="run every combination of these values (one --grid per key), each once per seed",
    )
    s.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="allow a grid of more than 1000 runs (points x seeds): say how many",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _placement(s)
    s = sub.add_parser(
        "reproduce",
        help="run the published claims over their seeds and write the reproduction table",
        epilog="Each claim is a sweep of a shipped config in OUT/<claim>/seed-<k>/: running it again "
        "continues where a piece stopped and keeps finished seeds.",
    )
    s.add_argument(
        "claims", nargs="*", metavar="CLAIM", help="the claims to run (default: all; --list names them)"
    )
    s.add_argument("--seeds", metavar="SEEDS", help="run only these of each claim's seeds now (e.g. 0-2)")
    s.add_argument(
        "--out", type=Path, default=Path("runs/reproduce"), help="where the runs go (runs/reproduce)"
    )
    s.add_argument(
        "--doc", type=Path, default=Path("docs/reproduction.md"), help="the table (docs/reproduction.md)"
    )
    s.add_argument("--claims-file", type=Path, metavar="FILE", help="claims other than plastix/claims.toml")
    s.add_argument(
        "--table", action="store_true", help="run nothing: write the table from the finished seeds"
    )
    s.add_argument("--list", action="store_true", help="list the claims and run nothing")
    s.add_argument("--force", action="store_true", help="overwrite a --doc file that plastix did not write")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _placement(s)
    return p


def _run_label(seed: int, point: str | None) -> str:
    """A sweep run's name in progress lines: ``seed 3``, or ``point-1 seed 3`` (a grid point's
    label is ``point-<i> (key=value, ...)``)."""
    return f"seed {seed}" if point is None else f"{point.split()[0]} seed {seed}"


def _display(quiet: bool):
    """What shows a run's stages: a live view on a terminal, plain lines in a log (stdout not a
    terminal: nohup, SLURM, ``> log``), nothing with ``--quiet``. :class:`plastix.experiment._progress.Stages`
    shows nothing until the first stage starts, so an error before it stands alone."""
    from plastix.experiment._progress import Lines, Live, Stages

    if quiet:
        return Stages()
    return Stages(Live() if sys.stdout.isatty() else Lines())


def _stop_display(stages) -> None:
    stop = getattr(stages.display, "stop", None)
    if stop is not None:
        stop()


def _print_summary(summary: dict, path: Path, family) -> None:
    """The run's summary: the rule, its scores to significant digits, and the family's lines that
    say what the criterion is and how to read the numbers.

    Off a terminal (a pipe, a file) lines are not wrapped: rich would break them at 80 columns.
    """
    from rich.console import Console
    from rich.markup import escape

    from plastix.experiment._progress import breakdown, sig

    c = Console()
    if not c.is_terminal:
        c = Console(soft_wrap=True)
    head = f"{summary['generations']} generations ({escape(summary['stopped'])})"
    c.print(f"[bold]{escape(summary['name'])}[/] — {head}")
    # The whole wall time of this process, split by stage (compilation counted once, on its own);
    # a summary written before plastix timed its stages has the outer loop's time only.
    timings = summary.get("timings")
    wall = breakdown(timings) if timings else f"outer loop {summary['wall_s']:.1f} s"
    c.print(f"  wall time     {wall}")
    for rule in summary["rule"].split("; "):  # escaped: "[per synapse: ...]" is text, not markup
        c.print(f"  learned rule  [bold green]{escape(rule)}[/]")
    for k, v in summary["angles"].items():
        c.print(f"  angle to {k:<13} {sig(v):>7}°")
    if "prune" in summary:  # the rule above may be the sparsified one; say what it came from
        p, learned = summary["prune"], summary["learned"]
        i = p["thresholds"].index(p["threshold"])
        angles = ", ".join(f"{k} {sig(v)}°" for k, v in learned["angles"].items())
        if i == 0:
            c.print(f"  pruning: no threshold lowered the meta-loss ({sig(p['losses'][0])}); rule as learned")
        else:
            c.print(
                f"  pruned below {p['threshold']:g} x the largest coefficient: {p['kept'][i]} of "
                f"{p['kept'][0]} non-zero, meta-loss {sig(p['losses'][0])} -> {sig(p['losses'][i])} "
                f"(as learned: {angles})"
            )
    ref = summary.get("reference_heldout_loss")
    ref = f"   (reference rules: {sig(ref)})" if ref is not None else ""
    c.print(f"  training loss {sig(summary['loss'])}   held-out loss {sig(summary['heldout_loss'])}{ref}")
    for line in family.summary_lines(summary):  # e.g. the held-out rate of a spiking run
        c.print(f"  {escape(line)}")
    c.print(f"  run directory {escape(str(path))}  (figures in {escape(str(path / 'figures'))})")


def _load(args):
    """The config ``args.config`` (a path or a shipped name) with ``--set``/``--seed``, validated.

    The file is found and read before plastix's components (and JAX) are imported.
    """
    from plastix.experiment._files import read_toml, shipped_config

    raw = read_toml(shipped_config(args.config))
    from plastix.experiment._config import apply_overrides, validate

    overrides = list(args.set) + ([f"seed={args.seed}"] if args.seed is not None else [])
    return validate(apply_overrides(raw, overrides))


def _run(args) -> int:
    cfg = _load(args)
    from plastix.experiment import _runner

    placement = _placement_of(args)
    out = args.out or Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    stages = _display(args.quiet)
    try:
        summary = _runner.run(cfg, out, force=args.force, placement=placement, stages=stages)
    finally:
        _stop_display(stages)
    _print_summary(summary, out, cfg.spec)
    return 0


def _check(args) -> int:
    cfg = _load(args)
    from plastix.experiment import UserError, parts
    from plastix.experiment._config import dump_applicable

    family = cfg.spec
    try:  # the builders' own checks (a time grid, a class pool); nothing is compiled or run
        parts(cfg)
    except ValueError as err:
        raise UserError(f"config error: {err}") from None
    print(f"# {args.config}: valid; family {family.name!r} ({family.description})")
    print(dump_applicable(cfg), end="")
    return 0


def _resume(args) -> int:
    from plastix.experiment import _rundir, _runner
    from plastix.experiment import _sweep as sweeps

    if sweeps.is_sweep(args.dir):
        return _resume_sweep(args)
    cfg = _rundir.read_config(args.dir)
    placement = _placement_of(args)
    if args.generations is not None:
        cfg = _runner.extend(args.dir, args.generations)
    elif _runner.finished(args.dir):  # said at once; nothing is scored again or rewritten
        summary = _rundir.read_summary(args.dir)
        print(
            f"{cfg.name}: finished ({summary['generations']} generations, {summary['stopped']}); nothing "
            f"to resume. `plastix show {args.dir}` shows it; `--generations G` runs it further"
        )
        return 0
    stages = _display(args.quiet)
    try:
        summary = _runner.resume(args.dir, placement=placement, stages=stages)
    finally:
        _stop_display(stages)
    _print_summary(summary, args.dir, cfg.spec)
    return 0


def _plot(args) -> int:
    from plastix.experiment import _rundir, write_figures
    from plastix.experiment import _sweep as sweeps

    if sweeps.is_sweep(args.dir):
        print(sweeps.write_figure(args.dir))
        return 0
    _rundir.read_config(args.dir)
    _rundir.resumable(args.dir)  # metrics.csv cut short before the checkpoint: damaged, not a shorter run
    for f in write_figures(args.dir):
        print(f)
    return 0


def _show(args) -> int:
    from plastix.experiment import _rundir
    from plastix.experiment import _sweep as sweeps

    if sweeps.is_sweep(args.dir):
        return _show_sweep(args)
    cfg = _rundir.read_config(args.dir)
    summary = _rundir.read_summary(args.dir)
    rows = _rundir.read_metrics(args.dir)
    if summary is None:  # an unfinished run: what the metrics say so far
        _rundir.resumable(args.dir)  # a damaged run is said here, not first by `plastix resume`
        last = rows[-1] if rows else {}
        summary = {
            "name": cfg.name,
            "generations": len(rows),
            "stopped": "unfinished",
            "loss": last.get("loss_best"),
            "heldout_loss": None,
            "angles": {k[6:]: v for k, v in last.items() if k.startswith("angle_")},
            "theta": {},
            "rule": "",
            "wall_s": last.get("wall_s", 0.0),
        }
    if args.json:
        print(json.dumps(summary))
    elif summary["heldout_loss"] is None:
        print(
            f"{cfg.name}: unfinished after {summary['generations']} generations; `plastix resume {args.dir}`"
        )
    else:
        _print_summary(summary, args.dir, cfg.spec)
    return 0


def _list(args) -> int:
    from plastix.experiment import component_listing, config_dir, listing

    entries = listing()
    print("families (recipes: which components pair, and how their runs report):")
    for f in entries:
        print(f"  {f['name']:<12} {f['description']}")
        print(
            f"  {'':<12} network {' | '.join(f['networks'])}; task {' | '.join(f['tasks'])}; rule {f['rule']}"
        )
        print(f"  {'':<12} configs: {', '.join(f['configs']) or '-'}")
    contract = {"network": "gives", "task": "requires", "rule": "references"}
    for role, rows in component_listing().items():
        print(f"{role}s:" if role != "optimizer" else "optimizers ([meta] optimizer = ...):")
        for row in rows:
            key = contract.get(role)
            extra = f" ({key}: {', '.join(row[key])})" if key and row.get(key) else ""
            print(f"  {row['kind']:<18} {row['description']}{extra}")
    print(f"configs:    {', '.join(sorted({c for f in entries for c in f['configs']}))}   ({config_dir()})")
    return 0


def _export(args) -> int:
    from plastix.experiment import UserError, _rundir, registry
    from plastix.experiment._export import run_hint

    cfg = _rundir.read_config(args.dir)
    fmt = "brian2"
    exporter = cfg.spec.exporters.get(fmt)
    if exporter is None:
        able = sorted(f.name for f in registry().values() if fmt in f.exporters)
        raise UserError(
            f"{args.dir}: --{fmt} exports runs of family {' or '.join(map(repr, able))}; "
            f"this run's family is {cfg.family!r}"
        )
    summary = _rundir.read_summary(args.dir)
    if summary is None:
        raise UserError(f"{args.dir}: no learned rule yet (no summary.json); finish it with `plastix resume`")
    out = args.out or args.dir / f"{fmt}_model.py"
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    text = exporter(cfg, summary, args.duration)
    try:
        out.write_text(text)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror}") from None
    print(out)
    print(run_hint(out))
    return 0


def _sweep_progress(n_runs: int, generations: int, quiet: bool, per_generation: bool, unit: str = "seeds"):
    """A rich progress bar over a sweep's runs and, when they run in this process, over the current
    run's generations; ``(bar or None, progress, report)`` for :func:`plastix.experiment._sweep.sweep`.

    A failed run is reported on stderr as it fails, progress bar or not. The bar
    appears with the first run, so that a refusal before any run starts is one line alone.
    """

    def failure(seed, status, error, point=None):
        if status == "failed":
            where = f"seed {seed}" if point is None else f"{point}, seed {seed}"
            sys.stderr.write(f"plastix: {where} failed: {error}\n")

    if quiet:
        return None, None, failure
    if not sys.stdout.isatty():  # a log file: plain lines, flushed (a rich bar shows there only at its end)
        return None, *_sweep_lines(n_runs, generations, per_generation, unit, failure)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from plastix.experiment._progress import row_info

    bar = Progress(
        TextColumn("[bold]{task.description:>7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    )
    seeds = bar.add_task(unit, total=n_runs, info="")
    gens = bar.add_task("gen", total=generations, info="", visible=False) if per_generation else None
    failed = []

    def report(seed, status, error=None, point=None):
        bar.start()  # a no-op once started
        name = _run_label(seed, point)
        if status == "started" and gens is not None:
            bar.reset(gens, total=generations, description=name, info="", visible=True)
        elif status in ("skipped", "finished", "failed"):
            if status == "finished" and gens is not None:  # also when it had no generation left to run
                bar.update(gens, completed=generations)
            failure(seed, status, error, point)
            if status == "failed":
                failed.append(str(seed) if point is None else f"{point.split()[0]}/seed-{seed}")
            bar.update(seeds, advance=1, info=f"failed: {', '.join(failed)}" if failed else "")

    def progress(seed, gen, row):
        bar.update(gens, completed=gen, info=row_info(row))

    return bar, progress if per_generation else None, report


def _sweep_lines(n_runs: int, generations: int, per_generation: bool, unit: str, failure):
    """``(progress, report)`` writing plain progress lines: a run's start and end, and its
    generations as :class:`plastix.experiment._progress.Lines` writes a stage's steps."""
    from plastix.experiment._progress import Lines, row_info

    lines, done, current = Lines(), [0], [""]

    def report(seed, status, error=None, point=None):
        name = _run_label(seed, point)
        if status == "started":
            current[0] = name
            lines.start(name, generations if per_generation else None)
            return
        failure(seed, status, error, point)
        done[0] += 1
        lines.say(f"{name} {status} ({done[0]} of {n_runs} {unit} done)")

    def progress(seed, gen, row):
        lines.update(current[0], gen, row_info(row))

    return (progress if per_generation else None), report


def _print_sweep(path: Path, agg: dict) -> None:
    from plastix.experiment import _sweep as sweeps

    name = sweeps.read_spec(path).config.get("name", "experiment")
    seeds = agg["seeds"]
    if "grid" not in agg:
        print(f"{name} — sweep of {len(seeds)} seed{'s' * (len(seeds) != 1)} ({sweeps.format_seeds(seeds)})")
        for line in sweeps.table(agg):
            print(f"  {line}")
        print(f"  sweep directory {path}  (a run per seed in seed-<k>/, figure in figures/{sweeps.FIGURE})")
        return
    n = len(agg["points"])
    print(
        f"{name} — grid sweep of {n} point{'s' * (n != 1)} x {len(seeds)} seed{'s' * (len(seeds) != 1)} "
        f"({sweeps.format_seeds(seeds)}): --grid {sweeps.grid_text(agg['grid'])}"
    )
    for point in agg["points"]:
        print(f"  point-{point['point']}  {sweeps.point_label(point['values'])}")
        for line in sweeps.table(point):
            print(f"    {line}")
    print(
        f"  sweep directory {path}  (a run per point and seed in point-<i>/seed-<k>/, "
        f"figure in figures/{sweeps.FIGURE})"
    )


def _run_sweep(args, path: Path, n_runs: int, generations: int, start, unit: str = "seeds") -> int:
    """Drive ``start(progress, report)`` (a sweep, new or continued) under a progress bar; print the table."""
    from plastix.experiment import Interrupted

    bar, progress, report = _sweep_progress(n_runs, generations, args.quiet, args.backend == "local", unit)
    try:
        try:
            agg = start(progress, report)
        finally:
            if bar:
                bar.stop()  # a no-op if no run started it
    except KeyboardInterrupt as err:  # the line names the sweep, which continues every run, not one
        run = isinstance(err, Interrupted)
        where = ""
        if run:  # the run's directory in the sweep's: seed-<k>, or point-<i>/seed-<k>
            where = f" ({os.path.relpath(err.path, path)} after generation {err.generation})"
        sys.stderr.write(
            f"interrupted{where}; continue the sweep with: plastix resume {shlex.quote(str(path))}\n"
        )
        return err.exit_code if run else 130
    _print_sweep(path, agg)
    return 0


def _sweep_generations(config: dict, grid: dict) -> int:
    """Generations of a sweep's runs, for the progress bar: the most when the grid sets them."""
    if "meta.generations" in grid:
        return max(int(g) for g in grid["meta.generations"] if isinstance(g, int | float))
    return config.get("meta", {}).get("generations", 0)


def _sweep(args) -> int:
    from plastix.experiment import UserError, load, shipped_config
    from plastix.experiment import _sweep as sweeps

    seeds = sweeps.parse_seeds(args.seeds)
    grid = sweeps.parse_grid(args.grid)
    if args.max_runs is not None and args.max_runs < 1:
        raise UserError(f"--max-runs {args.max_runs}: must be at least 1")
    placement = _placement_of(args)
    cfg = load(shipped_config(args.config), args.set)
    out = args.out or Path("runs") / f"{cfg.name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"

    def start(progress, report):
        return sweeps.sweep(
            cfg,
            seeds,
            out,
            grid=grid,
            max_runs=sweeps.MAX_RUNS if args.max_runs is None else args.max_runs,
            force=args.force,
            placement=placement,
            source=str(args.config),
            overrides=args.set,
            progress=progress,
            report=report,
        )

    n_runs = len(seeds) * math.prod(len(values) for values in grid.values())
    generations = _sweep_generations({"meta": {"generations": cfg.meta.generations}}, grid)
    return _run_sweep(args, out, n_runs, generations, start, "runs" if grid else "seeds")


def _resume_sweep(args) -> int:
    from plastix.experiment import UserError
    from plastix.experiment import _sweep as sweeps

    if args.generations is not None:
        raise UserError(
            f"--generations: {args.dir} is a sweep (one config for all its seeds); "
            "sweep into another --out with --set meta.generations=G"
        )
    placement = _placement_of(args)
    spec = sweeps.read_spec(args.dir)
    generations = _sweep_generations(spec.config, spec.grid)

    def start(progress, report):
        return sweeps.resume_sweep(args.dir, placement, progress=progress, report=report)

    unit = "runs" if spec.grid else "seeds"
    return _run_sweep(args, args.dir, len(sweeps.runs(spec)), generations, start, unit)


def _show_sweep(args) -> int:
    from plastix.experiment import _sweep as sweeps

    agg = sweeps.aggregate(args.dir)
    if args.json:
        print(json.dumps(agg))
        return 0
    todo = sweeps.unfinished_runs(args.dir)
    if todo:
        spec = sweeps.read_spec(args.dir)
        total = spec.config.get("meta", {}).get("generations")
        if "meta.generations" in spec.grid:
            total = "its"
        what = ", ".join(
            f"{r.seed if r.point is None else r.name} ({g} of {total} generations)"
            if g
            else f"{r.seed if r.point is None else r.name} (not started)"
            for r, g in todo.items()
        )
        kind = "run" if spec.grid else "seed"
        print(
            f"{spec.config.get('name', 'experiment')}: sweep unfinished: {kind}{'s' * (len(todo) > 1)} "
            f"{what}; `plastix resume {args.dir}`"
        )
        return 0
    _print_sweep(args.dir, agg)
    return 0


def _reproduce(args) -> int:
    from plastix.experiment import UserError
    from plastix.experiment import _reproduce as repro
    from plastix.experiment import _sweep as sweeps

    claims = repro.load_claims(args.claims_file)
    names = repro.select(claims, args.claims)
    if args.list:
        for line in repro.describe(claims):
            print(line)
        return 0
    seeds = None if args.seeds is None else sweeps.parse_seeds(args.seeds)
    if args.table and (args.seeds or args.claims):
        raise UserError("--table writes the table of every claim from what has run: give no CLAIM or --seeds")
    repro.check_doc(args.doc, args.force)
    failed = {}
    if not args.table:
        placement = _placement_of(args)
        if placement.workers is not None:
            raise UserError("--workers: each seed of a claim runs as one Ray task; leave --workers out")
        for p in repro.plan(claims, names, seeds):
            if not args.quiet:
                print(
                    f"plastix: claim {p.name}: seeds {sweeps.format_seeds(p.now)} of {p.claim.seeds}",
                    flush=True,
                )
            local = placement.backend == "local"
            # Every finished seed of the claim is reported (skipped), so the count is of all its seeds.
            bar, progress, report = _sweep_progress(
                len(p.seeds), p.config.meta.generations, args.quiet, local
            )
            try:
                repro.run(p, args.out, placement, progress, report)
            except sweeps.SweepFailed as err:
                failed[p.name] = str(err)
            except KeyboardInterrupt as err:  # every finished generation is kept: the same command continues
                sys.stderr.write(
                    f"interrupted in claim {p.name}; continue with the same plastix reproduce command\n"
                )
                return getattr(err, "exit_code", 130)
            finally:
                if bar:
                    bar.stop()
    doc = repro.write_table(claims, args.out, args.doc, force=args.force)
    print(f"plastix: reproduction table written to {doc}")
    for name, err in failed.items():
        _error(f"claim {name}: {err}")
    return 2 if failed else 0


def _show_config_warning(message, category, filename, lineno, file=None, line=None):
    """A :class:`plastix.experiment.ConfigWarning` as one line on stderr; others as Python shows them."""
    from plastix.experiment import ConfigWarning

    if issubclass(category, ConfigWarning):
        sys.stderr.write(f"plastix: warning: {message}\n")
    else:
        _SHOW_WARNING(message, category, filename, lineno, file, line)


_SHOW_WARNING = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    from plastix.experiment import Interrupted, UserError

    warnings.showwarning = _show_config_warning
    args = _parser().parse_args(argv)
    verbs = {
        "run": _run,
        "check": _check,
        "resume": _resume,
        "plot": _plot,
        "show": _show,
        "list": _list,
        "export": _export,
        "sweep": _sweep,
        "reproduce": _reproduce,
    }
    try:
        return verbs[args.verb](args)
    except UserError as err:
        _error(err)
        return 2
    except OSError as err:  # what the system refused (permission denied, a full disk): its reason
        where = f"{err.filename}: " if err.filename else ""
        _error(f"{where}{err.strerror or err}")
        return 2
    except Interrupted as err:  # after the progress bar has closed, so the line stands on its own
        sys.stderr.write(
            f"interrupted after generation {err.generation}; "
            f"continue with: plastix resume {shlex.quote(str(err.path))}\n"
        )
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("plastix: interrupted; continue with `plastix resume DIR`\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
