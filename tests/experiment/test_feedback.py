"""The feedback family (mlp, few_shot, term_library) through the CLI: summary, baselines, figures, EMNIST."""

import gzip
import json

import numpy as np
import pytest

from plastix import cli
from plastix.experiment._datasets import emnist, emnist_files

QUICK = [
    "--set",
    "network.sizes=[64, 16, 10]",
    "--set",
    "task.shots=5",
    "--set",
    "task.queries=3",
    "--set",
    "task.heldout_episodes=4",
    "--set",
    "meta.generations=3",
    "--quiet",
]


def test_feedback_run_reports_accuracy_baselines_terms_and_angles(tmp_path, capsys):
    out = tmp_path / "fa"
    assert cli.main(["run", "fa_digits", "--out", str(out), *QUICK]) == 0
    text = capsys.readouterr().out
    assert "meta-test accuracy: learned" in text and "feedback alignment" in text and "dW = " in text
    assert cli.main(["show", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    acc = s["heldout_accuracy"]
    assert set(acc) == {"learned", "feedback_alignment", "backprop", "backprop_adam"} and all(
        0 <= v <= 1 for v in acc.values()
    )
    assert acc["learned"] == pytest.approx(s["heldout_metrics"]["accuracy"], rel=1e-5)
    assert set(s["terms_kept"]) <= set(s["names"]["ff"]) and "pseudo_grad" in s["names"]["ff"]
    assert set(s["angles_error_signal"]) == {"1"} and 0 <= s["angles_error_signal"]["1"] <= 180
    for name in ("feedback_alignment", "backprop", "backprop_adam"):
        b = s["baselines"][name]
        # Tuned on meta-training accuracy: the chosen coefficient is the curve's best, the curve kept.
        curve = dict(zip(b["tuning"]["pseudo_grad"], b["tuning"]["accuracy"], strict=True))
        assert b["pseudo_grad"] > 0 and len(curve) >= 6
        assert curve[b["pseudo_grad"]] == max(curve.values())
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and "task_accuracy" in rows[0] and "task_angle_error_1" in rows[0]
    for fig in ("loss.png", "coefficients.png", "feedback.png", "tuning.png"):
        assert (out / "figures" / fig).stat().st_size > 5000


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fa_emnist_runs_end_to_end_on_synthetic_idx_files(tmp_path, capsys, monkeypatch):
    # No EMNIST here: files of the right format and shape, 47 classes of 8 images each.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(47), 8)
    images = rng.integers(0, 256, (labels.size, 28, 28))
    data = tmp_path / "emnist"
    data.mkdir()
    img, lab = emnist_files()
    monkeypatch.delenv("PLASTIX_EMNIST", raising=False)
    emnist.cache_clear()
    out = tmp_path / "run"
    args = ["run", "fa_emnist", "--out", str(out), "--set", f'task.data_dir="{data}"']
    assert cli.main(args) == 2  # no files yet: one line naming them, and no run directory
    assert img in capsys.readouterr().err and not out.exists()
    _idx(data / img, images)
    _idx(data / lab, labels)
    small = ["--set", "network.sizes=[784, 12, 47]", "--set", "task.shots=3", "--set", "task.queries=2"]
    small += ["--set", "task.heldout_episodes=2", "--set", "meta.generations=2", "--quiet"]
    assert cli.main([*args, *small]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["generations"] == 2 and 0 <= s["heldout_accuracy"]["learned"] <= 1
