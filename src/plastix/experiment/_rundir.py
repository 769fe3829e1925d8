"""The run directory: resolved config, metrics, atomic checkpoints, summary.

Every byte goes through :func:`_write`. A file is replaced by write-then-rename
(:func:`atomic_write`), so a process killed at any point leaves the old file
or the new one; the one exception, ``metrics.csv``, is appended to once per
generation and can end in a line cut short, which readers drop. What can be
told apart from such a crash (a damaged header, a checkpoint that does not
unpickle, rows missing before the checkpoint) is reported as a one-line
:class:`UserError` naming the file, and nothing is written.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import fcntl
import io
import json
import math
import numbers
import os
import pickle
import platform
import shutil
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from plastix.experiment._config import Config, _short, dump_config, validate
from plastix.experiment._errors import UserError

CONFIG = "config.toml"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint/state.pkl"
SUMMARY = "summary.json"
FINAL = "final.npz"
FIGURES = "figures"
TMP = ".tmp"  # suffix of the file atomic_write renames into place
LOCK = ".lock"  # held (flock) by the process writing the run

_CHECKPOINT_KEYS = ("state", "generation", "wall_s", "stopped")
_RESTART = "delete it to start the run over"


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("plastix", "jax", "jaxlib", "numpy", "cma", "optax", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def code_version() -> str:
    """plastix's version, with the git commit of its source tree when it runs from a checkout
    (``0.1.0+g06138d7``; ``.dirty`` when tracked files differ from that commit)."""
    base = version("plastix") if _installed("plastix") else "unknown"
    src = Path(__file__).resolve().parent
    try:
        git = ["git", "-C", str(src)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return base
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", str(src.parent)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs: the version alone
        return base
    return f"{base}+g{commit.stdout.strip()}" + (".dirty" if dirty.stdout.strip() else "")


def _installed(pkg: str) -> bool:
    try:
        version(pkg)
    except PackageNotFoundError:
        return False
    return True


def provenance() -> dict[str, str | float]:
    """When a run finished (UTC), which code ran it, on what, and how loaded the machine was then
    (the 1-minute load average: wall times taken beside other work are longer):
    ``summary.json``'s ``provenance``."""
    return {
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": round(os.getloadavg()[0], 2),
    }


def _write(file: Path, data: bytes, append: bool = False) -> None:
    """Put ``data`` into ``file`` (replacing it, or appended): the one place bytes reach the disk.

    One place, so that a full disk or a kill half-way through can be simulated
    where it would happen. A replaced file is synced before :func:`atomic_write`
    renames it, so the rename never exposes data still in flight; an append is
    only flushed, as a lost metrics row is redone from the checkpoint anyway.
    """
    with open(file, "ab" if append else "wb") as fh:
        fh.write(data)
        fh.flush()
        if not append:
            os.fsync(fh.fileno())


def _cannot(verb: str, file: Path, err: OSError, run: Path | None = None) -> UserError:
    """``cannot write <file>: <reason>``; inside a run, how to go on once the cause is fixed."""
    msg = f"cannot {verb} {file}: {err.strerror or err}"
    if run is not None:
        msg += f"; the run is intact up to its last checkpoint: `plastix resume {run}` once this is fixed"
    return UserError(msg)


def _damaged(file: Path, why: str) -> UserError:
    return UserError(f"{file}: damaged, {why}")


def atomic_write(path: Path, data: bytes, run: Path | None = None) -> None:
    """Write then rename: a crash leaves the old file or the new one, never half of one.

    A failed write (a full disk, say) removes its temporary file, leaves the old
    file as it was and raises :class:`UserError` naming ``path``; ``run``, the
    run directory it belongs to, adds how to continue.
    """
    tmp = path.with_name(path.name + TMP)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(tmp, data)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _cannot("write", path, err, run) from err


def discard_partial(path: Path) -> None:
    """Remove temporary files a killed process left; they hold nothing a resume needs."""
    for name in (CONFIG, METRICS, CHECKPOINT, SUMMARY, FINAL):
        (path / (name + TMP)).unlink(missing_ok=True)
    if (path / FIGURES).is_dir():
        for tmp in (path / FIGURES).glob("*" + TMP):
            tmp.unlink(missing_ok=True)


