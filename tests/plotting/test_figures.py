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
    assert list(np.ravel(drawn)) == list(axes[:2]) and axes[0].get_ylabel() == "loss"
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
        plotting.loss_and_angles(G, {}, {}, axes=axes)
    plt.close(fig)
