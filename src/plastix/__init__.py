"""plastix: discover synaptic plasticity rules by meta-learning.

Subpackages (imported on first use): ``rules``, ``networks``, ``tasks``,
``meta``, ``analysis``, ``plotting``, ``experiment``.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("plastix")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

_SUBPACKAGES = ("analysis", "experiment", "meta", "networks", "plotting", "rules", "tasks")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"plastix.{name}")
    raise AttributeError(f"module 'plastix' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBPACKAGES))
