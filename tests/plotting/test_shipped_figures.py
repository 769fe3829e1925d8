"""Every shipped config's figures, drawn from a run of seconds: labelled axes, no empty panels.

Each shipped config runs with its own rules, network and task kinds at its family's ``tiny``
sizes (:attr:`plastix.experiment.Family.tiny`) for two generations; its figures are then
inspected as matplotlib objects (labels, artists with data, legend entries, guide lines), not
as pixels.
"""

from __future__ import annotations

import copy
import gzip
import re

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from plastix.experiment import _config, _runner, shipped_configs, validate
from plastix.experiment._datasets import EMNIST_ENV, emnist, emnist_files
from plastix.experiment._figures import draw_figures

#: network keys that fix what a config is (its input and output sizes, its projections): kept.
STRUCTURE = {"kind", "n_in", "n_out", "lateral", "sizes"}


def tiny_raw(name: str) -> dict:
    """The shipped config ``name`` at its family's tiny sizes, for two generations.

    The tiny task section replaces the config's sizes (the task kind is the family's own in
    every shipped config); of the tiny network and meta sections, what does not change the
    config's structure or optimiser; hidden layers shrink to at most 8 units.
    """
    raw = _config.read_toml(shipped_configs()[name])
    tiny = copy.deepcopy(dict(_config.resolve(copy.deepcopy(raw))[0].tiny))
    raw["task"].update(tiny["task"])
    net = raw["network"]
    net.update({k: v for k, v in tiny["network"].items() if k not in STRUCTURE})
    if "sizes" in net:  # the config's inputs and outputs; one projection per rule kept
        sizes, tiny_sizes = net["sizes"], tiny["network"].get("sizes", [])
        hidden = [min(h, 8) for h in sizes[1:-1]] if len(raw["rules"]) > 1 else tiny_sizes[1:-1]
        net["sizes"] = [sizes[0], *hidden, sizes[-1]]
    meta = raw["meta"]
    meta.update({k: v for k, v in tiny["meta"].items() if k in meta})
    meta["generations"] = 2
    for k in ("validate_every", "validate_episodes"):  # a validation point to draw
        if k in meta:
            meta[k] = 1 if k == "validate_every" else 2
    return raw


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_emnist(tmp_path, monkeypatch):
    """IDX files of EMNIST's format and shape (47 classes of 8 random images): no EMNIST here."""
    data = tmp_path / "emnist"
    data.mkdir()
    img, lab = emnist_files()
    labels = np.repeat(np.arange(47), 8)
    _idx(data / img, np.random.default_rng(0).integers(0, 256, (labels.size, 28, 28)))
    _idx(data / lab, labels)
    monkeypatch.setenv(EMNIST_ENV, str(data))
    emnist.cache_clear()
    yield data
    emnist.cache_clear()


def _has_data(artist) -> bool:
    """Whether an artist draws something: a line with a finite point, a non-empty collection,
    an image, a patch (a bar)."""
    if not artist.get_visible() or artist.get_alpha() == 0:
        return False
    if isinstance(artist, matplotlib.lines.Line2D):
        x, y = (np.asarray(v, float) for v in artist.get_data())
        return (
            bool(np.any(np.isfinite(x) & np.isfinite(y)))
            and artist.get_linewidth()
            + (artist.get_markersize() if artist.get_marker() not in (None, "None", "", " ") else 0)
            > 0
        )
    if isinstance(artist, matplotlib.collections.Collection):
        return len(artist.get_paths()) > 0 or len(artist.get_offsets()) > 0
    return True  # an image or a patch


def _panels(fig):
    """The figure's visible data panels (colour bars excluded: they label themselves)."""
    return [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]


def _family(ax):
    """``ax`` and its twins (twinx shares the x axis, and draws into the same panel)."""
    return {ax, *ax.get_shared_x_axes().get_siblings(ax), *ax.get_shared_y_axes().get_siblings(ax)}


