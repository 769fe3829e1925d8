"""The command line's behaviour around a run: start-up without JAX, progress and timings in a log,
resume of a finished or edited run, the run directory's lock, and inputs that must not hang."""

import io
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from rich.console import Console

from plastix import cli
from plastix.experiment import UserError, _rundir, _runner, load
from plastix.experiment._progress import STAGES, Lines, Live, Stages, breakdown


def plastix(*args, cwd=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "plastix.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def _modules_after(*argv: str) -> set[str]:
    """The modules imported by ``plastix ARGV`` in a fresh interpreter (it may exit with 2)."""
    code = (
        "import sys\nfrom plastix import cli\n"
        "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "sys.stdout.write('\\n'.join(sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    return set(r.stdout.split("\n"))


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("--version",), ("run", "ojaa"), ("run", "/dev/zero"), ("frobnicate",)],
)
def test_quick_calls_import_neither_jax_nor_pycma(argv):
    mods = _modules_after(*argv)
    assert "plastix.cli" in mods
    assert not {"jax", "cma", "matplotlib", "scipy"} & mods, sorted(
        {"jax", "cma", "matplotlib", "scipy"} & mods
    )


@pytest.mark.parametrize("argv", [("list",), ("check", "oja"), ("check", "oja", "--set", "meta.popsiz=3")])
def test_list_and_check_import_no_plotting_and_no_pycma(argv):
    """They validate configs (whose components import JAX), but draw and optimise nothing."""
    mods = _modules_after(*argv)
    assert "plastix.experiment.families" in mods or argv[-1].startswith("meta.popsiz")
    assert not {"cma", "matplotlib", "scipy"} & mods, sorted({"cma", "matplotlib", "scipy"} & mods)


def test_version_names_the_installed_package():
    from importlib.metadata import version

    r = plastix("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"plastix {version('plastix')}"


def test_a_misspelt_config_name_or_key_is_named_with_its_nearest(tiny_config):
    r = plastix("run", "ojaa")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "config file not found: ojaa" in r.stderr and "did you mean 'oja'" in r.stderr
    r = plastix("check", tiny_config, "--set", "meta.popsiz=3")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "meta.popsiz: unknown key" in r.stderr and "did you mean 'popsize'" in r.stderr
    r = plastix("check", tiny_config, "--set", "rules.ff.ordr=2")
    assert "rules.ff.ordr: unknown key" in r.stderr and "'order'" in r.stderr


def test_configs_are_read_only_from_bounded_regular_files(tmp_path):
    r = plastix("run", "/dev/zero", timeout=60)  # read without bound before: 6 GB, then killed
    assert r.returncode == 2 and "a device, not a regular file" in r.stderr
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)  # no writer: a blocking open would wait for ever
    r = plastix("check", fifo, timeout=60)
    assert r.returncode == 2 and "a FIFO, not a regular file" in r.stderr
    big = tmp_path / "big.toml"
    big.write_text(f'name = "{"x" * (2 << 20)}"\n')
    r = plastix("check", big, timeout=60)
    assert r.returncode == 2 and "larger than 1024 KiB" in r.stderr


def test_an_error_quoting_a_huge_value_is_one_readable_line(tiny_config, tmp_path):
    r = plastix("check", tiny_config, "--set", "family=" + "x" * 100_000)  # an argument's limit: 128 KiB
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert len(r.stderr) < 600 and "characters ...]" in r.stderr
    assert cli._one_line("a\nb") == "a\\nb"


def test_a_log_gets_stage_lines_and_the_summary_splits_the_wall_time(tiny_config, tmp_path):
    out = tmp_path / "run"
    r = plastix("run", tiny_config, "--out", out)  # stdout is a pipe: plain lines
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("plastix: ")]
    for stage in STAGES:
        starts = [ln for ln in lines if ln.startswith(f"plastix: {stage} ") and ln.endswith(" ...")]
        assert starts and any(ln.startswith(f"plastix: {stage} done in") for ln in lines), lines
    assert any(ln.startswith("plastix: generations 6/6 (100%)") and "left 0:00" in ln for ln in lines)
    assert "\x1b[" not in r.stdout  # no terminal codes in a log
    # Final scoring's steps differ in cost (a family's baselines): no time-left estimate, but what runs next.
    scoring = [ln for ln in lines if ln.startswith("plastix: final scoring 1/")]
    assert scoring and "left" not in scoring[0] and "scoring the held-out episodes" in scoring[0]
    wall = [ln for ln in r.stdout.splitlines() if ln.startswith("  wall time ")]
    assert len(wall) == 1 and all(f"{s} " in wall[0] for s in ("compile", *STAGES)), wall
    timings = json.loads((out / "summary.json").read_text())["timings"]
    for stage in STAGES:
        key = stage.replace(" ", "_")
        assert 0 <= timings[f"{key}_compile_s"] <= timings[f"{key}_s"]
    assert timings["compile_s"] > 0  # the inner loop compiles in every fresh process
    assert timings["total_s"] == pytest.approx(sum(timings[f"{s.replace(' ', '_')}_s"] for s in STAGES))


def test_lines_report_every_tenth_and_at_most_every_period():
    class Sink:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    sink = Sink()
    stages = Stages(Lines(sink, period=3600))
    with stages("generations", total=100) as advance:
        for g in range(1, 101):
            advance(g, f"best {g}")
    steps = [ln for ln in sink.text.splitlines() if ln.startswith("plastix: generations ") and "/100" in ln]
    assert [ln.split()[2] for ln in steps] == [f"{k}/100" for k in range(10, 101, 10)]
    assert "generations done in" in sink.text
    assert stages.timings()["generations_s"] >= 0 and "generations" in breakdown(stages.timings())


def test_resume_of_a_finished_run_says_so_and_rewrites_nothing(tiny_config, tmp_path):
    out = tmp_path / "run"
    _runner.run(load(tiny_config), out)
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()}
    t0 = time.perf_counter()
    r = plastix("resume", out)
    assert r.returncode == 0 and "finished" in r.stdout and "nothing to resume" in r.stdout
    assert time.perf_counter() - t0 < 60  # nothing compiled or scored (a run of it took longer)
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()} == before


