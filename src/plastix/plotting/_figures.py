"""Matplotlib plots from arrays, drawn into given axes or a new figure; nothing is shown.

Every function takes ``ax`` (a one-panel plot) or ``axes`` (one with several
panels, in the shape it documents) and returns what it drew into, so a figure
can be composed of several plots; without them it makes its own figure of a
suitable size. :func:`figure_of` gives the figure to save.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # figures are written to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def figure_of(drawn):
    """The :class:`matplotlib.figure.Figure` of what a plot function returned (Axes, or an array)."""
    return np.ravel(np.asarray(drawn, dtype=object))[0].figure


def _panels(axes, rows: int, cols: int, figsize, **kwargs) -> tuple[np.ndarray, bool]:
    """``axes`` as a ``[rows, cols]`` array, or a new figure's; and whether the figure is new."""
    if axes is None:
        return plt.subplots(rows, cols, figsize=figsize, squeeze=False, **kwargs)[1], True
    axes = np.asarray(axes, dtype=object)
    if axes.size != rows * cols:
        raise ValueError(f"need {rows * cols} axes ({rows} x {cols}), got {axes.size}")
    return axes.reshape(rows, cols), False


def _done(drawn, new: bool):
    if new:
        figure_of(drawn).tight_layout()
    return drawn


MAX_LABELLED = 6  # coefficient plots name at most this many terms; the rest are "other terms"


def _largest(final: np.ndarray, keep: float = 0.05, most: int = MAX_LABELLED) -> list[int]:
    """Indices of the largest final coefficients (at least ``keep`` times the largest; at most
    ``most``), largest first: the terms a printed rule shows."""
    c = np.abs(np.nan_to_num(np.asarray(final, np.float64)))
    big = c.max() if c.size else 0.0
    return [int(i) for i in np.argsort(-c, kind="stable") if big > 0 and c[i] >= keep * big][:most]


def coefficients(
    generations: np.ndarray,
    theta: Mapping[str, np.ndarray],
    names: Mapping[str, Sequence[str]],
    references: Mapping[str, tuple[str, np.ndarray]],
    axes=None,
):
    """Coefficient trajectories per rule, one panel each (``axes``: one per projection).

    In colour and named in the legend: the terms of the reference rule and the
    largest final terms (those a printed rule shows); the others in grey, as
    "other terms". Dotted lines mark the reference coefficients scaled by ``c``,
    the least-squares scale of the final rule onto the reference (a rule is only
    defined up to its learning rate).

    Args:
        generations: ``[G]``.
        theta: projection -> ``[G, K]`` coefficient trajectory (the ES mean).
        names: projection -> ``K`` names of the terms, as the printed rule writes them (``y²·w``).
        references: projection -> (reference name, ``[K]`` reference theta).
    """
    axes, new = _panels(axes, 1, len(theta), (6.5 * len(theta), 4.2))
    for ax, (p, traj) in zip(axes[0], sorted(theta.items()), strict=True):
        ref_name, ref = references.get(p, (None, np.zeros(traj.shape[1])))
        c = float(traj[-1] @ ref / (ref @ ref)) if np.any(ref) else 0.0
        coloured = [k for k in range(len(ref)) if ref[k] != 0]
        coloured += [k for k in _largest(traj[-1]) if k not in coloured]
        grey = [k for k in range(traj.shape[1]) if k not in coloured]
        for k in grey:  # first, so that the named terms are drawn over them
            label = "other terms" if k == grey[0] else None
            ax.plot(generations, traj[:, k], color="0.75", lw=0.8, label=label)
        for i, k in enumerate(coloured):
            label = names[p][k] + (f" ({ref_name} {ref[k]:+g})" if ref[k] != 0 else "")
            ax.plot(generations, traj[:, k], color=f"C{i % 10}", lw=2.0, label=label)
            if ref[k] != 0:
                ax.axhline(c * ref[k], color=f"C{i % 10}", ls=":", lw=1)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("generation")
        ax.set_ylabel("coefficient")
        title = f"rule '{p}'"
        if np.any(ref):
            title += f"; dotted: {ref_name} × {c:.3g} (least-squares scale)"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="best")
    return _done(axes, new)


def _guides(ax, values: Sequence[np.ndarray], guides: Sequence[float]) -> list[float]:
    """Dotted horizontal lines at ``guides`` that lie within the range of ``values``; those drawn."""
    finite = [v[np.isfinite(v)] for v in values]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    if not finite.size:
        return []
    drawn = [g for g in guides if finite.min() <= g <= finite.max()]
    for g in drawn:
        ax.axhline(g, color="0.6", ls=":", lw=1)
    return drawn


LOSS_LABELS = {
    "loss_best": "best candidate",
    "loss_mean": "population mean",
    "validation_loss": "validation (other episodes)",
}