def check_figure(name: str, fig) -> None:
    """Labelled axes, no empty panel, legend entries only for drawn artists, guides within range."""
    for ax in _panels(fig):
        where = f"{name}: panel {ax.get_title()!r}"
        twins = [a for a in _family(ax) if a.get_visible()]
        artists = [a for t in twins for a in (*t.lines, *t.collections, *t.images, *t.patches)]
        drawn = [a for a in artists if _has_data(a)]
        assert drawn, f"{where} is empty"
        assert any(t.get_xlabel().strip() for t in twins), f"{where} has no x label"
        assert ax.get_ylabel().strip(), f"{where} has no y label"
        legend = ax.get_legend()
        if legend is not None:
            shown = {a.get_label() for a in drawn}
            bars = [c for t in twins for c in t.containers if any(map(_has_data, c.get_children()))]
            shown |= {c.get_label() for c in bars}
            for text in legend.get_texts():
                assert text.get_text() in shown, f"{where}: legend entry {text.get_text()!r} draws nothing"
        lo, hi = sorted(ax.get_ylim())
        for line in ax.lines:  # horizontal guides (axhline: x in axes coordinates, 0 to 1)
            x, y = (np.asarray(v, float) for v in line.get_data())
            if line.get_visible() and x.tolist() == [0.0, 1.0] and y.size == 2 and y[0] == y[1]:
                assert lo <= y[0] <= hi, f"{where}: guide at {y[0]:g} outside the plotted {lo:g}..{hi:g}"


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_draws_labelled_non_empty_panels(name, tmp_path, request):
    if name == "fa_emnist":
        request.getfixturevalue("fake_emnist")
    out = tmp_path / "run"
    summary = _runner.run(validate(tiny_raw(name)), out)
    figs = draw_figures(out)
    try:
        assert "loss.png" in figs and len(figs) >= 2, sorted(figs)
        for fig_name, fig in figs.items():
            check_figure(f"{name}/{fig_name}", fig)
        family_checks(name, summary, figs)
    finally:
        for fig in figs.values():
            plt.close(fig)


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def family_checks(name: str, summary: dict, figs: dict) -> None:
    """What a family's figures must show: the numbers of the summary, the terms as printed."""
    if "heldout_accuracy" in summary:  # feedback: meta-test accuracy of the learned rule, FA and BP
        acc = summary["heldout_accuracy"]
        texts = " ".join(_legend_texts(figs["feedback.png"]))
        for v in (acc["learned"], acc["feedback_alignment"], acc["backprop"]):
            assert f"{v:.3f}" in texts, (v, texts)
        titles = " ".join(ax.get_title() for ax in figs["feedback.png"].axes)
        assert "W_{l+1}^T" not in titles.replace("$", "").replace(" ", "") or "$" in titles
    if "heldout_loss_by_method" in summary:  # gd_approx: the legend gives the summary's MSEs
        texts = " ".join(_legend_texts(figs["learning_curves.png"]))
        for v in summary["heldout_loss_by_method"].values():
            if v is not None:
                assert f"{v:.4g}" in texts, (v, texts)
    coefficient_names(summary, figs["coefficients.png"])


def coefficient_names(summary: dict, fig) -> None:
    """The coefficient legend names terms as the printed rule does: the printed rule's largest term is
    in it, and no name is a raw coefficient key (``A021``); unnamed terms are "other terms", once."""
    texts = _legend_texts(fig)
    raw = {f"A{n}" for names in summary["names"].values() for n in names}
    assert not raw & {t.split(" ")[0] for t in texts}, texts
    assert texts.count("other terms") <= len(fig.axes), texts
    for rule in summary["rule"].split("; "):
        # "dw = eta (2.01 x·y - 2 y²·w)" -> "x·y"; "dW = 0.0119 pseudo_grad + ..." -> "pseudo_grad"
        terms = re.fullmatch(r"d\w+ = (?:\w+ \()?(.*?)\)?", rule)
        if terms is None:  # a spike-trace rule or one that describes itself: its own legend
            continue
        words = [w for w in terms[1].replace("−", " ").replace("-", " ").split() if not _number(w)]
        if words:
            assert any(t.split(" (")[0] == words[0] for t in texts), (words[0], texts)


def _number(word: str) -> bool:
    try:
        float(word.strip("()+"))
    except ValueError:
        return word in ("+", "(", ")")
    return True
