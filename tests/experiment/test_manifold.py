"""benchmarks/istdp_manifold.py on a tiny spiking sweep: its numbers agree with the runs' own."""

import json
import shutil

import pytest
from test_spiking import TINY_SPIKING

from plastix import cli


@pytest.fixture(scope="module")
def manifold(benchmark_script):
    return benchmark_script("istdp_manifold")


def test_manifold_rescores_the_runs_datasets_and_writes_tables_and_figures(manifold, tmp_path):
    cfg = tmp_path / "tiny_spiking.toml"
    cfg.write_text(TINY_SPIKING)
    sweep = tmp_path / "sweep"
    sets = ["--set", "rules.inh.signs=true"]
    assert cli.main(["sweep", str(cfg), "--seeds", "0-1", "--out", str(sweep), "--quiet", *sets]) == 0
    out = tmp_path / "out"
    args = ["--out", str(out), "--episodes", "2", "--sweep", f"signs={sweep}"]
    args += ["--command", "plastix sweep ..."]
    assert manifold.main(args) == 0
    groups = json.loads((out / "istdp_manifold.json").read_text())
    assert list(groups) == ["signs"] and [s["seed"] for s in groups["signs"]] == [0, 1]
    for s in groups["signs"]:
        summary = json.loads((sweep / f"seed-{s['seed']}" / "summary.json").read_text())
        assert s["rate"] == pytest.approx(summary["heldout_rate"])
        # Vogels' rule scored again here, on the run's own held-out datasets, gives the runner's number.
        assert s["vogels"]["heldout_loss"] == pytest.approx(summary["reference_heldout_loss"], rel=1e-5)
        assert s["theta"]["alpha"] <= 0 <= s["theta"]["beta"]
        assert len(s["alpha_path"]) == len(s["beta_path"]) == 3
        for corr in (s["corr_w"], s["vogels"]["corr_w"]):
            assert corr is None or -1 <= corr <= 1
        assert s["reached"] == (abs(s["rate"] - 5.0) <= 0.5)
    md = (out / "istdp_manifold.md").read_text()
    assert "| signs | 2 |" in md and "plastix sweep ..." in md and "Vogels" in md
    for fig in ("istdp_manifold_tiny_spiking.png", "istdp_manifold_tiny_spiking_balance.png"):
        assert (out / "figures" / fig).stat().st_size > 5000

    # --keep: a second analysis adds a sweep and keeps the first one's numbers without rescoring
    # them (their run directories may be gone by then); its commands stay listed.
    groups["signs"][0]["heldout_loss"] = 123.0
    (out / "istdp_manifold.json").write_text(json.dumps(groups))
    args = ["--out", str(out), "--episodes", "1", "--sweep", f"again={sweep}", "--keep"]
    assert manifold.main([*args, "--command", "plastix sweep again"]) == 0
    kept = json.loads((out / "istdp_manifold.json").read_text())
    assert list(kept) == ["signs", "again"] and kept["signs"][0]["heldout_loss"] == 123.0
    md = (out / "istdp_manifold.md").read_text()
    assert "| signs | 2 |" in md and "| again | 2 |" in md
    assert "plastix sweep ..." in md and "plastix sweep again" in md

    # --keep alone redraws everything from the JSON, with the runs gone: a kept sweep's protocol
    # comes from the config it names (a shipped name, or a path).
    shutil.rmtree(sweep)
    for f in (out / "figures").iterdir():
        f.unlink()
    kept = {label: [{**s, "config": str(cfg)} for s in starts] for label, starts in kept.items()}
    (out / "istdp_manifold.json").write_text(json.dumps(kept))
    assert manifold.main(["--out", str(out), "--keep"]) == 0
    assert (out / "figures" / "istdp_manifold_tiny_spiking.png").stat().st_size > 5000
    assert json.loads((out / "istdp_manifold.json").read_text()) == kept
