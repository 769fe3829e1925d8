"""Plain numpy baseline: one generation of the Oja task, batched by hand.

This is what a numpy user writes for the same math as plastix's Oja experiment
(``configs/oja.toml``): ``P`` candidate rules, each a 27-coefficient polynomial

    dw = eta * < sum_{a,b,c} A_abc x^a y^b w^c >_batch,   A_abc = theta[a*9 + b*3 + c]

(powers 0..2 of pre ``x``, post ``y`` and weight ``w``), scored on ``D``
datasets. Dataset ``d`` is ``x ~ N(0, R_d diag(lambda) R_d^T)`` with
``lambda_k = 2 * 0.7^(k-1)`` and a Haar-random rotation ``R_d``; its first
principal component is ``R_d[:, 0]``. Every inner step draws a fresh batch of
``B`` samples per dataset, shared by all candidates (common random numbers,
as in plastix), computes ``y = W x`` for one output (``M = 1``), the batch
moments ``<x^a y^b>`` with matrix products, the update, and clips ``W`` to
``[-w_max, w_max]``. The loss is ``||w - s PC1||`` with ``s = sign(w . PC1)``;
a run that reaches the bound (or is not finite) scores ``unstable_loss``.

The candidate and dataset axes are array axes (matmul / broadcasting); the
only Python loop is over the ``T`` time steps.

Run on its own: ``python benchmarks/numpy_baseline.py [--n 20]`` prints the
self-check against plastix and the time of one generation.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OJA_CONFIG = ROOT / "configs" / "oja.toml"


@dataclass(frozen=True)
class OjaSettings:
    """The knobs of one generation; defaults are those of ``configs/oja.toml``."""

    n_in: int = 3
    batch: int = 200
    steps: int = 100
    eta: float = 1 / 20
    init_scale: float = 0.1
    w_max: float = 100.0
    spectrum_scale: float = 2.0
    spectrum_decay: float = 0.7
    scale_spread: float = 1.0
    samples: int = 0  # 0: fresh samples every step; n: a dataset of n points, minibatches from it
    l1: float = 0.0
    unstable_loss: float = 100.0

    @classmethod
    def from_config(cls, cfg) -> OjaSettings:
        """The same settings as a plastix :class:`plastix.experiment.Config`."""
        if cfg.network.n_out != 1 or cfg.network.lateral:
            raise ValueError("the numpy baseline covers one output without lateral weights")
        return cls(
            n_in=cfg.network.n_in,
            batch=cfg.task.batch,
            steps=cfg.task.steps,
            eta=cfg.network.eta,
            init_scale=cfg.network.init_scale,
            w_max=cfg.network.w_max,
            spectrum_scale=cfg.task.spectrum_scale,
            spectrum_decay=cfg.task.spectrum_decay,
            scale_spread=cfg.task.scale_spread,
            samples=cfg.task.samples,
            l1=cfg.meta.l1,
            unstable_loss=cfg.meta.unstable_loss,
        )


OJA_THETA = np.zeros(27, np.float32)
OJA_THETA[1 * 9 + 1 * 3 + 0] = 1.0  # x y
OJA_THETA[0 * 9 + 2 * 3 + 1] = -1.0  # - y^2 w


def sample_datasets(rng: np.random.Generator, s: OjaSettings, num: int) -> tuple[np.ndarray, np.ndarray]:
    """``num`` datasets: factors ``F`` with ``x = z F^T`` (``[D, N, N]``) and first PCs ``[D, N]``."""
    n = s.n_in
    lam = s.spectrum_scale * s.spectrum_decay ** np.arange(n, dtype=np.float64)
    g = rng.standard_normal((num, n, n))
    q, r = np.linalg.qr(g)  # batched QR; fix signs so R is Haar distributed
    rot = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    log_s = np.log(s.scale_spread) * rng.uniform(-1.0, 1.0, num)
    scale = np.sqrt(lam[None, :] * np.exp(log_s)[:, None])  # [D, N]
    factor = (rot * scale[:, None, :]).astype(np.float32)
    return factor, rot[:, :, 0].astype(np.float32)


def rule_dw(coef: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Batch-mean polynomial update for every candidate on every dataset, from moments.

    Args:
        coef: ``[P, 9, 3]`` coefficients, ``coef[p, a*3 + b, c] = A_abc``.
        x: ``[D, B, N]`` one batch of inputs per dataset.
        w: ``[D, P, N]`` weights (one output).

    Returns:
        ``[D, P, N]``: ``< sum_abc A_abc x^a y^b w^c >_batch`` (before ``eta``).
    """
    d, b, n = x.shape
    p = w.shape[1]
    y = np.matmul(w, x.transpose(0, 2, 1))  # [D, P, B]
    pre = np.concatenate([x, x * x], axis=2)  # [D, B, 2N]: x, x^2
    post = np.concatenate([y, y * y], axis=1)  # [D, 2P, B]: y, y^2
    mom = np.matmul(post, pre) / b  # [D, 2P, 2N]: <y^b x^a>, a, b >= 1
    m = np.empty((d, p, 3, 3, n), np.float32)  # [D, P, a, b, N]: <x^a y^b>
    m[:, :, 0, 0, :] = 1.0
    m[:, :, 1:, 0, :] = pre.mean(axis=1).reshape(d, 1, 2, n)
    m[:, :, 0, 1:, :] = post.mean(axis=2).reshape(d, 2, p).transpose(0, 2, 1)[..., None]
    m[:, :, 1:, 1:, :] = mom.reshape(d, 2, p, 2, n).transpose(0, 2, 3, 1, 4)
    c = np.matmul(coef.transpose(0, 2, 1)[None], m.reshape(d, p, 9, n))  # [D, P, 3(c), N]
    return c[:, :, 0] + w * (c[:, :, 1] + w * c[:, :, 2])


