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
