"""CIFAR-10 readers (python pickles through the restricted unpickler, binary records) and the data set."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlcore.data import cifar10, load_dataset
from mtlcore.data.base import DataSourceMissing
from mtlcore.data.safe_pickle import UnsafePickleError, load_restricted
from mtlcore.registry import ConfigError

PER_BATCH = 12


def fake_batches(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {name: (rng.integers(0, 256, (PER_BATCH, 3, 32, 32), dtype=np.uint8),
                   rng.integers(0, 10, PER_BATCH).astype(np.int64))
            for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH)}


def write_py(root: Path, batches: dict, protocol: int = 2) -> Path:
    """The python version as the original archive has it: dicts with bytes keys, labels as a list."""
    folder = root / cifar10.PY_FOLDER
    folder.mkdir(parents=True)
    for name, (x, y) in batches.items():
        blob = {b"batch_label": name.encode(), b"labels": y.tolist(),
                b"data": x.reshape(len(x), -1), b"filenames": [f"{i}.png".encode() for i in range(len(x))]}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=protocol))
    return folder


def write_bin(root: Path, batches: dict) -> Path:
    folder = root / cifar10.BIN_FOLDER
    folder.mkdir(parents=True)
    for name, (x, y) in batches.items():
        records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    return folder


def s(b: bytes) -> bytes:  # SHORT_BINSTRING: a Python 2 str
    return b"U" + bytes([len(b)]) + b

def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A CIFAR-10 python batch as Python 2's cPickle (protocol 2) and numpy 1 wrote it."""
    raw = data.tobytes()
    arr = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85" + s(b"b") + b"\x87R"
           + b"(K\x01" + b"J" + struct.pack("<i", data.shape[0]) + b"J" + struct.pack("<i", data.shape[1]) + b"\x86"
           + b"cnumpy\ndtype\n" + s(b"u1") + b"\x89\x88\x87R"
           + b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
           + b"\x89" + b"T" + struct.pack("<I", len(raw)) + raw + b"tb")
    labs = b"]" + b"(" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"training batch 1 of 5") + s(b"data") + arr
            + s(b"labels") + labs + s(b"filenames") + b"](" + s(b"a.png") * len(labels) + b"eu.")


def test_python2_numpy1_batch_reads_like_the_original_archive(tmp_path: Path) -> None:
    """The archive's batches were written by Python 2 and numpy 1: str keys and data, numpy.core paths."""
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch(x.reshape(4, -1), [0, 9, 3, 8]))
    got_x, got_y = cifar10.read_py_batch(path)
    assert np.array_equal(got_x, x) and got_y.tolist() == [0, 9, 3, 8]


class RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo this should never run",))


def test_malicious_pickle_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": RunsACommand()}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"names (posix|os|nt)\.system"):
        load_restricted(path)


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen"),
                                         ("torch", "load")])
def test_any_other_global_is_refused(module: str, name: str) -> None:
    from mtlcore.data.safe_pickle import loads_restricted

    raw = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"U\x011\x85R."
    with pytest.raises(UnsafePickleError, match=f"names {module}.{name}"):
        loads_restricted(raw)


def test_only_latin1_is_admitted_as_a_codec() -> None:
    from mtlcore.data.safe_pickle import loads_restricted

    raw = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R."
    with pytest.raises(UnsafePickleError, match="codec 'base64'"):
        loads_restricted(raw)


def test_malicious_batch_in_a_folder_fails_the_load(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))
    folder = write_py(tmp_path, fake_batches())
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": RunsACommand()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="data_batch_3"):
        load_dataset("cifar10", {"root": str(tmp_path)})


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python_batches_read_as_written(tmp_path: Path, protocol: int) -> None:
    batches = fake_batches()
    folder = write_py(tmp_path, batches, protocol)
    x, y = cifar10.read_py_batch(folder / "data_batch_2")
    assert np.array_equal(x, batches["data_batch_2"][0]) and np.array_equal(y, batches["data_batch_2"][1])


