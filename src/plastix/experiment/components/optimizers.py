"""The outer loops shipped with plastix: ``[meta]`` of each ``optimizer``.

``[meta]`` holds the fields every outer loop shares (:class:`MetaSection`:
generations, L1 prior, stopping, validation, pruning) and those of the one
optimiser ``optimizer`` names, and no other. Each optimiser section builds its
:class:`plastix.meta.MetaOptimizer` and answers for itself what generic code
asks: how many thetas a generation scores, what it adds to the memory
estimate, which checks its options need.
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from plastix import meta
from plastix.experiment.components._base import OptimizerSection, register


@functools.cache
def optax_optimizers() -> list[str]:
    """The optax optimisers a config may name: optax's functions whose first argument is ``learning_rate``.

    Not ``lbfgs``: its update needs the loss function itself, which the outer loops do not pass.
    """
    import optax

    names = []
    for name in dir(optax):
        f = getattr(optax, name)
        if name.startswith("_") or name == "lbfgs" or not inspect.isfunction(f):
            continue
        if next(iter(inspect.signature(f).parameters), None) == "learning_rate":
            names.append(name)
    return names


def _optax(v: str) -> str:
    if v not in optax_optimizers():
        raise ValueError(f"unknown optax optimiser {v!r}; allowed: {optax_optimizers()}")
    return v


#: An optax optimiser's name, checked against :func:`optax_optimizers`.
Optax = Annotated[str, AfterValidator(_optax)]


#: pycma options plastix sets itself: the population from ``meta.popsize``, and a seeded
#: generator of its own so that a checkpoint resumes bit for bit.
CMA_OWN = {
    "popsize": "meta.popsize",
    "seed": "seed",
    "randn": "seed",
    "verbose": None,
    "tolstagnation": "meta.stall_generations",
}
CMA_FULL_MAX = 2000  # coefficients beyond which full CMA-ES is refused (its covariance is dim x dim)


@register
class CmaEsConfig(OptimizerSection):
    """``optimizer = "cma_es"``: :func:`plastix.meta.cma_es` (pycma), full or separable."""

    description = "CMA-ES (pycma); sep-CMA-ES with cma_options = {CMA_diagonal = true}"
    legacy: ClassVar[dict[str, str]] = {
        "popsize": "popsize",
        "sigma0": "sigma0",
        "cma_options": "cma_options",
    }

    optimizer: Literal["cma_es"] = "cma_es"
    popsize: int = Field(20, ge=2, description="candidates per generation")
    sigma0: float = Field(0.1, gt=0, description="initial step size (in units of meta.scale)")
    cma_options: dict[str, Any] = Field(
        {},
        description="pycma options, e.g. {CMA_diagonal = true} (sep-CMA-ES, for thousands of coefficients)",
    )
    restarts: int = Field(
        0,
        ge=0,
        le=20,
        description="IPOP-CMA-ES: restart a stalled run (pycma's termination criteria) with incpopsize "
        "times the population, this many times (pycma's fmin2); the run ends when they are used up",
    )
    bipop: bool = Field(False, description="BIPOP-CMA-ES: restarts alternate large and small populations")
    incpopsize: float = Field(2.0, gt=1, description="the population's factor per restart")
    stall_generations: int | None = Field(
        None,
        ge=1,
        description="generations without improvement after which a run stops (pycma's tolstagnation; "
        "with restarts, starts again); default pycma's, 100 + 100 N^1.5 / popsize for N coefficients",
    )

    def unused(self) -> dict[str, str]:
        out = super().unused()
        if not self.restarts:
            out.update(bipop="restarts = 0", incpopsize="restarts = 0")
        return out

    @field_validator("cma_options")
    @classmethod
    def _cma_options(cls, v):
        import cma

        known = cma.CMAOptions()
        for name in v:
            if name in CMA_OWN:
                instead = f" (set {CMA_OWN[name]})" if CMA_OWN[name] else ""
                raise ValueError(f"{name!r} is set by plastix{instead}")
            if name not in known:
                raise ValueError(
                    f"unknown pycma option {name!r}; see cma.CMAOptions() for the {len(known)} options"
                )
        return v

    def build(self, bounds) -> meta.MetaOptimizer:
        # Rule bounds are not passed to pycma: the rules clip theta themselves, and
        # the runner reports theta as applied (rules.project).
        options = dict(self.cma_options)
        if self.scale is not None:  # sigma0 in units of each coefficient's scale
            options.setdefault("CMA_stds", list(self.scale))
        if self.stall_generations is not None:
            options["tolstagnation"] = self.stall_generations
        return meta.cma_es(
            popsize=self.popsize,
            sigma0=self.sigma0,
            options=options,
            restarts=self.restarts,
            bipop=self.bipop,
            incpopsize=self.incpopsize,
        )

    def candidates(self, dim: int) -> int:
        return self.popsize

    def outer_memory(self, dim: int, episodes: int) -> int:
        # Full CMA-ES's covariance, eigenvectors and their product, beside the flat thetas.
        full = 0 if self.cma_options.get("CMA_diagonal") else 3 * dim * dim * 8
        return super().outer_memory(dim, episodes) + full

    def check(self, dim: int) -> None:
        if dim > CMA_FULL_MAX and not self.cma_options.get("CMA_diagonal"):
            raise ValueError(
                f"meta.optimizer = 'cma_es' over {dim} coefficients keeps a {dim} x {dim} covariance; "
                "set meta.cma_options = {CMA_diagonal = true} (sep-CMA-ES) or meta.optimizer = 'evosax'"
            )
        if self.cma_options:
            self._try_options(dim)

    def _try_options(self, dim: int) -> None:
        """Start pycma once with ``cma_options``, as the run will: its values are expressions
        (``"100 * N / popsize"``) that only pycma can judge, and it would otherwise refuse them at
        the first generation, inside a run directory."""
        import warnings

        import cma
        import numpy as np

        options = {"popsize": self.popsize, "verbose": -9, **self.cma_options}
        if self.scale is not None:
            options.setdefault("CMA_stds", list(self.scale))
        with warnings.catch_warnings():
            # pycma only warns about an option it cannot evaluate, then fails later on.
            warnings.simplefilter("error")
            try:
                cma.CMAEvolutionStrategy(np.zeros(dim), self.sigma0, options)
            except Exception as err:  # whatever pycma raises about its options: reported, not a traceback
                msg = " ".join(str(err).split())
                raise ValueError(f"meta.cma_options: pycma refuses them: {msg[:200]}") from None


class _Descent(OptimizerSection):
    """The fields of the descent loops (gradient, finite differences): rejecting a useless step."""

    backtrack: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="a theta where the loss is non-finite or too many episodes are unstable is given up "
        "for the last one with no unstable episode, and the step shrinks by this factor (0: never)",
    )
    reject_unstable: float = Field(
        1.0, gt=0, le=1, description="the fraction of unstable episodes at which a theta is given up"
    )

    def unused(self) -> dict[str, str]:
        out = super().unused()
        if not self.backtrack:
            out["reject_unstable"] = "backtrack = 0"
        return out

    def _backtrack(self) -> dict[str, Any]:
        return {"backtrack": self.backtrack or None, "reject_unstable": self.reject_unstable}


@register
class GradientConfig(_Descent):
    """``optimizer = "gradient"``: :func:`plastix.meta.gradient`, optax on the exact meta-gradient."""

    description = "gradient descent through the unrolled inner loop (optax)"
    legacy: ClassVar[dict[str, str]] = {
        "learning_rate": "learning_rate",
        "gradient_optimizer": "optax",
        "clip_norm": "clip_norm",
        "remat": "remat",
    }

    optimizer: Literal["gradient"] = "gradient"
    learning_rate: float = Field(0.01, gt=0, description="optax learning rate (the schedule's peak)")
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="learning rate over the generations: constant, or cosine decay to 0"
    )
    optax: Optax = Field("adam", description="optax optimiser name")
    clip_norm: float | None = Field(1.0, gt=0, description="global-norm clipping of the meta-gradient")
    remat: bool = Field(True, description="rematerialise inner steps (bounded memory)")

    def build(self, bounds) -> meta.MetaOptimizer:
        lr = self.learning_rate
        if self.schedule == "cosine":
            import optax

            lr = optax.cosine_decay_schedule(self.learning_rate, self.generations)
        return meta.gradient(lr, self.optax, self.clip_norm, **self._backtrack())

    def candidates(self, dim: int) -> int:
        return 1

    def loss_options(self) -> dict[str, Any]:
        return {"remat": self.remat}

    def stored(self, mem) -> int:
        # The backward pass keeps one state per inner step (steps / chunk + chunk with remat
        # and chunks); without remat every step's temporaries too.
        if not self.remat:
            return mem.steps * (mem.state + mem.step)
        if mem.chunk:
            return (mem.steps // mem.chunk + mem.chunk) * mem.state
        return mem.steps * mem.state

    def outer_memory(self, dim: int, episodes: int) -> int:
        return super().outer_memory(dim, episodes) + episodes * dim * 8  # per-episode cotangents


@register
class FiniteDifferenceConfig(_Descent):
    """``optimizer = "finite_difference"``: :func:`plastix.meta.finite_difference`, central differences."""

    description = "central finite differences of the meta-loss, one pair per coefficient (optax)"
    legacy: ClassVar[dict[str, str]] = {
        "learning_rate": "learning_rate",
        "fd_epsilon": "epsilon",
        "fd_optimizer": "optax",
        "fd_clip_norm": "clip_norm",
    }

    optimizer: Literal["finite_difference"] = "finite_difference"
    learning_rate: float = Field(0.01, gt=0, description="optax learning rate (in units of meta.scale)")
    epsilon: float = Field(0.05, gt=0, description="half-width of the central difference")
    optax: Optax = Field("adam", description="optax optimiser name")
    clip_norm: float | None = Field(None, gt=0, description="clip the estimate's norm")

    def build(self, bounds) -> meta.MetaOptimizer:
        return meta.finite_difference(
            self.learning_rate,
            self.epsilon,
            self.optax,
            self.clip_norm,
            scale=self.scale,
            bounds=bounds,
            **self._backtrack(),
        )

    def candidates(self, dim: int) -> int:
        return 2 * dim + 1

    def who(self, dim: int) -> str:
        return f"{2 * dim + 1} finite-difference thetas x "


@register
class EvosaxConfig(OptimizerSection):
    """``optimizer = "evosax"``: :func:`plastix.meta.evosax_es` (OpenAI-ES, PGPE, SNES, ...)."""

    description = "an evolution strategy of evosax (Open_ES, PGPE, SNES, Sep_CMA_ES, ...)"
    legacy: ClassVar[dict[str, str]] = {
        "popsize": "popsize",
        "sigma0": "sigma0",
        "es_strategy": "strategy",
        "learning_rate": "learning_rate",
        "es_optimizer": "optax",
    }

    optimizer: Literal["evosax"] = "evosax"
    popsize: int = Field(20, ge=2, description="candidates per generation (even: antithetic pairs)")
    sigma0: float = Field(0.1, gt=0, description="initial step size")
    strategy: str = Field("Open_ES", description="the strategy (Open_ES, PGPE, SNES, Sep_CMA_ES, ...)")
    learning_rate: float = Field(0.01, gt=0, description="optax learning rate of gradient-type strategies")
    optax: Optax = Field("adam", description="optax optimiser of gradient-type strategies")

    @model_validator(mode="after")
    def _es(self):
        try:
            strategies = meta.evosax_strategies()
        except ImportError as err:  # evosax is an extra
            raise ValueError(str(err)) from None
        if self.strategy not in strategies:
            raise ValueError(f"unknown evosax strategy {self.strategy!r}; allowed: {strategies}")
        if self.popsize % 2:
            raise ValueError(
                f"evosax strategies sample antithetic pairs: popsize must be even, got {self.popsize}"
            )
        return self

    def build(self, bounds) -> meta.MetaOptimizer:
        return meta.evosax_es(self.strategy, self.popsize, self.sigma0, self.learning_rate, self.optax)

    def candidates(self, dim: int) -> int:
        return self.popsize
