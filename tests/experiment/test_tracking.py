"""Experiment trackers: the rows logged to TensorBoard read back from its event files as they were."""

import struct
import sys

import numpy as np
import pytest

from plastix.experiment import UserError, _tracking
from plastix.experiment._config import validate

pytest.importorskip("tensorboardX")  # the `track` extra, installed by the test extra

from tensorboardX.crc32c import crc32c  # noqa: E402
from tensorboardX.proto.event_pb2 import Event  # noqa: E402


def _masked(crc: int) -> int:
    # TFRecord's masked CRC-32C of a record's length and data
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TFRecord event files of ``logdir``: ``{tag: [(step, value), ...]}``.

    Read independently of the writer: the record framing (length, CRC, data,
    CRC) by hand, checking both checksums, and each record as an ``Event``
    protocol buffer; purge events (a resumed writer's ``file_version`` with
    ``purge_step`` set) drop the earlier points at or after that step, as
    TensorBoard does.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(logdir.glob("events.out.tfevents.*")):
        data, pos = f.read_bytes(), 0
        while pos < len(data):
            header = data[pos : pos + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
            assert length_crc == _masked(crc32c(header))
            body = data[pos + 12 : pos + 12 + length]
            (body_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
            assert body_crc == _masked(crc32c(body))
            pos += 16 + length
            event = Event.FromString(body)
            if event.HasField("file_version") and event.step > 0:  # purge_step
                out = {k: [(s, v) for s, v in pts if s < event.step] for k, pts in out.items()}
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


ROWS = [
    {"generation": g, "loss_best": 1.0 / (g + 1), "loss_mean": 2.5 - 0.25 * g, "n_unstable": g % 2}
    for g in range(4)
]


def test_tensorboard_event_files_hold_the_rows(tmp_path):
    tracker = _tracking.open_tracker(["tensorboard"], tmp_path)
    for row in ROWS:
        tracker.log(row["generation"], row)
    tracker.close()
    scalars = read_scalars(tmp_path / "tensorboard")
    assert set(scalars) == {"loss_best", "loss_mean", "n_unstable"}  # the step is the x axis, not a plot
    for tag, points in scalars.items():
        # event values are float32
        expected = [(r["generation"], np.float32(r[tag])) for r in ROWS]
        assert points == expected, tag


def test_values_that_are_no_finite_number_are_left_out(tmp_path):
    tracker = _tracking.open_tracker(["tensorboard"], tmp_path)
    tracker.log(0, {"generation": 0, "loss_best": np.float32(0.5), "validation_loss": float("nan")})
    tracker.log(1, {"generation": 1, "loss_best": 0.25, "validation_loss": 0.75, "note": "text"})
    tracker.close()
    scalars = read_scalars(tmp_path / "tensorboard")
    assert scalars == {"loss_best": [(0, 0.5), (1, 0.25)], "validation_loss": [(1, 0.75)]}


def test_a_resumed_run_supersedes_the_steps_after_its_checkpoint(tmp_path):
    # An interrupted run logged generations 0-3 but checkpointed after 2; the
    # resumed run starts at 2 and logs 2-3 again, with other numbers.
    first = _tracking.open_tracker(["tensorboard"], tmp_path)
    for row in ROWS:
        first.log(row["generation"], row)
    first.close()
    again = _tracking.open_tracker(["tensorboard"], tmp_path, start=2)
    for g in (2, 3):
        again.log(g, {"generation": g, "loss_best": 10.0 + g})
    again.close()
    assert read_scalars(tmp_path / "tensorboard")["loss_best"] == [(0, 1.0), (1, 0.5), (2, 12.0), (3, 13.0)]


def test_no_kinds_is_a_tracker_that_writes_nothing(tmp_path):
    tracker = _tracking.open_tracker([], tmp_path)
    tracker.log(0, ROWS[0])
    tracker.close()
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_and_missing_package_are_one_line_errors(tmp_path, monkeypatch):
    for check in (_tracking.require, lambda kinds: _tracking.open_tracker(kinds, tmp_path)):
        with pytest.raises(UserError, match="unknown tracker 'wandb'"):
            check(["wandb"])
    _tracking.require(["tensorboard"])  # installed: nothing to say
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed: import fails
    for check in (_tracking.require, lambda kinds: _tracking.open_tracker(kinds, tmp_path)):
        with pytest.raises(UserError) as err:
            check(["tensorboard"])
        assert "pip install 'plastix[track]'" in str(err.value) and "\n" not in str(err.value)
    _tracking.require([])  # nothing asked, nothing needed
    assert list(tmp_path.iterdir()) == []


def test_config_track_key(tiny_config):
    import tomllib

    raw = tomllib.loads(tiny_config.read_text())
    assert validate(raw).track == []
    assert validate({**raw, "track": ["tensorboard"]}).track == ["tensorboard"]
    with pytest.raises(UserError, match="track"):
        validate({**raw, "track": ["wandb"]})
