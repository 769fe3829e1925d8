"""The task sections shipped with plastix: ``[task]`` of each task kind, and the data they read."""

from __future__ import annotations

import functools
import math
import os
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, field_validator

from plastix import networks, tasks
from plastix.experiment._datasets import EMNIST_ENV, digits, emnist
from plastix.experiment._errors import SEED_LIMIT, UserError
from plastix.experiment.components._base import Footprint, TaskSection, itemsize, register
from plastix.experiment.components.networks import in_section

MAX_STEPS = 2**31 - 1  # the LIF neuron counts its steps in int32


@register
class PcaTaskConfig(TaskSection):
    """``kind = "pca"``: Gaussian datasets and the subspace loss of :func:`plastix.tasks.pca`."""

    description = "Gaussian datasets; loss: distance of the learned map to the principal components"
    tiny: ClassVar[dict] = {"steps": 10, "batch": 20, "episodes": 2, "heldout_episodes": 2}
    requires = ("linear_map",)

    kind: Literal["pca"] = "pca"
    steps: int = Field(100, ge=1, description="inner steps per episode")
    batch: int = Field(200, ge=1, description="samples per inner step")
    spectrum_scale: float = Field(2.0, gt=0, description="largest eigenvalue")
    spectrum_decay: float = Field(0.7, gt=0, le=1, description="ratio of consecutive eigenvalues")
    scale_spread: float = Field(1.0, ge=1, description="each dataset's spectrum scaled by U_log[1/s, s]")
    samples: int = Field(0, ge=0, description="points per dataset (minibatches drawn from them); 0: stream")
    episodes: int = Field(20, ge=1, description="training datasets per generation")
    heldout_episodes: int = Field(50, ge=1, description="fresh datasets for the final score")
    resample: bool = Field(False, description="draw fresh training datasets every generation")

    def footprint(self, cfg) -> Footprint:
        """Per dataset: the ``N x N`` rotation, its points and a step's batch of inputs ``[batch, N]``."""
        n_in = cfg.network.n_in
        what = f"batches of {self.batch} x {n_in} inputs"
        if self.samples:
            what += f", datasets of {self.samples} points"
        return Footprint((n_in**2 + self.samples * n_in + self.batch * n_in) * itemsize(cfg), what=what)

    def inner_steps(self, cfg) -> int:
        return self.steps

    def step_batch(self, cfg) -> int:
        return self.batch

    def check(self, cfg) -> None:
        n = cfg.network
        if 0 < self.samples < n.n_in:
            raise ValueError(f"task.samples ({self.samples}) must be 0 or >= network.n_in ({n.n_in})")

    def tasks(self, cfg) -> tuple[tasks.Task, None]:
        n = cfg.network
        task = tasks.pca(
            n.n_in,
            n.n_out,
            num_steps=self.steps,
            batch=self.batch,
            scale=self.spectrum_scale,
            decay=self.spectrum_decay,
            scale_spread=self.scale_spread,
            samples=self.samples,
        )
        return task, None


