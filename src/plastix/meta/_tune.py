"""A baseline's one coefficient (a learning rate) tuned to its optimum on a refined log grid."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple


class Tuning(NamedTuple):
    """The value of lowest score, and every value tried with its score (ascending in the value)."""

    best: float
    score: float
    values: tuple[float, ...]
    scores: tuple[float, ...]
    interior: bool  # False: the best is the edge of the allowed range, so perhaps not the optimum


def tune_scalar(
    score: Callable[[float], float],
    lo: float,
    hi: float,
    points: int = 7,
    tol: float = 0.02,
    max_evals: int = 40,
    limits: tuple[float, float] = (1e-8, 1e4),
) -> Tuning:
    r"""Minimise ``score(x)`` over ``x > 0``: a log grid, extended and refined around its best.

    Start with ``points`` values geometrically spaced over ``[lo, hi]``. While the
    best value is at an edge of what was tried, try two more beyond it, at the
    grid's spacing (a baseline tuned at the edge of its grid may be far from its
    optimum); once it is interior, try the geometric midpoints between it and
    its two neighbours, until both neighbours score within ``tol`` of it
    (relative; then a finer grid between them moves the best by about ``tol`` at
    most, for a score convex there) or ``max_evals`` values were scored. A non-finite
    score counts as worse than any finite one. Deterministic: ``score`` should
    be evaluated on fixed episodes (common random numbers), so that the values
    differ only in ``x``.

    Args:
        score: value -> score, lower is better (a loss, or ``1 - accuracy``).
        lo, hi: the first grid's range, ``0 < lo < hi``.
        points: the first grid's size (>= 3).
        tol: stop when the best's neighbours score within this fraction of it.
        max_evals: the most values scored.
        limits: the range beyond which the grid is never extended.
    """
    if not 0 < lo < hi or points < 3:
        raise ValueError(f"need 0 < lo < hi and points >= 3, got lo={lo}, hi={hi}, points={points}")
    tried: dict[float, float] = {}

    def f(x: float) -> None:
        if x not in tried and len(tried) < max_evals:
            s = float(score(x))
            tried[x] = s if math.isfinite(s) else math.inf

    ratio = (hi / lo) ** (1 / (points - 1))
    for k in range(points):
        f(lo * ratio**k)
    while len(tried) < max_evals:
        xs = sorted(tried)
        i = min(range(len(xs)), key=lambda j: (tried[xs[j]], j))
        best = tried[xs[i]]
        if math.isinf(best):
            break  # every value scored is non-finite: nowhere to go
        if i in (0, len(xs) - 1):  # at an edge: two more beyond it, within the limits
            edge, step = (xs[0], 1 / ratio) if i == 0 else (xs[-1], ratio)
            beyond = [edge * step**k for k in (1, 2) if limits[0] <= edge * step**k <= limits[1]]
            for x in beyond:
                f(x)
            if beyond:
                continue
        if 0 < i < len(xs) - 1 and max(tried[xs[i - 1]], tried[xs[i + 1]]) - best <= tol * abs(best):
            break  # flat at this spacing: a finer grid between the neighbours would move it < tol
        ratio = math.sqrt(ratio)  # the new points halve the spacing (in log) around the best
        if i > 0:
            f(math.sqrt(xs[i - 1] * xs[i]))
        if i < len(xs) - 1:
            f(math.sqrt(xs[i] * xs[i + 1]))
        if i in (0, len(xs) - 1):
            break  # at a limit: refined once, nothing beyond to extend to
    xs = sorted(tried)
    i = min(range(len(xs)), key=lambda j: (tried[xs[j]], j))
    return Tuning(xs[i], tried[xs[i]], tuple(xs), tuple(tried[x] for x in xs), 0 < i < len(xs) - 1)
