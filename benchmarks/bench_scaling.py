"""Time one CMA-ES generation on 1 and 2 local devices and on 1 and 2 Ray workers.

A generation is what the runner does per generation (``optimizer.step``: ask,
score the population, tell), on the population of the backend a run gets with
``--devices N`` (the population sharded over N local devices) or with
``--backend ray --workers N`` (chunks of it on N Ray actors). Each setting runs
in a child process of its own: the CPU device count is XLA's
``--xla_force_host_platform_device_count``, read once when JAX starts. Timed
after a first generation that compiles (reported separately), median of
``--repeats`` generations. Parallel efficiency is ``t1 / (n tn)`` against the
same backend with one device or worker.

Without ``--address`` the Ray workers run on a local cluster started for the
benchmark (one CPU per worker) and stopped at its end.

    python benchmarks/bench_scaling.py            # configs/oja.toml, 1 and 2 of each
    python benchmarks/bench_scaling.py --quick    # a tiny generation, 2 repeats (a smoke test)
    python benchmarks/bench_scaling.py --address HOST:PORT   # the workers of a running cluster
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not oja_n100.toml: with two CPU devices from --xla_force_host_platform_device_count on this
# 2-core machine, XLA's CPU backend (jax 0.10.2) stops answering in the first or second
# generation of a population of that size (n_in = 20 already): no CPU use, waiting forever.
CONFIG = ROOT / "configs" / "oja.toml"
#: --quick: a generation of milliseconds, to check that every path runs.
QUICK = [
    "network.n_in=3",
    "task.samples=0",
    "task.episodes=4",
    "task.steps=20",
    "task.batch=50",
    "meta.popsize=4",
]
DEVICE_FLAG = "--xla_force_host_platform_device_count"
LABELS = {"local": "local devices (`--devices n`)", "ray": "Ray workers (`--backend ray --workers n`)"}


def measure(
    config: str, overrides: list[str], backend: str, n: int, address: str | None, repeats: int
) -> dict:
    """One setting, in this process: the first generation and the median of ``repeats`` more."""
    import jax

    from plastix.experiment import Placement, build, load, open_backend
    from plastix.experiment._runner import generation_key

    cfg = load(config, overrides)
    if backend == "local":
        placement = Placement(devices=n)
    else:
        placement = Placement("ray", address, workers=n)
    exp = build(cfg, placement.devices if backend == "local" else 1)
    opt = exp.optimizer
    with open_backend(exp, placement) as b:
        prepared = opt.prepare(exp.train_loss, exp.theta0, b.population)
        state = opt.init(exp.theta0, cfg.seed)
        t0 = time.perf_counter()
        state, m = opt.step(state, prepared, generation_key(cfg, 0))
        first = time.perf_counter() - t0
        times = []
        for g in range(1, repeats + 1):
            t0 = time.perf_counter()
            state, m = opt.step(state, prepared, generation_key(cfg, g))
            times.append(time.perf_counter() - t0)
        description = b.description
    d = jax.devices()[0]
    return {
        "backend": backend,
        "n": n,
        "description": description,
        "seconds": statistics.median(times),
        "times": times,
        "first_s": first,
        "loss_best": m["loss_best"],
        "platform": d.platform,
        "device_kind": d.device_kind,
        "jax": jax.__version__,
    }


def _child(spec: dict, timeout: float) -> dict:
    """:func:`measure` in a fresh process, with ``spec['n']`` CPU devices for a local setting."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_FLAG)]
    if spec["backend"] == "local":
        flags.append(f"{DEVICE_FLAG}={spec['n']}")
    env["XLA_FLAGS"] = " ".join(flags)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{spec}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(rows: list[dict]) -> str:
    """Markdown table; speed-up and efficiency against the same backend's n = 1 row."""
    head = (
        "| backend | n | generation (median) | first generation (with compile) | speed-up t1 / tn "
        "| parallel efficiency t1 / (n tn) | best loss | device |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    one = {r["backend"]: r["seconds"] for r in rows if r["n"] == 1}
    for r in rows:
        t1 = one.get(r["backend"])
        speed = f"{t1 / r['seconds']:.2f}x" if t1 else "-"
        eff = f"{100 * t1 / (r['n'] * r['seconds']):.0f}%" if t1 else "-"
        lines.append(
            f"| {LABELS[r['backend']]} | {r['n']} | {_fmt(r['seconds'])} | {_fmt(r['first_s'])} | {speed} "
            f"| {eff} | {r['loss_best']:.4f} | {r['platform']} ({r['device_kind']}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Generation time on 1 and 2 local devices and Ray workers.")
    ap.add_argument("--config", default=str(CONFIG), help="config file (default: configs/oja.toml)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override")
    ap.add_argument("--ns", type=int, nargs="+", default=[1, 2], help="device and worker counts")
    ap.add_argument("--repeats", type=int, default=5, help="timed generations after the first")
    ap.add_argument("--address", help="Ray cluster HOST:PORT (default: a local one for the benchmark)")
    ap.add_argument("--no-ray", action="store_true", help="local devices only")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per setting")
    ap.add_argument("--quick", action="store_true", help="a tiny generation, 2 repeats: a smoke test")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(measure(**spec)))
        return {}
    overrides = (QUICK if args.quick else []) + args.set
    repeats = min(args.repeats, 2) if args.quick else args.repeats

    # No JAX in this process: each setting's child starts its own, with its own device count.
    load_before = os.getloadavg()[0]
    print(f"load average {load_before:.2f} on {os.cpu_count()} cores", flush=True)
    use_ray = not args.no_ray
    try:
        import ray
    except ImportError:
        print('ray is not installed (pip install "plastix[ray]"): local devices only', flush=True)
        use_ray = False
    specs = [("local", n) for n in args.ns] + ([("ray", n) for n in args.ns] if use_ray else [])
    address, started = args.address, False
    if use_ray and address is None:
        import logging

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local", num_cpus=max(args.ns), include_dashboard=False, logging_level=logging.WARNING
        )
        address, started = ray.get_runtime_context().gcs_address, True
    rows = []
    try:
        for backend, n in specs:
            spec = dict(
                config=args.config,
                overrides=overrides,
                backend=backend,
                n=n,
                address=address,
                repeats=repeats,
            )
            row = _child(spec, args.timeout)
            rows.append(row)
            print(
                f"  {row['description']}: {_fmt(row['seconds'])} per generation "
                f"(first {_fmt(row['first_s'])}), jax {row['jax']} on {row['platform']} "
                f"({row['device_kind']})",
                flush=True,
            )
    finally:
        if started:
            ray.shutdown()
    load_after = os.getloadavg()[0]
    settings = f"`{Path(args.config).name}`" + (f" with `{' '.join(overrides)}`" if overrides else "")
    md = table(rows)
    print(
        f"\nOne CMA-ES generation of {settings}; median of {repeats}. Load average {load_before:.2f} "
        f"before, {load_after:.2f} after.\n"
    )
    print(md)
    return {
        "rows": rows,
        "table": md,
        "settings": settings,
        "repeats": repeats,
        "load": (load_before, load_after),
        "same_loss": len({r["loss_best"] for r in rows}) == 1,
        "device": ", ".join(sorted({f"{r['platform']} ({r['device_kind']})" for r in rows})),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }


