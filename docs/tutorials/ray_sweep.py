"""Run a sweep over seeds on a Ray cluster, from the command line and from Python.

Run it with ``python docs/tutorials/ray_sweep.py --address HOST:PORT`` (a running cluster), or
``--backend local`` (no cluster: the seeds one after another in this process). The docs page
``tutorials/ray_sweep.md`` shows this script section by section, and ``tests/test_tutorials.py``
runs it against the test suite's cluster.
"""

# --8<-- [start:imports]
import argparse
import json
import shlex
import tempfile
from pathlib import Path

from plastix import cli, experiment
from plastix.experiment import Placement

# --8<-- [end:imports]

# --8<-- [start:config]
# The shipped Oja config at a size that runs in seconds (`--set` works as on `plastix run`).
CONFIG = "oja"
OVERRIDES = [
    "task.steps=20",
    "task.batch=50",
    "task.episodes=2",
    "task.heldout_episodes=2",
    "meta.generations=3",
    "meta.popsize=4",
    "meta.sigma0=0.3",
]
SEEDS = "0-1"
# --8<-- [end:config]


# --8<-- [start:cli]
def sweep_on_the_command_line(out: Path, backend: str, address: str | None) -> dict:
    """``plastix sweep``: each seed is a Ray task on the cluster (the seed directories must be on a
    file system the workers share); ``--address`` names the cluster, else ``RAY_ADDRESS``, else a
    cluster is started for the sweep."""
    args = ["sweep", CONFIG, "--seeds", SEEDS, "--out", str(out), "--backend", backend, "--quiet"]
    args += [a for o in OVERRIDES for a in ("--set", o)]
    args += ["--address", address] if address else []
    print("$ plastix " + shlex.join(args))
    if cli.main(args) != 0:  # the same as running the command in a shell
        raise SystemExit("the sweep failed")
    return json.loads((out / "sweep.json").read_text())


# --8<-- [end:cli]


# --8<-- [start:python]
def sweep_in_python(out: Path, backend: str, address: str | None, seeds: str = "1") -> dict:
    """The same config through the Python API: a config, the seeds and where to run them. A seed's
    run does not depend on where it runs, nor on the other seeds of its sweep."""
    cfg = experiment.load(experiment.shipped_config(CONFIG), OVERRIDES)
    placement = Placement(backend=backend, address=address)
    return experiment.sweep(cfg, experiment.parse_seeds(seeds), out, placement=placement)


# --8<-- [end:python]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["ray", "local"], default="ray")
    parser.add_argument("--address", help="HOST:PORT of a running Ray cluster")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        by_cli = sweep_on_the_command_line(Path(tmp) / "cli", args.backend, args.address)
        by_api = sweep_in_python(Path(tmp) / "api", args.backend, args.address)
        cli.main(["show", str(Path(tmp) / "cli")])  # the table of metrics over seeds
    for name in ("loss", "heldout_loss"):
        a, b = by_cli["metrics"][name]["values"], by_api["metrics"][name]["values"]
        print(f"{name} of seed 1: command line {a[1]:.6f}, Python {b[0]:.6f}")
    return {"cli": by_cli, "python": by_api}


if __name__ == "__main__":
    main()
# --8<-- [end:main]