def generation(thetas: np.ndarray, s: OjaSettings, num_datasets: int, rng: np.random.Generator) -> dict:
    """Score ``P`` rules (``thetas [P, 27]``) on ``num_datasets`` fresh datasets: one ES generation.

    Returns a dict with ``loss [P]`` (mean task loss plus the L1 penalty, what
    the outer loop ranks), ``task_loss [P]`` and ``unstable [P]`` (fraction of
    datasets whose run hit the bound).
    """
    thetas = np.asarray(thetas, np.float32)
    p, dsz, n = thetas.shape[0], num_datasets, s.n_in
    coef = thetas.reshape(p, 9, 3)  # [P, a*3 + b, c]
    factor, pc1 = sample_datasets(rng, s, dsz)
    w0 = (s.init_scale / np.sqrt(n)) * rng.standard_normal((dsz, 1, n), dtype=np.float32)
    w = np.broadcast_to(w0, (dsz, p, n)).copy()  # same initial weights for every candidate
    factor_t = factor.transpose(0, 2, 1)
    if s.samples:  # finite datasets: draw the points once, target their own PCs
        data = np.matmul(rng.standard_normal((dsz, s.samples, n), dtype=np.float32), factor_t)
        _, vecs = np.linalg.eigh(np.matmul(data.transpose(0, 2, 1), data) / s.samples)
        pc1 = vecs[:, :, -1].astype(np.float32)
        rows = np.arange(dsz)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(s.steps):
            if s.samples:
                x = data[rows, rng.integers(0, s.samples, (dsz, s.batch))]  # [D, B, N] minibatch
            else:
                z = rng.standard_normal((dsz, s.batch, n), dtype=np.float32)
                x = np.matmul(z, factor_t)  # [D, B, N], shared by all candidates
            w = w + np.float32(s.eta) * rule_dw(coef, x, w)
            np.nan_to_num(w, copy=False, nan=s.w_max)
            np.clip(w, -s.w_max, s.w_max, out=w)
        dots = np.einsum("dpn,dn->dp", w, pc1)
        sign = np.where(dots < 0, -1.0, 1.0).astype(np.float32)
        dist = np.linalg.norm(w - sign[..., None] * pc1[:, None, :], axis=2)  # [D, P]
        bad = (np.abs(w).max(axis=2) >= s.w_max) | ~np.isfinite(dist)
        dist = np.where(
            bad, s.unstable_loss, np.minimum(np.nan_to_num(dist, nan=s.unstable_loss), s.unstable_loss)
        )
    task_loss = dist.mean(axis=0)
    return {
        "loss": task_loss + s.l1 * np.abs(thetas).sum(axis=1),
        "task_loss": task_loss,
        "unstable": bad.mean(axis=0),
    }


