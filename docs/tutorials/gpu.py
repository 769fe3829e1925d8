"""Use GPUs (or any several local devices): a generation's population sharded over them.

Run it with ``python docs/tutorials/gpu.py`` on a machine with GPUs (after ``pip install
"plastix[cuda]"``), or on a CPU with devices made by XLA::

    XLA_FLAGS=--xla_force_host_platform_device_count=2 JAX_PLATFORMS=cpu python docs/tutorials/gpu.py

The docs page ``tutorials/gpu.md`` shows this script section by section, and
``tests/test_tutorials.py`` runs it the second way.
"""

# --8<-- [start:imports]
import csv
import tempfile
from pathlib import Path

import jax
import numpy as np

from plastix import meta
from plastix.experiment import Placement, build, load, run, shipped_config

# --8<-- [end:imports]

# --8<-- [start:config]
# The shipped Oja config at a size that runs in seconds; popsize 8 splits 4 + 4 over two devices.
OVERRIDES = ["task.steps=30", "task.batch=50", "task.episodes=4", "task.heldout_episodes=4"]
OVERRIDES += ["meta.generations=3", "meta.popsize=8"]


def devices() -> int:
    found = jax.devices()
    print(f"{len(found)} {found[0].platform} device(s): {', '.join(str(d) for d in found)}")
    return len(found)


# --8<-- [end:config]


# --8<-- [start:population]
def one_population(n: int) -> dict:
    """Score the same 8 candidate thetas on one device and sharded over ``n``: the same losses."""
    cfg = load(shipped_config("oja"), OVERRIDES)
    exp = build(cfg, n)  # a generation of this experiment is spread over its n devices
    sharded = exp.population is not meta.prepare_population
    print(f"built on {len(exp.devices)} device(s); population sharded: {sharded}")
    flat = np.random.default_rng(0).normal(scale=0.3, size=(8, 27)).astype(np.float32)
    key = jax.random.PRNGKey(0)
    one = meta.prepare_population(exp.train_loss, exp.theta0).evaluate(flat, key)[0]
    # A [8, 27] population on a one-axis mesh ("population") of n devices: 8 / n candidates each.
    spread = exp.population(exp.train_loss, exp.theta0).evaluate(flat, key)[0]
    diff = float(np.max(np.abs(np.asarray(spread) - np.asarray(one)) / np.abs(np.asarray(one))))
    print(f"population of 8 on 1 device vs {n}: largest relative difference {diff:.1e}")
    return {"one": np.asarray(one), "spread": np.asarray(spread), "diff": diff}


# --8<-- [end:population]


# --8<-- [start:runs]
def losses(path: Path) -> np.ndarray:
    with open(path / "metrics.csv") as fh:
        return np.array([[float(r["loss_best"]), float(r["loss_mean"])] for r in csv.DictReader(fh)])


def two_runs(n: int) -> dict:
    """``plastix run oja --devices 1`` and ``--devices n``: the same metrics, generation by generation."""
    cfg = load(shipped_config("oja"), OVERRIDES)
    with tempfile.TemporaryDirectory() as tmp:
        run(cfg, Path(tmp) / "one", placement=Placement(devices=1))
        run(cfg, Path(tmp) / "all", placement=Placement(devices=n))
        one, spread = losses(Path(tmp) / "one"), losses(Path(tmp) / "all")
    diff = float(np.max(np.abs(spread - one) / np.abs(one)))
    print(f"run on 1 device vs {n}: {len(one)} generations, largest relative difference {diff:.1e}")
    return {"one": one, "spread": spread, "diff": diff}


# --8<-- [end:runs]


# --8<-- [start:main]
def main() -> dict:
    n = devices()
    return {"devices": n, "population": one_population(n), "runs": two_runs(n)}


if __name__ == "__main__":
    main()
# --8<-- [end:main]
