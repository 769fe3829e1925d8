"""A baseline's step tuned to its optimum: interior, refined, the curve kept."""

import math

import pytest

from plastix import meta


def bowl(optimum: float, floor: float = 0.02):
    """A score quadratic in log(x), lowest (``floor``) at ``optimum``."""
    return lambda x: floor + math.log(x / optimum) ** 2


@pytest.mark.parametrize(
    ("optimum", "lo", "hi", "points"),
    [(0.044, 1e-3, 1.0, 13), (0.044, 1.0, 10.0, 5), (3e-6, 1e-3, 0.3, 6), (0.3, 1e-3, 0.3, 6)],
)
def test_the_optimum_is_found_interior_wherever_the_first_grid_lies(optimum, lo, hi, points):
    f = bowl(optimum)
    found = meta.tune_scalar(f, lo, hi, points)
    assert found.interior
    i = found.values.index(found.best)
    below, above = found.values[i - 1], found.values[i + 1]
    assert below < optimum < above  # the optimum is bracketed by the best's neighbours
    # Refined until a refinement moves the best by < 2 %: one more would not.
    finer = min(f(math.sqrt(below * found.best)), f(math.sqrt(found.best * above)))
    assert min(finer, found.score) >= 0.98 * found.score
    assert found.scores[i] == min(found.scores) == found.score
    assert list(found.values) == sorted(found.values) and len(found.values) <= 40


def test_the_edge_of_the_limits_is_reported_as_not_interior():
    found = meta.tune_scalar(lambda x: 1 / x, 1e-3, 1.0, 5, limits=(1e-8, 100.0))
    assert not found.interior and found.best <= 100.0 and found.best == max(found.values)


def test_non_finite_scores_lose_and_all_non_finite_stops_at_once():
    found = meta.tune_scalar(lambda x: float("nan") if x > 0.1 else bowl(0.01)(x), 1e-3, 1.0, 7)
    assert found.best < 0.1 and found.interior
    calls = []
    none = meta.tune_scalar(lambda x: calls.append(x) or float("inf"), 1e-3, 1.0, 5)
    assert len(calls) == 5 and not none.interior and math.isinf(none.score)


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="0 < lo < hi"):
        meta.tune_scalar(bowl(1.0), 1.0, 0.5)