def loss_and_angles(
    generations: np.ndarray,
    losses: Mapping[str, np.ndarray],
    angles: Mapping[str, np.ndarray],
    axes=None,
):
    """Meta-loss (log scale) per generation and, when there are reference rules, the angle to each
    (log scale): one panel, or two (``axes``: one per panel).

    A loss series with NaN gaps (one scored every few generations, such as
    ``validation_loss``) is drawn as points where it is defined; best and mean of
    a population of one are one line. Dotted guides
    at 5° and 10° only where the angles reach them.
    """
    axes, new = _panels(axes, 1, 2 if angles else 1, (11 if angles else 6, 4))
    a1 = axes[0, 0]
    losses = dict(losses)
    best, mean = losses.get("loss_best"), losses.get("loss_mean")
    if best is not None and mean is not None and np.array_equal(best, mean, equal_nan=True):
        # One candidate per generation (a gradient outer loop): its best is its mean, one line.
        losses = {"meta-loss (one candidate per step)": losses.pop("loss_best"), **losses}
        losses.pop("loss_mean")
    for name, v in losses.items():
        ok = np.isfinite(v)
        if not ok.any():  # e.g. no validation yet: no line, and no legend entry for one
            continue
        style = {} if ok.all() else {"marker": "o", "ms": 3, "ls": "-"}
        a1.plot(generations[ok], np.maximum(v[ok], 1e-12), label=LOSS_LABELS.get(name, name), **style)
    a1.set_yscale("log")
    a1.set_xlabel("generation")
    a1.set_ylabel("meta-loss (log scale)")
    a1.legend(fontsize=8)
    if not angles:
        return _done(axes, new)
    a2 = axes[0, 1]
    shown = {name: np.maximum(v, 1e-3) for name, v in angles.items()}
    for name, v in shown.items():
        a2.plot(generations, v, label=f"angle to {name}")
    a2.set_yscale("log")
    a2.set_xlabel("generation")
    a2.set_ylabel("angle to the reference rule (degrees)")
    guides = _guides(a2, list(shown.values()), (5, 10))
    if guides:
        a2.set_title("dotted: " + " and ".join(f"{g}°" for g in guides), fontsize=10)
    a2.legend(fontsize=8)
    return _done(axes, new)


