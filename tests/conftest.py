import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(autouse=True)
def _float64_mode_stays_with_its_test():
    """Restore JAX's float64 mode after every test.

    ``experiment.build`` switches the whole process to float64 for a config with
    ``dtype = "float64"`` (the fuzzing and CLI tests run such configs in-process);
    left on, it would change every later float32 test in the same pytest worker
    (the README quickstart lands elsewhere in float64).
    """
    import jax

    before = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.fixture(scope="session")
def ray_address():
    """The Ray cluster the backend and sweep tests connect to.

    ``make test`` starts one on loopback and names it in ``PLASTIX_TEST_RAY_ADDRESS``;
    without it (a bare ``pytest``) ``None``: each test process starts a local
    cluster of its own when it first connects.
    """
    return os.environ.get("PLASTIX_TEST_RAY_ADDRESS")


@pytest.fixture(scope="session")
def benchmark_script():
    """``load(name)``: the script ``benchmarks/<name>.py`` as a module (``benchmarks/`` is no package)."""

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
