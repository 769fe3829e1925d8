"""Time one CMA-ES generation of the Oja task: plastix (JAX) vs a hand-batched numpy baseline.

One generation = ``popsize`` candidate rules x ``datasets`` datasets, each a
fresh linear neuron trained for ``steps`` inner steps on batches of ``batch``
samples (``configs/oja.toml`` with ``network.n_in = N``). Plastix is built the
way the runner builds it (``experiment.load`` -> ``experiment.build`` ->
``meta.prepare_population``) and timed on ``evaluate(thetas [P, 27], key)``
after compilation, median of several repeats with ``block_until_ready``, half of
them before the baseline and half after. The
compile time (first call minus a steady call) is reported separately. The numpy
baseline (``numpy_baseline.py``) runs in the same process on the same thetas.

Also measured: the machine's fp32 matmul rate (2000 x 2000, JAX and numpy), the
FLOPs of one generation (``numpy_baseline.generation_flops``), and so the
achieved GFLOP/s and its fraction of the matmul rate (a roofline for this
matmul-dominated work).

    python benchmarks/bench_generation.py            # N = 3, 20, 100, 1000
    python benchmarks/bench_generation.py --quick    # N = 3, 20, fewer repeats
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy_baseline as nb  # noqa: E402


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def matmul_rates(size: int = 2000, repeats: int = 7) -> dict[str, float]:
    """Measured fp32 ``size x size`` matmul rate in GFLOP/s, JAX (jit) and numpy."""
    import jax
    import jax.numpy as jnp

    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm = jax.jit(jnp.matmul)
    mm(ja, jb).block_until_ready()
    t_jax, _ = _median_time(lambda i: mm(ja, jb).block_until_ready(), repeats)
    a @ b
    t_np, _ = _median_time(lambda i: a @ b, repeats)
    return {"size": size, "jax_gflops": flops / t_jax / 1e9, "numpy_gflops": flops / t_np / 1e9}


def numpy_timing(
    s: nb.OjaSettings,
    popsize: int,
    datasets: int,
    repeats: int,
    seed: int,
    threads: int | None,
    timeout: float | None = None,
) -> dict:
    """Time the numpy baseline in a child process.

    A child process keeps JAX's thread pool out of numpy's way and lets
    ``threads`` set OpenBLAS's thread count (it is read once, at import). With
    ``threads=None`` numpy runs with its own defaults, as a numpy user's would.
    A child still running after ``timeout`` seconds is stopped and reported as
    ``seconds = inf`` (slower than that).
    """
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
        if threads is not None:
            env[var] = str(threads)
    cmd = [
        sys.executable,
        str(Path(nb.__file__)),
        "--no-check",
        "--json",
        "--settings",
        json.dumps(dataclasses.asdict(s)),
        "--popsize",
        str(popsize),
        "--datasets",
        str(datasets),
        "--repeats",
        str(repeats),
    ]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": math.inf, "timed_out_after": timeout}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rng_floor(n: int, datasets: int, batch: int, steps: int, repeats: int) -> float:
    """Seconds JAX takes just to draw the generation's Gaussian inputs (``D T B N`` normals).

    Drawn as the task draws them (``plastix.tasks._pca.standard_normal``, one
    batch per dataset and step, keys folded in per step) and all summed, so that
    XLA cannot drop any of them. Every inner step draws a fresh batch, so this
    is a floor for the streaming design that the FLOP count does not see.
    """
    import jax
    import jax.numpy as jnp

    from plastix.tasks._pca import standard_normal

    @jax.jit
    def draw(key):
        keys = jax.random.split(key, datasets)

        def body(acc, t):
            z = jax.vmap(lambda k: standard_normal(jax.random.fold_in(k, t), (batch, n)))(keys)
            return acc + jnp.sum(z), None

        return jax.lax.scan(body, jnp.float32(0), jnp.arange(steps))[0]

    key = jax.random.PRNGKey(0)
    draw(key).block_until_ready()
    t, _ = _median_time(lambda i: draw(jax.random.fold_in(key, i)).block_until_ready(), repeats)
    return t


def bench_n(
    n: int,
    popsize: int,
    datasets: int,
    batch: int,
    steps: int,
    repeats: int,
    np_repeats: int,
    seed: int = 0,
    numpy_threads: tuple[int | None, ...] = (None, 1),
    samples: int = 0,
) -> dict:
    """One row: plastix and numpy time for one generation at ``N = n``.

    ``samples = 0`` streams fresh samples every inner step; ``samples > 0``
    uses finite datasets of that many points (``task.samples``), both sides.
    """
    import jax
    import jax.numpy as jnp

    import plastix.experiment
    import plastix.meta

    cfg = plastix.experiment.load(
        nb.OJA_CONFIG,
        [
            f"network.n_in={n}",
            f"meta.popsize={popsize}",
            f"task.episodes={datasets}",
            f"task.batch={batch}",
            f"task.steps={steps}",
            f"task.samples={samples}",
            f"seed={seed}",
        ],
    )
    exp = plastix.experiment.build(cfg)
    prepared = plastix.meta.prepare_population(exp.train_loss, exp.theta0)
    thetas = jnp.asarray(nb.candidate_thetas(popsize, seed), prepared.dtype)
    key = jax.random.PRNGKey(seed)

    # Compile time: trace + lower + XLA compile, ahead of time.
    t0 = time.perf_counter()
    prepared.evaluate.lower(thetas, key).compile()
    compile_s = time.perf_counter() - t0

    def run_plastix(i):
        return jax.block_until_ready(prepared.evaluate(thetas, jax.random.fold_in(key, i)))

    run_plastix(10_000)  # warm-up: fills evaluate's own compilation cache
    px_out = {}
    # Half of plastix's repeats before the baseline and half after it, so that a
    # change of machine load during the row weighs on both sides alike.
    first = (repeats + 1) // 2
    _, px_times = _median_time(lambda i: px_out.update(metrics=run_plastix(i)[1]), first)
    t_rng = rng_floor(n, datasets, batch, steps, repeats)

    s = nb.OjaSettings.from_config(cfg)
    # The baseline gets its best BLAS thread count: on a busy machine OpenBLAS's
    # default threads were measured 3-4x slower than one thread. After the first
    # setting, a setting slower than 2x the best so far is stopped early.
    by_threads: dict[int | None, dict] = {}
    for th in numpy_threads:
        best_s = min((r["seconds"] for r in by_threads.values()), default=math.inf)
        timeout = None if math.isinf(best_s) else 2 * best_s * np_repeats + 5
        by_threads[th] = numpy_timing(s, popsize, datasets, np_repeats, seed, th, timeout)
    _, more = _median_time(lambda i: run_plastix(first + i), repeats - first)
    t_px = statistics.median(px_times + more)
    best = min(by_threads, key=lambda th: by_threads[th]["seconds"])
    np_res = by_threads[best]
    t_np = np_res["seconds"]
    flops = nb.generation_flops(s, popsize, datasets)
    return {
        "n": n,
        "samples": samples,
        "compile_s": compile_s,
        "plastix_s": t_px,
        "rng_s": t_rng,
        "numpy_s": t_np,
        "numpy_threads": "default" if best is None else str(best),
        "numpy_by_threads": {
            ("default" if th is None else str(th)): r["seconds"] for th, r in by_threads.items()
        },
        "ratio": t_np / t_px,
        "gflop": flops["total"] / 1e9,
        "shared_frac": flops["shared"] / flops["total"],
        "plastix_gflops": flops["total"] / t_px / 1e9,
        "numpy_gflops": flops["total"] / t_np / 1e9,
        "plastix_task_loss": float(np.median(np.asarray(px_out["metrics"]["task_loss"]))),
        "numpy_task_loss": np_res["task_loss"],
        "repeats": repeats,
        "np_repeats": np_repeats,
    }


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_time_inf(s: float) -> str:
    return "stopped (> 2x the best)" if math.isinf(s) else _fmt_time(s)


def table(rows: list[dict], matmul: dict) -> str:
    """Markdown table of the rows (also readable as plain text)."""
    mm = matmul["jax_gflops"]
    head = (
        "| N | data | plastix / gen | compile | JAX normals alone | numpy / gen (BLAS threads) "
        "| numpy / plastix "
        "| GFLOP / gen "
        "| plastix GFLOP/s | % of JAX matmul rate | numpy GFLOP/s | median task loss plastix / numpy "
        "| repeats plastix / numpy |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['n']} | {'stream' if not r['samples'] else str(r['samples']) + ' points'} "
            f"| {_fmt_time(r['plastix_s'])} | {r['compile_s']:.2f} s | {_fmt_time(r['rng_s'])} "
            f"| {_fmt_time(r['numpy_s'])} ({r['numpy_threads']}) | {r['ratio']:.2f}x | {r['gflop']:.2f} "
            f"| {r['plastix_gflops']:.1f} | {100 * r['plastix_gflops'] / mm:.0f}% | {r['numpy_gflops']:.1f} "
            f"| {r['plastix_task_loss']:.3f} / {r['numpy_task_loss']:.3f} "
            f"| {r['repeats']} / {r['np_repeats']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Time one generation of the Oja task: plastix vs numpy.")
    ap.add_argument("--ns", type=int, nargs="+", default=[3, 20, 100, 1000], help="input sizes N")
    ap.add_argument("--popsize", type=int, default=20)
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7, help="timed plastix repeats (numpy: at most 3)")
    ap.add_argument("--large-repeats", type=int, default=2, help="repeats (both) for N >= 500")
    ap.add_argument(
        "--numpy-threads",
        nargs="+",
        default=["1", "default"],
        help="OpenBLAS thread counts to time the numpy baseline with ('default': numpy's own); "
        "the fastest is reported",
    )
    ap.add_argument("--check-n", type=int, default=20, help="N of the numpy-vs-plastix self-check")
    ap.add_argument(
        "--samples",
        type=int,
        nargs="+",
        default=[0, 2000],
        help="data modes: 0 streams fresh samples each step, n > 0 finite datasets of n points",
    )
    ap.add_argument("--quick", action="store_true", help="N = 3, 20 only; 3 repeats; short self-check")
    args = ap.parse_args(argv)
    numpy_threads = tuple(None if t == "default" else int(t) for t in args.numpy_threads)
    check_repeats = 20
    if args.quick:
        args.ns = [n for n in args.ns if n <= 20] or [3, 20]
        args.repeats = min(args.repeats, 3)
        check_repeats = 5

    import jax

    load_before = os.getloadavg()[0]
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, numpy {np.__version__}, "
        f"load average {load_before:.2f} on {os.cpu_count()} cores"
    )
    check = nb.self_check(n=args.check_n, num_datasets=args.datasets, repeats=check_repeats)
    matmul = matmul_rates()
    print(
        f"fp32 {matmul['size']}x{matmul['size']} matmul: JAX {matmul['jax_gflops']:.1f} GFLOP/s, "
        f"numpy {matmul['numpy_gflops']:.1f} GFLOP/s"
    )
    rows = []
    for n, samples in [(n, m) for m in args.samples for n in args.ns if m == 0 or m >= n]:
        large = n >= 500
        rep = args.large_repeats if large else args.repeats
        np_rep = args.large_repeats if large else min(3, args.repeats)
        row = bench_n(
            n,
            args.popsize,
            args.datasets,
            args.batch,
            args.steps,
            rep,
            np_rep,
            numpy_threads=numpy_threads,
            samples=samples,
        )
        rows.append(row)
        print(
            f"  N={n} ({'stream' if not samples else f'{samples} points'}): "
            f"plastix {_fmt_time(row['plastix_s'])} (compile {row['compile_s']:.2f} s, "
            f"normals alone {_fmt_time(row['rng_s'])}), numpy "
            + ", ".join(f"{_fmt_time_inf(v)} ({k} threads)" for k, v in row["numpy_by_threads"].items())
            + ", "
            f"numpy/plastix {row['ratio']:.2f}x",
            flush=True,
        )
    load_after = os.getloadavg()[0]
    threads = (
        "numpy timed with BLAS threads "
        + " and ".join(args.numpy_threads)
        + ", the faster shown ('default' = OpenBLAS's own choice)"
    )
    settings = (
        f"population {args.popsize} x {args.datasets} datasets, batch {args.batch}, "
        f"{args.steps} inner steps, M = 1, float32; {threads}"
    )
    md = table(rows, matmul)
    print(
        f"\nOne generation ({settings}); times are medians. Load average {load_before:.2f} before, "
        f"{load_after:.2f} after.\n"
    )
    print(md)
    return {
        "rows": rows,
        "matmul": matmul,
        "check": check,
        "settings": settings,
        "table": md,
        "load": (load_before, load_after),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }


if __name__ == "__main__":
    main()
