"""Per-synapse rules: one generation's time and peak memory against the number of synapses, vs numpy.

One generation of the ``gd_approx`` family: a population of ``P`` per-synapse
soft-bound Hebbian rules (``3 M N`` coefficients each,
``dw_ij = g2_ij (1 - w_ij) v_i v_j - g0_ij w_ij + b_ij``), each training a
single-layer clamped network (``N`` inputs, ``M`` outputs) from scratch on
``E`` teacher episodes of ``T`` online samples, scored by the test MSE on
``S`` test samples.

plastix: ``tasks.meta_loss`` of ``networks.clamped`` + ``rules.per_synapse`` +
``tasks.teacher``, evaluated as the runner does (``meta.prepare_population``,
one jitted call for the whole population), compiled ahead of time; memory is
XLA's compiled footprint (arguments + outputs + temporaries,
``memory_analysis``). numpy: the same generation in plain numpy, batched by
hand over candidates and episodes (a Python loop over the ``T`` steps only),
on the episodes and initial weights plastix drew; memory is ``tracemalloc``'s
peak. Self-check: both give the same losses on that data.

    python benchmarks/bench_per_synapse.py            # 100 .. 100,000 synapses (~2 min on 2 cores)
    python benchmarks/bench_per_synapse.py --quick    # 100 and 1,000 synapses
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIZES = [(10, 10), (40, 25), (100, 100), (400, 250)]  # (N inputs, M outputs): 100 .. 100,000 synapses
P, E, T, S = 16, 4, 50, 100
W_MAX = 100.0


def build(n: int, m: int):
    """plastix's jitted population evaluation, its episodes and initial weights, and a population."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    from plastix import meta, networks, rules, tasks

    net = networks.clamped([n, m], w_max=W_MAX)
    predict = lambda s, x: networks.clamped_forward([s.w["l1"]], x)[0][-1]  # noqa: E731
    task = tasks.teacher(n, m, predict, samples=T, test_samples=S)
    rule = {"l1": rules.per_synapse(rules.soft_bound_hebb(), (m, n))}
    loss = tasks.meta_loss(rule, net, task, E, unstable_loss=100.0)
    template = {"l1": jnp.zeros((m, n, 3))}
    prepared = meta.prepare_population(loss, template)
    rng = np.random.default_rng(0)
    thetas = np.array([0.05, 0.05, 0.0]) + 0.01 * rng.standard_normal((P, m, n, 3))
    thetas = thetas.reshape(P, -1).astype(np.float32)
    key = jax.random.PRNGKey(0)
    # The episodes and initial weights meta_loss draws from `key` (its own key splits).
    keys = jax.random.split(key, E)
    eps, w0 = [], []
    for k in keys:
        k_ep, k_run = jax.random.split(k)
        eps.append(task.sample(k_ep))
        w0.append(net.init(jax.random.split(k_run)[0]).w["l1"])
    episodes = {f: np.stack([np.asarray(e[f]) for e in eps]) for f in eps[0]}
    return prepared, thetas, key, episodes, np.stack([np.asarray(w) for w in w0])


def numpy_generation(thetas: np.ndarray, episodes: dict, w0: np.ndarray) -> np.ndarray:
    """The same generation in numpy: ``[P]`` mean test MSE (unstable episodes score 100)."""
    m, n = w0.shape[1:]
    c = thetas.reshape(P, 1, m, n, 3)
    g2, g0, b = c[..., 0], c[..., 1], c[..., 2]
    w = np.broadcast_to(w0, (P, E, m, n)).copy()
    x, t = episodes["x"], episodes["target"]  # [E, T, N], [E, T, M]
    for s in range(T):
        hebb = t[:, s, :, None] * x[:, s, None, :]  # clamped output: v_i = t_i; [E, M, N]
        w += g2 * (1 - w) * hebb - g0 * w + b
        np.clip(np.nan_to_num(w, nan=W_MAX), -W_MAX, W_MAX, out=w)
    y = np.einsum("pemn,esn->pesm", w, episodes["test_x"])
    mse = np.mean((y - episodes["test_target"]) ** 2, axis=(2, 3))
    bad = (np.abs(w).max(axis=(2, 3)) >= W_MAX) | ~np.isfinite(mse)
    return np.mean(np.where(bad, 100.0, np.minimum(mse, 100.0)), axis=1)