def weights_vs_pcs(w: np.ndarray, pcs: np.ndarray, axes=None):
    """Each learned weight vector ``w_i`` next to the true principal component ``PC_i``.

    The PC is sign-aligned with ``w_i`` (as in the loss); the title gives the
    angle between them.
    """
    m, n = w.shape
    axes, new = _panels(axes, m, 1, (max(6, min(14, 0.18 * n + 4)), 1.9 * m + 0.6), sharex=True)
    idx = np.arange(n)
    for i, ax in enumerate(axes[:, 0]):
        s = 1.0 if w[i] @ pcs[i] >= 0 else -1.0
        pc = s * pcs[i]
        cos = abs(w[i] @ pcs[i]) / (np.linalg.norm(w[i]) * np.linalg.norm(pcs[i]) + 1e-12)
        ax.bar(idx - 0.2, pc, width=0.4, color="0.6", label=f"PC{i + 1}")
        ax.bar(idx + 0.2, w[i], width=0.4, color="C0", label=f"w{i + 1}")
        ax.set_title(
            f"output {i + 1}: angle {np.degrees(np.arccos(min(cos, 1.0))):.1f}°, "
            f"|w| = {np.linalg.norm(w[i]):.3f}",
            fontsize=9,
        )
        ax.set_ylabel("weight")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("input")
    axes[-1, 0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return _done(axes, new)


def spike_coefficients(
    generations: np.ndarray,
    theta: np.ndarray,
    names: Sequence[str],
    reference: tuple[str, np.ndarray] | None = None,
    tau_min: float = 0.0,
    tau_max: float = np.inf,
    terms: Sequence[str] = ("S_j", "S_i", "x_j S_i", "x_i S_j"),
    axes=None,
):
    """Trajectory of a spike-trace rule's theta: the four increments and the two time constants.

    The increments (weight change per spike or per spike and unit of trace) and
    the time constants (seconds, drawn in ms) have different units, hence two
    panels. Dotted lines: the reference rule's values.

    Args:
        generations: ``[G]``.
        theta: ``[G, 6]``, ``(alpha, beta, gamma, kappa, tau_pre, tau_post)``.
        names: the six names.
        reference: (name, ``[6]`` theta) or None.
        tau_min, tau_max: the rule clips its time constants to this range
            (s); drawn: the value used (solid) and, where it differs, the raw
            coefficient (thin, dashed; only those generations).
        terms: the four increments' terms as the printed rule writes them
            (:func:`plastix.analysis.pretty_spike_trace`), named in the legend.
    """
    axes, new = _panels(axes, 1, 2, (11, 4))
    a1, a2 = axes[0]
    for k in range(4):
        a1.plot(generations, theta[:, k], lw=1.8, label=f"{terms[k]} ({names[k]})")
        if reference is not None:
            a1.axhline(reference[1][k], color=a1.lines[-1].get_color(), ls=":", lw=1)
    a1.axhline(0, color="k", lw=0.5)
    a1.set_xlabel("generation")
    a1.set_ylabel("increment per spike (weight units)")
    a1.set_title("increments" + (f" (dotted: {reference[0]})" if reference else ""), fontsize=10)
    a1.legend(fontsize=8)
    for k in (4, 5):
        used = np.clip(theta[:, k], tau_min, tau_max)
        a2.plot(generations, 1e3 * used, lw=1.8, label=f"{names[k]} (as used)", color=f"C{k}")
        clipped = used != theta[:, k]
        if np.any(clipped):  # only where clipped: elsewhere it would hide under the line as used
            raw = np.where(clipped, 1e3 * theta[:, k], np.nan)
            style = {"lw": 0.8, "ls": "--", "marker": ".", "ms": 3, "color": f"C{k}"}
            a2.plot(generations, raw, label=f"{names[k]} raw", **style)
        if reference is not None:
            a2.axhline(1e3 * reference[1][k], color=f"C{k}", ls=":", lw=1)
    a2.set_xlabel("generation")
    a2.set_ylabel("time constant (ms)")
    a2.set_title(f"trace time constants (clipped to [{1e3 * tau_min:g}, {1e3 * tau_max:g}] ms)", fontsize=10)
    a2.legend(fontsize=8)
    return _done(axes, new)


def detailed_balance(
    w_exc_group: np.ndarray,
    w_inh_group: np.ndarray,
    current_exc: np.ndarray,
    current_inh: np.ndarray,
    chunk_time: np.ndarray,
    rate: np.ndarray,
    bin_size: float,
    train_time: float,
    target: float,
    early: float = 1.0,
    w_time: np.ndarray | None = None,
    axes=None,
):
    """Inhibitory plasticity on one example episode: co-tuning of inhibition and excitation.

    Four panels: (a) excitatory weight per group (the tuning, fixed) and
    inhibitory weight per group at the start and at the end; (b) mean
    excitatory and inhibitory current per group over the first ``early``
    seconds and over the last ``early`` seconds of the episode (currents in
    pA; inhibitory ones are negative, drawn as their magnitude); (c) mean
    inhibitory weight per group over time; (d) postsynaptic rate per bin with
    the target.

    Args:
        w_exc_group: ``[G]`` mean excitatory weight per group.
        w_inh_group: ``[T', G]`` mean inhibitory weight per group at the times
            ``w_time`` (default ``chunk_time``); row 0 is drawn as the start.
        current_exc, current_inh: ``[T, G]`` mean currents per group and chunk, pA.
        chunk_time: ``[T]`` chunk centres, s.
        rate: ``[B]`` postsynaptic rate per bin, Hz.
        bin_size: seconds per bin; train_time: end of training, s; target: Hz.
        early: seconds averaged at the start and at the end in (b).
        w_time: ``[T']`` times of ``w_inh_group`` rows, s.
    """
    g = np.arange(1, w_exc_group.shape[0] + 1)
    axes, new = _panels(axes, 2, 2, (11, 7.5))
    a = axes[0, 0]
    a.plot(g, w_exc_group, "o-", color="C3", label="excitatory (fixed)")
    a.set_xlabel("input group")
    a.set_ylabel("excitatory weight", color="C3")
    b = a.twinx()
    b.plot(g, w_inh_group[0], "s--", color="0.6", label="inhibitory, start")
    b.plot(g, w_inh_group[-1], "s-", color="C0", label="inhibitory, end")
    b.set_ylabel("inhibitory weight", color="C0")
    r = np.corrcoef(w_exc_group, w_inh_group[-1])[0, 1] if np.std(w_inh_group[-1]) > 0 else np.nan
    a.set_title(f"(a) weights per group; corr(exc, inh at end) = {r:.2f}", fontsize=10)
    lines = a.get_legend_handles_labels()
    lines2 = b.get_legend_handles_labels()
    # Headroom above both curves, so the legend covers no point.
    a.set_ylim(0, 1.4 * np.max(w_exc_group))
    b.set_ylim(0, 1.4 * max(np.max(w_inh_group[[0, -1]]), 1e-12))
    a.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper center", ncol=3)
    a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))

    a = axes[0, 1]
    n_early = max(1, int(np.searchsorted(chunk_time, early)))
    for rows, style, when in ((slice(0, n_early), "--", "first"), (slice(-n_early, None), "-", "last")):
        a.plot(g, current_exc[rows].mean(0), style, marker="o", color="C3", label=f"exc, {when} {early:g} s")
        a.plot(
            g, -current_inh[rows].mean(0), style, marker="s", color="C0", label=f"|inh|, {when} {early:g} s"
        )
    a.set_xlabel("input group")
    a.set_ylabel("mean current (pA)")
    a.set_title("(b) currents per group, start vs end", fontsize=10)
    a.legend(fontsize=8)
    a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))

    a = axes[1, 0]
    colors = plt.cm.viridis(np.linspace(0, 1, w_inh_group.shape[1]))
    for k in range(w_inh_group.shape[1]):
        a.plot(
            chunk_time if w_time is None else w_time,
            w_inh_group[:, k],
            color=colors[k],
            lw=1.2,
            label=f"group {k + 1}",
        )
    a.axvline(train_time, color="k", ls=":", lw=1)
    a.set_xlabel("time (s); dotted: end of training")
    a.set_ylabel("inhibitory weight")
    a.set_title("(c) inhibitory weight per group", fontsize=10)
    a.legend(fontsize=7, ncol=2)

    a = axes[1, 1]
    t = (np.arange(rate.shape[0]) + 0.5) * bin_size
    a.step(t, rate, where="mid", color="k", lw=1.2)
    a.axhline(target, color="C2", ls="--", label=f"target {target:g} Hz")
    a.axvline(train_time, color="k", ls=":", lw=1)
    a.set_xlabel("time (s)")
    a.set_ylabel(f"rate (Hz, {bin_size:g} s bins)")
    a.set_title("(d) postsynaptic rate", fontsize=10)
    a.legend(fontsize=8)
    return _done(axes, new)


