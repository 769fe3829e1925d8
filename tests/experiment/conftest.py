from pathlib import Path

import pytest

TINY = """
name = "tiny"
seed = 3

[network]
n_in = 3
n_out = 1

[task]
steps = 20
batch = 50
episodes = 4
heldout_episodes = 4

[rules.ff]
reference = "oja"

[meta]
generations = 6
popsize = 6
sigma0 = 0.5
"""


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def tiny_config_module(tmp_path_factory) -> Path:
    """:func:`tiny_config` once per test module, for module-scoped fixtures that run it (a sweep)."""
    p = tmp_path_factory.mktemp("config") / "tiny.toml"
    p.write_text(TINY)
    return p