def _median_time(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(n: int, m: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    prepared, thetas, key, episodes, w0 = build(n, m)
    xs = jnp.asarray(thetas)
    t0 = time.perf_counter()
    compiled = prepared.evaluate.lower(xs, key).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    jax_bytes = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
    losses = np.asarray(compiled(xs, key)[0])
    jax_s = _median_time(lambda: jax.block_until_ready(compiled(xs, key)), repeats)
    ref = numpy_generation(thetas, episodes, w0)
    tracemalloc.start()
    numpy_generation(thetas, episodes, w0)
    np_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np_s = _median_time(lambda: numpy_generation(thetas, episodes, w0), repeats)
    return {
        "synapses": n * m,
        "coefficients": 3 * n * m,
        "n_in": n,
        "n_out": m,
        "jax_s": jax_s,
        "numpy_s": np_s,
        "compile_s": compile_s,
        "jax_mib": jax_bytes / 2**20,
        "numpy_mib": np_peak / 2**20,
        "max_rel_diff": float(np.max(np.abs(losses - ref) / np.maximum(np.abs(ref), 1e-6))),
    }


def main(argv: list[str] | None = None) -> dict:
    from bench_spiking import _load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 synapses only")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    load_before = _load()
    rows = []
    for n, m in SIZES[:2] if args.quick else SIZES:
        r = measure(n, m, args.repeats)
        rows.append(r)
        print(
            f"{r['synapses']:>7} synapses: plastix {r['jax_s'] * 1e3:8.1f} ms {r['jax_mib']:7.1f} MiB | "
            f"numpy {r['numpy_s'] * 1e3:8.1f} ms {r['numpy_mib']:7.1f} MiB | "
            f"loss rel. diff {r['max_rel_diff']:.1e}",
            flush=True,
        )
    res = {
        "rows": rows,
        "load": (load_before, _load()),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }
    print("\n".join(section(res)))
    return res


def section(r: dict | None) -> list[str]:
    out = [
        "## 6. Per-synapse rules: a generation against the number of synapses (`bench_per_synapse.py`)",
        "",
    ]
    if r is None:
        return out + ["Not run yet.", ""]
    cmd = " ".join([".venv/bin/python benchmarks/bench_per_synapse.py", *r["argv"]]).strip()
    out += [
        f"Measured by `{cmd}` (load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after). One "
        f"generation of the `gd_approx` family: {P} candidate per-synapse soft-bound Hebbian rules (3 "
        f"coefficients per synapse), each training a single-layer clamped network from scratch on {E} "
        f"teacher episodes of {T} online samples, scored on {S} test samples. plastix: the runner's jitted "
        "population evaluation (compiled ahead of time; memory = XLA's arguments + outputs + temporaries). "
        "numpy: the same generation batched over candidates and episodes by hand, a Python loop over steps "
        "(memory = `tracemalloc` peak). Both on the same episodes and initial weights; *loss diff* is the "
        "largest relative difference of the candidates' losses between the two.",
        "",
        "| synapses | coefficients / candidate | plastix | numpy | numpy / plastix | plastix memory | "
        "numpy memory | compile | loss diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        out.append(
            f"| {x['synapses']:,} ({x['n_in']}→{x['n_out']}) | {x['coefficients']:,} | "
            f"{x['jax_s'] * 1e3:.1f} ms | {x['numpy_s'] * 1e3:.1f} ms | {x['numpy_s'] / x['jax_s']:.1f}× | "
            f"{x['jax_mib']:.1f} MiB | {x['numpy_mib']:.1f} MiB | {x['compile_s']:.1f} s | "
            f"{x['max_rel_diff']:.1e} |"
        )
    out.append("")
    return out


if __name__ == "__main__":
    main()