@register
class TargetRateTaskConfig(TaskSection):
    """``kind = "target_rate"``: :func:`plastix.tasks.target_rate`, hold a spiking neuron at a rate.

    Times in seconds, rates in Hz; the neuron's sizes and ``dt`` come from ``[network]``.
    """

    description = "tuned Poisson input groups; loss: the neuron's rate against a target rate"
    tiny: ClassVar[dict] = {
        "train_time": 0.02, "score_time": 0.02, "window": 0.01, "bin_size": 0.01, "chunk": 50,
        "episodes": 2, "heldout_episodes": 2,
    }  # fmt: skip
    requires = ("spikes", "afferent_groups")

    kind: Literal["target_rate"] = "target_rate"
    train_time: float = Field(60.0, gt=0, description="simulated training time with plasticity, s")
    score_time: float = Field(30.0, gt=0, description="scoring phase after training, s")
    window: float = Field(10.0, gt=0, description="scored window (random start inside the scoring phase), s")
    target: float = Field(5.0, gt=0, description="target postsynaptic rate r_tg, Hz")
    bin_size: float = Field(1.0, gt=0, description="spike-count bin, s (window and times are multiples)")
    baseline: float = Field(5.0, ge=0, description="input rate floor, Hz")
    peak_rate: float = Field(50.0, ge=0, description="input rate added at a signal's peak, Hz")
    tau_input: float = Field(0.05, gt=0, description="time constant of the input signals, s")
    rate_dt: float = Field(1e-3, gt=0, description="grid of the input rates, s")
    sparsify: bool = Field(True, description="remove every second input bump (Vogels et al. 2011)")
    chunk: int = Field(1000, ge=1, description="inner steps whose input spikes are drawn at once")
    episodes: int = Field(4, ge=1, description="training datasets (input rate draws) per generation")
    heldout_episodes: int = Field(8, ge=1, description="fresh datasets for the final score")
    resample: bool = Field(True, description="draw fresh training datasets every generation")

    def arguments(self, n) -> dict[str, Any]:
        """Keyword arguments of :func:`plastix.tasks.target_rate` from this section and ``[network]``."""
        return dict(
            train_time=self.train_time,
            score_time=self.score_time,
            window=self.window,
            target=self.target,
            dt=n.dt,
            bin_size=self.bin_size,
            n_exc=n.n_exc,
            n_inh=n.n_inh,
            n_groups=n.n_groups,
            baseline=self.baseline,
            peak_rate=self.peak_rate,
            tau_input=self.tau_input,
            rate_dt=self.rate_dt,
            sparsify=self.sparsify,
        )

    def check_steps(self, n) -> None:
        """The times in steps of ``dt``, before any builder (or a memory estimate) rounds them: a
        count past int32 would wrap the neuron's step counter, and one past a float's range fails
        in ``round``."""
        for name, value in (
            ("task.train_time + task.score_time", self.train_time + self.score_time),
            ("task.bin_size", self.bin_size),
            ("task.rate_dt", self.rate_dt),
            ("network.params.t_ref", {**networks.VOGELS_2011, **n.params}["t_ref"]),
        ):
            if not value / n.dt <= MAX_STEPS:
                raise ValueError(
                    f"{name} ({value:g} s) is {value / n.dt:.3g} steps of network.dt ({n.dt:g} s); "
                    f"at most {MAX_STEPS} (the step counter is int32)"
                )

    def footprint(self, cfg) -> Footprint:
        """Per dataset: the input rates ``[steps / rate_dt, groups]`` and one chunk's spikes with their
        thinning candidates; per candidate the spike-count bins it records."""
        self.check_steps(cfg.network)  # footprints run before the checks: the counts below must be finite
        n = cfg.network
        aff = n.n_exc + n.n_inh
        steps = self.inner_steps(cfg)
        rates = -(-steps // max(round(self.rate_dt / n.dt), 1)) * n.n_groups
        # No more bins than steps: the builder refuses a bin_size that is no multiple of dt.
        bins = round(min((self.train_time + self.score_time) / self.bin_size, steps))
        b = itemsize(cfg)
        what = f"{steps} steps of {n.dt:g} s in chunks of {self.chunk}"
        return Footprint((rates + 3 * self.chunk * aff) * b, bins * b, what=what)

    def inner_steps(self, cfg) -> int:
        self.check_steps(cfg.network)  # a count past a float's range has no round()
        return round((self.train_time + self.score_time) / cfg.network.dt)

    def input_chunk(self, cfg) -> int | None:
        return self.chunk

    def check(self, cfg) -> None:
        self.check_steps(cfg.network)
        silent = self.target * self.target / 0.1  # target**2 would raise OverflowError where this is inf
        if cfg.meta.unstable_loss <= silent:
            raise ValueError(
                f"meta.unstable_loss ({cfg.meta.unstable_loss}) must exceed the loss of a silent neuron "
                f"({silent:g}), e.g. 300 for target = 5 Hz"
            )

    def loss_options(self, cfg) -> dict[str, Any]:
        return {"chunk": self.chunk}

    def tasks(self, cfg) -> tuple[tasks.Task, None]:
        # The builder checks the time grid (multiples of dt and bin_size, window inside
        # the scoring phase, input rates below 1 / dt); its one-line messages name the section.
        task = in_section("task", tasks.target_rate, **self.arguments(cfg.network))
        if task.num_steps % self.chunk:
            raise ValueError(f"task.chunk ({self.chunk}) must divide the {task.num_steps} inner steps")
        return task, None


@register
class NetworkStabilityTaskConfig(TaskSection):
    """``kind = "network_stability"``: :func:`plastix.tasks.network_stability`, keep a recurrent
    network in a stable asynchronous irregular state (after SpikES and fSBI).

    Times in seconds, rates in Hz; sizes, plastic pathways, ``dt`` and ``w_max`` come from
    ``[network]``. Every episode draws a new network (its synapses) and, with Poisson
    inputs, their rate.
    """

    description = "loss: a recurrent network's E rate at a target, irregular spiking, settled weights"
    tiny: ClassVar[dict] = {
        "train_time": 0.02, "score_time": 0.02, "bin_time": 0.01, "fano_bin": 0.01,
        "episodes": 2, "heldout_episodes": 2,
    }  # fmt: skip
    requires = ("recurrent",)

    kind: Literal["network_stability"] = "network_stability"
    train_time: float = Field(2.0, gt=0, description="simulated time with plasticity before scoring, s")
    score_time: float = Field(1.0, gt=0, description="scored window (plasticity on), s")
    bin_time: float = Field(0.01, gt=0, description="population-rate bin, s (one chunk of the unroll)")
    fano_bin: float = Field(0.1, gt=0, description="spike-count bin of the Fano factors, s")
    ext_rate: list[float] = Field([5.0, 15.0], description="Poisson input rate range, Hz (drawn per episode)")
    target_rate: float = Field(5.0, gt=0, description="target E rate, Hz")
    cv_min: float = Field(0.7, gt=0, description="CV of ISIs asked for (at least)")
    creep_max: float = Field(0.05, gt=0, description="weight creep allowed over the window")
    blow_loss: float = Field(
        200.0, gt=0, description="loss of a run the guard stops at once (3/4 of it if it holds to the end)"
    )
    episodes: int = Field(2, ge=1, description="training episodes (network draws) per generation")
    heldout_episodes: int = Field(8, ge=1, description="fresh networks and inputs for the final score")
    resample: bool = Field(True, description="draw fresh networks every generation")

    @field_validator("ext_rate")
    @classmethod
    def _range(cls, v):
        if len(v) != 2 or not 0 <= v[0] <= v[1]:
            raise ValueError(f"ext_rate must be [lo, hi] with 0 <= lo <= hi, got {v}")
        return v

    def steps(self, cfg) -> tuple[int, int]:
        """Inner steps per episode and per bin."""
        dt = cfg.network.dt
        for name, value in (
            ("task.train_time + task.score_time", self.train_time + self.score_time),
            ("task.bin_time", self.bin_time),
            ("task.fano_bin", self.fano_bin),
        ):
            if not value / dt <= MAX_STEPS:  # a count past int32 would wrap the step counter
                raise ValueError(f"{name} is {value / dt:.3g} steps of network.dt; at most {MAX_STEPS}")
        return round((self.train_time + self.score_time) / dt), max(round(self.bin_time / dt), 1)

    def footprint(self, cfg) -> Footprint:
        """The episode's input rate and one chunk's input spikes; per candidate the recorder's
        per-neuron sums and per-bin rates and weight samples."""
        n = cfg.network
        steps, chunk = self.steps(cfg)
        b = itemsize(cfg)
        bins = steps // chunk
        neurons = n.n_exc + n.n_inh
        per_bin = 2 + len(n.plastic) * 201
        # Per episode: its input rate and one chunk's input spikes.
        return Footprint(
            (1 + chunk * n.n_ext) * b, (10 * neurons + bins * per_bin) * b, 0, what=f"{steps} steps"
        )

    def inner_steps(self, cfg) -> int:
        return self.steps(cfg)[0]

    def input_chunk(self, cfg) -> int | None:
        return self.steps(cfg)[1]

    def loss_options(self, cfg) -> dict[str, Any]:
        return {"chunk": self.steps(cfg)[1]}

    def check(self, cfg) -> None:
        n = cfg.network
        t_ref = {**networks.VOGELS_2011, **n.params}["t_ref"]
        # The highest E rate a run that is not stopped can reach: the guard's bound, else 1 / t_ref.
        hi = n.rate_range[1] if n.rate_range is not None else (1.0 / t_ref if t_ref > 0 else math.inf)
        r = self.target_rate
        try:
            worst = max((hi - r) ** 2 / (hi + 2.0), r * r / 2.0) + 1 + 1 + 2 / self.creep_max
        except OverflowError:  # a bound near the float range: no finite loss bounds it
            worst = math.inf
        if 0.75 * self.blow_loss <= worst:
            raise ValueError(
                f"task.blow_loss ({self.blow_loss}) x 3/4 must exceed the largest loss of a run that is not "
                f"stopped ({worst:.4g}: E rate at {hi:g} Hz, regular, weights at bounds and creeping)"
            )
        if cfg.meta.unstable_loss <= self.blow_loss:
            raise ValueError(
                f"meta.unstable_loss ({cfg.meta.unstable_loss}) must exceed task.blow_loss ({self.blow_loss})"
            )

    def tasks(self, cfg) -> tuple[tasks.Task, None]:
        n = cfg.network
        task = in_section(
            "task",
            tasks.network_stability,
            n.n_exc,
            n.n_inh,
            tuple(n.plastic),
            {q: n.w_max for q in n.plastic},
            train_time=self.train_time,
            score_time=self.score_time,
            dt=n.dt,
            bin_time=self.bin_time,
            fano_bin=self.fano_bin,
            n_ext=n.n_ext,
            ext_rate=tuple(self.ext_rate),
            target_rate=self.target_rate,
            cv_min=self.cv_min,
            creep_max=self.creep_max,
            blow_loss=self.blow_loss,
        )
        return task, None


# [classes, images per class (the smallest class's count), pixels] of each dataset, so a
# config is checked without reading the data (EMNIST balanced: 2400 training images per
# class; user files with fewer are accepted as long as shots + queries fit).
SHAPES = {"digits": (10, 174, 64), "emnist": (47, 2400, 784)}


@functools.lru_cache(maxsize=2)
def _grouped(dataset: str, where: str | None) -> np.ndarray:
    """``[C, n, D]`` images by class, once per process and dataset (every task of a run shares it)."""
    images, labels = digits() if dataset == "digits" else emnist(where)
    return tasks.by_class(images, labels)[0]


def _angle(a: jax.Array, b: jax.Array) -> jax.Array:
    cos = jnp.sum(a * b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b) + 1e-12)
    return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