def is_run(path: Path) -> bool:
    return (path / CONFIG).exists() or (path / METRICS).exists()


def check_new(path: Path, force: bool) -> None:
    """Refuse ``--out path`` when it is a file, or holds a run and not ``force``; writes nothing.

    Asked before anything is built or shown, and again by :func:`create` under the lock.
    """
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a directory")
    if path.exists() and is_run(path) and not force:
        raise UserError(f"--out {path}: already holds a run (use --force to overwrite, or `plastix resume`)")


@contextlib.contextmanager
def locked(path: Path, create: bool = False):
    """Hold the run directory ``path`` for writing: a second process is refused, whatever the timing.

    An exclusive ``flock`` on ``path/.lock``, which the kernel releases when this
    process ends however it ends, so a crash never leaves a stale lock behind.
    ``create`` makes the directory first (a new run).
    """
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise UserError(f"{path}: not a run directory") from None
    except OSError as err:
        raise _cannot("create", path, err) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            who = os.pread(fd, 64, 0).decode(errors="replace").strip()
            raise UserError(
                f"{path}: another plastix process{f' (pid {who})' if who.isdigit() else ''} is writing "
                "this run; wait for it, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def create(path: Path, cfg: Config, force: bool) -> None:
    """Make a fresh run in ``path`` (held by :func:`locked`); refuses to overwrite a run unless ``force``.

    With ``force`` the old run's files go, the lock file stays (it is held).
    """
    check_new(path, force)
    try:
        for child in path.iterdir():
            if child.name == LOCK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    except OSError as err:
        raise _cannot("remove", path, err) from err
    resolved = cfg.model_copy(update={"versions": versions()})
    atomic_write(path / CONFIG, dump_config(resolved).encode())


#: Keys of ``config.toml`` a run may change between its start and a resume: the budget
#: (``plastix resume --generations``).
MUTABLE = ("meta.generations",)


def flat(raw: dict, prefix: str = "") -> dict[str, object]:
    """Nested TOML data as ``{"section.key": value}`` (an empty table is a value of its own)."""
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict) and v:
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """``(key, value in a, value in b)`` for each ``section.key`` in which two configs' TOML data
    differ, sorted by key; a key missing on one side has the value :data:`UNSET` there."""
    fa, fb = flat(a), flat(b)
    return [
        (k, fa.get(k, UNSET), fb.get(k, UNSET)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)
    ]


#: A key absent from one side of :func:`differences`.
UNSET = "(unset)"


def config_changes(started: str, now: str) -> list[str]:
    """``key: old -> new`` for each key that differs between two ``config.toml`` texts, apart from
    :data:`MUTABLE`; ``[]`` when they describe the same run."""
    changed = differences(tomllib.loads(started), tomllib.loads(now))
    return [f"{k}: {_shown(a)} -> {_shown(b)}" for k, a, b in changed if k not in MUTABLE]


def _shown(v: object) -> str:
    return v if v == UNSET else _short(repr(v), 40)


def check_unchanged(path: Path, ckpt: dict | None) -> None:
    """Refuse to resume a run whose ``config.toml`` was edited after it started.

    The checkpoint holds the config text the run started with; a resume with
    another popsize or learning rate would mix two settings in one run, and its
    config would no longer describe it. The generation budget may change.
    Checkpoints written before the config was recorded are not checked.
    """
    if ckpt is None or not ckpt.get("config"):
        return
    now = (path / CONFIG).read_text()
    changed = config_changes(ckpt["config"], now)
    if changed:
        more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
        raise UserError(
            f"{path / CONFIG} was changed after the run started ({'; '.join(changed[:3])}{more}); "
            "a resumed run must keep its settings: restore them, or start a new run with `plastix run`"
        )


def _read(file: Path) -> bytes | None:
    """The bytes of ``file``, ``None`` when it does not exist."""
    try:
        return file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _cannot("read", file, err) from err


