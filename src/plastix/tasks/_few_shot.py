r"""Few-shot classification learned online (Shervani-Tabar & Rosenbaum 2023, "Meta-training").

An episode draws ``ways`` classes from a pool, ``shots`` training and
``queries`` query images of each, and permutes the labels: class ``c_i`` of
the episode gets label ``pi(i)``. The network learns online from the
``ways * shots`` training images, one per inner step in a random order, from
a fresh initialisation; the loss is the cross-entropy of its predictions on
the ``ways * queries`` query images,

.. math:: L = -\frac{1}{MQ} \sum_{q} \log \mathrm{softmax}(z_L(x_q))_{y_q},

and ``accuracy`` is the fraction of query images classified correctly.
Meta-training and meta-test episodes draw from disjoint class pools (two
tasks built on two pools, :func:`split_classes`), so a meta-test score is
always on classes the outer loop never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState
from plastix.tasks._base import Task


def by_class(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``images [N, D]`` grouped ``[C, n, D]`` (``n``: the smallest class count) and the class ids ``[C]``."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 2 or labels.shape != images.shape[:1]:
        raise ValueError(f"need images [N, D] and labels [N]; got {images.shape} and {labels.shape}")
    classes = np.unique(labels)
    n = min(int(np.sum(labels == c)) for c in classes)
    return np.stack([images[labels == c][:n] for c in classes]), classes


def split_classes(n_classes: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random split of class indices ``0 .. n_classes - 1`` into meta-training and meta-test pools."""
    if not 0 <= n_test < n_classes:
        raise ValueError(f"meta-test classes ({n_test}) must be fewer than the {n_classes} classes")
    perm = np.random.default_rng(seed).permutation(n_classes)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def few_shot(
    data: np.ndarray | Callable[[], np.ndarray],
    pool: Sequence[int],
    predict: Callable[[NetState, jax.Array], jax.Array],
    ways: int = 5,
    shots: int = 50,
    queries: int = 10,
    metrics: Callable[[NetState, jax.Array, jax.Array], dict] | None = None,
    shape: Sequence[int] | None = None,
) -> Task:
    """An online ``ways``-way, ``shots``-shot task on the classes ``pool`` of ``data``.

    Args:
        data: ``[C, n, D]`` images grouped by class (:func:`by_class`), values in [0, 1],
            or a function returning them when first sampled (then give their ``shape``).
        pool: the class indices (into ``data``'s first axis) this task draws from.
        predict: ``(state, x [B, D]) -> logits [B, n_out]`` (``n_out >= ways``), the trained network.
        ways, shots, queries: classes per episode (M), training and query images per class (K, Q).
        metrics: ``(state, x, labels) -> {name: scalar}``, extra metrics on the query set
            (e.g. error-signal alignment), or None.
        shape: ``[C, n, D]`` of a ``data`` function's result (``n``: at least that many per class).

    Inputs of step ``t``: ``{"x": [D], "label": int}``, the ``t``-th training image of the
    episode's shuffled stream; ``num_steps = ways * shots``.

    The dataset stays in host memory: ``sample`` draws the classes and image
    indices on the device and gathers just those images through
    ``jax.pure_callback``, so a large dataset is neither copied to the device
    nor compiled into the program as a constant.
    """
    if callable(data):  # loaded on first use (a dataset read from disk only when a run needs it)
        shape, read = tuple(shape), data
    else:
        arr = np.asarray(data)
        shape, read = arr.shape, lambda: arr
    cache: list[np.ndarray] = []

    def load() -> np.ndarray:
        if not cache:
            cache.append(np.asarray(read()))
        return cache[0]

    pool = jnp.asarray(np.asarray(pool, np.int32))
    n_classes, n_per, n_pixels = shape
    if ways < 2 or ways > pool.size:
        raise ValueError(f"ways ({ways}) must be between 2 and the pool's {pool.size} classes")
    if shots < 1 or queries < 1 or shots + queries > n_per:
        raise ValueError(
            f"shots ({shots}) + queries ({queries}) must be positive and at most the {n_per} images per class"
        )
    if int(jnp.max(pool)) >= n_classes or int(jnp.min(pool)) < 0:
        raise ValueError(f"pool has class indices outside 0 .. {n_classes - 1}")

    def gather(classes, idx):
        # On the host: only an episode's images reach the device (EMNIST's 354 MB as an
        # XLA constant would be compiled into every program that samples an episode).
        images = load()
        return images[np.asarray(classes)[..., None], np.asarray(idx)].astype(np.float32)

    def sample(key):
        data = load()
        if data.shape[0] != n_classes or data.shape[2] != n_pixels or data.shape[1] < shots + queries:
            raise ValueError(f"the dataset has shape {data.shape}; the task was built for {shape}")
        n_per = data.shape[1]
        k_cls, k_img, k_lab, k_ord = jax.random.split(key, 4)
        classes = jax.random.choice(k_cls, pool, (ways,), replace=False)
        # For each class, shots + queries distinct images.
        idx = jax.vmap(lambda k: jax.random.permutation(k, n_per)[: shots + queries])(
            jax.random.split(k_img, ways)
        )
        out = jax.ShapeDtypeStruct((ways, shots + queries, n_pixels), jnp.float32)
        # [ways, shots + queries, D]; under vmap one call gathers every episode's images.
        imgs = jax.pure_callback(gather, out, classes, idx, vmap_method="broadcast_all")
        labels = jax.random.permutation(k_lab, ways)  # class i of the episode is labelled labels[i]
        lab = jnp.broadcast_to(labels[:, None], (ways, shots + queries))
        train_x = imgs[:, :shots].reshape(ways * shots, -1)
        train_y = lab[:, :shots].reshape(-1)
        order = jax.random.permutation(k_ord, ways * shots)
        return {
            "train_x": train_x[order],
            "train_y": train_y[order],
            "query_x": imgs[:, shots:].reshape(ways * queries, -1),
            "query_y": lab[:, shots:].reshape(-1),
            "classes": classes,
        }

    def inputs(episode, t, key):
        return {"x": episode["train_x"][t], "label": episode["train_y"][t]}

    def loss(state, records, episode):
        logits = predict(state, episode["query_x"])
        y = episode["query_y"]
        ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))
        out = {"accuracy": jnp.mean((jnp.argmax(logits, axis=1) == y).astype(logits.dtype))}
        if metrics is not None:
            out.update(metrics(state, episode["query_x"], y))
        return ce, out

    return Task(sample, inputs, loss, ways * shots)
