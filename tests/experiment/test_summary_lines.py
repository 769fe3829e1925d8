"""Printed summaries: significant digits (never 0.0000 for a non-zero value), no wrapping off a terminal,
and per family a line that says what the success criterion is and how to read the numbers."""

from __future__ import annotations

import pytest

from plastix import cli
from plastix.experiment import registry
from plastix.experiment._progress import sig

BASE = {
    "name": "demo",
    "generations": 3,
    "wall_s": 1.5,
    "stopped": "generations done",
    "rule": "dw = eta (2.01 x·y − 2 y²·w − 0.156 y·w)",
    "angles": {"oja": 3.567},
    "loss": 2e-6,
    "heldout_loss": 0.0747,
    "reference_heldout_loss": 0.1588,
}
PCA = {**BASE, "heldout_pc_angles": [4.379], "oja_heldout_pc_angles": [9.288], "dw_corr_oja": 0.9992}
SPIKING = {
    **BASE,
    "angles": {"vogels_istdp": 68.2},
    "heldout_rate": 4.66,
    "heldout_rate_sd": 0.8,
    "heldout_rates": [4.0, 5.3],
    "target_rate": 5.0,
}
FEEDBACK = {
    **BASE,
    "heldout_accuracy": {"learned": 0.789, "feedback_alignment": 0.301, "backprop": 0.774},
    "heldout_accuracy_se": 0.01,
    "angles_error_signal": {"1": 40.0},
    "terms_kept": ["pseudo_grad"],
    "chance": 0.2,
}
GD = {
    **BASE,
    "heldout_loss_by_method": {"gd": 0.01874, "shared": 0.256, "per_synapse": 1.2e-6},
    "heldout_loss_se_by_method": {"gd": 0.0014, "shared": 0.03, "per_synapse": 5e-7},
    "gd_learning_rate": 0.0562,
    "gap_to_gd": -0.0187,
    "shared_gap_closed": 1.06,
    "coefficient_spread": {"l1": {"g0": {"mean": 3e-6, "sd": 1e-6, "sd_over_abs_mean": 0.33}}},
    "problem": "teacher",
    "setting": "fixed",
}


@pytest.mark.parametrize("x, text", [(2e-6, "2e-06"), (0.01874, "0.01874"), (250.0, "250"), (None, "n/a")])
def test_numbers_keep_their_significant_digits(x, text):
    assert sig(x) == text


def _printed(summary, family, capsys, tmp_path) -> str:
    cli._print_summary(summary, tmp_path, registry()[family])
    return capsys.readouterr().out


def test_summary_prints_small_numbers_as_non_zero_and_does_not_wrap_off_a_terminal(capsys, tmp_path):
    long_rule = "dw = eta (" + " + ".join(f"0.00{i}1 x·y" for i in range(1, 10)) + ")"
    out = _printed({**PCA, "rule": long_rule}, "pca", capsys, tmp_path)
    assert "training loss 2e-06" in out and "0.0000" not in out
    assert f"learned rule  {long_rule}\n" in out  # one line, longer than 80 columns
    assert max(map(len, out.splitlines())) > 80


def test_a_rule_with_brackets_is_printed_as_text(capsys, tmp_path):
    rule = "l1: dw_ij = (0.1 ± 0.01) (1 - w) v_i v_j - (0.01 ± 0.001) w  [per synapse: mean ± sd]"
    out = _printed({**GD, "rule": rule}, "gd_approx", capsys, tmp_path)
    assert "[per synapse: mean ± sd]" in out


def test_pca_explains_its_criterion_and_why_oja_can_score_worse(capsys, tmp_path):
    out = _printed({**PCA, "dw_scale_oja": 2.01, "inner_steps": 100}, "pca", capsys, tmp_path)
    assert "criterion: held-out loss" in out and "after 100 inner steps" in out
    assert "2.01 x Oja's" in out and "converges faster" in out
    # Without the learned rule's lead there is nothing to explain.
    out = _printed({**PCA, "heldout_loss": 0.2, "dw_scale_oja": 2.01}, "pca", capsys, tmp_path)
    assert "criterion:" in out and "converges faster" not in out
    # Nor when the learned rule is no multiple of Oja's (its dw barely correlates with Oja's).
    out = _printed({**PCA, "dw_corr_oja": 0.36, "dw_scale_oja": 2.01}, "pca", capsys, tmp_path)
    assert "scored as published" in out and "converges faster" not in out


def test_spiking_says_the_angle_is_not_the_criterion(capsys, tmp_path):
    out = _printed(SPIKING, "spiking", capsys, tmp_path)
    assert "held-out rate 4.66" in out and "target 5 Hz" in out
    assert "the angle to the reference rule is not the criterion" in out


def test_feedback_names_meta_test_accuracy_as_the_criterion(capsys, tmp_path):
    out = _printed(FEEDBACK, "feedback", capsys, tmp_path)
    assert "criterion: meta-test query accuracy on classes never seen in meta-training (chance 0.2)" in out
    assert "learned 0.789" in out and "backprop 0.774" in out


def test_gd_approx_warns_that_per_synapse_coefficients_can_store_a_fixed_teacher(capsys, tmp_path):
    out = _printed(GD, "gd_approx", capsys, tmp_path)
    assert "criterion: held-out test MSE" in out and "per_synapse 1.2e-06" in out
    assert "caveat: one fixed problem (one teacher)" in out and "b_ij / g0_ij" in out
    assert "closes 106% of the gap between the shared rule and gd" in out and "g0 3e-06" in out
    out = _printed({**GD, "setting": "family"}, "gd_approx", capsys, tmp_path)
    assert "caveat" not in out and "new teachers" in out
    shared = {**GD, "heldout_loss_by_method": {**GD["heldout_loss_by_method"], "per_synapse": None}}
    assert "caveat" not in _printed(shared, "gd_approx", capsys, tmp_path)
