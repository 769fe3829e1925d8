"""`plastix` command line: parse, call plastix.experiment, print. Nothing else."""

from __future__ import annotations

import argparse
import json
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


def _error(message: object) -> None:
    """``plastix: error: MESSAGE`` on stderr, in one line whatever it quotes (a path with a newline)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
    sys.stderr.write(f"plastix: error: {text}\n")


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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plastix", description="Discover synaptic plasticity rules by meta-learning.")
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
    s.add_argument("--generations", type=int, help="raise the run's generation budget and continue")
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
    s = sub.add_parser("export", help="write a run's learned rule as a runnable simulator script")
    s.add_argument("dir", type=Path)
    s.add_argument("--brian2", action="store_true", required=True, help="a Brian2 script (spiking runs)")
    s.add_argument("--out", type=Path, help="output file (default: DIR/brian2_model.py)")
    s.add_argument(
        "--duration", type=float, help="the script's default simulated time, s (default: the task's)"
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing output file")
    s = sub.add_parser("sweep", help="run a config once per seed (a run directory each) and aggregate")
    s.add_argument("config", help="TOML config (a path, or the name of a shipped config)")
    s.add_argument("--seeds", required=True, metavar="SEEDS", help="e.g. 0-7, 0,3,5 or 0-3,9")
    s.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value"
    )
    s.add_argument("--out", type=Path, help="sweep directory (default: runs/<name>-sweep-<time>)")
    s.add_argument("--force", action="store_true", help="start an existing sweep in --out over")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _placement(s)
    return p


def _row_info(row: dict) -> str:
    """A generation's best/mean loss, unstable candidates and angles, for a progress bar."""
    angles = " ".join(f"∠{k[6:]} {v:5.1f}°" for k, v in row.items() if k.startswith("angle_"))
    return (
        f"best {row['loss_best']:.4f} mean {row['loss_mean']:.4f} unstable {int(row['n_unstable'])} {angles}"
    )


def _progress(total: int, quiet: bool):
    """A rich progress bar per generation with best/mean loss and angles."""
    if quiet:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]gen"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    )
    task = bar.add_task("meta", total=total, info="")

    def update(gen, row):
        bar.update(task, completed=gen, info=_row_info(row))

    return bar, update


def _print_summary(summary: dict, path: Path, family) -> None:
    from rich.console import Console

    c = Console()
    c.print(
        f"[bold]{summary['name']}[/] — {summary['generations']} generations, {summary['wall_s']:.1f} s "
        f"({summary['stopped']})"
    )
    for rule in summary["rule"].split("; "):
        c.print(f"  learned rule  [bold green]{rule}[/]")
    for k, v in summary["angles"].items():
        c.print(f"  angle to {k:<13} {v:7.2f}°")
    if "prune" in summary:  # the rule above may be the sparsified one; say what it came from
        p, learned = summary["prune"], summary["learned"]
        i = p["thresholds"].index(p["threshold"])
        angles = ", ".join(f"{k} {v:.2f}°" for k, v in learned["angles"].items())
        if i == 0:
            c.print(f"  pruning: no threshold lowered the meta-loss ({p['losses'][0]:.4f}); rule as learned")
        else:
            c.print(
                f"  pruned below {p['threshold']:g} x the largest coefficient: {p['kept'][i]} of "
                f"{p['kept'][0]} non-zero, meta-loss {p['losses'][0]:.4f} -> {p['losses'][i]:.4f} "
                f"(as learned: {angles})"
            )
    ref = summary.get("reference_heldout_loss")
    ref = f"   (reference rules: {ref:.4f})" if ref is not None else ""
    c.print(f"  training loss {summary['loss']:.4f}   held-out loss {summary['heldout_loss']:.4f}{ref}")
    for line in family.summary_lines(summary):  # e.g. the held-out rate of a spiking run
        c.print(f"  {line}")
    c.print(f"  run directory {path}  (figures in {path / 'figures'})")


def _load(args):
    from plastix.experiment import load, shipped_config

    overrides = list(args.set) + ([f"seed={args.seed}"] if args.seed is not None else [])
    return load(shipped_config(args.config), overrides)


def _run(args) -> int:
    from plastix.experiment import _runner

    cfg = _load(args)
    placement = _placement_of(args)
    cfg.task.ready(cfg)  # before the progress bar: e.g. missing data files, in one line
    out = args.out or Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    bar, update = _progress(cfg.meta.generations, args.quiet)
    if bar:
        with bar:
            summary = _runner.run(cfg, out, force=args.force, progress=update, placement=placement)
    else:
        summary = _runner.run(cfg, out, force=args.force, placement=placement)
    _print_summary(summary, out, cfg.spec)
    return 0


