"""Config files: the shipped ones by name, and reading one safely. No JAX here.

The command line resolves and reads a config through this module before it
imports anything heavy, so that a misspelt name or an unreadable file is a
one-line error at once. A config is read only from a regular file of at most
:data:`MAX_CONFIG_BYTES`: ``/dev/zero`` would be read without end, and a FIFO
without a writer would block without a word.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
import tomllib
from importlib import resources
from pathlib import Path

from plastix.experiment._errors import UserError

#: The largest config file read. The shipped ones are under 4 KiB; an MLP rule's hidden sizes or
#: a grid of coefficients is still far below this.
MAX_CONFIG_BYTES = 1 << 20


def config_dir() -> Path:
    """The shipped configs: package data of plastix (``plastix/configs/*.toml``)."""
    return Path(str(resources.files("plastix") / "configs"))


def shipped_configs() -> dict[str, Path]:
    """Shipped config name -> file."""
    d = config_dir()
    return {p.stem: p for p in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def shipped_config(name: str | Path) -> Path:
    """``name`` as a path; a bare name that is no file is the shipped config of that name."""
    path = Path(name)
    try:
        exists = path.exists()
    except OSError:  # e.g. a name too long for the file system: no such file, and no shipped name
        return path
    if exists or path.suffix == ".toml":
        return path
    return shipped_configs().get(str(name), path)


def did_you_mean(word: str, choices, what: str = "") -> str:
    """``"; did you mean 'oja'?"`` when ``word`` is close to one of ``choices`` (difflib), else ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {' or '.join(repr(c) for c in close)}{f' ({what})' if what else ''}?"


def _not_found(path: Path) -> UserError:
    msg = f"config file not found: {path}"
    if path.parent == Path(".") and path.suffix in ("", ".toml"):  # a bare name: perhaps a shipped one
        names = shipped_configs()
        hint = did_you_mean(path.stem, names, "a shipped config")
        msg += hint or f" (nor is it a shipped config; `plastix list` names them: {', '.join(names)})"
    return UserError(msg)


def read_bytes(path: Path, limit: int = MAX_CONFIG_BYTES, what: str = "config file") -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); :class:`UserError` otherwise.

    Opened without blocking and checked with ``fstat`` on the open descriptor,
    so that a FIFO, a device or a directory is refused before a byte is read,
    and a file that grows while it is read is still cut at ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _not_found(path) if what == "config file" else UserError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a {what}") from None
    except OSError as err:  # permission denied, a name too long, ...
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UserError(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) else "not a file"
            raise UserError(f"{path}: {kind}, not a regular file; a {what} is read only from a file")
        try:
            data = fh.read(limit + 1)
        except OSError as err:
            raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > limit:
        raise UserError(f"{path}: larger than {limit // 1024} KiB; not a {what}")
    return data


def read_toml(path: str | Path) -> dict:
    """A TOML file's table; :class:`UserError` naming the file when it cannot be read or parsed."""
    path = Path(path)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")  # TOML is UTF-8 whatever the locale's encoding
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start} is {data[err.start]:#04x})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None
    except ValueError:  # tomllib's int() of a digit string beyond Python's conversion limit
        limit = sys.get_int_max_str_digits()
        raise UserError(f"{path}: invalid TOML: an integer of more than {limit} digits") from None
    except RecursionError:
        raise UserError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