def alignment(beta: float, feedback: str):
    """Query-set metrics: per hidden layer ``l``, the angle between the feedback error ``e_l`` and
    backprop's (``angle_error_<l>``), and between ``B_l`` and ``W_{l+1}^T`` (``angle_wb_<l>``; not
    for direct feedback); degrees, 90 = unaligned, 0 = backprop."""

    def metrics(state, x, y):
        w, fb = state.w["ff"], state.aux["feedback"]
        ys, logits = networks.mlp_forward(w, x, beta)
        errs = networks.mlp_errors(w, fb, ys, logits, y, beta, feedback)
        bp = networks.mlp_errors(w, (), ys, logits, y, beta, "symmetric")
        out = {}
        for l in range(1, len(w)):
            out[f"angle_error_{l}"] = _angle(errs[l], bp[l])
            if feedback == "random":
                out[f"angle_wb_{l}"] = _angle(fb[l], w[l].T)
        return out

    return metrics


@register
class FewShotTaskConfig(TaskSection):
    """``kind = "few_shot"``: :func:`plastix.tasks.few_shot` on a dataset's classes, learned online."""

    description = "few-shot classification learned online; held-out episodes from unseen classes"
    tiny: ClassVar[dict] = {
        "ways": 3,
        "shots": 4,
        "queries": 3,
        "meta_test_classes": 3,
        "heldout_episodes": 2,
    }
    requires = ("classifier",)

    kind: Literal["few_shot"] = "few_shot"
    dataset: Literal["digits", "emnist"] = Field("digits", description="digits (bundled) or emnist (files)")
    data_dir: str | None = Field(
        None, description="emnist: directory of the IDX files (else $PLASTIX_EMNIST)"
    )
    ways: int = Field(5, ge=2, description="classes per episode M")
    shots: int = Field(50, ge=1, description="training images per class K (online, one per step)")
    queries: int = Field(10, ge=1, description="query images per class Q")
    split: bool = Field(True, description="meta-test classes disjoint from meta-training ones")
    meta_test_classes: int = Field(5, ge=1, description="classes held out for meta-testing (with split)")
    split_seed: int = Field(
        0, ge=0, lt=SEED_LIMIT, description="seed of the class split (fixed across run seeds)"
    )
    episodes: int = Field(1, ge=1, description="episodes per meta-step")
    heldout_episodes: int = Field(50, ge=1, description="meta-test episodes for the final score")
    resample: bool = Field(True, description="fresh episodes every meta-step")

    def data(self) -> np.ndarray:
        """``[classes, images, pixels]``, read once per process; :class:`UserError` when unreadable."""
        data = _grouped(self.dataset, self.data_dir or os.environ.get(EMNIST_ENV))
        n_classes, _, pixels = SHAPES[self.dataset]
        if data.shape[0] != n_classes or data.shape[2] != pixels or data.shape[1] < self.shots + self.queries:
            raise UserError(
                f"{self.dataset}: {data.shape[0]} classes of {data.shape[1]} images of {data.shape[2]} "
                f"pixels; need {n_classes} classes of >= {self.shots + self.queries} images "
                f"of {pixels} pixels"
            )
        return data

    def ready(self, cfg) -> None:
        """The dataset can be read (EMNIST: the IDX files are where the config says)."""
        self.data()

    def pools(self) -> tuple[np.ndarray, np.ndarray]:
        """Meta-training and meta-test class pools; without ``split`` both are every class."""
        n_classes = SHAPES[self.dataset][0]
        if not self.split:
            every = np.arange(n_classes)
            return every, every
        return tasks.split_classes(n_classes, self.meta_test_classes, self.split_seed)

    def check(self, cfg) -> None:
        n = cfg.network
        n_classes, n_per, pixels = SHAPES[self.dataset]
        if n.sizes[0] != pixels:
            raise ValueError(
                f"network.sizes starts with {n.sizes[0]} inputs; {self.dataset} images have {pixels}"
            )
        if self.shots + self.queries > n_per:
            raise ValueError(
                f"task.shots + task.queries ({self.shots + self.queries}) exceed {n_per} "
                f"({self.dataset} images per class)"
            )
        if self.split and self.meta_test_classes >= n_classes:
            raise ValueError(
                f"task.meta_test_classes ({self.meta_test_classes}) must be below the {n_classes} classes"
            )
        if n.sizes[-1] < self.ways:
            raise ValueError(f"network.sizes ends in {n.sizes[-1]} outputs; task.ways is {self.ways}")
        if self.split and self.ways > self.meta_test_classes:
            raise ValueError(
                f"task.ways ({self.ways}) exceeds task.meta_test_classes ({self.meta_test_classes}): "
                "meta-test episodes could not be drawn"
            )

    def footprint(self, cfg) -> Footprint:
        """Per episode its images ``[ways (shots + queries), pixels]``; the query set's activity when
        scored; once, the dataset."""
        s = cfg.network.sizes
        classes, per_class, pixels = SHAPES[self.dataset]
        b = itemsize(cfg)
        what = f"{self.ways * self.shots} steps, episodes of {self.ways * (self.shots + self.queries)} images"
        images = self.ways * (self.shots + self.queries)
        scoring = self.ways * self.queries * sum(s)
        return Footprint(images * s[0] * b, 0, scoring * b, classes * per_class * pixels * 4, what)

    def inner_steps(self, cfg) -> int:
        return self.ways * self.shots

    def input_chunk(self, cfg) -> int | None:
        return max(math.isqrt(self.inner_steps(cfg)), 1)

    def loss_options(self, cfg) -> dict[str, Any]:
        # Inputs drawn a chunk at a time (few_shot's stream needs no key, so the episode is the
        # same): with remat the meta-gradient then keeps ~2 sqrt(steps) carries, not one per step.
        return {"chunk": tasks.sqrt_chunk(self.ways * self.shots)}

    def tasks(self, cfg, feedback: str | None = None) -> tuple[tasks.Task, tasks.Task]:
        """Meta-training and meta-test tasks; their alignment metrics are those of ``feedback``
        (default: the network's), which must be the feedback of the network they score."""
        n = cfg.network
        shape = SHAPES[self.dataset]
        train_pool, test_pool = self.pools()
        mode = feedback or n.feedback

        def predict(state, x):
            return networks.mlp_forward(state.w["ff"], x, n.beta)[1]

        def task(pool):
            return tasks.few_shot(
                self.data, pool, predict, self.ways, self.shots, self.queries, alignment(n.beta, mode), shape
            )

        return task(train_pool), task(test_pool)