def test_binary_batches_read_as_written(tmp_path: Path) -> None:
    batches = fake_batches()
    folder = write_bin(tmp_path, batches)
    x, y = cifar10.read_bin_batch(folder / "test_batch.bin")
    assert np.array_equal(x, batches["test_batch"][0]) and np.array_equal(y, batches["test_batch"][1])
    (folder / "data_batch_1.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ConfigError, match="3073-byte"):
        cifar10.read_bin_batch(folder / "data_batch_1.bin")


def test_missing_folder_names_the_layout(tmp_path: Path) -> None:
    why = cifar10.find_files(str(tmp_path))
    assert isinstance(why, str)
    assert "cifar-10-batches-py/" in why and "data_batch_1" in why and "test_batch.bin" in why
    assert "Nothing is downloaded" in why
    (tmp_path / cifar10.PY_FOLDER).mkdir()
    (tmp_path / cifar10.PY_FOLDER / "data_batch_1").write_bytes(b"")
    assert "lacks data_batch_2" in cifar10.find_files(str(tmp_path))
    with pytest.raises(DataSourceMissing, match="CIFAR-10 not found"):
        load_dataset("cifar10", {"root": str(tmp_path / "nowhere")})


def test_dataset_tasks_and_rotation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))
    batches = fake_batches()
    write_bin(tmp_path / "b", batches)
    write_py(tmp_path / "p", batches)
    params = {"val_fraction": 0.2, "max_angle": 20, "data_seed": 3}
    from_bin = load_dataset("cifar10", {"root": str(tmp_path / "b"), **params})
    from_py = load_dataset("cifar10", {"root": str(tmp_path / "p"), **params})
    assert from_bin.input_shape == (3, 32, 32) and list(from_bin.tasks) == ["class", "animal", "angle"]
    assert len(from_bin.train) == 48 and len(from_bin.val) == 12 and len(from_bin.test) == PER_BATCH
    for s in ("train", "val", "test"):  # both versions of the same batches give the same data
        a, b = getattr(from_bin, s), getattr(from_py, s)
        assert torch.equal(a.x, b.x) and all(torch.equal(a.targets[t], b.targets[t]) for t in a.targets)
    test = from_bin.test
    assert torch.equal(test.targets["class"], torch.from_numpy(batches["test_batch"][1]))
    vehicle = torch.isin(test.targets["class"], torch.tensor(cifar10.VEHICLES))
    assert torch.equal(test.targets["animal"], (~vehicle).long())
    degrees = test.targets["angle"] * from_bin.tasks["angle"].target_scale
    assert torch.allclose(degrees, degrees.round(), atol=1e-4) and degrees.abs().max() <= 20
    # each test image is its source turned by its angle with torchvision's rotate
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF
    src = torch.from_numpy(batches["test_batch"][0])
    for i in range(3):
        turned = TF.rotate(src[i], float(degrees[i].round()), interpolation=InterpolationMode.BILINEAR)
        assert torch.equal(test.x[i], turned) or float(degrees[i].round()) == 0 and torch.equal(test.x[i], src[i])
    assert from_bin.info["official_copy"] is False
    assert from_bin.tasks["angle"].augmentable is False


def test_n_train_keeps_a_subset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))
    write_bin(tmp_path, fake_batches())
    data = load_dataset("cifar10", {"root": str(tmp_path), "n_train": 10}, ["class"])
    assert len(data.train) == 10 and list(data.tasks) == ["class"]


def test_tutorial_network_trains_on_cifar_format_data(tmp_path: Path, monkeypatch) -> None:
    """The tutorial's setup end to end: class + angle on the tutorial CNN, metrics per kind."""
    from mtlcore.config import RunConfig
    from mtlcore.trainer import train

    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))
    write_py(tmp_path, fake_batches())
    cfg = RunConfig.from_dict({
        "data": {"name": "cifar10", "tasks": ["class", "angle"], "params": {"root": str(tmp_path)}},
        "model": {"architecture": "tutorial_cnn"}, "optim": {"batch_size": 16, "max_steps": 3},
        "threads": 1, "grad_stats_every": 0})
    end = train(cfg)[-1]
    assert end.status == "finished", end.reason
    assert {"accuracy", "recall", "f1"} <= set(end.summary["test"]["class"])
    assert 0 < end.summary["test"]["angle"]["mae"] < 60  # degrees, for angles in [-30, 30]