def alpha_beta_plane(
    alpha: np.ndarray,
    beta: np.ndarray,
    nu_pre: float,
    nu_post: float,
    trace_term: float = 0.0,
    reference: tuple[str, float, float] | None = None,
    ax=None,
):
    r"""The outer loop's path in the (alpha, beta) plane with the steady-state line.

    For Poisson pre- and postsynaptic spikes at rates ``nu_pre``, ``nu_post``
    the spike-trace rule changes a weight on average by

    .. math:: \langle \dot w \rangle = \alpha \nu_{pre} + \beta \nu_{post}
              + (\gamma \tau_{pre} + \kappa \tau_{post}) \nu_{pre} \nu_{post}

    so a rule holds the rate ``nu_post`` only on the line where this vanishes.
    Drawn: ``beta = -alpha nu_pre / nu_post`` (dashed; the line when the trace
    terms are negligible, the one Confavreux et al. 2020 draw) and the same
    line shifted by ``trace_term = (gamma tau_pre + kappa tau_post) nu_pre``
    for the final rule's trace terms (solid). Correlations between pre- and
    postsynaptic spikes are ignored, so the line is a guide, not a law.

    Args:
        alpha, beta: ``[G]`` trajectory (per generation).
        nu_pre: mean presynaptic (inhibitory input) rate, Hz.
        nu_post: target postsynaptic rate, Hz.
        trace_term: ``(gamma tau_pre + kappa tau_post) nu_pre`` of the final rule.
        reference: (name, alpha, beta) of a reference rule, or None.
    """
    new = ax is None
    if new:
        ax = plt.subplots(figsize=(6.2, 5.2))[1]
    pts = np.concatenate([alpha, [0.0] + ([reference[1]] if reference else [])])
    span = max(np.max(np.abs(pts)), 1e-12) * 1.2
    xs = np.linspace(-span, span, 50)
    ax.plot(xs, -xs * nu_pre / nu_post, "k--", lw=1, label=r"$\beta = -\alpha\,\nu_{pre}/\nu_{post}$")
    if trace_term:
        ax.plot(xs, -xs * nu_pre / nu_post - trace_term, "k-", lw=1, label="with the final trace terms")
    sc = ax.scatter(alpha, beta, c=np.arange(alpha.shape[0]), cmap="viridis", s=14, zorder=3)
    ax.plot(alpha, beta, color="0.6", lw=0.6, zorder=2)
    ax.plot(alpha[0], beta[0], "o", mfc="none", mec="r", ms=10, label="start")
    ax.plot(alpha[-1], beta[-1], "*", color="r", ms=12, label="end")
    if reference is not None:
        ax.plot(reference[1], reference[2], "D", color="C1", label=reference[0])
    ax.figure.colorbar(sc, ax=ax, label="generation")
    ys = np.concatenate([beta, -xs * nu_pre / nu_post])
    ax.set_xlim(-span, span)
    ax.set_ylim(np.min(ys) - 0.1 * np.ptp(ys), np.max(ys) + 0.1 * np.ptp(ys))
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel(r"$\alpha$ (per presynaptic spike)")
    ax.set_ylabel(r"$\beta$ (per postsynaptic spike)")
    ax.set_title(rf"$\nu_{{pre}}$ = {nu_pre:.1f} Hz, $\nu_{{post}}$ = {nu_post:g} Hz", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return _done(ax, new)


def feedback_learning(
    generations: np.ndarray,
    metrics: Mapping[str, np.ndarray],
    meta_test: Mapping[str, float],
    meta_test_se: Mapping[str, float] | None = None,
    chance: float | None = None,
    axes=None,
):
    r"""Meta-test accuracy of the learned rule beside its baselines; query accuracy per meta-step;
    how the feedback signals align with backprop's, per layer.

    Panels: (a) the meta-test accuracy per method (bars, with ± s.e. where given;
    dashed: chance), the result of the run, when ``meta_test`` is not empty;
    (b) query accuracy of each meta-step's training episodes; then, for
    those in ``metrics``, the angle between each hidden layer's feedback error
    and backprop's, and between the feedback matrix :math:`B_l` and
    :math:`W_{l+1}^\top`.

    Args:
        generations: ``[G]`` meta-steps.
        metrics: name -> ``[G]``: ``accuracy`` (query accuracy of the step's
            training episodes), ``angle_error_<l>`` (degrees) and ``angle_wb_<l>``.
        meta_test: method -> meta-test accuracy (e.g. the learned rule, feedback
            alignment, backprop), as the run's summary gives them.
        meta_test_se: method -> standard error of that accuracy (optional).
        chance: accuracy of guessing (1 / ways), drawn dashed; or None.
    """
    groups = [
        ("angle_error_", "feedback error vs backprop's error"),
        ("angle_wb_", r"feedback $B_l$ vs $W_{l+1}^\top$"),
    ]
    present = [(p, t) for p, t in groups if any(k.startswith(p) for k in metrics)]
    n = int(bool(meta_test)) + 1 + len(present)
    axes, new = _panels(axes, 1, n, (4.8 * n, 4))
    flat = list(axes[0])
    if meta_test:
        ax = flat.pop(0)
        se = meta_test_se or {}
        names = list(meta_test)
        x = np.arange(len(names))
        for i, name in enumerate(names):
            v = meta_test[name]
            err = se.get(name)
            ax.bar(x[i], v, color=f"C{i}", yerr=err if err else None, capsize=4,
                   label=f"{name} {v:.3f}" + (f" ± {err:.3f}" if err else ""))  # fmt: skip
        if chance is not None:
            ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance {chance:.3f}")
        ax.set_xticks(x, names, fontsize=8)
        ax.set_xlabel("learning method (held-out classes)")
        ax.set_ylabel("meta-test query accuracy")
        ax.set_ylim(0, 1.3)  # room above the bars for the legend: it must not hide a bar
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_title("(a) result: meta-test accuracy", fontsize=10)
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax = flat.pop(0)
    acc = metrics["accuracy"]
    ax.plot(generations, acc, color="0.6", lw=0.8, label="per meta-step")
    window = max(1, len(acc) // 20)
    if window > 1:
        smooth = np.convolve(acc, np.ones(window) / window, mode="valid")
        ax.plot(generations[window - 1 :], smooth, color="C0", lw=2, label=f"mean of {window}")
    ax.set_xlabel("meta-step")
    ax.set_ylabel("query accuracy (meta-training episodes)")
    ax.set_ylim(0, 1)
    ax.set_title("(b) meta-training", fontsize=10)
    ax.legend(fontsize=8)
    for ax, (prefix, title) in zip(flat, present, strict=True):
        for k in sorted(k for k in metrics if k.startswith(prefix)):
            ax.plot(generations, metrics[k], lw=1.5, label=f"layer {k.removeprefix(prefix)}")
        ax.axhline(90, color="k", lw=0.5, ls=":")
        ax.set_xlabel("meta-step")
        ax.set_ylabel("angle (degrees; dotted: 90°, unaligned)")
        ax.set_ylim(0, 180)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    return _done(axes, new)


def tuning_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], float]],
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    ax=None,
):
    """Each baseline's score against the coefficient it was tuned over (log x), the chosen value
    marked: whether its optimum is interior, and how flat the score is around it.

    Args:
        curves: label -> (values tried, their scores, the value chosen).
        xlabel, ylabel: what the coefficient and the score are.
        log_y: a log score axis (an MSE spanning decades).
    """
    axes, new = _panels(ax, 1, 1, (5.5, 4))
    ax = axes[0, 0]
    for i, (label, (values, scores, chosen)) in enumerate(curves.items()):
        x, y = np.asarray(values, float), np.asarray(scores, float)
        order = np.argsort(x)
        ax.plot(x[order], y[order], "o-", color=f"C{i}", ms=3, lw=1.2, label=label)
        at = np.flatnonzero(x == chosen)
        if at.size:
            ax.plot(chosen, y[at[0]], "*", color=f"C{i}", ms=12, mec="k", mew=0.6)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("baselines tuned on meta-training episodes (star: chosen)", fontsize=10)
    ax.legend(fontsize=8)
    return _done(axes, new)


