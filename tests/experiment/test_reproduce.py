"""``plastix reproduce``: claims run as resumable sweeps, in pieces, into a reproduction table."""

import json
from pathlib import Path

import pytest

from plastix import cli
from plastix.experiment import _reproduce as repro
from plastix.experiment._errors import UserError


def _claims(tmp_path: Path, config: Path, extra: str = "") -> Path:
    f = tmp_path / "claims.toml"
    f.write_text(
        f"""
[tiny_oja]
title = "a tiny Oja"
source = "nowhere, Fig. 0"
published = "Oja's rule"
config = "{config}"
seeds = "0-2"
metrics = ["angle_oja", "heldout_loss"]
reach = ["angle_oja < 180", "heldout_loss <= loss + 10"]
runs = "tiny"

[tiny_again]
title = "the same runs, judged otherwise"
source = "nowhere"
published = "an angle below 0.001 degrees"
config = "{config}"
seeds = "0-2"
metrics = ["angle_oja"]
reach = ["angle_oja < 0.001"]
runs = "tiny"
{extra}"""
    )
    return f


@pytest.mark.parametrize(
    ("text", "metrics", "holds"),
    [
        ("angle_oja < 5", {"angle_oja": 4.9}, True),
        ("angle_oja<5", {"angle_oja": 5.0}, False),
        ("a >= b - 0.05", {"a": 0.75, "b": 0.8}, True),
        ("a >= b - 0.05", {"a": 0.74, "b": 0.8}, False),
        ("a > b + 1e-1", {"a": 1.2, "b": 1.0}, True),
        ("n <= 0", {"n": 0.0}, True),
        ("angle_oja < 5", {"angle_oja": None}, None),  # a metric the seed lacks: not judged
        ("a < b", {"a": 1.0}, None),
    ],
)
def test_conditions(text, metrics, holds):
    assert repro.Condition.parse(text).holds(metrics) is holds


@pytest.mark.parametrize(
    "text", ["angle_oja", "angle_oja == 5", "5 < angle_oja", "a < 5 + 1", "a < b * 2", ""]
)
def test_a_malformed_condition_is_refused(text):
    with pytest.raises(ValueError, match="condition|offset goes with a metric"):
        repro.Condition.parse(text)


def test_the_shipped_claims_load_and_their_configs_check():
    claims = repro.load_claims()
    assert {"oja_n3", "oja_n100", "pca", "istdp_rate", "istdp_balance", "fa_digits"} <= set(claims)
    plans = repro.plan(claims, list(claims))
    assert all(len(p.seeds) >= 5 for p in plans)
    assert {p.name: len(p.seeds) for p in plans}["oja_n3"] == 10
    # Claims of a fraction of starts have 8 seeds; two claims judging the same runs share them.
    assert len(claims["istdp_balance"].seed_list()) == 8
    assert claims["istdp_rate"].directory("istdp_rate", Path("o")) == Path("o/istdp")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[bad]\ntitle = 1", "bad.title: Input should be a valid string"),
        ('[bad]\nbogus = "x"', "bad.title: Field required"),
        ("bad = 3", "tiny_again.bad: Extra inputs are not permitted"),  # a key of the table above
        ('[bad]\ntitle="t"\nsource="s"\npublished="p"\nconfig="oja"\nseeds="x"\nmetrics=["m"]', "bad.seeds"),
        (
            '[bad]\ntitle="t"\nsource="s"\npublished="p"\nconfig="oja"\nseeds="0"\nmetrics=["m"]\n'
            'reach=["m = 1"]',
            "bad.reach: 'm = 1' is no condition",
        ),
        ("[bad", "invalid TOML"),
    ],
)
def test_a_bad_claims_file_is_one_line(tmp_path, extra, message):
    f = _claims(tmp_path, tmp_path / "tiny.toml", extra)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        repro.load_claims(f)


def test_a_claim_is_a_table(tmp_path):
    f = tmp_path / "claims.toml"
    f.write_text("bad = 3\n")
    with pytest.raises(UserError, match=r"bad: a claim is a table \(\[bad\]\), got 3"):
        repro.load_claims(f)


def test_claims_run_in_pieces_into_the_table(tmp_path, tiny_config, capsys):
    config = tiny_config
    claims, out, doc = _claims(tmp_path, config), tmp_path / "runs", tmp_path / "docs" / "reproduction.md"
    base = ["reproduce", "--claims-file", str(claims), "--out", str(out), "--doc", str(doc), "--quiet"]

    # A first piece: seeds 0-1 of one claim.
    assert cli.main([*base, "tiny_oja", "--seeds", "0-1"]) == 0
    text = doc.read_text()
    assert text.startswith(repro.MARK)
    row = next(line for line in text.splitlines() if line.startswith("| **tiny_oja**"))
    assert "2 of 3 (2 pending)" in row and "2 of 2" in row  # both finished seeds reach it
    again = next(line for line in text.splitlines() if line.startswith("| **tiny_again**"))
    assert "0 of 2" in again  # the same runs, judged by its own condition
    assert "angle_oja" in row and " ± " in row
    spec = (
        json.loads((out / "tiny" / "sweep.json").read_text())
        if (out / "tiny" / "sweep.json").exists()
        else None
    )
    assert spec is not None and spec["unfinished"] == [2]
    mtimes = {s: (out / "tiny" / f"seed-{s}" / "summary.json").stat().st_mtime_ns for s in (0, 1)}
    summary = json.loads((out / "tiny" / "seed-0" / "summary.json").read_text())
    assert set(summary["provenance"]) == {"finished", "code", "machine", "load_average"}

    # The rest: every claim, which runs seed 2 only (the second claim shares the runs).
    capsys.readouterr()
    assert cli.main(base[:-1]) == 0  # with progress lines
    # The count is of the claim's seeds, the two finished before included.
    assert "seed 2 finished (3 of 3 seeds done)" in capsys.readouterr().out
    text = doc.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| **tiny_oja**"))
    assert "| 3 of 3 |" in row
    assert {s: (out / "tiny" / f"seed-{s}" / "summary.json").stat().st_mtime_ns for s in (0, 1)} == mtimes
    section = text.split("## tiny_oja", 1)[1].split("## tiny_again", 1)[0]
    assert section.count("\n| 0 |") == 1 and "| 2 |" in section and "`angle_oja < 180`" in section
    assert "plastix sweep" in section and f"--out {out / 'tiny'}" in section

    # --table rewrites the page from what has run, running nothing.
    doc.write_text(repro.MARK + "\nold\n")
    assert cli.main([*base[:-1], "--table"]) == 0
    assert doc.read_text() == text


def test_refusals(tmp_path, tiny_config, capsys):
    config = tiny_config
    claims, doc = _claims(tmp_path, config), tmp_path / "mine.md"
    doc.write_text("my own notes\n")
    base = ["reproduce", "--claims-file", str(claims), "--out", str(tmp_path / "runs"), "--quiet"]
    cases = [
        ([*base, "tiny_ojа"], "no claim"),  # a Cyrillic a
        ([*base, "tiny_oj"], "did you mean 'tiny_oja'"),
        ([*base, "tiny_oja", "--seeds", "3"], "claim tiny_oja has seeds 0-2, not 3"),
        ([*base, "tiny_oja", "--table"], "--table"),
        ([*base, "--table", "--doc", str(doc)], "was not written by plastix reproduce"),
        ([*base, "tiny_oja", "--doc", str(doc)], "was not written by plastix reproduce"),  # before any run
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert doc.read_text() == "my own notes\n"  # nothing overwritten
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_list_names_every_claim(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(repro.load_claims()) and out[0].startswith("oja_n3 ")
