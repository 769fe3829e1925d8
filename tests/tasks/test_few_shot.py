"""The few-shot task: class pools kept apart, labels permuted, the online stream and the query loss."""

import gzip

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import tasks
from plastix.experiment import UserError
from plastix.experiment._datasets import emnist, emnist_files, read_idx

C, N, D = 10, 30, 6


def _data():
    # Class c's images are all equal to c (one feature), so a sample's class can be read off it.
    return np.broadcast_to(np.arange(C, dtype=np.float32)[:, None, None], (C, N, D)).copy()


def _predict(state, x):
    return jnp.zeros((x.shape[0], 5))


def test_meta_test_classes_never_enter_meta_training_episodes():
    train_pool, test_pool = tasks.split_classes(C, 4, seed=0)
    assert set(train_pool).isdisjoint(test_pool) and len(test_pool) == 4 and len(train_pool) == 6
    task = tasks.few_shot(_data(), train_pool, _predict, ways=3, shots=4, queries=2)
    sample = jax.jit(task.sample)
    seen = set()
    for i in range(200):
        ep = sample(jax.random.PRNGKey(i))
        classes = set(np.asarray(ep["train_x"][:, 0]).astype(int)) | set(
            np.asarray(ep["query_x"][:, 0]).astype(int)
        )
        assert classes <= set(train_pool.tolist()) and len(classes) == 3
        assert sorted(np.asarray(ep["classes"])) == sorted(classes)
        seen |= classes
    assert seen == set(train_pool.tolist())  # every meta-training class is used


def test_labels_are_permuted_per_episode_and_consistent_within_it():
    task = tasks.few_shot(_data(), np.arange(C), _predict, ways=5, shots=3, queries=2)
    mappings = set()
    for i in range(50):
        ep = task.sample(jax.random.PRNGKey(i))
        cls = np.concatenate([ep["train_x"][:, 0], ep["query_x"][:, 0]]).astype(int)
        lab = np.concatenate([ep["train_y"], ep["query_y"]])
        pairs = set(zip(cls.tolist(), lab.tolist(), strict=True))
        assert len(pairs) == 5 and sorted(p[1] for p in pairs) == list(range(5))  # a bijection onto 0..4
        order = tuple(lab[np.argsort(cls, kind="stable")][:: len(cls) // 5])
        mappings.add(order)
    assert len(mappings) > 20  # the labels of sorted classes differ between episodes


def test_stream_query_sizes_and_the_loss():
    task = tasks.few_shot(_data(), np.arange(C), _predict, ways=5, shots=3, queries=2)
    ep = task.sample(jax.random.PRNGKey(0))
    assert task.num_steps == 15 and ep["train_x"].shape == (15, D) and ep["query_x"].shape == (10, D)
    x = task.inputs(ep, 4, None)
    assert x["x"].shape == (D,) and x["label"].shape == ()
    loss, m = task.loss(None, None, ep)  # uniform logits: log 5, chance-level argmax
    np.testing.assert_allclose(loss, np.log(5.0), rtol=1e-6)
    assert 0 <= float(m["accuracy"]) <= 1
    # Distinct training and query images of a class within an episode.
    task = tasks.few_shot(
        np.random.default_rng(0).random((C, N, D), np.float32), np.arange(C), _predict, 5, 20, 10
    )
    ep = task.sample(jax.random.PRNGKey(1))
    rows = np.concatenate([ep["train_x"], ep["query_x"]])
    assert len(np.unique(rows, axis=0)) == len(rows)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at most the 30 images"):
        tasks.few_shot(_data(), np.arange(C), _predict, ways=5, shots=25, queries=10)
    with pytest.raises(ValueError, match="ways"):
        tasks.few_shot(_data(), np.arange(3), _predict, ways=5)
    with pytest.raises(ValueError, match="fewer than"):
        tasks.split_classes(5, 5, 0)


def _write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(">u1" if code == 0x08 else ">i4").tobytes()
    (gzip.open if str(path).endswith(".gz") else open)(path, "wb").write(data)


def test_idx_reader_on_files_it_wrote(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.idx", a)
    _write_idx(tmp_path / "a.idx.gz", a)
    assert np.array_equal(read_idx(tmp_path / "a.idx"), a) and np.array_equal(
        read_idx(tmp_path / "a.idx.gz"), a
    )
    b = np.array([1, -2, 300], dtype=np.int32)
    _write_idx(tmp_path / "b.idx", b, code=0x0C)
    assert read_idx(tmp_path / "b.idx").tolist() == [1, -2, 300]
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x00\x01")
    with pytest.raises(UserError, match="header says"):
        read_idx(tmp_path / "short.idx")


def test_emnist_reads_the_split_from_a_directory_and_names_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("PLASTIX_EMNIST", raising=False)
    with pytest.raises(UserError, match="emnist-balanced-train-images-idx3-ubyte.gz"):
        emnist(str(tmp_path / "nowhere"))
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8) % 3
    img_name, lab_name = emnist_files()
    _write_idx(tmp_path / img_name, images)
    _write_idx(tmp_path / lab_name, labels)
    x, y = emnist(str(tmp_path))
    assert x.shape == (12, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x[3].reshape(28, 28), images[3].T / 255.0)  # stored column-major
    assert y.tolist() == labels.tolist()
    monkeypatch.setenv("PLASTIX_EMNIST", str(tmp_path))
    emnist.cache_clear()
    assert emnist()[0].shape == (12, 784)


def test_the_dataset_stays_on_the_host_not_in_the_compiled_program():
    # EMNIST (354 MB as float32) must not become an XLA constant of every program that
    # samples an episode: the episode's images are gathered on the host.
    data = np.random.default_rng(0).random((8, 300, 100), dtype=np.float32)  # 960 kB
    task = tasks.few_shot(data, np.arange(8), _predict, ways=3, shots=4, queries=2)
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    program = jax.jit(jax.vmap(task.sample)).lower(keys).as_text()
    assert len(program) < data.nbytes / 4  # embedded, its hex alone would be twice nbytes
    # The same episodes as indexing the array directly, under vmap and jit.
    eps = jax.jit(jax.vmap(task.sample))(keys)
    one = task.sample(keys[2])
    np.testing.assert_array_equal(eps["train_x"][2], one["train_x"])
    rows = data.reshape(-1, 100)
    for x in np.asarray(eps["query_x"]).reshape(-1, 100):
        assert np.any(np.all(rows == x, axis=1))
