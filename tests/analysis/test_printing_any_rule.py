"""``analysis.pretty`` prints every rule: a polynomial by its monomials, any other by its term names."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import analysis, rules


def own_rule() -> rules.Rule:
    """A rule written outside plastix, its coefficients named after its terms: ``a <x y> + b <y^2> w``.

    Its names have as many characters as it has local signals (``"xyw"``, ``"yyw"``), the case
    that a printer reading exponent digits from the names would choke on.
    """

    def update(theta, local, state):
        x, y, w = local["pre"], local["post"], local["w"]
        return theta[0] * y.T @ x / len(x) + theta[1] * jnp.mean(y**2, 0)[:, None] * w, state

    return rules.Rule(
        init_theta=lambda key: jax.random.normal(key, (2,)),
        init_state=lambda w: (),
        update=update,
        names=("xyw", "yyw"),
        needs=("pre", "post", "w"),
        symbols={},
    )


def test_a_rule_of_ones_own_prints_by_its_term_names():
    rule = own_rule()
    assert analysis.pretty(np.array([0.9, -1.2]), rule) == "dw = eta (−1.2 yyw + 0.9 xyw)"
    assert analysis.pretty(np.array([0.9, 0.001]), rule, lhs="dl") == "dl = eta (0.9 xyw)"
    assert analysis.monomial(rule, "xyw") == "xyw"
    with pytest.raises(ValueError, match="theta has 3 coefficients, the rule 2"):
        analysis.pretty(np.ones(3), rule)


def test_polynomial_names_still_print_as_monomials():
    rule = rules.polynomial()
    assert analysis.monomial(rule, "021") == "y²·w"
    assert analysis.monomial(rule, "000") == "1"
    # A two-variable polynomial: its names are two digits, not three.
    two = rules.polynomial(variables=("pre", "post"))
    theta = np.zeros(two.size)
    theta[two.names.index("11")] = 2.0
    assert analysis.pretty(theta, two) == "dw = eta (2 x·y)"


def test_shipped_rules_of_every_kind_print():
    spike = rules.spike_trace()
    text = analysis.pretty(jnp.array([-1e-3, 2e-3, 0.0, 0.0, 0.02, 0.02]), spike)
    assert text.startswith("dw = eta (0.02 tau_pre + 0.02 tau_post") and "beta" in text

    lib = rules.term_library()
    theta = jnp.zeros(len(rules.TERMS)).at[0].set(1.0).at[3].set(-0.5)
    assert analysis.pretty(theta, lib) == "dw = eta (1 pseudo_grad − 0.5 decay)"

    # A coefficient set per synapse prints the means over synapses.
    each = rules.per_synapse(rules.soft_bound_hebb(), (2, 3))
    theta = jnp.broadcast_to(jnp.array([0.5, 0.25, 0.0]), (2, 3, 3))
    assert analysis.pretty(theta, each) == "dw = eta (0.5 g2 + 0.25 g0)"

    # An MLP rule prints its summary numbers (one per name).
    net = rules.mlp(hidden=(4,))
    theta = net.init_theta(jax.random.PRNGKey(0))
    numbers = rules.summarise(net, theta)
    largest = max(numbers, key=lambda n: abs(numbers[n]))
    assert analysis.pretty(theta, net).startswith(f"dw = eta ({abs(numbers[largest]):.3g} {largest}")
