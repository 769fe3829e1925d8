"""Plot functions draw into given axes and return them, so figures compose from them."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from plastix import plotting

G = np.arange(5)


def test_plots_compose_into_one_figure():
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    drawn = plotting.loss_and_angles(
        G, {"loss_best": np.linspace(1, 0.1, 5)}, {"oja": np.linspace(40, 3, 5)}, axes=axes[:2]
    )
    assert list(np.ravel(drawn)) == list(axes[:2]) and axes[0].get_ylabel().startswith("meta-loss")
    ax = plotting.alpha_beta_plane(np.linspace(-1, -2, 5), np.linspace(1, 2, 5), 10.0, 5.0, ax=axes[2])
    assert ax is axes[2] and ax.get_xlabel()
    ax = plotting.learning_curves({"gd": np.ones((3, 6))}, ax=axes[3])
    assert ax is axes[3] and plotting.figure_of(ax) is fig and plotting.figure_of(drawn) is fig
    plt.close(fig)


def test_without_axes_a_plot_makes_its_own_figure():
    drawn = plotting.coefficients(G, {"ff": np.zeros((5, 3))}, {"ff": ["a", "b", "c"]}, {})
    fig = plotting.figure_of(drawn)
    assert np.shape(drawn) == (1, 1) and fig.get_size_inches()[0] == pytest.approx(6.5)
    plt.close(fig)


def test_the_wrong_number_of_axes_is_refused():
    fig, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match=r"need 2 axes \(1 x 2\), got 3"):
        plotting.loss_and_angles(G, {}, {"oja": np.ones(5)}, axes=axes)
    plt.close(fig)


def test_loss_without_angles_is_one_panel_and_guides_only_where_the_angles_reach():
    drawn = plotting.loss_and_angles(G, {"loss_best": np.linspace(1, 0.1, 5)}, {})
    assert np.shape(drawn) == (1, 1)
    plt.close(plotting.figure_of(drawn))
    far = plotting.loss_and_angles(G, {"loss_best": np.ones(5)}, {"oja": np.linspace(120, 50, 5)})
    near = plotting.loss_and_angles(G, {"loss_best": np.ones(5)}, {"oja": np.linspace(40, 7, 5)})
    guides = [[ln.get_ydata()[0] for ln in d[0, 1].lines if ln.get_linestyle() == ":"] for d in (far, near)]
    assert guides == [[], [10]]
    assert near[0, 1].get_title() == "dotted: 10°" and far[0, 1].get_title() == ""
    for d in (far, near):
        plt.close(plotting.figure_of(d))


def test_coefficient_legend_names_printed_terms_and_other_terms_once():
    traj = np.zeros((5, 10))
    traj[-1] = [2.0, -1.9, 0.5, 0.01, 0.01, 0.01, 0.0, 0.0, 0.0, 0.0]
    ref = np.zeros(10)
    ref[:2] = [1.0, -1.0]
    names = ["x·y", "y²·w", "y", *(f"t{i}" for i in range(7))]
    drawn = plotting.coefficients(G, {"ff": traj}, {"ff": names}, {"ff": ("oja", ref)})
    texts = [t.get_text() for t in drawn[0, 0].get_legend().get_texts()]
    assert texts == ["other terms", "x·y (oja +1)", "y²·w (oja -1)", "y"]
    assert "oja × 1.95" in drawn[0, 0].get_title()
    plt.close(plotting.figure_of(drawn))


def test_learning_curve_legend_gives_the_numbers_it_is_handed():
    curves = {"gd": np.full((3, 4), 0.02), "rule": np.full((3, 4), 0.5)}
    ax = plotting.learning_curves(curves, finals={"gd": 0.01874})
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["gd: held-out 0.01874", "rule: last point 0.5"]
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(ax.figure)


def test_sweep_panels_have_labels_with_units_and_unused_panels_are_hidden():
    drawn = plotting.seed_sweep(
        [0, 1],
        {"heldout_rate": [4.8, 5.1], "angle_oja": [3.0, 4.0], "loss": [0.1, 0.2], "x": [1, 2]},
        {0: (G, np.linspace(1, 0.1, 5))},
    )
    flat = np.ravel(drawn)
    assert flat[0].get_ylabel() == "heldout_rate (Hz)" and flat[1].get_ylabel() == "angle_oja (degrees)"
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in flat[:5])
    assert [ax.get_visible() for ax in flat] == [True] * 5 + [False] * 3
    plt.close(plotting.figure_of(drawn))