DIGITS = (64, 10)  # pixels and classes of scikit-learn's digits


@register
class SupervisedTaskConfig(TaskSection):
    """``kind = "supervised"``: :func:`plastix.tasks.teacher` or ``labelled`` (digits), one sample a step."""

    description = "online regression of a teacher network, or the digits; loss: test MSE"
    tiny: ClassVar[dict] = {
        "samples": 8, "test_samples": 10, "episodes": 2, "heldout_episodes": 2, "shared_generations": 2,
        "curve_episodes": 2,
    }  # fmt: skip
    requires = ("regressor",)

    kind: Literal["supervised"] = "supervised"
    problem: Literal["teacher", "digits"] = Field("teacher", description="teacher regression or the digits")
    setting: Literal["fixed", "family"] = Field(
        "fixed", description="teacher: one fixed teacher, or a new teacher per episode (digits: fixed)"
    )
    teacher_hidden: int = Field(0, ge=0, description="hidden units of the teacher (0: linear teacher)")
    teacher_gain: float = Field(2.0, gt=0, description="gain of the teacher's hidden layer")
    teacher_seed: int | None = Field(
        None,
        ge=0,
        lt=SEED_LIMIT,
        description="the seed of the fixed teacher and of the inputs' statistics (default: seed)",
    )
    noise: float = Field(0.0, ge=0, description="sd of the noise on training targets")
    input_spread: float = Field(
        1.0,
        ge=1,
        description="teacher: input variances spread log-uniformly over this ratio (10: a decade), drawn "
        "once from the teacher's seed and common to every episode",
    )
    input_correlation: float = Field(
        0.0, ge=0, lt=1, description="teacher: correlation of every pair of inputs (one shared factor)"
    )
    samples: int = Field(100, ge=1, description="training samples per episode, one per inner step")
    test_samples: int = Field(200, ge=1, description="test samples per episode (the loss)")
    heldout_fraction: float = Field(
        0.3, gt=0, lt=1, description="digits: images held out for the final score"
    )
    split_seed: int = Field(0, ge=0, lt=SEED_LIMIT, description="digits: seed of the held-out split")
    objective: Literal["task", "trajectory"] = Field(
        "task", description="meta-loss: test MSE after training, or distance to gradient descent's weights"
    )
    gd_learning_rate: float | None = Field(
        None, gt=0, description="gradient descent's step (W += lr e x^T); None: tuned on a grid"
    )
    shared_generations: int = Field(
        40, ge=0, description="CMA-ES generations of the shared-coefficient baseline (per-synapse runs)"
    )
    curve_episodes: int = Field(8, ge=1, description="held-out episodes of the learning-curve figure")
    episodes: int = Field(16, ge=1, description="training episodes per generation")
    heldout_episodes: int = Field(50, ge=1, description="fresh episodes for the final score")
    resample: bool = Field(True, description="fresh episodes every generation")

    def check(self, cfg) -> None:
        n = cfg.network
        if self.problem == "digits":
            if (n.sizes[0], n.sizes[-1]) != DIGITS:
                raise ValueError(f"digits need network.sizes from 64 inputs to 10 outputs, got {n.sizes}")
            if self.setting == "family":
                raise ValueError("task.setting = 'family' is for teachers; the digits are one fixed problem")
        if self.objective == "trajectory" and self.gd_learning_rate is None:
            raise ValueError(
                "task.objective = 'trajectory' needs task.gd_learning_rate (gradient descent's step)"
            )

    def footprint(self, cfg) -> Footprint:
        """Per episode its training and test samples (and a teacher of its own); per candidate the
        gradient-descent twin's weights with the trajectory objective; the test set's activity when
        scored; once, the digits."""
        s = cfg.network.sizes
        synapses = sum(a * b for a, b in zip(s[1:], s[:-1], strict=False))
        data = (self.samples + self.test_samples) * (s[0] + s[-1])
        if self.problem == "teacher" and self.setting == "family":
            hidden = self.teacher_hidden
            data += hidden * (s[0] + s[-1]) if hidden else s[0] * s[-1]
        twin = synapses if self.objective == "trajectory" else 0
        b = itemsize(cfg)
        fixed = 1797 * (DIGITS[0] + 1) * 4 if self.problem == "digits" else 0  # scikit-learn's 1797 digits
        what = f"{self.samples} + {self.test_samples} samples"
        return Footprint(data * b, twin * b, self.test_samples * sum(s) * b, fixed, what)

    def inner_steps(self, cfg) -> int:
        return self.samples

    def input_scales(self, key, n_in: int):
        """Each input's sd, ``spread^((u_j - 1/2) / 2)`` with ``u_j ~ U(0, 1)`` from ``key`` (its
        variances then span at most ``input_spread``); ``None`` without a spread."""
        if self.input_spread == 1.0:
            return None
        u = jax.random.uniform(jax.random.fold_in(key, 1), (n_in,))
        return self.input_spread ** ((u - 0.5) / 2)

    def digit_pools(self):
        """Training and held-out ``(images, labels)`` of the digits, split by ``split_seed``."""
        x, y = digits()
        perm = np.random.default_rng(self.split_seed).permutation(len(y))
        n_held = int(round(self.heldout_fraction * len(y)))
        held, train = perm[:n_held], perm[n_held:]
        return (x[train], y[train]), (x[held], y[held])

    def tasks(self, cfg, objective: str | None = None) -> tuple[tasks.Task, tasks.Task | None]:
        """The training task and (digits) the held-out one; ``objective`` defaults to the section's."""
        n = cfg.network
        obj = objective or self.objective
        names = networks.layer_names(len(n.sizes) - 1)
        # The trajectory objective: gradient descent on the same samples, recorded beside the network.
        twin = tasks.gradient_twin(n.sizes, self.gd_learning_rate) if obj == "trajectory" else None

        def predict(state, x):
            return networks.clamped_forward([state.w[p] for p in names], x)[0][-1]

        if self.problem == "digits":
            (xt, yt), (xh, yh) = self.digit_pools()

            def make(x, y):
                return tasks.labelled(x, y, DIGITS[1], predict, self.samples, self.test_samples, obj, twin)

            return make(xt, yt), make(xh, yh)
        key = jax.random.PRNGKey(cfg.seed if self.teacher_seed is None else self.teacher_seed)
        fixed = key if self.setting == "fixed" else None
        shape = (n.sizes[0], n.sizes[-1])
        task = tasks.teacher(
            *shape, predict, self.teacher_hidden, self.teacher_gain, self.samples, self.test_samples,
            self.noise, fixed, obj, twin, self.input_scales(key, shape[0]), self.input_correlation,
        )  # fmt: skip
        return task, None
