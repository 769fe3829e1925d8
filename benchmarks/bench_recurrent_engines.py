"""Which engine propagates spikes and applies plasticity fastest in a sparse recurrent network.

One step of a recurrent network's synaptic work, for ``N`` neurons at 2 % connectivity (as
many synapses as the four pathways of :func:`plastix.networks.recurrent` together): spikes
of this step into the postsynaptic conductances, then a spike-trace rule's updates
(``w += alpha + kappa x_post`` at the synapses of each spiking presynaptic neuron,
``w += beta + gamma x_pre`` at those of each spiking postsynaptic one). Spikes are
Bernoulli(``rate dt``) per neuron and step. Five implementations, each in one ``lax.scan``
of ``steps`` steps (one compile, then timed), alone and vmapped over a batch of candidates:

* ``dense``: ``[N, N]`` masked matrices, ``W s`` and outer products (cost ~ N^2);
* ``bcoo``: ``jax.experimental.sparse.BCOO`` matvec; the rule on every synapse (~ synapses);
* ``ell``: the ``[N, k]`` layout of plastix, every synapse gathered every step (~ synapses);
* ``event``: plastix's event engine (:func:`plastix.networks.recurrent`, ``engine="event"``):
  only the synapses of neurons that spiked (~ spikes x degree), at most ``max_events`` per step;
* ``brainevent``: brainevent's event-driven fixed-connection matvec and its STDP updates
  (numba kernels on CPU).

    .venv/bin/python benchmarks/bench_recurrent_engines.py [--sizes 1000,5000,10000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from plastix.networks._recurrent import binomial_tail, outgoing, presynaptic
from plastix.rules import on_spikes

P = 0.02
DT = 1e-4
ALPHA, BETA, GAMMA, KAPPA = -1e-3, 0.0, 1e-2, 1e-2
DECAY = math.exp(-DT / 0.02)


def build(n: int, key):
    k = round(P * n)
    pre = presynaptic(key, n, n, k, None, False)  # [n, k]
    d = binomial_tail(n, k / (n - 1))
    out, _ = outgoing(pre, n, d)
    return pre, out, k


def spikes_of(key, n, rate, steps, batch):
    return jax.random.bernoulli(key, rate * DT, (steps, batch, n)).astype(jnp.float32)


def kernels(n, pre, out, k, max_events):
    rows = jnp.arange(n)[:, None]
    mask = jnp.zeros((n, n + 1), jnp.float32).at[rows, pre].set(1.0)[:, :n]
    m = max(math.ceil(max_events * n), 1)

    def traces(x_pre, x_post, s):
        return x_pre * DECAY + s, x_post * DECAY

    def dense(carry, s):
        w, x_pre, x_post = carry
        g = w @ s
        x_pre, x_post_old = traces(x_pre, x_post, s)
        dw = (ALPHA + KAPPA * x_post_old)[:, None] * s[None, :] + s[:, None] * (BETA + GAMMA * x_pre)[None, :]
        w = jnp.clip(w + dw * mask, 0.0, 100.0)
        return (w, x_pre, x_post_old + s), g.sum()

    r_idx = jnp.repeat(jnp.arange(n), k)
    c_idx = pre.ravel()

    def bcoo(carry, s):
        from jax.experimental import sparse

        data, x_pre, x_post = carry
        mat = sparse.BCOO((data, jnp.stack([r_idx, c_idx], 1)), shape=(n, n))
        g = mat @ s
        x_pre, x_post_old = traces(x_pre, x_post, s)
        dw = s[c_idx] * (ALPHA + KAPPA * x_post_old[r_idx]) + s[r_idx] * (BETA + GAMMA * x_pre[c_idx])
        return (jnp.clip(data + dw, 0.0, 100.0), x_pre, x_post_old + s), g.sum()

    def ell(carry, s):
        w, x_pre, x_post = carry
        sp = s[pre]
        g = jnp.sum(w * sp, axis=1)
        x_pre, x_post_old = traces(x_pre, x_post, s)
        dw = sp * (ALPHA + KAPPA * x_post_old)[:, None] + s[:, None] * (BETA + GAMMA * x_pre[pre])
        return (jnp.clip(w + dw, 0.0, 100.0), x_pre, x_post_old + s), g.sum()

    def event(carry, s):
        w, x_pre, x_post = carry
        ev = jnp.nonzero(s, size=m, fill_value=n)[0]
        syn = out[ev]
        val = w.ravel().at[syn].get(mode="fill", fill_value=0.0)
        g = jnp.zeros((n,), w.dtype).at[syn // k].add(val, mode="drop")
        x_pre, x_post_old = traces(x_pre, x_post, s)
        local = {"w": w, "pre_index": pre, "out": out, "pre_events": ev, "post_events": ev}
        d = on_spikes(
            local, lambda xi, w: ALPHA + KAPPA * xi, lambda xj, w: BETA + GAMMA * xj, x_pre, x_post_old
        )
        flat = w.ravel().at[d.index].add(d.value, mode="drop")
        touched = flat.at[d.index].get(mode="fill", fill_value=0.0)
        flat = flat.at[d.index].set(jnp.clip(touched, 0.0, 100.0), mode="drop")
        return (flat.reshape(w.shape), x_pre, x_post_old + s), g.sum()

    def brainevent_step(carry, s):
        import brainevent

        w, x_pre, x_post = carry  # w [n_post, k] with presynaptic ids: FixedNumPerPost
        g = brainevent.binary_fcnmv(w, pre, s, shape=(n, n))
        x_pre, x_post_old = traces(x_pre, x_post, s)
        # Presynaptic events need the pre-major layout; gather w there, update, scatter back (the
        # two-layout cost any fixed-in-degree store pays): brainevent's post-spike update runs
        # on the post-major store directly.
        w = brainevent.update_fixed_pre_conn_on_binary_post(
            w, pre, BETA + GAMMA * x_pre, s, 0.0, 100.0, shape=(n, n)
        )
        flat = w.ravel()
        ev = jnp.nonzero(s, size=m, fill_value=n)[0]
        syn = out[ev]
        add = (ALPHA + KAPPA * x_post_old).at[syn // k].get(mode="fill", fill_value=0.0)
        flat = flat.at[syn].add(add, mode="drop")
        flat = flat.at[syn].set(
            jnp.clip(flat.at[syn].get(mode="fill", fill_value=0.0), 0.0, 100.0), mode="drop"
        )
        return (flat.reshape(w.shape), x_pre, x_post_old + s), g.sum()

    w_ell = jnp.ones((n, k), jnp.float32)
    init = {
        "dense": (mask, jnp.zeros(n), jnp.zeros(n)),
        "bcoo": (jnp.ones(n * k, jnp.float32), jnp.zeros(n), jnp.zeros(n)),
        "ell": (w_ell, jnp.zeros(n), jnp.zeros(n)),
        "event": (w_ell, jnp.zeros(n), jnp.zeros(n)),
        "brainevent": (w_ell, jnp.zeros(n), jnp.zeros(n)),
    }
    steps = {"dense": dense, "bcoo": bcoo, "ell": ell, "event": event, "brainevent": brainevent_step}
    return steps, init


def time_engine(step, init, s, repeats):
    batch = s.shape[1]
    carry = jax.tree.map(lambda a: jnp.broadcast_to(a, (batch, *a.shape)), init)

    def run(carry, s):
        return jax.lax.scan(jax.vmap(step), carry, s)

    f = jax.jit(run)
    t0 = time.perf_counter()
    jax.block_until_ready(f(carry, s))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        (c, total) = f(carry, s)
        jax.block_until_ready(c)
        times.append(time.perf_counter() - t0)
    final = f(carry, s)
    return statistics.median(times), compile_s, final


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--rate", type=float, default=10.0, help="Hz per neuron")
    ap.add_argument("--steps", type=int, default=1000, help="steps per timed scan (dense: fewer at large N)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--max-events", default="0.05,0.01", help="spikes per step the event engines take, fractions of N"
    )
    ap.add_argument("--engines", default="dense,bcoo,ell,event,brainevent")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "recurrent_engines.json"))
    args = ap.parse_args(argv)
    rows = []
    load0 = os.getloadavg()[0]
    for n in [int(x) for x in args.sizes.split(",")]:
        pre, out, k = build(n, jax.random.PRNGKey(0))
        steps_all, init = {}, {}
        for me in (float(x) for x in args.max_events.split(",")):
            st, ini = kernels(n, pre, out, k, me)
            tag = f"({me:.0%} of N)"
            for name in st:
                key = name if name not in ("event", "brainevent") else f"{name} {tag}"
                steps_all[key], init[key] = st[name], ini[name]
        for batch in [int(b) for b in args.batches.split(",")]:
            sums = {}
            names = [e for e in steps_all if e.split(" ")[0] in args.engines.split(",")]
            for name in dict.fromkeys(names):
                # Dense at 10k holds 400 MB per matrix and per candidate: fewer steps, and no
                # batch that would not fit in memory.
                steps = args.steps if name != "dense" else min(args.steps, max(args.steps * 1000 // n, 20))
                if name == "dense" and n * n * 4 * batch * 3 > 8e9:
                    continue
                s = spikes_of(jax.random.PRNGKey(1), n, args.rate, steps, batch)
                med, comp, final = time_engine(steps_all[name], init[name], s, args.repeats)
                g_sum = float(jnp.sum(final[1]))
                sums.setdefault(steps, g_sum)  # the conductance input summed: equal across engines
                agrees = abs(g_sum - sums[steps]) <= 1e-4 * abs(sums[steps])
                per_step = med / steps
                rows.append(
                    {
                        "n": n,
                        "synapses": n * k,
                        "batch": batch,
                        "engine": name,
                        "ms_per_step": 1e3 * per_step,
                        "s_per_bio_s": per_step / DT,
                        "compile_s": comp,
                        "steps": steps,
                        "checksum": g_sum,
                        "agrees": agrees,
                    }
                )
                print(
                    f"N={n:6d} batch={batch} {name:22s} {1e3 * per_step:9.3f} ms/step "
                    f"{per_step / DT:8.2f} s per bio s, compile {comp:.1f} s, "
                    f"checksum {g_sum:.6g}{'' if agrees else ' DIFFERS'}",
                    flush=True,
                )
    result = {
        "rows": rows,
        "rate_hz": args.rate,
        "p": P,
        "dt": DT,
        "max_events": args.max_events,
        "load": [load0, os.getloadavg()[0]],
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "device": jax.devices()[0].platform,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
