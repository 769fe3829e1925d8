"""The run directory: resolved config, metrics, atomic checkpoints, summary."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from plastix.experiment._config import Config, UserError, dump_config, validate

CONFIG = "config.toml"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint/state.pkl"
SUMMARY = "summary.json"
FINAL = "final.npz"
FIGURES = "figures"


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("plastix", "jax", "jaxlib", "numpy", "cma", "optax", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write then rename: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def is_run(path: Path) -> bool:
    return (path / CONFIG).exists() or (path / METRICS).exists()


def create(path: Path, cfg: Config, force: bool) -> None:
    """Make a fresh run directory; refuses to overwrite a run unless ``force``."""
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a directory")
    if path.exists() and is_run(path):
        if not force:
            raise UserError(
                f"--out {path}: already holds a run (use --force to overwrite, or `plastix resume`)"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    resolved = cfg.model_copy(update={"versions": versions()})
    atomic_write(path / CONFIG, dump_config(resolved).encode())


def read_config(path: Path) -> Config:
    import tomllib

    if not (path / CONFIG).is_file():
        raise UserError(f"{path}: not a run directory (no {CONFIG})")
    return validate(tomllib.loads((path / CONFIG).read_text()))


def save_checkpoint(path: Path, payload: dict) -> None:
    atomic_write(path / CHECKPOINT, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(path: Path) -> dict | None:
    f = path / CHECKPOINT
    if not f.exists():
        return None
    with open(f, "rb") as fh:
        return pickle.load(fh)


def read_metrics(path: Path) -> list[dict[str, float]]:
    f = path / METRICS
    if not f.exists():
        return []
    rows = []
    with open(f, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({k: float(v) for k, v in row.items()})
            except (TypeError, ValueError):  # a line cut short by a crash
                continue
    return rows


def write_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the metrics file atomically (used when resuming)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write(path / METRICS, buf.getvalue().encode())


def append_metrics(path: Path, row: dict[str, float]) -> None:
    f = path / METRICS
    new = not f.exists() or f.stat().st_size == 0
    with open(f, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow({k: repr(float(v)) for k, v in row.items()})
        fh.flush()


def write_summary(path: Path, summary: dict) -> None:
    atomic_write(path / SUMMARY, json.dumps(summary, indent=2).encode())


def read_summary(path: Path) -> dict | None:
    f = path / SUMMARY
    return json.loads(f.read_text()) if f.exists() else None
