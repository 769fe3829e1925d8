"""Principal-subspace extraction: the Oja and Oja + anti-Hebbian experiments."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState
from plastix.networks._linear import effective_weights
from plastix.tasks._base import Task


def _threefry2x32(k1: jax.Array, k2: jax.Array, x0: jax.Array, x1: jax.Array):
    """The Threefry-2x32 hash, 20 rounds (Salmon et al., SC 2011), as plain array ops.

    The same function as ``jax.random``'s default generator, written out so that
    XLA fuses all 20 rounds into one loop over the counters: on CPU
    ``jax.random`` lowers it to a rolled loop that rereads and rewrites the
    whole counter arrays every four rounds.
    """
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
            x1 = x1 ^ x0
        x0, x1 = x0 + ks[(i + 1) % 3], x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    r"""``N(0, 1)`` samples, equal to ``jax.random.normal`` without partitionable Threefry.

    ``z = \sqrt{2}\, \mathrm{erf}^{-1}(u)`` with ``u`` uniform on ``(-1, 1)`` from
    23 random bits, the bits being Threefry-2x32 of the counters ``0 .. n-1``
    under ``key``: the same numbers ``jax.random.normal(key, shape)`` gives with
    ``jax_threefry_partitionable`` off, drawn about 1.5x faster on CPU
    (:func:`_threefry2x32`). float32 only; other dtypes use ``jax.random.normal``.
    """
    k = jax.random.key_data(key)
    if jnp.dtype(dtype) != jnp.float32 or k.shape != (2,) or k.dtype != jnp.uint32:
        return jax.random.normal(key, shape, dtype)
    n = math.prod(shape)
    m = (n + 1) // 2
    half = jax.lax.iota(jnp.uint32, m)
    # Counters 0..n-1 in two halves; an odd count pads the second with 0, as jax.random does.
    second = jnp.where(half + np.uint32(m) < n, half + np.uint32(m), np.uint32(0))
    b0, b1 = _threefry2x32(k[0], k[1], half, second)
    bits = jnp.concatenate([b0, b1])[:n]
    u = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - 1.0
    lo = np.nextafter(np.float32(-1), np.float32(0))
    u = jnp.maximum(lo, u * (np.float32(1) - lo) + lo)  # [lo, 1), as jax.random.uniform
    return (np.float32(np.sqrt(2)) * jax.lax.erf_inv(u)).reshape(shape)


def spectrum(n_in: int, scale: float = 2.0, decay: float = 0.7) -> jax.Array:
    r"""The fixed eigenvalue spectrum of every dataset: ``lambda_k = scale * decay^(k-1)``.

    A geometric spectrum keeps the gap between consecutive principal components
    proportional to the components themselves, so each of the first few PCs is
    well separated (``decay = 0.7``: gaps of 30 %).
    """
    return scale * decay ** jnp.arange(n_in, dtype=jnp.float32)


def random_rotation(key: jax.Array, n: int) -> jax.Array:
    """A Haar-random orthogonal matrix (QR of a Gaussian, signs fixed; Mezzadri 2007)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n)))
    return q * jnp.sign(jnp.diag(r))


def pca(
    n_in: int,
    n_out: int = 1,
    num_steps: int = 100,
    batch: int = 200,
    scale: float = 2.0,
    decay: float = 0.7,
    scale_spread: float = 1.0,
    samples: int = 0,
) -> Task:
    r"""Learn the first ``n_out`` principal components of a random Gaussian dataset.

    Dataset family: ``x ~ N(0, C)``, ``C = R diag(lambda) R^T``, with the fixed
    spectrum :func:`spectrum` and a Haar-random rotation ``R`` per dataset, so
    the principal components are the first columns of ``R``.

    With ``samples = 0`` each inner step draws a fresh batch of ``batch``
    samples from the Gaussian, and the targets are its exact principal
    components. With ``samples = n > 0`` a dataset is a finite sample: ``n``
    points drawn once per episode, from which each inner step takes a random
    minibatch of ``batch`` (with replacement), and the targets are that
    sample's principal components (the eigenvectors of its covariance), the
    best any rule can find from it. A finite dataset draws ``n N`` normals
    once instead of ``batch N`` every step, and skips the per-step ``N x N``
    product: about ten times less data work at ``N = 100``.

    With ``scale_spread = s > 1`` the whole spectrum of each dataset is also
    multiplied by a factor drawn log-uniformly from ``[1/s, s]``. With one
    fixed spectrum, ``lambda_1`` is the same for every dataset and a rule can
    exploit it: Hebb with a constant decay, ``dw = a x y - a lambda_1 w``, has
    the same fixed point as Oja's rule and beats it on the loss (measured:
    CMA-ES settles 55 degrees away from Oja on N = 3). A spread of scales
    leaves the normalisation by ``y^2 w`` as the only way to unit norm.

    Loss (Confavreux et al. 2020, Sec. 3.1-3.2):
    ``sum_i || w_i - s_i PC_i ||`` with ``w_i`` the ``i``-th row of the map the
    network computes, ``(I - L)^{-1} W``, and ``s_i = sign(w_i . PC_i)`` (``+1``
    when zero), since a principal component is only defined up to sign.

    Metrics: ``cos_<i>``, the absolute cosine between ``w_i`` and ``PC_i``, and
    ``norm_<i>``, the norm of ``w_i``.
    """
    if n_out > n_in:
        raise ValueError(f"n_out ({n_out}) must not exceed n_in ({n_in})")
    if samples < 0 or (0 < samples < n_in):
        raise ValueError(f"samples must be 0 (stream) or >= n_in ({n_in}), got {samples}")
    lam = spectrum(n_in, scale, decay)

    def sample(key):
        k_rot, k_scale, k_data = jax.random.split(key, 3)
        r = random_rotation(k_rot, n_in)
        log_s = jnp.log(scale_spread) * jax.random.uniform(k_scale, (), minval=-1.0, maxval=1.0)
        factor = r * jnp.sqrt(lam * jnp.exp(log_s))
        if not samples:
            return {"factor": factor, "pcs": r[:, :n_out].T}
        data = jax.random.normal(k_data, (samples, n_in), factor.dtype) @ factor.T
        _, vecs = jnp.linalg.eigh(data.T @ data / samples)  # ascending eigenvalues
        return {"data": data, "pcs": vecs[:, ::-1][:, :n_out].T}

    def inputs(episode, t, key):
        if samples:
            return episode["data"][jax.random.randint(key, (batch,), 0, samples)]
        z = standard_normal(key, (batch, n_in), episode["factor"].dtype)
        return z @ episode["factor"].T

    def loss(state: NetState, records, episode):
        w = effective_weights(state)
        pcs = episode["pcs"].astype(w.dtype)
        dots = jnp.sum(w * pcs, axis=1)
        s = jax.lax.stop_gradient(jnp.where(dots < 0, -1.0, 1.0))
        dist = jnp.linalg.norm(w - s[:, None] * pcs, axis=1)
        norms = jnp.linalg.norm(w, axis=1)
        metrics = {f"cos_{i}": jnp.abs(dots[i]) / (norms[i] + 1e-12) for i in range(n_out)}
        metrics.update({f"norm_{i}": norms[i] for i in range(n_out)})
        return jnp.sum(dist), metrics

    return Task(sample, inputs, loss, num_steps)