def interrupted_run(cfg, out, at: int) -> None:
    """A run of ``cfg`` into ``out`` interrupted after generation ``at`` (Ctrl-C: checkpointed)."""

    def crash(gen, row):
        if gen == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _runner.run(cfg, out, progress=crash)


def test_resume_generations_may_lower_the_budget_of_an_unfinished_run(tiny_config, tmp_path):
    cfg = load(tiny_config, ["meta.generations=8"])
    out = tmp_path / "run"
    interrupted_run(cfg, out, at=3)
    with pytest.raises(UserError, match="already run 3 generations"):
        _runner.extend(out, 2)
    _runner.extend(out, 5)
    summary = _runner.resume(out)
    assert summary["generations"] == 5 and len(_rundir.read_metrics(out)) == 5


def test_resume_refuses_a_config_edited_after_the_start(tiny_config, tmp_path):
    out = tmp_path / "run"
    interrupted_run(load(tiny_config), out, at=2)
    text = (out / "config.toml").read_text()
    (out / "config.toml").write_text(text.replace("popsize = 6", "popsize = 9"))
    r = plastix("resume", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "was changed after the run started (meta.popsize: 6 -> 9)" in r.stderr
    assert len(_rundir.read_metrics(out)) == 2  # nothing ran
    (out / "config.toml").write_text(text)  # restored: it resumes
    assert _runner.resume(out)["generations"] == 6


def test_a_run_directory_is_locked_while_a_run_writes_it(tiny_config, tmp_path):
    out = tmp_path / "run"
    interrupted_run(load(tiny_config), out, at=2)
    inside, release = threading.Event(), threading.Event()

    def hold():  # as a run in progress holds it
        with _rundir.locked(out):
            inside.set()
            release.wait(60)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(60)
    try:  # flock belongs to an open file: another process is refused, however the two interleave
        for args in (("run", tiny_config, "--out", out, "--force", "--quiet"), ("resume", out, "--quiet")):
            r = plastix(*args)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
            assert f"another plastix process (pid {os.getpid()}) is writing" in r.stderr
    finally:
        release.set()
        t.join()
    assert len(_rundir.read_metrics(out)) == 2  # neither touched it
    r = plastix("resume", out, "--quiet")  # released with its holder
    assert r.returncode == 0, r.stderr
    assert len(_rundir.read_metrics(out)) == 6


def test_the_live_view_fits_80_columns():
    buf = io.StringIO()
    live = Live(Console(file=buf, width=80, force_terminal=True, color_system=None))
    stages = Stages(live)
    info = "best 0.1234  mean 0.2345  ∠oja 3.1°  " + "x" * 100  # longer than a line: folded, not cut
    with stages("generations", total=1000) as advance:
        for g in range(1, 4):
            advance(g, info)
        live.live.refresh()
    live.stop()
    rows = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    assert rows and all(len(ln) <= 80 for ln in _plain(rows)), _plain(rows)
    assert any("generations" in ln and "3/1000" in ln and "left" in ln for ln in _plain(rows))


def _plain(rows):
    """Terminal rows without rich's cursor codes."""
    return [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", ln).replace("\r", "") for ln in rows]


def test_a_sweep_off_a_terminal_writes_a_line_per_run(tiny_config, tmp_path):
    r = plastix("sweep", tiny_config, "--seeds", "0-1", "--out", tmp_path / "sweep")
    assert r.returncode == 0, r.stderr
    assert "plastix: seed 0 finished (1 of 2 seeds done)" in r.stdout
    assert "plastix: seed 1 finished (2 of 2 seeds done)" in r.stdout
    assert any(ln.startswith("plastix: seed 1 6/6 (100%)") for ln in r.stdout.splitlines()), r.stdout


def test_cma_restarts_run_resume_and_end_the_run_when_used_up(tiny_config, tmp_path):
    """``meta.restarts``: IPOP-CMA-ES. Runs stall at once here (pycma's tolfun far above the loss's
    spread), so the two restarts are used up within the budget and the run ends there."""
    stall = "meta.cma_options={tolfun = 1e3, tolflatfitness = 1}"  # every run stops at once
    overrides = ["meta.generations=40", "meta.restarts=2", stall]
    cfg = load(tiny_config, overrides)
    whole = _runner.run(cfg, tmp_path / "whole")
    rows = _rundir.read_metrics(tmp_path / "whole")
    assert whole["stopped"].startswith("CMA-ES restarts used up (3 runs") and len(rows) < 40
    assert [r["popsize"] for r in rows if r["run"] == 3][0] == 4 * 6  # doubled twice
    out = tmp_path / "resumed"
    interrupted_run(cfg, out, at=len(rows) // 2)
    assert _runner.resume(out)["stopped"] == whole["stopped"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # noqa: E731
    assert strip(_rundir.read_metrics(out)) == strip(rows)