def generation_flops(s: OjaSettings, popsize: int, num_datasets: int) -> dict[str, float]:
    """Floating-point operations of one generation, by part (multiply-add = 2).

    ``shared``: per dataset, the rotation (QR with Q formed, ~8/3 N^3) and
    every step's data ``x = z F^T`` (2 B N^2), ``x^2`` and its means (3 B N);
    done once for the whole population. ``candidate``: per candidate, dataset
    and step, ``y = W x`` (2 B N), the moments ``[y, y^2]^T [x, x^2]`` (8 B N),
    ``y^2`` (B) and the update from 27 coefficients (~60 N). With finite
    datasets the per-step ``2 B N^2`` is replaced by drawing the ``S`` points
    once (``2 S N^2``), their covariance (``2 S N^2``) and its eigenvectors
    (~9 N^3).
    """
    n, b, t = s.n_in, s.batch, s.steps
    if s.samples:
        per_dataset = 8 / 3 * n**3 + 4 * s.samples * n * n + 9 * n**3 + t * 3 * b * n
    else:
        per_dataset = 8 / 3 * n**3 + t * (2 * b * n * n + 3 * b * n)
    shared = num_datasets * per_dataset
    candidate = popsize * num_datasets * t * (2 * b * n + 8 * b * n + b + 60 * n)
    return {"shared": float(shared), "candidate": float(candidate), "total": float(shared + candidate)}


def check_rule_against_plastix(n: int = 7, seed: int = 0) -> float:
    """Max relative difference of the numpy update vs ``plastix.rules.polynomial`` on identical input.

    Random theta, batch and weights; this pins the coefficient ordering and the
    moment algebra exactly (same data, so no statistics involved).
    """
    import jax.numpy as jnp

    from plastix.rules import polynomial

    rng = np.random.default_rng(seed)
    p, d, b = 4, 3, 50
    thetas = rng.standard_normal((p, 27)).astype(np.float32)
    x = rng.standard_normal((d, b, n)).astype(np.float32)
    w = rng.standard_normal((d, p, n)).astype(np.float32)
    ours = rule_dw(thetas.reshape(p, 9, 3), x, w)
    rule = polynomial()
    worst = 0.0
    for i in range(p):
        for j in range(d):
            wij = jnp.asarray(w[j, i][None, :])  # [1, N]
            y = jnp.asarray(x[j]) @ wij.T
            ref, _ = rule.update(jnp.asarray(thetas[i]), {"pre": jnp.asarray(x[j]), "post": y, "w": wij}, ())
            ref = np.asarray(ref)[0]
            worst = max(worst, float(np.max(np.abs(ours[j, i] - ref)) / (np.max(np.abs(ref)) + 1e-12)))
    return worst


