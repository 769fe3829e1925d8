"""The recurrent family's configs: what combines, what is refused and why."""

import pytest

from plastix.experiment import UserError
from plastix.experiment._config import load, validate
from plastix.experiment._files import read_toml


def raw(**network):
    cfg = read_toml("configs/recurrent_quick.toml")
    cfg["network"].update(network)
    return cfg


def test_shipped_recurrent_configs_are_valid():
    for name in ("recurrent_quick", "recurrent"):
        cfg = load(f"configs/{name}.toml")
        assert cfg.family == "recurrent"
        assert len(cfg.meta.scale) == 24  # four pathways x six coefficients


def test_a_rule_that_updates_a_matrix_is_refused_on_a_sparse_projection():
    cfg = raw(plastic=["ie"])
    cfg["rules"] = {"ie": {"kind": "polynomial", "variables": ["pre", "post", "w"]}}
    cfg["meta"]["scale"] = None
    with pytest.raises(UserError, match="list of synapses.*spike_trace.*engine"):
        validate(cfg)
    cfg["network"]["engine"] = "dense"  # a [post, pre] matrix: any rule that reads what it gives
    validate(cfg)


def test_unstable_loss_must_exceed_every_finite_loss():
    cfg = raw()
    cfg["meta"]["unstable_loss"] = 100.0
    with pytest.raises(UserError, match="unstable_loss .* must exceed"):
        validate(cfg)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"plastic": ["xe"]}, "plastic"),
        ({"p": 1.5}, "connection probability"),
        ({"w": {"ee": -1.0}}, ">= 0"),
        ({"k": {"ee": 400}}, "in-degree"),
    ],
)
def test_bad_network_values_name_the_problem(bad, match):
    with pytest.raises(UserError, match=match):
        validate(raw(**bad))


def test_exported_brian2_script_runs_the_learned_rules(tmp_path):
    """`plastix export --brian2` of a recurrent run: a script that Brian2 runs, printing rates."""
    pytest.importorskip("brian2")
    import subprocess
    import sys

    from plastix.experiment import registry

    cfg = validate({**raw(n_exc=80, n_inh=20, p=0.1), "seed": 3})
    vogels = [-1.2e-3, 0.0, 1e-2, 1e-2, 0.02, 0.02]
    theta = {p: vogels if p == "ie" else [1e-3, -1e-3, 0.0, 0.0, 0.02, 0.02] for p in cfg.rules}
    text = registry()["recurrent"].exporters["brian2"](cfg, {"theta": theta, "rule": "ie: Vogels"}, 0.3)
    script = tmp_path / "model.py"
    script.write_text(text)
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "E rate" in out.stdout and "mean ie weight" in out.stdout, out.stdout
    print(out.stdout)