def read_config(path: Path) -> Config:
    """The run's resolved config; a damaged ``config.toml`` is one line naming it."""
    f = path / CONFIG
    data = _read(f) if f.is_file() else None
    if data is None:
        raise UserError(f"{path}: not a run directory (no {CONFIG})")
    try:
        raw = tomllib.loads(data.decode())
    # UnicodeDecodeError and TOMLDecodeError are ValueErrors, as is tomllib's int() of a digit
    # string beyond Python's conversion limit; RecursionError: nested too deeply for tomllib.
    except (ValueError, RecursionError) as err:
        raise _damaged(f, f"not valid TOML ({_one_line(err) or type(err).__name__})") from None
    try:
        # The run was made (its memory estimate passed on the machine that made it): it is
        # shown, plotted, exported and resumed here without the estimate.
        return validate(raw, memory=False)
    except UserError as err:
        raise UserError(f"{f}: {err}") from None


def _one_line(err: Exception) -> str:
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def save_checkpoint(path: Path, payload: dict) -> None:
    atomic_write(path / CHECKPOINT, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL), run=path)


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint, or ``None`` while the run has none.

    Checkpoints are replaced atomically, so one that does not unpickle, or is
    not the dict :mod:`._runner` writes, was damaged outside plastix (a disk
    error, a copy cut short, a file from elsewhere): refused in one line
    rather than resumed from.
    """
    f = path / CHECKPOINT
    data = _read(f)
    if data is None:
        return None
    try:
        ckpt = pickle.loads(data)
    except Exception as err:  # unpickling damaged bytes can fail in about any way
        why = f"does not unpickle ({type(err).__name__})"
    else:
        why = _checkpoint_problem(ckpt)
    if why is not None:
        raise _damaged(f, f"{why}; {_RESTART}") from None
    return ckpt


def _checkpoint_problem(ckpt) -> str | None:
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CHECKPOINT_KEYS):
        return f"not a plastix checkpoint (a dict with {', '.join(_CHECKPOINT_KEYS)})"
    g, wall, stopped = ckpt["generation"], ckpt["wall_s"], ckpt["stopped"]
    if not isinstance(g, numbers.Integral) or isinstance(g, bool) or g < 0:
        return f"generation {g!r} is not a count"
    if not isinstance(wall, numbers.Real) or not wall >= 0:
        return f"wall_s {wall!r} is not a duration"
    if stopped is not None and not isinstance(stopped, str):
        return f"stopped {stopped!r} is neither null nor a reason"
    best = ckpt.get("best")
    if best is not None and (not isinstance(best, dict) or any(k not in best for k in ("loss", "theta"))):
        return "its best-validation entry lacks loss or theta"
    return None


def check_state(path: Path, theta_of, theta0) -> None:
    """Refuse a checkpointed optimiser state that does not fit the run's config.

    ``theta_of()`` reads theta out of the checkpointed state; it must have the
    structure and shapes of ``theta0``. A checkpoint copied in from another
    run, or one of a different optimiser, fails here in one line instead of
    deep inside the first generation.
    """
    import jax
    import numpy as np

    try:
        theta = theta_of()
        leaves = zip(jax.tree.leaves(theta), jax.tree.leaves(theta0), strict=False)
        same = jax.tree.structure(theta) == jax.tree.structure(theta0) and all(
            np.shape(a) == np.shape(b) for a, b in leaves
        )
    except Exception:  # a foreign state can break the optimiser's accessors in any way
        same = False
    if not same:
        raise _damaged(path / CHECKPOINT, f"its optimiser state does not fit this run's config; {_RESTART}")


def read_metrics(path: Path, upto: int | None = None) -> list[dict[str, float]]:
    """The rows of ``metrics.csv``, one per generation, in order.

    A last line without its newline is what a crash during an append leaves;
    it is dropped. With ``upto`` (the checkpoint's generation, when resuming)
    exactly the rows of generations ``0 .. upto - 1`` are returned and what
    follows them is not read: rows written after the last checkpoint are
    redone anyway. Anything else that does not parse (a bad header, a row of
    the wrong length or with a non-number, a generation out of sequence, fewer
    rows than ``upto``) means the file is damaged: :class:`UserError` naming it.
    """
    f = path / METRICS
    if upto == 0:
        return []
    data = _read(f) or b""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise _damaged(f, "not text") from None
    reader = csv.reader(io.StringIO(text[: text.rfind("\n") + 1], newline=""))
    rows: list[dict[str, float]] = []
    try:
        header = next(reader, None)
        if header is not None:
            if "generation" not in header or len(set(header)) != len(header) or not all(header):
                raise _damaged(f, f"line 1 is not a metrics header: {','.join(header)[:80]!r}")
            gen = header.index("generation")
            for fields in reader:
                if upto is not None and len(rows) == upto:
                    break
                where = f"line {reader.line_num}"
                if len(fields) != len(header):
                    raise _damaged(f, f"{where} has {len(fields)} fields, the header {len(header)}")
                try:
                    values = [float(x) for x in fields]
                except ValueError:
                    raise _damaged(f, f"{where} holds a non-number") from None
                if values[gen] != len(rows):
                    raise _damaged(f, f"{where} is generation {values[gen]:g}, expected {len(rows)}")
                rows.append(dict(zip(header, values, strict=True)))
    except csv.Error as err:
        raise _damaged(f, f"line {reader.line_num}: {err}") from None
    if upto is not None and len(rows) < upto:
        raise _damaged(f, f"it holds {len(rows)} generations but the checkpoint is at generation {upto}")
    return rows


def resumable(path: Path) -> dict | None:
    """The checkpoint (``None`` without one) after checking it and the metrics rows it needs.

    Only reads files and compiles nothing, so a damaged run is refused at once
    and before anything (an extended config, a rewritten metrics file) is written.
    """
    ckpt = load_checkpoint(path)
    read_metrics(path, upto=0 if ckpt is None else ckpt["generation"])
    return ckpt


def write_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the metrics file atomically (used when resuming)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write(path / METRICS, buf.getvalue().encode(), run=path)


def _header(file: Path) -> list[str] | None:
    """The first line of ``file`` as column names; ``None`` when the file is empty or missing."""
    try:
        with open(file, newline="") as fh:
            first = fh.readline()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _cannot("read", file, err) from err
    return next(csv.reader([first]), None) if first else None


def append_metrics(path: Path, row: dict[str, float]) -> None:
    """Append one generation's row (after the header, in a file without one).

    A crash part-way leaves a last line without its newline, which
    :func:`read_metrics` drops and a resume's :func:`write_metrics` removes
    before anything is appended again. Columns go in the header's order. A row
    with columns the header lacks (a run resumed by a version whose outer loop
    reports more) adds them, empty (NaN) in the rows before; a row that lacks
    some of the header's columns is refused rather than appended misaligned.
    """
    f = path / METRICS
    header = _header(f)
    buf = io.StringIO()
    w = csv.writer(buf)
    if header is not None and set(header) < set(row):
        old = read_metrics(path)
        header = header + [k for k in row if k not in header]
        write_metrics(path, [{k: r.get(k, math.nan) for k in header} for r in old])
        if not old:
            header = None
    if header is None:
        header = list(row)
        w.writerow(header)
    elif set(header) != set(row):
        raise _damaged(f, f"its columns differ from this run's ({sorted(set(header) ^ set(row))[:4]})")
    w.writerow([repr(float(row[k])) for k in header])
    try:
        _write(f, buf.getvalue().encode(), append=True)
    except OSError as err:
        raise _cannot("write", f, err, path) from err


def write_summary(path: Path, summary: dict) -> None:
    atomic_write(path / SUMMARY, json.dumps(summary, indent=2).encode(), run=path)


def read_summary(path: Path) -> dict | None:
    """``summary.json``, ``None`` while the run is unfinished; a damaged one is one line naming it."""
    f = path / SUMMARY
    data = _read(f)
    if data is None:
        return None
    try:
        summary = json.loads(data)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError both
        raise _damaged(f, f"not JSON ({err})") from None
    if not isinstance(summary, dict):
        raise _damaged(f, "not a JSON object")
    return summary


def write_final(path: Path, arrays: dict) -> None:
    """``final.npz``, the final rule's arrays, replaced atomically like every other file."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path / FINAL, buf.getvalue(), run=path)


def read_final(path: Path) -> dict | None:
    """The arrays of ``final.npz``, ``None`` while the run is unfinished."""
    import numpy as np

    f = path / FINAL
    data = _read(f)
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data)) as z:
            return {k: z[k] for k in z.files}
    except Exception as err:  # a damaged zip can fail in numpy, zipfile or zlib
        raise _damaged(f, f"not an npz archive ({type(err).__name__})") from None