def _check(args) -> int:
    from plastix.experiment import UserError, dump_config, parts

    cfg = _load(args)
    family = cfg.spec
    try:  # the builders' own checks (a time grid, a class pool); nothing is compiled or run
        parts(cfg)
    except ValueError as err:
        raise UserError(f"config error: {err}") from None
    print(f"# {args.config}: valid; family {family.name!r} ({family.description})")
    print(dump_config(cfg), end="")
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
    bar, update = _progress(cfg.meta.generations, args.quiet)
    if bar:
        with bar:
            summary = _runner.resume(args.dir, progress=update, placement=placement)
    else:
        summary = _runner.resume(args.dir, placement=placement)
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
    return 0


def _sweep_progress(n_seeds: int, generations: int, quiet: bool, per_generation: bool):
    """A rich progress bar over seeds and, when they run in this process, over the current seed's
    generations; ``(bar or None, progress, report)`` for :func:`plastix.experiment._sweep.sweep`.

    A failed seed is reported on stderr as it fails, progress bar or not. The bar
    appears with the first seed, so that a refusal before any seed runs is one line alone.
    """

    def failure(seed, status, error):
        if status == "failed":
            sys.stderr.write(f"plastix: seed {seed} failed: {error}\n")

    if quiet:
        return None, None, failure
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description:>7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    )
    seeds = bar.add_task("seeds", total=n_seeds, info="")
    gens = bar.add_task("gen", total=generations, info="", visible=False) if per_generation else None
    failed = []

    def report(seed, status, error=None):
        bar.start()  # a no-op once started
        if status == "started" and gens is not None:
            bar.reset(gens, total=generations, description=f"seed {seed}", info="", visible=True)
        elif status in ("skipped", "finished", "failed"):
            if status == "finished" and gens is not None:  # also when it had no generation left to run
                bar.update(gens, completed=generations)
            failure(seed, status, error)
            if status == "failed":
                failed.append(seed)
            bar.update(seeds, advance=1, info=f"failed: {', '.join(map(str, failed))}" if failed else "")

    def progress(seed, gen, row):
        bar.update(gens, completed=gen, info=_row_info(row))

    return bar, progress if per_generation else None, report


def _print_sweep(path: Path, agg: dict) -> None:
    from plastix.experiment import _sweep as sweeps

    name = sweeps.read_spec(path).config.get("name", "experiment")
    seeds = agg["seeds"]
    print(f"{name} — sweep of {len(seeds)} seed{'s' * (len(seeds) != 1)} ({sweeps.format_seeds(seeds)})")
    for line in sweeps.table(agg):
        print(f"  {line}")
    print(f"  sweep directory {path}  (a run per seed in seed-<k>/, figure in figures/{sweeps.FIGURE})")


def _run_sweep(args, path: Path, n_seeds: int, generations: int, start) -> int:
    """Drive ``start(progress, report)`` (a sweep, new or continued) under a progress bar; print the table."""
    from plastix.experiment import Interrupted

    bar, progress, report = _sweep_progress(n_seeds, generations, args.quiet, args.backend == "local")
    try:
        try:
            agg = start(progress, report)
        finally:
            if bar:
                bar.stop()  # a no-op if no seed started it
    except KeyboardInterrupt as err:  # the line names the sweep, which continues every seed, not one run
        run = isinstance(err, Interrupted)
        where = f" ({err.path.name} after generation {err.generation})" if run else ""
        sys.stderr.write(
            f"interrupted{where}; continue the sweep with: plastix resume {shlex.quote(str(path))}\n"
        )
        return err.exit_code if run else 130
    _print_sweep(path, agg)
    return 0


def _sweep(args) -> int:
    from plastix.experiment import _sweep as sweeps
    from plastix.experiment import load, shipped_config

    seeds = sweeps.parse_seeds(args.seeds)
    placement = _placement_of(args)
    cfg = load(shipped_config(args.config), args.set)
    out = args.out or Path("runs") / f"{cfg.name}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"

    def start(progress, report):
        return sweeps.sweep(
            cfg,
            seeds,
            out,
            force=args.force,
            placement=placement,
            source=str(args.config),
            overrides=args.set,
            progress=progress,
            report=report,
        )

    return _run_sweep(args, out, len(seeds), cfg.meta.generations, start)


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
    generations = spec.config.get("meta", {}).get("generations", 0)

    def start(progress, report):
        return sweeps.resume_sweep(args.dir, placement, progress=progress, report=report)

    return _run_sweep(args, args.dir, len(spec.seeds), generations, start)


def _show_sweep(args) -> int:
    from plastix.experiment import _sweep as sweeps

    agg = sweeps.aggregate(args.dir)
    if args.json:
        print(json.dumps(agg))
        return 0
    todo = sweeps.unfinished(args.dir)
    if todo:
        config = sweeps.read_spec(args.dir).config
        total = config.get("meta", {}).get("generations")
        what = ", ".join(
            f"{s} ({g} of {total} generations)" if g else f"{s} (not started)" for s, g in todo.items()
        )
        print(
            f"{config.get('name', 'experiment')}: sweep unfinished: seed{'s' * (len(todo) > 1)} {what}; "
            f"`plastix resume {args.dir}`"
        )
        return 0
    _print_sweep(args.dir, agg)
    return 0


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