def coefficient_spread(
    generations: np.ndarray,
    mean: Mapping[str, np.ndarray],
    sd: Mapping[str, np.ndarray],
    names: Mapping[str, Sequence[str]],
    axes=None,
):
    """Per projection, each coefficient's mean over synapses per generation, with a band of ±1 sd.

    Args:
        generations: ``[G]``.
        mean, sd: projection -> ``[G, K]`` mean and standard deviation over synapses
            (sd all zero for a shared rule).
        names: projection -> ``K`` legend labels of the coefficients (their names and terms).
    """
    axes, new = _panels(axes, 1, len(mean), (5.5 * len(mean), 4))
    for ax, p in zip(axes[0], sorted(mean), strict=True):
        for k, name in enumerate(names[p]):
            m, s = mean[p][:, k], sd[p][:, k]
            ax.plot(generations, m, lw=1.8, label=name)
            ax.fill_between(generations, m - s, m + s, color=ax.lines[-1].get_color(), alpha=0.2, lw=0)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("generation")
        ax.set_ylabel("coefficient (mean ± sd over synapses)")
        ax.set_title(f"projection {p}", fontsize=10)
        ax.legend(fontsize=8)
    return _done(axes, new)


def coefficient_histograms(
    coefficients: Mapping[str, np.ndarray], names: Mapping[str, Sequence[str]], axes=None
):
    """Histograms of evolved per-synapse coefficients: one row per projection, one panel per coefficient.

    Args:
        coefficients: projection -> ``[post, pre, K]`` coefficients of every synapse.
        names: projection -> ``K`` coefficient names.
    """
    rows = sorted(coefficients)
    k = max(len(names[p]) for p in rows)
    axes, new = _panels(axes, len(rows), k, (3.6 * k, 2.9 * len(rows)))
    for r, p in enumerate(rows):
        c = np.asarray(coefficients[p]).reshape(-1, len(names[p]))
        for j, name in enumerate(names[p]):
            ax = axes[r, j]
            v = c[:, j]
            ax.hist(v, bins=min(40, max(5, v.size // 5)), color=f"C{j}", alpha=0.8)
            ax.axvline(v.mean(), color="k", lw=1)
            cv = v.std() / abs(v.mean()) if v.mean() != 0 else np.inf
            ax.set_title(
                f"{p}: {name}  mean {v.mean():.3g}, sd {v.std():.2g}, sd/|mean| {cv:.2f}", fontsize=8
            )
            ax.set_xlabel(f"{name} (coefficient value)")
            ax.set_ylabel("synapses")
        for j in range(len(names[p]), k):
            axes[r, j].set_visible(False)
    return _done(axes, new)


def learning_curves(
    curves: Mapping[str, np.ndarray],
    ylabel: str = "test MSE",
    finals: Mapping[str, float] | None = None,
    ax=None,
):
    """Test loss per inner step of each learning method on held-out episodes (mean ± standard error).

    The legend gives each method's ``finals`` (e.g. the held-out score the run's
    summary prints, over all its held-out episodes) when given; else the last
    point of the curve, said to be so.

    Args:
        curves: method -> ``[episodes, steps + 1]`` loss after each inner step (column 0: untrained).
        finals: method -> the number the legend gives.
    """
    new = ax is None
    if new:
        ax = plt.subplots(figsize=(6.5, 4.2))[1]
    n = 0
    for i, (name, c) in enumerate(curves.items()):
        c = np.asarray(c)
        n = c.shape[0]
        m = c.mean(axis=0)
        se = c.std(axis=0, ddof=1) / np.sqrt(c.shape[0]) if c.shape[0] > 1 else 0 * m
        steps = np.arange(c.shape[1])
        if finals is not None and finals.get(name) is not None:
            label = f"{name}: held-out {finals[name]:.4g}"
        else:
            label = f"{name}: last point {m[-1]:.4g}"
        ax.plot(steps, np.maximum(m, 1e-12), color=f"C{i}", lw=1.8, label=label)
        ax.fill_between(steps, np.maximum(m - se, 1e-12), m + se, color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel("inner step (training samples seen)")
    ax.set_ylabel(f"{ylabel} (log scale)")
    ax.set_yscale("log")
    what = "legend: the summary's held-out score" if finals else "legend: the curves' last point"
    ax.set_title(f"learning on {n} held-out episodes (mean ± s.e.); {what}", fontsize=9)
    ax.legend(fontsize=8)
    return _done(ax, new)


UNITS = (("angle", "degrees"), ("rate", "Hz"), ("accuracy", "fraction correct"), ("wall", "s"))


def _unit(metric: str) -> str:
    """The unit of a headline metric, by its name (``angle_oja``: degrees); empty when unitless."""
    return next((u for key, u in UNITS if key in metric), "")


def seed_sweep(
    seeds: Sequence[int],
    metrics: Mapping[str, Sequence[float | None]],
    curves: Mapping[int, tuple[np.ndarray, np.ndarray]],
    axes=None,
):
    """A sweep over seeds: each metric's per-seed values with their mean ± standard error, and every
    seed's loss curve.

    One panel per metric (their scales differ): a point per seed, in that seed's
    colour in every panel, and beside them the mean with a bar of one standard
    error (sample sd / sqrt(n); no bar for a single value). The last panel
    overlays the seeds' loss curves (log scale).

    Args:
        seeds: the seeds, in the order of ``metrics``' values.
        metrics: metric -> one value per seed (``None`` or NaN: missing, not drawn).
        curves: seed -> (``[G]`` generations, ``[G]`` loss), e.g. ``loss_best`` per generation.
    """
    n_panels = len(metrics) + 1
    ncols = min(4, n_panels)
    nrows = -(-n_panels // ncols)
    axes, new = _panels(axes, nrows, ncols, (3.3 * ncols, 3.0 * nrows))
    colour = {s: f"C{i % 10}" for i, s in enumerate(seeds)}
    # Points spread a little sideways so that equal values stay visible; the mean sits to their right.
    spread = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    flat = axes.ravel()
    for ax, (name, values) in zip(flat, metrics.items(), strict=False):
        v = np.array([np.nan if x is None else float(x) for x in values])
        ok = np.isfinite(v)
        ax.scatter(spread[ok], v[ok], c=[colour[s] for s, good in zip(seeds, ok, strict=True) if good], s=22)
        if ok.any():
            m = float(v[ok].mean())
            se = float(v[ok].std(ddof=1) / np.sqrt(ok.sum())) if ok.sum() > 1 else None
            ax.errorbar([0.45], [m], yerr=None if se is None else [se], fmt="D", color="k", ms=5, capsize=4)
            label = f"{m:.4g} ± {se:.2g}" if se is not None else f"{m:.4g}"
            ax.set_title(f"{name}\n{label}  (n = {int(ok.sum())})", fontsize=9)
        else:
            ax.set_title(f"{name}\n(no values)", fontsize=9)
        ax.set_xlim(-0.4, 0.75)
        ax.set_xticks([0.0, 0.45], ["seeds", "mean"])
        ax.set_xlabel("per seed, and mean ± s.e.")
        unit = _unit(name)
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
    ax = flat[len(metrics)]
    for s in seeds:
        if s in curves:
            gens, loss = curves[s]
            ok = np.isfinite(loss)
            ax.plot(gens[ok], np.maximum(loss[ok], 1e-12), color=colour[s], lw=1.2, label=f"seed {s}")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("meta-loss of the best candidate (log scale)")
    ax.set_title("loss per seed", fontsize=9)
    if 0 < len(curves) <= 10:
        ax.legend(fontsize=7)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return _done(axes, new)


def rule_manifold(
    groups: Mapping[str, Sequence[Mapping]],
    nu_pre: float,
    nu_post: float,
    references: Sequence[Mapping] = (),
    tolerance: float = 0.5,
    axes=None,
):
    r"""Spike-trace rules from many starts: the (alpha, beta) plane and detailed balance per start.

    The figure of Confavreux et al. (NeurIPS 2020, Fig. 3) for a sweep: left,
    every start's path in the (alpha, beta) plane with the steady-state line
    ``beta = -alpha nu_pre / nu_post`` (the mean drift
    ``alpha nu_pre + beta nu_post`` vanishes at the target rate when the trace
    terms are small; see :func:`alpha_beta_plane`); middle, per start, the
    held-out rate (mean ± sd over datasets) against the correlation of
    excitatory and inhibitory weights over the input groups, with the band
    ``nu_post ± tolerance``; right, that correlation against the tuning depth
    (inhibitory over excitatory coefficient of variation over the groups):
    detailed balance is the upper right, both near 1.

    Args:
        groups: label -> starts; each start a mapping with ``alpha``, ``beta``
            (``[G]`` paths), ``rate``, ``rate_sd`` (Hz), ``corr`` and
            ``tuning`` (either may be None).
        nu_pre: mean inhibitory input rate, Hz.
        nu_post: target rate, Hz.
        references: mappings with ``name``, ``alpha``, ``beta``, ``rate``,
            ``rate_sd``, ``corr`` and ``tuning`` (e.g. Vogels' rule on the same datasets).
        tolerance: half-width of the target band, Hz.
    """
    axes, new = _panels(axes, 1, 3, (17, 5.2), gridspec_kw={"width_ratios": [1.15, 1, 1]})
    ax, bx, cx = axes[0]
    markers = "osD^vP*Xh<>"

    def nan(x):
        return np.nan if x is None else x

    alphas, betas = [0.0], [0.0]
    for r in references:
        alphas.append(float(r["alpha"]))
        betas.append(float(r["beta"]))
    for starts in groups.values():
        for s in starts:
            alphas.extend(np.asarray(s["alpha"], float).tolist())
            betas.extend(np.asarray(s["beta"], float).tolist())
    xlo, xhi = np.nanmin(alphas), np.nanmax(alphas)
    ylo, yhi = np.nanmin(betas), np.nanmax(betas)
    pad_x, pad_y = 0.08 * max(xhi - xlo, 1e-12), 0.08 * max(yhi - ylo, 1e-12)
    xs = np.linspace(xlo - pad_x, xhi + pad_x, 50)
    ax.plot(xs, -xs * nu_pre / nu_post, "k--", lw=1, label=r"$\beta = -\alpha\,\nu_{pre}/\nu_{post}$")
    for i, (label, starts) in enumerate(groups.items()):
        colour, marker = f"C{i % 10}", markers[i % len(markers)]
        for j, s in enumerate(starts):
            a, b = np.asarray(s["alpha"], float), np.asarray(s["beta"], float)
            first = label if j == 0 else None
            ax.plot(a, b, color=colour, lw=0.7, alpha=0.6)
            ax.plot(a[0], b[0], marker, mfc="none", mec=colour, ms=5, alpha=0.6)
            ax.plot(a[-1], b[-1], marker, color=colour, ms=7, label=first)
            corr = nan(s["corr"])
            bx.errorbar(s["rate"], corr, xerr=s["rate_sd"], fmt=marker, color=colour, ms=6, capsize=2)
            cx.plot(nan(s["tuning"]), nan(s["corr"]), marker, color=colour, ms=7, label=first)
    for k, r in enumerate(references):
        first = r["name"] if k == 0 else None
        ax.plot(r["alpha"], r["beta"], "*", color="k", ms=13, label=first)
        bx.errorbar(r["rate"], nan(r["corr"]), xerr=r["rate_sd"], fmt="*", color="k", ms=10, capsize=2)
        cx.plot(nan(r["tuning"]), nan(r["corr"]), "*", color="k", ms=11, label=first)
    ax.axhline(0, color="0.8", lw=0.5, zorder=0)
    ax.axvline(0, color="0.8", lw=0.5, zorder=0)
    ax.set_xlim(xlo - pad_x, xhi + pad_x)
    ax.set_ylim(ylo - pad_y, yhi + pad_y)
    ax.set_xlabel(r"$\alpha$ (per presynaptic spike)")
    ax.set_ylabel(r"$\beta$ (per postsynaptic spike)")
    ax.set_title("paths of the outer loop (open: start, filled: end)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    band = f"{nu_post:g} ± {tolerance:g} Hz"
    bx.axvspan(nu_post - tolerance, nu_post + tolerance, color="C2", alpha=0.12, label=band)
    for y in (bx, cx):
        y.axhline(0.8, color="0.5", ls=":", lw=1)
        y.set_ylim(-1.05, 1.05)
        y.set_ylabel(r"corr($w_E$, $w_I$) over input groups")
    bx.set_xlabel("held-out rate, Hz (mean ± sd over datasets)")
    bx.set_title("held-out rate and co-tuning per start (dotted: 0.8)", fontsize=10)
    bx.legend(fontsize=7, loc="best")
    cx.axvline(0.5, color="0.5", ls=":", lw=1)
    cx.set_xlabel("tuning depth: CV over groups of $w_I$ / of $w_E$")
    cx.set_title("detailed balance: upper right", fontsize=10)
    cx.legend(fontsize=7, loc="best")
    return _done(axes, new)


def rule_agreement(learned: np.ndarray, reference: np.ndarray, name: str, ax=None):
    """The learned rule's ``dw`` against a reference rule's at the same synapses and moments.

    Points on a line through the origin with positive slope: the same function
    up to a learning rate. The title gives Pearson's correlation and the
    least-squares slope (``dw_learned ~ c dw_reference``).
    """
    new = ax is None
    if new:
        ax = plt.subplots(figsize=(5.2, 4.8))[1]
    a, b = np.asarray(learned, np.float64), np.asarray(reference, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    ax.scatter(b, a, s=4, alpha=0.4, color="C0", lw=0)
    if a.size > 1 and a.std() > 0 and b.std() > 0:
        corr, c = np.corrcoef(a, b)[0, 1], float(a @ b / (b @ b))
        lim = np.array([b.min(), b.max()])
        ax.plot(lim, c * lim, color="k", lw=1, ls=":", label=f"dw = {c:.3g} x {name}")
        ax.set_title(f"corr {corr:.3f}", fontsize=10)
        ax.legend(fontsize=8, loc="best")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_xlabel(f"dw of {name}")
    ax.set_ylabel("dw of the learned rule")
    return _done(ax, new)
