"""Faults a run survives: Ctrl-C and SIGTERM, SIGKILL at any point, a full disk, damaged files.

Every scenario ends the same way: ``plastix resume`` completes the run and its
``metrics.csv`` equals an uninterrupted run's in every column but ``wall_s``
(or, for damage that is not a crash, a one-line error naming the file, exit 2,
and every file left as it was).

Processes started here share a persistent JAX compilation cache, filled by
the reference run, so that each start costs tracing but not compiling. Most
of them (the SIGKILL test's victims, the resumes) are forked from one process
that has already imported plastix (single-threaded at that point, so forking
is safe): a kill point then costs the run's own startup, not Python's and
JAX's imports.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import pickle
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from plastix import cli
from plastix.experiment import _rundir as rd
from plastix.experiment import _runner
from plastix.experiment._config import UserError
from plastix.experiment._interrupt import Interrupted, interruptible

# The module's tests share one reference run (and the compilation cache): one worker runs them all.
pytestmark = pytest.mark.xdist_group("faults")

GENERATIONS, EVERY = 100, 3
# The tiny Oja run of conftest.py, with enough generations that the loop is a good part
# of a run's time and checkpoints every third one, so that kills land between them.
CONFIG = f"""
name = "faults"
seed = 3

[network]
n_in = 3
n_out = 1

[task]
steps = 20
batch = 50
episodes = 4
heldout_episodes = 4

[rules.ff]
reference = "oja"

[meta]
generations = {GENERATIONS}
checkpoint_every = {EVERY}
popsize = 6
sigma0 = 0.5
"""


# --------------------------------------------------------------------------------------------
# shared pieces


# Runs in its own process; reads one request per line on stdin: fork, run plastix.cli.main in
# the child and answer how it ended. `kill` = {"after_rows": n, "delay": s} sends SIGKILL `s`
# seconds after the child's own metrics.csv (`watch`: once it has written or replaced it)
# holds n rows, or `s` seconds after the start when n is null; `tear` = [name, nth] makes the
# child kill itself half-way through its nth write of `name`. The answer also says when the
# child's first row beyond `base` appeared and when it held all `generations` rows.
FORKER = r"""
import json, os, signal, sys, time, traceback
import plastix.cli  # first: it caps the BLAS thread pools before numpy is imported
import plastix.experiment
from plastix.experiment import _rundir