def section(r: dict | None) -> list[str]:
    out = ["## 7. Scaling: local devices and Ray workers (`bench_scaling.py`)", ""]
    if r is None:
        return out + ["Not run yet.", ""]
    cmd = " ".join([".venv/bin/python benchmarks/bench_scaling.py", *r["argv"]]).strip()
    return out + [
        f"Measured by `{cmd}` (load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after, on "
        f"{r['device']}). One CMA-ES generation of {r['settings']} (ask, score the population, tell), "
        "as the runner steps it: on N local devices (`--devices N`, the population sharded over them; "
        "CPU devices from `--xla_force_host_platform_device_count`) and on N Ray actors "
        "(`--backend ray --workers N`, one CPU each, contiguous chunks of the population). Each "
        f"setting in a process of its own; the median of {r['repeats']} generations after a first one "
        "that compiles. *parallel efficiency* is t1 / (n · tn) against one device or worker of the "
        "same backend; *best loss* is the last timed generation's, equal in every setting: "
        f"{r['same_loss']}.",
        "",
        r["table"],
        "",
        f"On a machine of {os.cpu_count()} cores one device's program already keeps every core busy "
        "(XLA's intra-op threads), so a second device or worker finds no idle core: on a small machine "
        "these rows measure what splitting a generation costs, not a speed-up. Each node of a cluster "
        "brings its own cores. Forced CPU devices are for testing: with 2 of them on 2 cores, a "
        "generation of `oja_n100.toml` never returns (an XLA CPU backend hang, jax 0.10.2).",
        "",
    ]


if __name__ == "__main__":
    main()
