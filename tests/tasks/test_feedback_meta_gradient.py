"""The meta-gradient through the unrolled online inner loop of the feedback MLP equals finite differences."""

import subprocess
import sys

import pytest

SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, sys
jax.config.update("jax_enable_x64", True)
from plastix import networks, rules, tasks

remat = sys.argv[1] != "plain"
chunk = 3 if sys.argv[1] == "remat_chunk" else None  # two-level checkpointing: 3 chunks of 3 steps
data = np.random.default_rng(0).random((4, 12, 6))
net = networks.mlp((6, 5, 4, 4), feedback="random")
predict = lambda s, x: networks.mlp_forward(s.w["ff"], x, 10.0)[1]
task = tasks.few_shot(data, np.arange(4), predict, ways=3, shots=3, queries=2)
f = tasks.meta_loss({"ff": rules.term_library()}, net, task, 2, remat=remat, chunk=chunk)
key = jax.random.PRNGKey(0)
theta = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (10,), jnp.float64)
theta = theta.at[0].set(0.5)

def loss(t):
    return f({"ff": t}, key)[0]

g = jax.grad(loss)(theta)
worst = 0.0
for i in range(3):
    v = jax.random.normal(jax.random.PRNGKey(10 + i), (10,), jnp.float64)
    eps = 1e-5
    fd = (loss(theta + eps * v) - loss(theta - eps * v)) / (2 * eps)
    worst = max(worst, abs(float(fd - g @ v)) / abs(float(fd)))

# A first-order gradient (weights' dependence on theta through earlier steps cut) is measurably wrong.
def first_order(t):
    def upd(theta_, local, state):
        return rules.term_library().update(theta_, jax.tree.map(jax.lax.stop_gradient, local), state)
    rule = rules.term_library()._replace(update=upd)
    return tasks.meta_loss({"ff": rule}, net, task, 2)({"ff": t}, key)[0]

g1 = jax.grad(first_order)(theta)
# The chunked stream is the same episode: the same loss as one scan over steps.
one_scan = tasks.meta_loss({"ff": rules.term_library()}, net, task, 2)
same = abs(float(loss(theta) - one_scan({"ff": theta}, key)[0]))
print(worst, float(jnp.linalg.norm(g1 - g) / jnp.linalg.norm(g)), same)
"""


@pytest.mark.parametrize("mode", ["remat", "plain", "remat_chunk"])
def test_meta_gradient_matches_finite_differences(mode):
    # float64 is process-global in JAX, hence a subprocess.
    r = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    worst, first_order_gap, same = map(float, r.stdout.split())
    assert same < 1e-12, same
    assert worst < 1e-5, worst  # relative error of the directional derivative
    assert first_order_gap > 1e-3, first_order_gap
