import numpy as np
import pytest

from plastix import analysis, rules


def test_angle_is_scale_invariant_and_signed():
    oja = rules.oja()
    assert analysis.angle(3.7 * oja, oja) == pytest.approx(0.0, abs=1e-5)
    assert analysis.angle(-oja, oja) == pytest.approx(180.0)
    assert analysis.angle(rules.hebb(), oja) == pytest.approx(45.0)
    assert analysis.angle(np.zeros(27), oja) == 90.0
    with pytest.raises(ValueError):
        analysis.angle(np.ones(3), oja)


def test_pretty_prints_rule_and_drops_tiny_terms():
    rule = rules.polynomial()
    theta = np.asarray(rules.oja(rule)) * np.array([1.0] * 27)
    theta[rule.names.index("110")] = 0.99
    theta[rule.names.index("021")] = -1.01
    theta[rule.names.index("000")] = 0.001  # below threshold: dropped
    assert analysis.pretty(theta, rule) == "dw = eta (−1.01 y²·w + 0.99 x·y)"
    assert "0.001" in analysis.pretty(theta, rule, threshold=1e-4)
    lateral = rules.polynomial(symbols={"pre": "y_j", "post": "y_i", "w": "l"})
    assert analysis.pretty(rules.anti_hebbian(lateral), lateral, lhs="dl") == "dl = eta (−1 y_j·y_i)"
    assert analysis.pretty(np.zeros(27), rule) == "dw = 0"