def tear(name, nth):
    # The nth write of `name` (or of its temporary file) stops half-way: the process kills itself.
    write, seen = _rundir._write, [0]
    def torn(file, data, append=False):
        if file.name in (name, name + _rundir.TMP):
            seen[0] += 1
            if seen[0] == nth:
                write(file, data[: len(data) // 2], append)
                os.kill(os.getpid(), signal.SIGKILL)
        write(file, data, append)
    _rundir._write = torn

def inode(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None

def rows(path, old):
    # Rows of the child's own metrics.csv; None while the file is the one from before it.
    try:
        if os.stat(path).st_ino == old:
            return None
        with open(path, "rb") as fh:
            return max(fh.read().count(b"\n") - 1, 0)
    except FileNotFoundError:
        return None

for line in sys.stdin:
    req = json.loads(line)
    threads = len(os.listdir("/proc/self/task"))
    assert threads == 1, f"{threads} threads: forking is not safe"
    kill, watch = req["kill"], req["watch"]
    old = inode(watch)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            if req["tear"]:
                tear(*req["tear"])
            code = plastix.cli.main(req["argv"])
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    first = done_rows = None
    armed = t0 if kill and kill["after_rows"] is None else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        now = time.monotonic()
        n = rows(watch, old)
        if n is not None:
            if first is None and n > req["base"]:
                first = now - t0
            if done_rows is None and n >= req["generations"]:
                done_rows = now - t0
            if kill and armed is None and kill["after_rows"] is not None and n >= kill["after_rows"]:
                armed = now
        if (armed is not None and now >= armed + kill["delay"]) or now > t0 + 300:
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            break
        time.sleep(0.002)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    answer = {"killed": killed, "rc": rc, "t": time.monotonic() - t0, "first": first, "done": done_rows}
    print(json.dumps(answer), flush=True)
"""


class Forker:
    """Starts ``plastix`` processes forked from :data:`FORKER`."""

    def __init__(self, env):
        self.p = subprocess.Popen(
            [sys.executable, "-c", FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def __call__(self, argv, out: Path, log: Path, kill=None, tear=None, base=0) -> dict:
        """Run ``plastix argv`` on the run directory ``out``, killed as ``kill`` or ``tear`` say."""
        watch = str(out / rd.METRICS)
        req = {"argv": [str(a) for a in argv], "log": str(log), "watch": watch, "kill": kill, "tear": tear}
        req.update(base=base, generations=GENERATIONS)
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline()
        assert answer, "the forking process died"
        return json.loads(answer)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


@pytest.fixture(scope="module")
def forker(env):
    f = Forker(env)
    yield f
    f.close()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faults")
    (d / "faults.toml").write_text(CONFIG)
    return d


@pytest.fixture(scope="module")
def env(work) -> dict[str, str]:
    """The environment of every process started here: CPU, and one compilation cache."""
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(work / "jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def plastix(env, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plastix.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        **kw,
    )


def rows(path: Path) -> list[dict[str, str]]:
    """metrics.csv as written (strings), without the one column that may differ: wall_s."""
    with open(path / rd.METRICS, newline="") as fh:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def generation(path: Path) -> int | None:
    """The generation of the run's checkpoint, ``None`` without one (read as resume reads it)."""
    ckpt = rd.resumable(path)
    return None if ckpt is None else ckpt["generation"]


def files(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def leftovers(path: Path) -> list[str]:
    return [str(f.relative_to(path)) for f in path.rglob("*" + rd.TMP)]


@pytest.fixture(scope="module")
def reference(work, env) -> Path:
    """The uninterrupted run every faulty one is compared with."""
    out = work / "reference"
    r = plastix(env, "run", work / "faults.toml", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(rows(out)) == GENERATIONS
    return out


def assert_completed(path: Path, reference: Path) -> None:
    """A run brought to its end: the reference's metrics, theta and arrays, no temporary file left."""
    assert rows(path) == rows(reference)
    summary, ref = (json.loads((p / rd.SUMMARY).read_text()) for p in (path, reference))
    assert summary["generations"] == GENERATIONS and summary["theta"] == ref["theta"]
    with np.load(path / rd.FINAL) as a, np.load(reference / rd.FINAL) as b:
        assert sorted(a.files) == sorted(b.files)
        np.testing.assert_array_equal(a["theta_ff"], b["theta_ff"])
    assert (path / rd.FIGURES / "loss.png").stat().st_size > 5000
    assert generation(path) == GENERATIONS
    assert leftovers(path) == []


# --------------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM


def test_a_signal_in_a_generation_waits_for_its_end(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with interruptible(tmp_path) as guard:
        assert signal.getsignal(signal.SIGINT) == guard._handle
        assert signal.getsignal(signal.SIGTERM) == guard._handle
        guard.defer()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run: it only noted the signal
        assert guard.signum == signal.SIGINT
        guard.saved = 7
        with pytest.raises(Interrupted) as err:
            guard.deliver()
    assert (err.value.generation, err.value.exit_code, err.value.path) == (7, 130, tmp_path)
    assert isinstance(err.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) == before  # the previous handlers are back


def test_outside_a_generation_or_on_a_second_signal_it_stops_at_once(tmp_path):
    with interruptible(tmp_path) as guard:
        guard.saved = 4
        with pytest.raises(Interrupted) as err:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
    assert (err.value.generation, err.value.exit_code) == (4, 143)
    with interruptible(tmp_path) as guard:
        guard.defer()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        with pytest.raises(Interrupted) as err:
            os.kill(os.getpid(), signal.SIGINT)  # the second one: no more waiting
            time.sleep(10)
    assert err.value.exit_code == 143  # the code of the first signal


def test_ignored_signals_stay_ignored_and_threads_are_left_alone(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interruptible(tmp_path) as guard:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == guard._handle
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    seen = []

    def elsewhere():  # handlers can only be set from the main thread: the guard is inert there
        with interruptible(tmp_path) as guard:
            seen.append((guard.signum, signal.getsignal(signal.SIGTERM)))

    t = threading.Thread(target=elsewhere)
    t.start()
    t.join()
    assert seen == [(None, signal.getsignal(signal.SIGTERM))]


def _metrics_rows(path: Path) -> int:
    try:
        return max((path / rd.METRICS).read_bytes().count(b"\n") - 1, 0)
    except FileNotFoundError:
        return 0


def _interrupt_in_terminal(argv, env, signum, out: Path) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (stdout and stderr both, as in a shell), progress bar
    on; send ``signum`` once a metrics row is written; return the exit code and the output."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm", "COLUMNS": "120"}
    )
    os.close(slave)
    text, sent, t0 = b"", False, time.monotonic()
    try:
        while True:
            if not sent and _metrics_rows(out) >= 1:
                p.send_signal(signum)
                sent = True
            assert time.monotonic() - t0 < 300, "the run did not end"
            if select.select([master], [], [], 0.01)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process has closed the terminal
                    break
                if not chunk:
                    break
                text += chunk
    finally:
        os.close(master)
    return p.wait(timeout=60), text.decode(errors="replace")


def _screen_lines(text: str) -> list[str]:
    """The lines a terminal would show: escape sequences dropped, a carriage return overwriting."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r\n", "\n")
    return [line.split("\r")[-1].rstrip() for line in text.split("\n") if line.split("\r")[-1].strip()]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_checkpoints_the_generation_and_resume_completes(
    work, env, forker, reference, signum, tmp_path
):
    """SIGINT on a terminal with the progress bar drawn, SIGTERM on pipes: either way the last
    complete generation is checkpointed though no checkpoint was due (``checkpoint_every`` is
    larger than the run), one line says how to go on, and the exit code is 128 + the signal."""
    out = tmp_path / "run"
    args = ["run", work / "faults.toml", "--out", out, "--set", "meta.checkpoint_every=1000"]
    if signum == signal.SIGINT:
        code, text = _interrupt_in_terminal(
            [sys.executable, "-m", "plastix.cli", *map(str, args)], env, signum, out
        )
        lines = _screen_lines(text)
        assert any(line.startswith("generations") for line in lines[-5:-1])  # the live view's last state
        err = lines[-1]
        assert text.count("interrupted after") == 1
    else:
        p = subprocess.Popen(
            [sys.executable, "-m", "plastix.cli", *map(str, args), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        t0 = time.monotonic()
        while _metrics_rows(out) < 1 and p.poll() is None and time.monotonic() - t0 < 300:
            time.sleep(0.005)
        p.send_signal(signum)
        _, stderr = p.communicate(timeout=300)
        code = p.returncode
        assert stderr.count("\n") == 1
        err = stderr.rstrip("\n")
    n = generation(out)
    assert code == 128 + signum
    assert err == f"interrupted after generation {n}; continue with: plastix resume {out}"
    assert 1 <= n < GENERATIONS and _metrics_rows(out) == n
    assert not (out / rd.SUMMARY).exists()
    r = forker(["resume", out, "--quiet"], out, tmp_path / "resume.log")
    assert r["rc"] == 0, (tmp_path / "resume.log").read_text()
    assert_completed(out, reference)


# --------------------------------------------------------------------------------------------
# SIGKILL anywhere


def _argv(config: Path, out: Path) -> list:
    """Continue the run in ``out``; start it where no config.toml made it a run yet."""
    if (out / rd.CONFIG).exists():
        return ["resume", out, "--quiet"]
    return ["run", config, "--out", out, "--quiet"]


def _state(out: Path) -> str:
    """What a kill left, in words, after checking that it is all intact."""
    if not (out / rd.CONFIG).exists():
        return "no run yet"
    rd.read_config(out)
    n = generation(out)
    metrics = (out / rd.METRICS).read_bytes() if (out / rd.METRICS).exists() else b""
    torn = ", torn last line" if metrics and not metrics.endswith(b"\n") else ""
    done = ", summary" if (out / rd.SUMMARY).exists() else ""
    return f"checkpoint {n}, {len(rd.read_metrics(out))} rows{torn}{done}"


# Where a chain's kills are aimed, in order; chains of five until there are KILLS kills.
KILLS = 20
CHAIN = ("startup", "generations", "generations", "generations", "final scoring")


@pytest.mark.slow
def test_sigkill_at_random_points_and_mid_write_then_resume_completes(work, forker, reference, capsys):
    """SIGKILL at 20 random points, then half-way through chosen writes: each time ``plastix
    resume`` continues from the last complete checkpoint, nothing is damaged, and the run ends
    with the uninterrupted run's numbers.

    Kills are chained: the process that resumes after one kill is the next one killed; after
    five, the run is resumed to its end, compared with the reference, and a new one starts
    (so too when a process gets to the end before its kill).
    The five are aimed at the phases of a process, each at a random point within: its
    startup (a random fraction of the shortest seen so far), a random generation (a random
    fraction of a generation after the row before it), the final scoring (a random fraction
    of the shortest seen, after the last row). Aiming by rows rather than by the clock keeps
    a busy machine from turning kills into runs that end first.
    """
    config, log, report = work / "faults.toml", work / "forked.log", []
    t_start = time.monotonic()

    def proc(out, **kw):
        base = generation(out) if (out / rd.CONFIG).exists() else None
        r = forker(_argv(config, out), out, log, base=base or 0, **kw)
        assert r["killed"] or r["rc"] == 0, log.read_text()
        return base, r

    try:
        timed = work / "timed"
        _, r = proc(timed)
        assert_completed(timed, reference)
        startup, finish = r["first"], r["t"] - r["done"]
        per_gen = (r["done"] - r["first"]) / (GENERATIONS - 1)
        report.append(
            f"a run: startup {startup:.2f} s, generations {per_gen * 1e3:.1f} ms each, "
            f"final scoring {finish:.2f} s, {r['t']:.2f} s in all"
        )
        rng, kills, chains = random.Random(2718), 0, 0
        while kills < KILLS:
            out, ended = work / f"chain-{chains}", False
            chains += 1
            for phase in CHAIN[: KILLS - kills]:
                u = rng.random()
                base = generation(out) if (out / rd.CONFIG).exists() else None
                if phase == "startup":
                    kill = {"after_rows": None, "delay": u * startup}
                elif phase == "generations":
                    row = (base or 0) + 1 + int(rng.random() * (GENERATIONS - (base or 0)))
                    kill = {"after_rows": min(row, GENERATIONS), "delay": u * per_gen}
                else:
                    kill = {"after_rows": GENERATIONS, "delay": u * finish}
                _, r = proc(out, kill=kill)
                if r["first"] is not None:
                    startup = min(startup, r["first"])
                if not r["killed"]:  # it got to the end first: so does this chain
                    assert_completed(out, reference)
                    if r["done"] is not None:
                        finish = min(finish, r["t"] - r["done"])
                    report.append(f"{phase:<13} ended before its kill  {out.name}: {_state(out)}")
                    ended = True
                    break
                kills += 1
                aim = "start" if kill["after_rows"] is None else f"row {kill['after_rows']}"
                report.append(
                    f"{phase:<13} {aim} + {kill['delay']:.3f} s (at {r['t']:.2f} s)  "
                    f"{out.name}: checkpoint {base} -> {_state(out)}"
                )
            if not ended:
                proc(out)
                assert_completed(out, reference)
        report.append(f"{kills} kills in {chains} runs")

        # Half-way through writes: the first config.toml (no run yet: `plastix run` again),
        # the second checkpoint, a metrics row, the last checkpoint, summary.json.
        out = work / "torn"
        for name, nth in [
            (rd.CONFIG, 1),
            ("state.pkl", 2),
            (rd.METRICS, 4),  # the first write rewrites the file on resuming; then rows
            ("state.pkl", "last"),
            (rd.SUMMARY, 1),
        ]:
            if nth == "last":  # the checkpoint of the last generation: count those still to come
                due = range(generation(out) + 1, GENERATIONS + 1)
                nth = len([g for g in due if g % EVERY == 0 or g == GENERATIONS])
            _, r = proc(out, tear=[name, nth])
            assert r["killed"], f"{name} #{nth}: {log.read_text()}"
            state = _state(out)
            report.append(f"half-way through {name} #{nth}: {state}")
            if name == rd.METRICS:
                assert "torn last line" in state
            if name == "state.pkl" and nth == 2:
                assert state.startswith(f"checkpoint {EVERY},")
        proc(out)
        assert_completed(out, reference)
    finally:
        with capsys.disabled():
            print(f"\nSIGKILL test: {time.monotonic() - t_start:.0f} s")
            print("\n".join(f"  {line}" for line in report))


# --------------------------------------------------------------------------------------------
# a full disk


def _disk_full_at(monkeypatch, name: str, nth: int):
    """The nth write of ``name`` (or of its temporary file) fails, as on a full disk, after
    half its bytes have gone out."""
    write, seen = rd._write, [0]

    def full(file, data, append=False):
        if file.name in (name, name + rd.TMP):
            seen[0] += 1
            if seen[0] == nth:
                write(file, data[: len(data) // 2], append)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        write(file, data, append)

    monkeypatch.setattr(rd, "_write", full)


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes(work, reference, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    start = ["run", str(work / "faults.toml"), "--out", str(out), "--quiet"]
    for argv, (name, nth), where in [
        (start, ("state.pkl", 2), out / rd.CHECKPOINT),
        (["resume", str(out), "--quiet"], (rd.METRICS, 3), out / rd.METRICS),
    ]:
        with monkeypatch.context() as m:
            _disk_full_at(m, name, nth)
            before = generation(out) if (out / rd.CONFIG).exists() else None
            assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"plastix: error: cannot write {where}: No space left on device; ")
        assert err.endswith(f"`plastix resume {out}` once this is fixed\n") and err.count("\n") == 1
        assert leftovers(out) == []
        n = generation(out)  # the last complete checkpoint, intact
        if name == "state.pkl":
            assert n == EVERY
        else:
            assert n >= before
        if name == rd.METRICS:
            assert not (out / rd.METRICS).read_bytes().endswith(b"\n")  # half a row
    assert cli.main(["resume", str(out), "--quiet"]) == 0
    assert_completed(out, reference)


def test_an_unwritable_run_directory_is_one_line(work, tmp_path, capsys, monkeypatch):
    def refused(file, data, append=False):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))

    monkeypatch.setattr(rd, "_write", refused)
    out = tmp_path / "run"
    assert cli.main(["run", str(work / "faults.toml"), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == f"plastix: error: cannot write {out / rd.CONFIG}: Permission denied\n"
    assert leftovers(out) == [] and not rd.is_run(out)


# --------------------------------------------------------------------------------------------
# damaged files


def _append_rows(path: Path, n: int, names=("generation", "loss_best", "wall_s")) -> None:
    for g in range(n):
        rd.append_metrics(path, {k: g if k == "generation" else 0.5 * g for k in names})


def test_metrics_a_crash_leaves_still_read(tmp_path):
    _append_rows(tmp_path, 5)
    whole = (tmp_path / rd.METRICS).read_bytes()
    assert [r["generation"] for r in rd.read_metrics(tmp_path)] == [0, 1, 2, 3, 4]
    # A row cut short, even one that still parses: dropped.
    (tmp_path / rd.METRICS).write_bytes(whole[:-3])
    assert len(rd.read_metrics(tmp_path)) == 4
    assert len(rd.read_metrics(tmp_path, upto=4)) == 4
    # Rows after the checkpoint are not needed, whatever they hold.
    (tmp_path / rd.METRICS).write_bytes(whole + b"5,zz,\x00\r\n6,1")
    assert len(rd.read_metrics(tmp_path, upto=3)) == 3
    assert rd.read_metrics(tmp_path, upto=0) == []
    # A header cut short: no rows yet, which is all a run without a checkpoint needs.
    (tmp_path / rd.METRICS).write_bytes(whole[:8])
    assert rd.read_metrics(tmp_path) == [] and rd.read_metrics(tmp_path, upto=0) == []


@pytest.mark.parametrize(
    "damage,upto,needle",
    [
        (lambda b: b"gen;loss\r\n" + b.split(b"\n", 1)[1], 3, "line 1 is not a metrics header"),
        (lambda b: b.replace(b"\n1.0,0.5,", b"\n1.0,abc,"), 3, "line 3 holds a non-number"),
        (lambda b: b.replace(b"\n1.0,0.5,0.5\r", b"\n1.0,0.5\r"), 3, "line 3 has 2 fields"),
        (lambda b: b.replace(b"1.0,0.5,0.5\r\n", b""), 3, "line 3 is generation 2, expected 1"),
        (lambda b: b[: b.index(b"3.0,")] + b"3.0,1.", 4, "it holds 3 generations but the checkpoint is at"),
        (lambda b: b"", 2, "it holds 0 generations"),
        (lambda b: b.replace(b"2.0", b"2\x000"), 4, "line 4 holds a non-number"),
        (lambda b: b.replace(b"2.0", b"\xff\xfe"), 4, "not text"),
    ],
    ids=["header", "non-number", "short-row", "gap", "cut-before-checkpoint", "empty", "nul", "binary"],
)
def test_damaged_metrics_are_one_line_naming_the_file(tmp_path, damage, upto, needle):
    _append_rows(tmp_path, 5)
    f = tmp_path / rd.METRICS
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(UserError) as err:
        rd.read_metrics(tmp_path, upto=upto)
    assert str(err.value).startswith(f"{f}: damaged, ") and needle in str(err.value)
    assert "\n" not in str(err.value)


def test_appending_to_metrics_of_other_columns_is_refused(tmp_path):
    _append_rows(tmp_path, 2)
    before = (tmp_path / rd.METRICS).read_bytes()
    with pytest.raises(UserError, match="columns differ"):
        rd.append_metrics(tmp_path, {"generation": 2, "loss_best": 1.0, "angle_oja": 3.0})
    assert (tmp_path / rd.METRICS).read_bytes() == before
    # Same columns in another order: written in the header's order.
    rd.append_metrics(tmp_path, {"wall_s": 9.0, "generation": 2, "loss_best": 1.0})
    assert rd.read_metrics(tmp_path)[-1] == {"generation": 2.0, "loss_best": 1.0, "wall_s": 9.0}


GOOD = {"state": None, "generation": 3, "wall_s": 1.5, "stopped": None, "best": None}


@pytest.mark.parametrize(
    "data,needle",
    [
        (pickle.dumps(GOOD)[:-7], "does not unpickle (UnpicklingError)"),
        (b"", "does not unpickle (EOFError)"),
        (os.urandom(64), "does not unpickle"),
        (pickle.dumps([1, 2, 3]), "not a plastix checkpoint"),
        (pickle.dumps({"generation": 3}), "not a plastix checkpoint"),
        (pickle.dumps({**GOOD, "generation": -1}), "generation -1 is not a count"),
        (pickle.dumps({**GOOD, "generation": "3"}), "generation '3' is not a count"),
        (pickle.dumps({**GOOD, "wall_s": None}), "wall_s None"),
        (pickle.dumps({**GOOD, "stopped": 3}), "stopped 3"),
        (pickle.dumps({**GOOD, "best": {"loss": 1.0}}), "best-validation entry"),
    ],
    ids=["truncated", "empty", "random", "a-list", "keys", "negative", "str", "wall", "stopped", "best"],
)
def test_damaged_checkpoints_are_one_line_naming_the_file(tmp_path, data, needle):
    f = tmp_path / rd.CHECKPOINT
    f.parent.mkdir()
    f.write_bytes(data)
    with pytest.raises(UserError) as err:
        rd.load_checkpoint(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{f}: damaged, ") and needle in msg and msg.endswith("to start the run over")
    assert "\n" not in msg


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    theta0 = {"ff": np.zeros(27)}
    rd.check_state(tmp_path, lambda: {"ff": np.ones(27)}, theta0)  # fits
    for theta_of in (lambda: {"ff": np.zeros(9)}, lambda: {"fb": np.zeros(27)}, lambda: None.es):
        with pytest.raises(UserError, match="does not fit this run's config"):
            rd.check_state(tmp_path, theta_of, theta0)


@pytest.fixture
def unfinished(reference, tmp_path) -> Path:
    """A copy of the reference run given more generations (so unfinished: no summary yet)."""
    out = tmp_path / "unfinished"
    shutil.copytree(reference, out)
    _runner.extend(out, GENERATIONS + 5)
    for name in (rd.SUMMARY, rd.FINAL):
        (out / name).unlink()
    shutil.rmtree(out / rd.FIGURES)
    return out


def _cut(f: Path, keep: float = 0.5) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * keep)])


DAMAGE = {
    "checkpoint-truncated": (rd.CHECKPOINT, _cut),
    "checkpoint-structure": (rd.CHECKPOINT, lambda f: f.write_bytes(pickle.dumps({"generation": 3}))),
    "metrics-header": (rd.METRICS, lambda f: f.write_bytes(b"x" + f.read_bytes())),
    "metrics-truncated": (rd.METRICS, _cut),
    "metrics-row": (rd.METRICS, lambda f: f.write_bytes(f.read_bytes().replace(b"\n7.0,", b"\n7.0,x"))),
    "metrics-gap": (rd.METRICS, lambda f: f.write_text("".join(f.read_text().splitlines(True)[:5]) + "9.0")),
    "config-toml": (rd.CONFIG, lambda f: f.write_bytes(f.read_bytes()[:-40] + b"[[[")),
    "config-values": (rd.CONFIG, lambda f: f.write_text(f.read_text().replace("n_in = 3", "n_in = -3"))),
    "config-binary": (rd.CONFIG, lambda f: f.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(32))),
}
COMMANDS = {
    "resume": lambda d: ["resume", d, "--quiet"],
    "extend": lambda d: ["resume", d, "--generations", GENERATIONS + 9, "--quiet"],
    "show": lambda d: ["show", d],
    "show-json": lambda d: ["show", d, "--json"],
    "plot": lambda d: ["plot", d],
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_run_is_refused_in_one_line_and_left_alone(unfinished, damage, capsys):
    name, spoil = DAMAGE[damage]
    spoil(unfinished / name)
    before = files(unfinished)
    for verb, argv in COMMANDS.items():
        assert cli.main([str(a) for a in argv(unfinished)]) == 2, verb
        err = capsys.readouterr().err
        assert err.startswith(f"plastix: error: {unfinished / name}: ") and err.count("\n") == 1, (verb, err)
        assert files(unfinished) == before, verb


def test_a_damaged_summary_or_final_npz_is_one_line(reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    _cut(out / rd.FINAL)
    before = files(out)
    assert cli.main(["plot", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"plastix: error: {out / rd.FINAL}: damaged, not an npz")
    (out / rd.SUMMARY).write_text('{"name": "faults", ')
    for argv in (["show", str(out)], ["show", str(out), "--json"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith(f"plastix: error: {out / rd.SUMMARY}: damaged, not JSON") and err.count("\n") == 1
        )
    assert {k: v for k, v in files(out).items() if k != rd.SUMMARY} == {
        k: v for k, v in before.items() if k != rd.SUMMARY
    }


def test_what_a_kill_leaves_is_not_damage(unfinished, capsys):
    """Rows beyond the checkpoint, a torn last line and temporary files are what SIGKILL leaves:
    show, plot and the checks before a resume take them (the SIGKILL test above resumes them)."""
    lines = (unfinished / rd.METRICS).read_text().splitlines(True)
    with open(unfinished / rd.METRICS, "a", newline="") as fh:
        fh.write(lines[-1].replace(f"{GENERATIONS - 1}.0,", f"{GENERATIONS}.0,", 1))  # never checkpointed
        fh.write(f"{GENERATIONS + 1}.0,0.12")  # cut short
    (unfinished / (rd.CHECKPOINT + rd.TMP)).write_bytes(b"half a pickle")
    assert cli.main(["show", str(unfinished)]) == 0
    assert f"unfinished after {GENERATIONS + 1} generations" in capsys.readouterr().out
    assert rd.resumable(unfinished)["generation"] == GENERATIONS
    assert cli.main(["plot", str(unfinished)]) == 0
    assert "loss.png" in capsys.readouterr().out
    rd.discard_partial(unfinished)
    assert leftovers(unfinished) == []