def self_check(
    n: int = 20, num_datasets: int = 20, repeats: int = 20, seed: int = 0, verbose: bool = True
) -> dict:
    """Does the baseline compute what plastix computes? Prints the comparison; no assertion.

    1. The update on identical data equals plastix's polynomial rule (exact up
       to float32 rounding).
    2. Plastix's own Oja reference theta is the baseline's ``OJA_THETA``.
    3. With Oja's theta, the task loss on ``num_datasets`` datasets of size
       ``n`` (``configs/oja.toml``), averaged over ``repeats`` generations,
       from numpy and from plastix agree within 0.05. They draw different
       random numbers, so this is a statistical comparison; the per-dataset
       loss is heavy-tailed (a dataset whose initial ``w`` is nearly orthogonal
       to PC1 converges late), so one 20-dataset generation alone varies by
       about +-0.05 and the check averages ``repeats`` of them.
    """
    import jax
    import jax.numpy as jnp

    import plastix.experiment

    rel = check_rule_against_plastix()
    cfg = plastix.experiment.load(OJA_CONFIG, [f"network.n_in={n}", f"task.episodes={num_datasets}"])
    exp = plastix.experiment.build(cfg)
    same_theta = bool(np.array_equal(np.asarray(exp.references["ff"][1]), OJA_THETA))
    s = OjaSettings.from_config(cfg)
    rng = np.random.default_rng(seed)
    np_losses = [
        float(generation(OJA_THETA[None], s, num_datasets, rng)["task_loss"][0]) for _ in range(repeats)
    ]
    fn = jax.jit(exp.train_loss)
    theta = {"ff": jnp.asarray(OJA_THETA)}
    key = jax.random.PRNGKey(seed)
    px_losses = [float(fn(theta, jax.random.fold_in(key, i))[1]["task_loss"]) for i in range(repeats)]
    np_mean, px_mean = float(np.mean(np_losses)), float(np.mean(px_losses))

    def se(v):
        return float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")

    out = {
        "n": n,
        "datasets": num_datasets * repeats,
        "rule_max_rel_diff": rel,
        "oja_theta_matches": same_theta,
        "numpy_oja_loss": np_mean,
        "numpy_oja_loss_se": se(np_losses),
        "plastix_oja_loss": px_mean,
        "plastix_oja_loss_se": se(px_losses),
        "loss_diff": abs(np_mean - px_mean),
    }
    out["agree"] = bool(rel < 1e-4 and same_theta and out["loss_diff"] < 0.05)
    if verbose:
        print(f"numpy baseline self-check (N={n}, {repeats} x {num_datasets} datasets):")
        print(f"  update on identical data, max rel diff vs plastix: {rel:.2e}")
        print(f"  plastix's Oja reference theta == numpy OJA_THETA:  {same_theta}")
        print(
            f"  task loss of Oja's rule: numpy {np_mean:.4f} +- {out['numpy_oja_loss_se']:.4f}, "
            f"plastix {px_mean:.4f} +- {out['plastix_oja_loss_se']:.4f} (mean +- s.e.), "
            f"|diff| {out['loss_diff']:.4f}"
        )
        print(f"  => {'AGREE' if out['agree'] else 'DISAGREE'} (tolerances: update rel 1e-4, loss 0.05)")
    return out


def candidate_thetas(popsize: int, seed: int = 0, spread: float = 0.03) -> np.ndarray:
    """The population the benchmarks time: Oja's rule plus N(0, spread^2) noise, as in mid-run."""
    rng = np.random.default_rng(seed)
    return (OJA_THETA + spread * rng.standard_normal((popsize, 27))).astype(np.float32)


def time_generation(s: OjaSettings, popsize: int, num_datasets: int, repeats: int, seed: int = 0) -> dict:
    """Median wall time of ``repeats`` generations on :func:`candidate_thetas` (fresh data each)."""
    thetas = candidate_thetas(popsize, seed)
    rng = np.random.default_rng(seed)
    times, out = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = generation(thetas, s, num_datasets, rng)
        times.append(time.perf_counter() - t0)
    return {
        "seconds": float(np.median(times)),
        "times": times,
        "task_loss": float(np.median(out["task_loss"])),
        "unstable": float(np.mean(out["unstable"])),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="inputs N (default 20)")
    ap.add_argument("--popsize", type=int, default=20)
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="timed generations")
    ap.add_argument("--check-repeats", type=int, default=20, help="generations averaged by the self-check")
    ap.add_argument("--no-check", action="store_true", help="skip the self-check against plastix")
    ap.add_argument(
        "--settings",
        default=None,
        help="JSON of OjaSettings fields (overrides --n); used by bench_generation.py",
    )
    ap.add_argument("--json", action="store_true", help="print only the timing, as one JSON line")
    args = ap.parse_args(argv)
    check = None
    if not args.no_check:
        check = self_check(n=args.n, num_datasets=args.datasets, repeats=args.check_repeats)
    s = OjaSettings(**json.loads(args.settings)) if args.settings else OjaSettings(n_in=args.n)
    res = time_generation(s, args.popsize, args.datasets, args.repeats)
    if args.json:
        print(json.dumps(res))
    else:
        print(
            f"numpy generation (P={args.popsize}, D={args.datasets}, N={s.n_in}, B={s.batch}, "
            f"T={s.steps}): median {res['seconds'] * 1e3:.1f} ms over {args.repeats}"
        )
    return {"check": check, **res}


if __name__ == "__main__":
    main()
