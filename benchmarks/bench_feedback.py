"""Feedback family meta-step: plastix (JAX) against the same meta-step in PyTorch (``torch.func``).

One meta-step of the random-feedback experiment (Shervani-Tabar & Rosenbaum
2023) at the published sizes: a 784-170-130-100-70-47 softplus MLP learns a
5-way, 50-shot episode online (250 inner steps, batch 1) through fixed random
feedback with the 10-term rule; the meta-loss is the cross-entropy on 50 query
images plus ``l1 ||theta||_1``; one Adam step on its gradient through the whole
unrolled inner loop.

(a) plastix: the runner's meta-step (``tasks.meta_loss`` of ``networks.mlp`` +
    ``rules.term_library`` + ``tasks.few_shot``, ``meta.gradient``'s jitted
    update, remat on as shipped), compiled ahead of time, timed with a fresh
    episode per call. PyTorch: the same meta-step written with
    ``torch.func.grad_and_value`` over an eager unrolled inner loop and
    ``torch.optim.Adam``, on the episode plastix drew; its rule uses the same
    three-outer-product form as plastix (the published code builds the ten
    terms one by one, which is slower), so the ratio compares frameworks, not
    algorithms. Each runs in a child process; peak memory is the child's
    maximum resident set size. Self-check: both compute the meta-loss and its
    gradient on that episode, from the same initial weights and a theta with
    every coefficient non-zero.
(b) plastix's meta-step against the unroll length (shots per class, so
    inner steps = 5 x shots): without remat, with remat of every step (one
    carry per step kept), and with two-level remat over chunks of
    ``tasks.sqrt_chunk(steps)`` steps as the feedback family builds it
    (~2 sqrt(steps) carries): XLA's compiled temporary buffer size
    (``memory_analysis``) and the wall time.

The data are random images of EMNIST's shape (47 classes, 784 pixels); the
compute does not depend on the pixel values.

    python benchmarks/bench_feedback.py            # published sizes (~5 min on 2 cores)
    python benchmarks/bench_feedback.py --quick    # smaller network and episodes (~1 min)

PyTorch is not a dependency of plastix: ``pip install -e ".[bench]"`` (on a
CPU-only machine, the CPU wheel: ``pip install torch --index-url
https://download.pytorch.org/whl/cpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PUBLISHED = [784, 170, 130, 100, 70, 47]
QUICK = [784, 60, 40, 47]
WAYS, QUERIES, BETA, L1, LR, W_MAX = 5, 10, 10.0, 1e-3, 1e-3, 100.0


def _theta(n: int = 10):
    """Every coefficient non-zero, at the size rules stay stable at (the self-check's theta)."""
    import numpy as np

    c = np.full(n, 2e-4)
    c[0] = 1e-3  # the published pseudo-gradient start
    return c * (1 + 0.5 * np.sin(np.arange(n)))


def jax_child(sizes: list[int], shots: int, repeats: int, episode_file: str, sweep: list[int]) -> dict:
    """In this process: compile and time plastix's meta-step; write its episode for the PyTorch child."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from plastix import meta, networks, rules, tasks

    n_per = max([shots, *sweep]) + QUERIES
    data = np.random.default_rng(0).random((47, n_per, sizes[0]), dtype=np.float32)
    net = networks.mlp(sizes, BETA, "random", W_MAX)
    rule = {"ff": rules.term_library()}
    predict = lambda state, x: networks.mlp_forward(state.w["ff"], x, BETA)[1]  # noqa: E731
    theta = {"ff": jnp.asarray(_theta(), jnp.float32)}

    def step_fn(shots_: int, remat: str):
        task = tasks.few_shot(data, np.arange(47), predict, WAYS, shots_, QUERIES)
        chunk = tasks.sqrt_chunk(task.num_steps) if remat == "two-level" else None
        loss = tasks.meta_loss(rule, net, task, 1, l1=L1, remat=remat != "off", chunk=chunk)
        opt = meta.gradient(LR, "adam", 1.0)
        return task, loss, opt.prepare(loss, theta), opt.init(theta, 0)

    def timed(prepared, state, n):
        t0 = time.perf_counter()
        compiled = prepared.update.lower(state, jax.random.PRNGKey(0)).compile()
        compile_s = time.perf_counter() - t0
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            new, loss, _ = compiled(state, jax.random.PRNGKey(i + 1))
            jax.block_until_ready(new)
            times.append(time.perf_counter() - t0)
        mem = compiled.memory_analysis()
        return float(np.median(times)), compile_s, int(mem.temp_size_in_bytes)

    out = {"sizes": sizes, "shots": shots, "steps": WAYS * shots, "device": str(jax.devices()[0])}
    task, loss, prepared, state = step_fn(shots, "two-level")  # as the feedback family builds it
    out["meta_step_s"], out["compile_s"], out["temp_bytes"] = timed(prepared, state, repeats)
    # The episode and initial weights that meta_loss draws from key 0 (its own splits), for PyTorch.
    key = jax.random.split(jax.random.PRNGKey(0), 1)[0]
    k_ep, k_run = jax.random.split(key)
    episode = task.sample(k_ep)
    init = net.init(jax.random.split(k_run)[0])
    value, grad = jax.value_and_grad(lambda t: loss(t, jax.random.PRNGKey(0))[0])(theta)
    out["loss"], out["grad"] = float(value), np.asarray(grad["ff"]).tolist()
    arrays = {k: np.asarray(episode[k]) for k in ("train_x", "train_y", "query_x", "query_y")}
    arrays.update({f"w{l}": np.asarray(w) for l, w in enumerate(init.w["ff"])})
    arrays.update({f"b{l}": np.asarray(b) for l, b in enumerate(init.aux["feedback"])})
    np.savez(episode_file, theta=_theta(), **arrays)
    out["unroll"] = []
    for s in sweep:
        for remat in ("off", "per step", "two-level"):
            _, _, prep, st = step_fn(s, remat)
            t, _, temp = timed(prep, st, max(1, repeats // 2))
            out["unroll"].append({"shots": s, "steps": WAYS * s, "remat": remat, "s": t, "temp_bytes": temp})
    return out


def torch_child(episode_file: str, repeats: int) -> dict:
    """In this process: the meta-step in PyTorch with ``torch.func``; loss and gradient on the episode."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.func import grad_and_value

    torch.set_num_threads(os.cpu_count() or 1)
    ep = np.load(episode_file)
    t = lambda a: torch.as_tensor(np.asarray(a))  # noqa: E731
    layers = len([k for k in ep.files if k.startswith("w")])
    w0 = [t(ep[f"w{l}"]) for l in range(layers)]
    fb = [t(ep[f"b{l}"]) for l in range(layers)]
    xs, ys = t(ep["train_x"]), t(ep["train_y"]).long()
    qx, qy = t(ep["query_x"]), t(ep["query_y"]).long()
    n_out = w0[-1].shape[0]

    def update(c, pre, post, err, pre_err, w):
        # sum_k c_k F_k as three outer products and a decay (see plastix.rules.term_library).
        s = post @ (w @ pre_err)
        r = err @ (w @ pre)
        a = c[0] + c[5] * post.sum() + c[7] * s
        b = c[1] + c[6] * s + c[8] * r
        left = a * pre + c[2] * pre_err
        right = b * pre_err + c[9] * (pre - post @ w)
        return -(torch.outer(err, left) + torch.outer(post, right) + c[4] * pre_err[None, :] + c[3] * w)

    def meta_loss(theta):
        w = list(w0)
        for i in range(xs.shape[0]):
            acts = [xs[i]]
            for wl in w[:-1]:
                acts.append(F.softplus(acts[-1] @ wl.T, beta=BETA))
            logits = acts[-1] @ w[-1].T
            p = torch.softmax(logits, -1)
            errs = [p - F.one_hot(ys[i], n_out).to(p.dtype)]
            for l in range(layers - 1, -1, -1):
                errs.insert(0, (errs[0] @ fb[l].T) * (1 - torch.exp(-BETA * acts[l])))
            post = [*acts[1:], p]
            w = [
                torch.clamp(w[l] + update(theta, acts[l], post[l], errs[l + 1], errs[l], w[l]), -W_MAX, W_MAX)
                for l in range(layers)
            ]
        h = qx
        for wl in w[:-1]:
            h = F.softplus(h @ wl.T, beta=BETA)
        return F.cross_entropy(h @ w[-1].T, qy) + L1 * theta.abs().sum()

    theta = torch.tensor(ep["theta"], dtype=torch.float32)
    g, value = grad_and_value(meta_loss)(theta)
    out = {"loss": float(value), "grad": g.tolist(), "torch": torch.__version__}
    param = theta.clone().requires_grad_(False)
    opt = torch.optim.Adam([param], lr=LR)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g, _ = grad_and_value(meta_loss)(param)
        param.grad = g * min(1.0, 1.0 / (float(g.norm()) + 1e-12))  # as optax.clip_by_global_norm(1)
        opt.step()
        times.append(time.perf_counter() - t0)
    out["meta_step_s"] = float(np.median(times))
    return out


def _fmt_mib(b: float) -> str:
    return f"{b / 2**20:.1f} MiB"


def table(r: dict) -> str:
    j, p = r["jax"], r["torch"]
    rows = [
        "| | plastix (JAX) | PyTorch (torch.func) | ratio |",
        "|---|---:|---:|---:|",
        f"| meta-step (one episode, {j['steps']} inner steps) | {j['meta_step_s'] * 1e3:.0f} ms | "
        f"{p['meta_step_s'] * 1e3:.0f} ms | **{p['meta_step_s'] / j['meta_step_s']:.1f}×** |",
        f"| episodes per second | {1 / j['meta_step_s']:.2f} | {1 / p['meta_step_s']:.2f} | |",
        f"| compile (once per run) | {j['compile_s']:.1f} s | - | |",
        f"| peak resident memory | {r['jax_rss_mib']:.0f} MiB | {r['torch_rss_mib']:.0f} MiB | |",
        f"| meta-loss on the shared episode | {j['loss']:.6f} | {p['loss']:.6f} | |",
    ]
    return "\n".join(rows)


def unroll_table(r: dict) -> str:
    rows = ["| shots | inner steps | remat | meta-step | XLA temporary buffers |"]
    rows.append("|---:|---:|---|---:|---:|")
    for u in r["jax"]["unroll"]:
        rows.append(
            f"| {u['shots']} | {u['steps']} | {u['remat']} | {u['s'] * 1e3:.0f} ms | "
            f"{_fmt_mib(u['temp_bytes'])} |"
        )
    return "\n".join(rows)


def section(r: dict | None) -> list[str]:
    """The README section for a result of :func:`main` (``None``: not run)."""
    out = ["## 4. Random-feedback meta-step: plastix vs PyTorch (`bench_feedback.py`)", ""]
    if r is None:
        return out + ["Not run yet.", ""]
    cmd = " ".join([".venv/bin/python benchmarks/bench_feedback.py", *r["argv"]]).strip()
    out += [
        f"Measured by `{cmd}` on {r['jax']['device']} (load average {r['load'][0]:.2f} before, "
        f"{r['load'][1]:.2f} after; PyTorch {r['torch']['torch']}). "
        f"Network {'-'.join(map(str, r['sizes']))}, "
        f"5-way {r['jax']['shots']}-shot episodes learned online, 10 query images per class, the 10-term "
        "rule, one episode and one Adam step per meta-step, gradient through the whole unrolled inner loop "
        "(plastix with two-level remat, as shipped). Median of "
        f"{r['repeats']} meta-steps after compilation. The PyTorch meta-step is the same computation "
        "written with `torch.func.grad_and_value` over an eager loop, using plastix's fused form of the "
        "rule.",
        "",
        table(r),
        "",
        f"Self-check on the episode plastix drew, from the same initial weights, at a theta with every "
        f"coefficient non-zero: meta-loss relative difference {r['loss_rel_diff']:.1e}, meta-gradient "
        f"max relative difference {r['grad_rel_diff']:.1e} → **{'agree' if r['agree'] else 'DISAGREE'}** "
        "(tolerance 1e-3).",
        "",
        "Memory against the unroll length (plastix; XLA's temporary buffers of the compiled meta-step, "
        "which hold what the backward pass keeps of the unrolled loop):",
        "",
        unroll_table(r),
        "",
    ]
    if r["load"][0] > 0.5 * (os.cpu_count() or 1):
        out += ["The machine was busy during this run (load average above); ratios are noisy.", ""]
    return out


def _child(cmd: list[str]) -> tuple[dict, float]:
    from bench_spiking import _child as run

    text, rss = run(cmd, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return json.loads(text.strip().splitlines()[-1]), rss


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="784-60-40-47, 10 shots, short unroll sweep")
    ap.add_argument("--repeats", type=int, default=5, help="timed meta-steps (median)")
    ap.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--episode", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--shots", type=int, default=50, help=argparse.SUPPRESS)
    ap.add_argument("--sweep", type=int, nargs="*", default=[10, 25, 50, 100], help="shots, unroll sweep")
    args = ap.parse_args(argv)
    if args.child == "jax":
        print(json.dumps(jax_child(args.sizes, args.shots, args.repeats, args.episode, args.sweep)))
        return {}
    if args.child == "torch":
        print(json.dumps(torch_child(args.episode, args.repeats)))
        return {}
    import numpy as np
    from bench_spiking import _load

    sizes, shots, sweep = (QUICK, 10, [5, 10, 20]) if args.quick else (PUBLISHED, 50, args.sweep)
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        episode = str(Path(tmp) / "episode.npz")
        base = [sys.executable, __file__, "--episode", episode, "--repeats", str(args.repeats)]
        print(f"plastix: {'-'.join(map(str, sizes))}, {WAYS * shots} inner steps ...", flush=True)
        jx, jax_rss = _child([*base, "--child", "jax", "--sizes", *map(str, sizes), "--shots", str(shots),
                              "--sweep", *map(str, sweep)])  # fmt: skip
        print("PyTorch: the same meta-step ...", flush=True)
        pt, torch_rss = _child([*base, "--child", "torch"])
    g1, g2 = np.asarray(jx["grad"]), np.asarray(pt["grad"])
    res = {
        "sizes": sizes,
        "repeats": args.repeats,
        "jax": jx,
        "torch": pt,
        "jax_rss_mib": jax_rss,
        "torch_rss_mib": torch_rss,
        "loss_rel_diff": abs(jx["loss"] - pt["loss"]) / abs(pt["loss"]),
        "grad_rel_diff": float(np.max(np.abs(g1 - g2)) / np.max(np.abs(g2))),
        "load": (load_before, _load()),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }
    res["agree"] = res["loss_rel_diff"] < 1e-3 and res["grad_rel_diff"] < 1e-3
    print("\n".join(section(res)))
    return res


if __name__ == "__main__":
    main()
