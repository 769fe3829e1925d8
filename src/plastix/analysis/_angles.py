"""Distances between rules in coefficient space."""

from __future__ import annotations

import numpy as np


def angle(theta, reference) -> float:
    r"""Angle in degrees between two rules, up to a positive scale factor.

    .. math:: \angle(\theta, \theta^*) = \arccos
              \frac{\theta\cdot\theta^*}{\|\theta\|\,\|\theta^*\|}

    A rule scaled by ``c > 0`` is the same rule with another learning rate, so
    its angle is 0; a sign flip gives 180. A zero rule has no direction: 90.
    """
    a = np.asarray(theta, np.float64).ravel()
    b = np.asarray(reference, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"theta has {a.size} coefficients, the reference {b.size}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))))
