import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="session")
def ray_address():
    """The Ray cluster the backend and sweep tests connect to.

    ``make test`` starts one on loopback and names it in ``PLASTIX_TEST_RAY_ADDRESS``;
    without it (a bare ``pytest``) ``None``: each test process starts a local
    cluster of its own when it first connects.
    """
    return os.environ.get("PLASTIX_TEST_RAY_ADDRESS")
