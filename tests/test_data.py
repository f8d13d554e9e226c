"""The built-in data sets: shapes, determinism, split hygiene, the IDX reader and source messages.

Fashion-MNIST-based sets are checked on tiny fake IDX folders written here (known pixels and labels,
which also exercises the user-folder path); one test uses the real files when Debian's package is
installed.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlcore.data import DATASETS, DataSourceMissing, PreparedData, catalogue, get_info, load_dataset
from mtlcore.data.idx import FASHION_MNIST, IdxFormatError, MnistSource, find_mnist_files, parse_idx, read_idx
from mtlcore.data.multi_mnist import CANVAS, OFFSET
from mtlcore.registry import ConfigError
from mtlcore.tasks import KINDS

N_TRAIN_FAKE, N_TEST_FAKE = 30, 12
BUILT_IN = ("multi_digits", "multi_fashion", "multi_mnist", "fashion_attributes", "scale_imbalance")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every prepared data set of a test in its own folder, away from the user's cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MTL_CACHE", str(folder))
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written independently of the reader under test."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    code = codes[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def fake_images(n: int, first_id: int, seed: int) -> np.ndarray:
    """Noise of varied brightness, with an id (first_id + k) at pixels (0, 0) and (27, 27) of image k.

    On the canvas, (0, 0) is seen only by the top-left item and (35, 35) only by the bottom-right
    one, so the ids tell which source images a composite was made of.
    """
    rng = np.random.default_rng(seed)
    brightness = rng.uniform(0.3, 1.0, size=(n, 1, 1))
    images = (rng.integers(0, 256, size=(n, 28, 28)) * brightness).astype(np.uint8)
    images[:, 0, 0] = first_id + np.arange(n)
    images[:, 27, 27] = first_id + np.arange(n)
    return images


def make_fake_set(folder: Path, gz_train: bool = True) -> dict[str, np.ndarray]:
    """A tiny MNIST-like set: training files gzip-compressed, test files plain (both are accepted)."""
    arrays = {
        "train-images-idx3-ubyte": fake_images(N_TRAIN_FAKE, 200, 1),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN_FAKE) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": fake_images(N_TEST_FAKE, 150, 2),
        "t10k-labels-idx1-ubyte": ((np.arange(N_TEST_FAKE) * 3) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array, gz=gz_train and name.startswith("train"))
    return arrays


def expected_canvas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    canvas[:28, :28] = a
    for r in range(28):
        for c in range(28):
            canvas[OFFSET + r, OFFSET + c] = max(canvas[OFFSET + r, OFFSET + c], b[r, c])
    return canvas


# --- the IDX reader ---------------------------------------------------------------------------


def test_idx_reads_plain_and_gzip(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3)).astype(np.uint8)
    values = np.array([-3, 0, 70000], dtype=np.int32)
    write_idx(tmp_path / "a", images, gz=True)
    write_idx(tmp_path / "b", values, gz=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), images)
    out = read_idx(tmp_path / "b")
    np.testing.assert_array_equal(out, values)
    assert out.dtype.isnative


def test_idx_malformed_files_give_clear_errors(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="not an IDX file.*magic"):
        parse_idx(b"\x1f\x00\x08\x03" + good[4:], "x")
    with pytest.raises(IdxFormatError, match=r"shape \(3, 2, 2\).*truncated"):
        parse_idx(good[:-1], "x")
    with pytest.raises(IdxFormatError, match="truncated"):
        parse_idx(good + b"\x00", "x")
    with pytest.raises(IdxFormatError, match="too short"):
        parse_idx(b"\x00\x00", "x")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(IdxFormatError, match="broken.gz.*gzip"):
        read_idx(broken)
    assert issubclass(IdxFormatError, ConfigError)


def test_malformed_source_file_fails_the_load_with_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "fm"
    make_fake_set(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(N_TEST_FAKE - 1, dtype=np.uint8), gz=False)
    with pytest.raises(ConfigError, match="t10k-labels-idx1-ubyte.*expected 12 labels"):
        load_dataset("multi_fashion", {"root": str(folder)})
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"PK\x03\x04 not idx at all")
    with pytest.raises(IdxFormatError, match="t10k-images-idx3-ubyte: not an IDX file"):
        load_dataset("multi_fashion", {"root": str(folder)})


# --- finding the files, and the messages when they are missing -------------------------------


@pytest.mark.parametrize("sub", ["FashionMNIST/raw", "raw", ""])
def test_all_three_folder_layouts_are_found(tmp_path: Path, sub: str) -> None:
    make_fake_set(tmp_path / sub if sub else tmp_path)
    found = find_mnist_files(tmp_path, "FashionMNIST")
    assert found is not None
    assert found["train_images"].name == "train-images-idx3-ubyte.gz"
    assert found["test_images"].name == "t10k-images-idx3-ubyte"
    assert get_info("multi_fashion").available({"root": str(tmp_path), "val_fraction": 0.1,
                                                "data_seed": 0}) is None


def test_missing_sources_name_the_package_or_the_layout(tmp_path: Path) -> None:
    debian_like = MnistSource("Fashion-MNIST", "FashionMNIST", str(tmp_path / "nowhere"),
                              "dataset-fashion-mnist")
    assert "apt-get install dataset-fashion-mnist" in debian_like.locate("")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSourceMissing, match="FashionMNIST/raw") as err:
        load_dataset("multi_fashion", {"root": str(empty)})
    assert "train-images-idx3-ubyte" in str(err.value)
    assert "dataset-fashion-mnist" in str(err.value)
    with pytest.raises(DataSourceMissing, match="does not exist"):
        load_dataset("fashion_attributes", {"root": str(tmp_path / "absent")})

    mnist = get_info("multi_mnist")
    why = mnist.available({"root": "", "val_fraction": 0.1, "data_seed": 0})
    assert why and "MNIST/raw" in why and "'root'" in why
    with pytest.raises(DataSourceMissing, match="no default location"):
        load_dataset("multi_mnist")


# --- Multi-Fashion / Multi-MNIST --------------------------------------------------------------


def test_multi_fashion_composites_from_a_user_folder(tmp_path: Path) -> None:
    arrays = make_fake_set(tmp_path / "FashionMNIST" / "raw")
    data = load_dataset("multi_fashion", {"root": str(tmp_path), "val_fraction": 0.2})
    assert data.input_shape == (1, 36, 36) and data.is_image
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 12)
    ids_per_split = {}
    layout = (("train", "train", 200), ("val", "train", 200), ("test", "t10k", 150))
    for split, kind, first_id in layout:
        s = getattr(data, split)
        assert s.x.dtype == torch.uint8 and s.x.shape == (len(s), 1, 36, 36)
        images = arrays[f"{kind}-images-idx3-ubyte"]
        labels = arrays[f"{kind}-labels-idx1-ubyte"]
        x = s.x.numpy()
        left_ids = x[:, 0, 0, 0].astype(int) - first_id
        right_ids = x[:, 0, 35, 35].astype(int) - first_id
        np.testing.assert_array_equal(s.targets["left"].numpy(), labels[left_ids])
        np.testing.assert_array_equal(s.targets["right"].numpy(), labels[right_ids])
        np.testing.assert_array_equal(data.info["sources"][split].numpy(),
                                      np.stack([left_ids, right_ids], axis=1))
        assert (left_ids != right_ids).all()
        assert len(set(left_ids)) == len(s)  # every source image is a top-left item once
        assert set(right_ids) <= set(left_ids)  # partners come from the same split
        for i in range(len(s)):
            np.testing.assert_array_equal(x[i, 0], expected_canvas(images[left_ids[i]],
                                                                   images[right_ids[i]]))
        ids_per_split[split] = set(left_ids)
    assert not ids_per_split["train"] & ids_per_split["val"]
    assert ids_per_split["train"] | ids_per_split["val"] == set(range(N_TRAIN_FAKE))
    xb, tb = data.train.batch(torch.arange(4))
    assert xb.dtype == torch.float32 and float(xb.max()) <= 1.0


def test_multi_mnist_reads_torchvision_layout(tmp_path: Path) -> None:
    make_fake_set(tmp_path / "MNIST" / "raw", gz_train=False)
    data = load_dataset("multi_mnist", {"root": str(tmp_path)})
    assert data.train.x.shape[1:] == (1, 36, 36)
    assert len(data.train) + len(data.val) == N_TRAIN_FAKE and len(data.test) == N_TEST_FAKE
    assert list(data.tasks) == ["left", "right"]


def test_replaced_source_files_rebuild_the_cache(tmp_path: Path) -> None:
    make_fake_set(tmp_path)
    first = load_dataset("multi_fashion", {"root": str(tmp_path)})
    new_labels = ((np.arange(N_TEST_FAKE) + 1) % 10).astype(np.uint8)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", new_labels, gz=False)
    second = load_dataset("multi_fashion", {"root": str(tmp_path)})
    assert not torch.equal(first.test.targets["left"], second.test.targets["left"])
    left_ids = second.test.x[:, 0, 0, 0].long() - 150
    assert torch.equal(second.test.targets["left"], torch.from_numpy(new_labels).long()[left_ids])


@pytest.mark.skipif(not Path(FASHION_MNIST.default_root, "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_multi_fashion(cache: Path) -> None:
    data = load_dataset("multi_fashion")
    assert (len(data.train), len(data.val), len(data.test)) == (54000, 6000, 10000)
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape[1:] == (1, 36, 36)
    for t in ("left", "right"):
        counts = torch.bincount(data.test.targets[t], minlength=10)
        assert counts.numel() == 10 and int(counts.min()) > 800  # ten classes, roughly balanced
    sources = data.info["sources"]
    assert not set(sources["train"][:, 0].tolist()) & set(sources["val"][:, 0].tolist())
    again = load_dataset("multi_fashion")  # from the cache
    assert torch.equal(again.train.x, data.train.x)
    assert torch.equal(again.val.targets["right"], data.val.targets["right"])
    assert len(list(cache.glob("multi_fashion-*.pt"))) == 1


# --- Fashion attributes -----------------------------------------------------------------------


def test_fashion_attributes_targets(tmp_path: Path) -> None:
    arrays = make_fake_set(tmp_path)
    images, labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].astype(int)
    data = load_dataset("fashion_attributes", {"root": str(tmp_path), "data_seed": 3})
    assert list(data.tasks) == ["category", "group", "rotation", "reconstruction", "ink"]
    kinds = {n: t.kind for n, t in data.tasks.items()}
    assert kinds == {"category": "classification", "group": "classification",
                     "rotation": "classification", "reconstruction": "reconstruction",
                     "ink": "regression"}
    assert data.tasks["reconstruction"].out_dim == 784
    assert data.tasks["reconstruction"].out_shape == (1, 28, 28)
    group_of = {0: 0, 2: 0, 4: 0, 6: 0, 1: 1, 3: 1, 5: 2, 7: 2, 9: 2, 8: 3}
    s = data.train
    assert s.x.shape == (len(s), 1, 28, 28) and s.x.dtype == torch.uint8
    src = data.info["sources"]["train"].numpy()
    k = s.targets["rotation"].numpy()
    assert set(k) <= {0, 1, 2, 3}
    for i in range(len(s)):
        np.testing.assert_array_equal(s.x[i, 0].numpy(), np.rot90(images[src[i]], k[i]))
    np.testing.assert_array_equal(s.targets["category"].numpy(), labels[src])
    np.testing.assert_array_equal(s.targets["group"].numpy(), [group_of[c] for c in labels[src]])
    recon = s.targets["reconstruction"]
    assert recon.dtype == torch.float16 and recon.shape == s.x.shape
    assert torch.allclose(recon.float(), s.x.float() / 255, atol=3e-4)
    ink = data.tasks["ink"]
    back = s.targets["ink"].double() * ink.target_scale + ink.target_shift
    true_ink = (images[src] > 127).mean(axis=(1, 2))
    np.testing.assert_allclose(back.numpy(), true_ink, atol=1e-6)
    assert abs(float(s.targets["ink"].mean())) < 1e-5 and abs(float(s.targets["ink"].std()) - 1) < 1e-4


def test_fashion_attributes_without_rotation(tmp_path: Path) -> None:
    arrays = make_fake_set(tmp_path)
    data = load_dataset("fashion_attributes", {"root": str(tmp_path), "rotate": False})
    assert "rotation" not in data.tasks and "rotation" not in data.test.targets
    np.testing.assert_array_equal(data.test.x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])


# --- Multi-Digits -----------------------------------------------------------------------------


def test_multi_digits_shapes_targets_and_sources() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    params = {"n_train": 600, "n_val": 200, "n_test": 150}
    data = load_dataset("multi_digits", params)
    assert data.input_shape == (1, 8, 16)
    assert (len(data.train), len(data.val), len(data.test)) == (600, 200, 150)
    pools = {}
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        assert s.x.dtype == torch.uint8 and s.x.shape == (len(s), 1, 8, 16)
        src = data.info["sources"][split].numpy()
        np.testing.assert_array_equal(s.targets["left"].numpy(), digits.target[src[:, 0]])
        np.testing.assert_array_equal(s.targets["right"].numpy(), digits.target[src[:, 1]])
        scaled = np.rint(digits.images * 255 / 16)
        np.testing.assert_array_equal(s.x[:, 0, :, :8].numpy(), scaled[src[:, 0]])
        np.testing.assert_array_equal(s.x[:, 0, :, 8:].numpy(), scaled[src[:, 1]])
        spec = data.tasks["sum"]
        back = s.targets["sum"].double() * spec.target_scale + spec.target_shift
        np.testing.assert_allclose(back.numpy(), digits.target[src].sum(axis=1), atol=1e-4)
        pools[split] = set(src.ravel().tolist())
    assert not pools["train"] & pools["val"]
    assert not pools["train"] & pools["test"]
    assert not pools["val"] & pools["test"]
    assert int(data.train.x.max()) == 255


def test_same_params_same_tensors_other_seed_other_tensors(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    a = load_dataset("multi_digits", {"n_train": 300})
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "another_cache"))  # a cold build again
    b = load_dataset("multi_digits", {"n_train": 300})
    c = load_dataset("multi_digits", {"n_train": 300, "data_seed": 1})
    for split in ("train", "val", "test"):
        sa, sb, sc = (getattr(d, split) for d in (a, b, c))
        assert torch.equal(sa.x, sb.x)
        assert all(torch.equal(sa.targets[t], sb.targets[t]) for t in sa.targets)
        assert not torch.equal(sa.x, sc.x)
    assert len(list((tmp_path / "another_cache").glob("multi_digits-*.pt"))) == 2


def test_data_is_built_once_then_read_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from mtlcore.data import multi_digits

    first = load_dataset("multi_digits", {"n_train": 100})

    def fail(params: dict) -> dict:
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(multi_digits, "_build", fail)
    again = load_dataset("multi_digits", {"n_train": 100})
    assert torch.equal(first.train.x, again.train.x)
    with pytest.raises(AssertionError, match="rebuilt"):
        load_dataset("multi_digits", {"n_train": 101})


# --- Scale imbalance --------------------------------------------------------------------------


def test_scale_imbalance_shapes_and_sigma_scaling() -> None:
    sigmas = [1.0, 10.0, 100.0]
    data = load_dataset("scale_imbalance", {"n_tasks": 3, "sigmas": sigmas, "n_train": 2000})
    assert data.input_shape == (250,) and not data.is_image
    assert data.train.x.shape == (2000, 250) and data.train.x.dtype == torch.float32
    assert list(data.tasks) == ["t1", "t2", "t3"]
    ratios = []
    for name, sigma in zip(data.tasks, sigmas):
        spec = data.tasks[name]
        assert spec.kind == "regression" and spec.out_dim == 100
        assert (spec.target_scale, spec.target_shift) == (1.0, 0.0)  # raw scale: the point of the set
        target = data.train.targets[name]
        assert target.shape == (2000, 100) and target.dtype == torch.float32
        assert float(target.abs().max()) <= sigma * (1 + 1e-6)
        ratios.append(float(target.std()) / sigma)
    assert max(ratios) / min(ratios) < 1.05
    w = np.array(data.info["balanced_weights"])
    np.testing.assert_allclose(w * np.array(sigmas) ** 2, (w * np.array(sigmas) ** 2)[0])
    assert w.sum() == pytest.approx(3)


def test_scale_imbalance_defaults_and_task_stability() -> None:
    default = load_dataset("scale_imbalance", {"n_train": 50, "n_val": 10, "n_test": 10})
    assert default.info["sigmas"] == pytest.approx([1.0, 100.0])
    four = get_info("scale_imbalance").tasks({"n_tasks": 4, "sigmas": None})
    assert [t.name for t in four] == ["t1", "t2", "t3", "t4"]
    two = load_dataset("scale_imbalance", {"sigmas": [2.0, 3.0], "n_train": 50})
    three = load_dataset("scale_imbalance", {"n_tasks": 3, "sigmas": [2.0, 3.0, 4.0], "n_train": 50})
    assert torch.equal(two.train.targets["t2"], three.train.targets["t2"])


@pytest.mark.parametrize("params, message", [
    ({"n_tasks": 3, "sigmas": [1.0, 2.0]}, "one sigma per task"),
    ({"sigmas": [1.0, -2.0]}, "must be > 0"),
    ({"n_tasks": 11}, "n_tasks"),
    ({"n_task": 2}, "unknown parameter"),
])
def test_scale_imbalance_rejects_bad_params(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_dataset("scale_imbalance", params)


# --- the catalogue and subsets ----------------------------------------------------------------


def test_catalogue_describes_every_set() -> None:
    entries = catalogue()
    assert [e["name"] for e in entries] == DATASETS.names()
    json.dumps(entries)  # the dashboard renders it as plain data
    built_in = [e for e in entries if e["name"] in BUILT_IN]
    assert [e["name"] for e in built_in] == list(BUILT_IN)
    for e in built_in:
        assert e["title"] and e["summary"] and e["source"]
        assert e["input_kind"] in ("image", "vector")
        assert any(p["name"] == "data_seed" and p["default"] == 0 for p in e["params"])
        assert e["tasks"], e["name"]
        for t in e["tasks"]:
            assert t["kind"] in KINDS
            assert t["loss"] in ("cross_entropy", "mse")
            assert t["metrics"] and all(isinstance(m["higher_is_better"], bool) for m in t["metrics"])
        assert e["missing"] is None or isinstance(e["missing"], str)
    by_name = {e["name"]: e for e in entries}
    assert by_name["multi_digits"]["missing"] is None
    assert "MNIST/raw" in by_name["multi_mnist"]["missing"]


def test_task_subset_selection() -> None:
    data = load_dataset("multi_digits", {"n_train": 50, "n_val": 20, "n_test": 20}, ["sum", "left"])
    assert isinstance(data, PreparedData)
    assert list(data.tasks) == ["sum", "left"]
    assert list(data.train.targets) == ["sum", "left"] and list(data.test.targets) == ["sum", "left"]
    with pytest.raises(ConfigError, match="no task"):
        load_dataset("multi_digits", {"n_train": 50}, ["product"])
