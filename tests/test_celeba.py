"""CelebA from a user's folder: a tiny folder in torchvision's layout, written here, loads with
attribute tasks; images map to the right attribute rows; bad folders and names give messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mtlcore.config import DataConfig, ModelConfig, OptimConfig, RunConfig, WeightingConfig
from mtlcore.data import DataSourceMissing, catalogue, get_info, load_dataset
from mtlcore.data.celeba import ATTRIBUTES, chosen_attributes, find_files
from mtlcore.events import Finished, StepMetrics
from mtlcore.registry import ConfigError
from mtlcore.trainer import train

N_IMAGES = 36  # 24 train, 6 validation, 6 test


def _colour(i: int) -> tuple[int, int, int]:
    """A distinct flat colour per image, so a downscaled image tells which file it came from."""
    return (20 + 6 * i, 240 - 5 * i, 60 + (i * 37) % 150)


def write_celeba(root: Path, attrs: np.ndarray, layout: str = "torchvision") -> Path:
    """Attribute list, partition list and JPEGs (178 x 218 like the aligned originals, flat colours)."""
    folder = root / "celeba" if layout == "torchvision" else root
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(attrs))]
    lines = [str(len(attrs)), " ".join(ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(f"{v:2d}" for v in row) for name, row in zip(names, attrs)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    parts = [0] * 24 + [1] * 6 + [2] * 6
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, parts)))
    for i, name in enumerate(names):
        Image.new("RGB", (178, 218), _colour(i)).save(images / name, quality=95)
    return root


@pytest.fixture
def attrs() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.choice([-1, 1], size=(N_IMAGES, 40)).astype(np.int64)


@pytest.fixture
def root(tmp_path: Path, attrs: np.ndarray) -> Path:
    return write_celeba(tmp_path / "data", attrs)


def test_loads_with_attribute_tasks_and_right_rows(root: Path, attrs: np.ndarray) -> None:
    params = {"root": str(root), "attributes": "Smiling,male", "image_size": 32}
    data = load_dataset("celeba", params)
    assert list(data.tasks) == ["Smiling", "Male"]
    assert all(t.kind == "classification" and t.out_dim == 2 for t in data.tasks.values())
    assert data.input_shape == (3, 32, 32)
    assert [len(data.train), len(data.val), len(data.test)] == [24, 6, 6]
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape == (24, 3, 32, 32)
    smiling, male = ATTRIBUTES.index("Smiling"), ATTRIBUTES.index("Male")
    for name, lo, hi in (("train", 0, 24), ("val", 24, 30), ("test", 30, 36)):
        split = getattr(data, name)
        rows = data.info["sources"][name].numpy()
        assert ((rows >= lo) & (rows < hi)).all()  # each split only holds its official partition
        assert np.array_equal(split.targets["Smiling"].numpy(), (attrs[rows, smiling] > 0).astype(int))
        assert np.array_equal(split.targets["Male"].numpy(), (attrs[rows, male] > 0).astype(int))
        centre = split.x[:, :, 16, 16].numpy().astype(int)
        expected = np.array([_colour(int(r)) for r in rows])
        assert np.abs(centre - expected).max() <= 6  # JPEG keeps a flat colour within a few levels


def test_other_attributes_reuse_the_cache_and_subsets_are_seeded(root: Path) -> None:
    base = {"root": str(root), "n_train": 10, "n_val": 3, "n_test": 3}
    a = load_dataset("celeba", {**base, "attributes": "Young"})
    b = load_dataset("celeba", {**base, "attributes": "all"})
    assert len(b.tasks) == 40 and len(a.train) == 10
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.targets["Young"], b.train.targets["Young"])
    c = load_dataset("celeba", {**base, "attributes": "Young", "data_seed": 1})
    assert not torch.equal(a.info["sources"]["train"], c.info["sources"]["train"])
    big = load_dataset("celeba", {"root": str(root), "attributes": "Young", "image_size": 64})
    assert big.train.x.shape == (24, 3, 64, 64)


def test_files_directly_in_root(tmp_path: Path, attrs: np.ndarray) -> None:
    root = write_celeba(tmp_path / "flat", attrs, layout="flat")
    assert not isinstance(find_files(str(root)), str)
    assert len(load_dataset("celeba", {"root": str(root), "attributes": "Bald"}).test) == 6


def test_messages_for_missing_or_bad_input(tmp_path: Path, root: Path) -> None:
    with pytest.raises(DataSourceMissing, match="root"):
        load_dataset("celeba", {})
    with pytest.raises(DataSourceMissing, match="does not exist"):
        load_dataset("celeba", {"root": str(tmp_path / "nowhere")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceMissing, match="list_attr_celeba.txt"):
        load_dataset("celeba", {"root": str(tmp_path / "empty")})
    with pytest.raises(ConfigError, match="unknown attribute 'Smiley'"):
        chosen_attributes({"attributes": "Smiley"})
    with pytest.raises(ConfigError, match="at least one attribute"):
        load_dataset("celeba", {"root": str(root), "attributes": " , "})
    (root / "celeba" / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DataSourceMissing, match="000003.jpg"):
        load_dataset("celeba", {"root": str(root), "attributes": "Young", "data_seed": 5})


def test_damaged_lists_are_named(tmp_path: Path, attrs: np.ndarray) -> None:
    root = write_celeba(tmp_path / "d", attrs)
    attr = root / "celeba" / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    attr.write_text("\n".join(lines[:-3]) + "\n")  # the count on line 1 no longer matches
    with pytest.raises(ConfigError, match="announces 36 images"):
        load_dataset("celeba", {"root": str(root)})
    attr.write_text("\n".join([lines[0], "Smiling Male"] + lines[2:]) + "\n")
    with pytest.raises(ConfigError, match="40 attributes"):
        load_dataset("celeba", {"root": str(root)})
    bad = (root / "celeba" / "img_align_celeba" / "000001.jpg")
    attr.write_text("\n".join(lines) + "\n")
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ConfigError, match="000001.jpg"):
        load_dataset("celeba", {"root": str(root), "n_train": 24})


def test_catalogue_and_training(root: Path) -> None:
    entry = next(e for e in catalogue() if e["name"] == "celeba")
    assert [t["name"] for t in entry["tasks"]] == ["Smiling", "Male", "Young", "Eyeglasses"]
    assert "root" in entry["missing"]
    assert get_info("celeba").available({"root": str(root)}) is None
    config = RunConfig(
        data=DataConfig("celeba", ["Smiling", "Young"], {"root": str(root), "attributes": "Smiling,Young,Male"}),
        model=ModelConfig("hps", {"trunk": "cnn", "width": 8, "depth": 1}),
        weighting=WeightingConfig("uw"), optim=OptimConfig(batch_size=8, max_steps=4), grad_stats_every=0)
    events = train(config)
    assert isinstance(events[-1], Finished) and events[-1].status == "finished", events[-1].reason
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert set(steps[-1].losses) == {"Smiling", "Young"}
