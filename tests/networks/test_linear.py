import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks


def test_lateral_output_solves_the_fixed_point_exactly():
    net = networks.linear(6, 4, lateral=True)
    state = net.init(jax.random.PRNGKey(0))
    lat = jnp.tril(jax.random.normal(jax.random.PRNGKey(1), (4, 4)), k=-1)
    state = state._replace(w={**state.w, "lateral": lat})
    x = jax.random.normal(jax.random.PRNGKey(2), (10, 6))
    _, y, local = net.step(state, x)
    # y = W x + L y
    np.testing.assert_allclose(y, x @ state.w["ff"].T + y @ lat.T, rtol=1e-5, atol=1e-5)
    assert set(local) == {"ff", "lateral"}
    np.testing.assert_allclose(networks.effective_weights(state) @ x.T, y.T, rtol=1e-5, atol=1e-5)


def test_apply_masks_lateral_scales_by_eta_and_bounds_weights():
    net = networks.linear(3, 3, lateral=True, eta=0.5, eta_lateral=0.25, w_max=10.0)
    state = net.init(jax.random.PRNGKey(0))
    new = net.apply(state, {"ff": jnp.ones((3, 3)), "lateral": jnp.ones((3, 3))})
    np.testing.assert_allclose(new.w["ff"] - state.w["ff"], 0.5)
    np.testing.assert_allclose(new.w["lateral"], 0.25 * np.tril(np.ones((3, 3)), k=-1))
    assert not net.unstable(new)
    blown = net.apply(state, {"ff": jnp.full((3, 3), jnp.inf), "lateral": jnp.full((3, 3), jnp.nan)})
    assert np.all(np.isfinite(blown.w["ff"])) and bool(net.unstable(blown))


@pytest.mark.parametrize("n_in,n_out", [(0, 1), (3, 0), (2, 3)])
def test_bad_sizes(n_in, n_out):
    with pytest.raises(ValueError):
        networks.linear(n_in, n_out)
