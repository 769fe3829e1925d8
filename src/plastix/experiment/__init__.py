"""Configs, run directories, the generation loop, resume: the only layer with I/O.

Everything here is generic. What runs is built from registered components
(:mod:`plastix.experiment.components`: rule, network, task and optimiser sections);
how a kind of experiment reports is a :class:`Family` recipe
(``plastix/experiment/families/``), found through the registry
(:func:`registry`, :func:`register`).

Importing this package is cheap: each name is imported from its module when first used
(PEP 562), so that ``plastix --help`` and a config's one-line error do not wait for JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names below, for type checkers and the API reference
    from plastix.experiment._backend import BACKENDS, Backend, Placement, open_backend
    from plastix.experiment._build import OPTIMIZERS, Experiment, Parts, build, parts, thetas
    from plastix.experiment._config import (
        Config,
        ConfigWarning,
        MetaConfig,
        apply_overrides,
        component_listing,
        config_dir,
        config_model,
        dump_config,
        listing,
        load,
        shipped_config,
        shipped_configs,
        validate,
    )
    from plastix.experiment._errors import UserError
    from plastix.experiment._export import brian2_script
    from plastix.experiment._family import (
        Family,
        History,
        Memory,
        memory,
        memory_estimate,
        register,
        registry,
        unregister,
    )
    from plastix.experiment._figures import write_figures
    from plastix.experiment._interrupt import Interrupted
    from plastix.experiment._runner import execute, resume, run
    from plastix.experiment._sweep import SweepFailed, parse_seeds, resume_sweep, sweep
    from plastix.experiment.components import (
        NetworkSection,
        Projection,
        RuleSection,
        Section,
        TaskSection,
        kind_of,
    )
    from plastix.experiment.components.networks import in_section

#: public name -> the module that defines it
_LAZY = {
    "BACKENDS": "plastix.experiment._backend",
    "Backend": "plastix.experiment._backend",
    "Placement": "plastix.experiment._backend",
    "open_backend": "plastix.experiment._backend",
    "OPTIMIZERS": "plastix.experiment._build",
    "Experiment": "plastix.experiment._build",
    "Parts": "plastix.experiment._build",
    "build": "plastix.experiment._build",
    "parts": "plastix.experiment._build",
    "thetas": "plastix.experiment._build",
    "Config": "plastix.experiment._config",
    "ConfigWarning": "plastix.experiment._config",
    "MetaConfig": "plastix.experiment._config",
    "apply_overrides": "plastix.experiment._config",
    "component_listing": "plastix.experiment._config",
    "config_dir": "plastix.experiment._files",
    "config_model": "plastix.experiment._config",
    "dump_config": "plastix.experiment._config",
    "listing": "plastix.experiment._config",
    "load": "plastix.experiment._config",
    "shipped_config": "plastix.experiment._files",
    "shipped_configs": "plastix.experiment._files",
    "validate": "plastix.experiment._config",
    "UserError": "plastix.experiment._errors",
    "brian2_script": "plastix.experiment._export",
    "Family": "plastix.experiment._family",
    "History": "plastix.experiment._family",
    "Memory": "plastix.experiment._family",
    "memory": "plastix.experiment._family",
    "memory_estimate": "plastix.experiment._family",
    "register": "plastix.experiment._family",
    "registry": "plastix.experiment._family",
    "unregister": "plastix.experiment._family",
    "write_figures": "plastix.experiment._figures",
    "Interrupted": "plastix.experiment._interrupt",
    "execute": "plastix.experiment._runner",
    "resume": "plastix.experiment._runner",
    "run": "plastix.experiment._runner",
    "SweepFailed": "plastix.experiment._sweep",
    "parse_seeds": "plastix.experiment._sweep",
    "resume_sweep": "plastix.experiment._sweep",
    "sweep": "plastix.experiment._sweep",
    "NetworkSection": "plastix.experiment.components",
    "Projection": "plastix.experiment.components",
    "RuleSection": "plastix.experiment.components",
    "Section": "plastix.experiment.components",
    "TaskSection": "plastix.experiment.components",
    "kind_of": "plastix.experiment.components",
    "in_section": "plastix.experiment.components.networks",
}

__all__ = [
    "BACKENDS",
    "Backend",
    "OPTIMIZERS",
    "Placement",
    "open_backend",
    "parse_seeds",
    "Config",
    "ConfigWarning",
    "Experiment",
    "Family",
    "History",
    "Interrupted",
    "Memory",
    "NetworkSection",
    "Projection",
    "MetaConfig",
    "Parts",
    "RuleSection",
    "Section",
    "SweepFailed",
    "TaskSection",
    "UserError",
    "apply_overrides",
    "brian2_script",
    "build",
    "component_listing",
    "parts",
    "config_dir",
    "config_model",
    "dump_config",
    "execute",
    "registry",
    "in_section",
    "kind_of",
    "listing",
    "load",
    "memory",
    "memory_estimate",
    "register",
    "resume",
    "resume_sweep",
    "run",
    "shipped_config",
    "shipped_configs",
    "sweep",
    "thetas",
    "unregister",
    "validate",
    "write_figures",
    "components",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        if name in ("components", "families"):  # the subpackages, which register the shipped kinds
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
