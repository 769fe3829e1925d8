"""Image datasets from disk: scikit-learn's bundled digits, EMNIST from user-supplied IDX files.

Nothing is downloaded: the digits ship with scikit-learn, and EMNIST is read
from the files a user already has (the standard gzip'd IDX files of the
EMNIST release), found in a directory given in the config or in
``$PLASTIX_EMNIST``.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from plastix.experiment._errors import UserError

EMNIST_ENV = "PLASTIX_EMNIST"
# IDX type codes (LeCun et al., the MNIST file format).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzip'd if its name ends in ``.gz``) as a numpy array of its shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise UserError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", ndim, 4).astype(int)
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count * dtype.itemsize:
        raise UserError(f"{path}: IDX header says {tuple(dims)} but the file holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype, count, offset).reshape(dims)


def emnist_files(split: str = "balanced") -> tuple[str, str]:
    """The file names of one EMNIST split's training images and labels."""
    return f"emnist-{split}-train-images-idx3-ubyte.gz", f"emnist-{split}-train-labels-idx1-ubyte.gz"


@functools.lru_cache(maxsize=4)
def emnist(directory: str | None = None, split: str = "balanced") -> tuple[np.ndarray, np.ndarray]:
    """EMNIST ``split`` (default balanced, 47 classes): images ``[N, 784]`` in [0, 1] and labels ``[N]``.

    Looked for in ``directory``, else ``$PLASTIX_EMNIST``. The IDX images are
    stored column-major (transposed); they are turned upright here.
    """
    where = directory or os.environ.get(EMNIST_ENV)
    names = emnist_files(split)
    if not where or not all((Path(where) / n).is_file() for n in names):
        place = f"in {where}" if where else f"(set task.data_dir or ${EMNIST_ENV})"
        raise UserError(f"EMNIST files not found: expected {' and '.join(names)} {place}")
    images = read_idx(Path(where) / names[0])
    labels = read_idx(Path(where) / names[1])
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise UserError(f"{where}: EMNIST images {images.shape} and labels {labels.shape} do not match")
    images = np.swapaxes(images, 1, 2).reshape(len(images), -1)
    return images.astype(np.float32) / 255.0, labels.astype(np.int32)


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (8 x 8, 10 classes, 1797 images): ``[N, 64]`` in [0, 1] and labels ``[N]``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)
