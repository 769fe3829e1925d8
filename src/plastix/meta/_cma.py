"""CMA-ES through pycma, with one jitted call per generation."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from plastix.meta._base import MetaOptimizer
from plastix.meta._population import Population, PreparedPopulation, prepare_population

if TYPE_CHECKING:
    import cma


class _Randn:
    """pycma's ``randn(lam, n)`` from a private generator, so the state pickles.

    pycma otherwise draws from numpy's global generator, which a checkpoint
    would have to capture separately to resume bit for bit.
    """

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


class CMAState(NamedTuple):
    es: cma.CMAEvolutionStrategy | _Restarts  # mutated in place by `tell`; pickled whole


_TOLD = object()  # fmin2's message that it has used the losses told


class _Restarts:
    """pycma's IPOP/BIPOP-CMA-ES (``cma.fmin2`` with ``restarts``) as ask/tell, one generation a call.

    pycma implements restarts with a growing population (Auger & Hansen 2005) and BIPOP's
    interleaved small populations (Hansen 2009) only inside ``fmin2``, which calls the objective
    itself. Here ``fmin2`` runs in a thread whose ``parallel_objective`` hands each population to
    :meth:`ask` and waits for :meth:`tell`, so that the generation loop stays plastix's (episodes,
    checkpoints, metrics). The state that pickles is what went in: the start, the options, the
    seed and the losses of every generation so far; unpickled, ``fmin2`` runs again from the start
    and is fed the recorded losses until it asks for a population it has not been told about,
    which repeats the run exactly (its randomness comes from the seeded options and
    :class:`_Randn`, drawn afresh from the seed).
    """

    def __init__(
        self, x0, sigma0: float, options: dict, seed: int, restarts: int, bipop: bool, incpopsize: float
    ):
        self.x0, self.sigma0, self.options, self.seed = x0, sigma0, options, seed
        self.restarts, self.bipop, self.incpopsize = restarts, bipop, incpopsize
        self.history: list[np.ndarray] = []  # the losses of every generation told
        self._reset()

    def __getstate__(self):
        keep = ("x0", "sigma0", "options", "seed", "restarts", "bipop", "incpopsize", "history")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def _reset(self):
        import queue

        self.es = None  # the current run's CMAEvolutionStrategy, from fmin2's init_callback
        self.runs = 0  # runs started so far (1 + restarts)
        self.done: str | None = None  # why fmin2 returned
        self._asked: queue.Queue = queue.Queue(1)
        self._told: queue.Queue = queue.Queue(1)
        self._replay = 0
        self._thread = None
        self._next: np.ndarray | None = None  # the population fmin2 asks for next
        self._go: queue.Queue = queue.Queue(1)
        self._live = False  # the generation in progress was asked for, not replayed
        self._paused = False  # fmin2 waits after a tell, so that its run can be read

    def _objective(self, xs):
        if self._replay < len(self.history):  # a generation from before the checkpoint
            self._replay += 1
            return list(self.history[self._replay - 1])
        self._live = True
        self._asked.put(np.asarray(xs))
        return list(self._told.get())

    def _after_tell(self, es):
        """fmin2's callback: after a generation told from :meth:`tell`, wait until the caller has
        read the run (its mean and step) and asks for more, before pycma restarts or samples."""
        if self._live:
            self._live = False
            self._asked.put(_TOLD)
            self._go.get()

    def _on_start(self, es):
        self.es = es
        self.runs += 1

    def _run(self):
        import cma

        if self.bipop:
            # BIPOP draws each small run's population and step from numpy's global generator
            # (pycma seeds it only when it samples with it too): seeded here, so that a run and
            # its replay after a checkpoint draw the same.
            np.random.seed(self.seed + 2)
        try:
            _, es = cma.fmin2(
                None,
                self.x0,
                self.sigma0,
                {**self.options, "randn": _Randn(self.seed)},
                parallel_objective=self._objective,
                restarts=self.restarts,
                bipop=self.bipop,
                incpopsize=self.incpopsize,
                init_callback=self._on_start,
                callback=self._after_tell,
            )
            why = ", ".join(es.stop(check=False))
            self._asked.put(f"CMA-ES restarts used up ({self.runs} runs; the last stopped by {why})")
        except BaseException as err:  # handed to the caller, in the main thread
            self._asked.put(err)

    def _wait(self):
        """What fmin2 says next: a population (kept for :meth:`ask`), that it used the losses told,
        or that it ended; raises what it raised."""
        got = self._asked.get()
        if isinstance(got, BaseException):
            raise got
        if isinstance(got, str):
            self.done = got
        elif isinstance(got, np.ndarray):
            self._next = got
        return got

    def _sync(self) -> None:
        """fmin2 running, and replayed up to the first population it has not been told about."""
        if self._thread is None:
            import threading

            self._thread = threading.Thread(target=self._run, daemon=True, name="pycma-fmin2")
            self._thread.start()
            self._wait()

    def _settle(self) -> None:
        """fmin2 past the last losses told: asking for the next population, or ended."""
        self._sync()
        if self._paused:
            self._paused = False
            self._go.put(None)
            self._wait()

    def ask(self) -> np.ndarray:
        self._settle()
        if self._next is None:
            raise RuntimeError(self.done or "CMA-ES has no population to score")
        xs, self._next = self._next, None
        return xs

    def tell(self, losses: np.ndarray) -> None:
        """The losses of the population :meth:`ask` gave. Until the next :meth:`ask` or
        :meth:`stopped`, :attr:`es` is the run they were told to (its mean, its step)."""
        self.history.append(np.asarray(losses, np.float64))
        self._replay = len(self.history)
        self._told.put(self.history[-1])
        if self._wait() is _TOLD:  # else fmin2 ended or failed while telling
            self._paused = True

    def stopped(self) -> str | None:
        self._settle()
        return self.done

    @property
    def mean(self):
        self._sync()
        return self.es.mean

    @property
    def sigma(self):
        self._sync()
        return self.es.sigma

    @property
    def sm(self):
        self._sync()
        return self.es.sm


def _evaluate(prepared: PreparedPopulation, xs: np.ndarray, key, chunk: int):
    """Losses ``[P]`` and metrics of ``xs``, scored ``chunk`` at a time (the last chunk padded with
    copies of its last row), so that a restart's larger population compiles nothing new and needs no
    more memory than the first."""
    n = len(xs)
    pad = -n % chunk
    padded = np.concatenate([xs, np.repeat(xs[-1:], pad, axis=0)]) if pad else xs
    parts = [
        prepared.evaluate(jnp.asarray(padded[i : i + chunk], prepared.dtype), key)
        for i in range(0, len(padded), chunk)
    ]
    losses = np.concatenate([np.asarray(p[0], np.float64) for p in parts])[:n]
    metrics = {k: np.concatenate([np.asarray(p[1][k]) for p in parts])[:n] for k in ("task_loss", "unstable")}
    return losses, metrics


def cma_es(
    popsize: int = 20,
    sigma0: float = 0.1,
    options: dict | None = None,
    restarts: int = 0,
    bipop: bool = False,
    incpopsize: float = 2.0,
) -> MetaOptimizer:
    """CMA-ES (Hansen & Ostermeier 2001) via pycma's ask/tell interface.

    Args:
        popsize: candidates per generation (pycma's ``popsize``).
        sigma0: initial step size, in units of theta.
        options: further pycma options (e.g. ``{"CMA_diagonal": True}`` for
            sep-CMA in high dimension, ``"bounds"``; a run restarts when one of
            pycma's termination criteria holds: ``tolstagnation``, ``tolfun``, ...).
        restarts: with more than 0, IPOP-CMA-ES (Auger & Hansen 2005): when a run
            stalls (pycma's termination criteria), pycma starts it again from the
            start with ``incpopsize`` times the population, up to ``restarts``
            times; a generation is one iteration of the current run, its population
            scored ``popsize`` at a time. When every restart is used up the outer
            loop stops (``stopped``).
        bipop: BIPOP-CMA-ES (Hansen 2009): restarts alternate between the growing
            population and short runs with a small one and a smaller step.
        incpopsize: the population's factor per restart.
    """

    def init(theta0, seed):
        import cma  # here, not above: pycma imports scipy.stats and pyplot (~1 s at start-up)

        x0 = np.asarray(ravel_pytree(theta0)[0], np.float64)
        opts = {"popsize": popsize, "randn": _Randn(seed), "verbose": -9, "seed": seed + 1}
        opts.update(options or {})
        if restarts:
            # fmin2 would otherwise log to outcmaes/ and evaluate the final mean on its own.
            del opts["randn"]  # drawn afresh from the seed whenever fmin2 (re)starts
            opts.update(verb_log=0, verb_disp=0, eval_final_mean=False)
            return CMAState(_Restarts(x0, sigma0, opts, seed, restarts, bipop, incpopsize))
        return CMAState(cma.CMAEvolutionStrategy(x0, sigma0, opts))

    def step(state, prepared: PreparedPopulation, key):
        xs = np.asarray(state.es.ask())
        losses, metrics = _evaluate(prepared, xs, key, popsize)
        if restarts:
            state.es.tell(losses)
        else:
            state.es.tell(list(xs), list(losses))
        unstable = np.asarray(metrics["unstable"])
        out = {
            "loss_best": float(losses.min()),
            "loss_mean": float(losses.mean()),
            "task_loss_best": float(np.asarray(metrics["task_loss"]).min()),
            "n_unstable": int((unstable > 0).sum()),
            "sigma": float(state.es.sigma),
        }
        if restarts:
            out.update(popsize=len(xs), run=state.es.runs)
        return state, out

    def stopped(state) -> str | None:
        return state.es.stopped() if isinstance(state.es, _Restarts) else None

    def theta(state, prepared: PreparedPopulation):
        return prepared.unravel(jnp.asarray(state.es.mean, prepared.dtype))

    def prepare(loss_fn, template, population: Population = prepare_population):
        return population(loss_fn, template)

    def result(state, prepared: PreparedPopulation):
        # The search distribution N(mean, sigma^2 C) over the flat theta: its mean and the
        # standard deviation of each coordinate, sigma sqrt(C_ii).
        es = state.es
        return {"mean": np.asarray(es.mean), "stds": np.asarray(es.sigma * np.sqrt(es.sm.variances))}

    return MetaOptimizer(prepare, init, step, theta, result, stopped)
