"""An image folder with a labels CSV becomes a data set: kinds, splits, caps and refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlcore.data import load_dataset
from mtlcore.data.base import DataSourceMissing
from mtlcore.data.image_folder import _available
from mtlcore.registry import ConfigError

SHAPES = ("circle", "square", "cross")


def write_folder(root: Path, n: int = 30, seed: int = 0) -> list[dict]:
    """PNGs of different sizes (some in a sub-folder) and a CSV: a text class, a 0/1 flag, a number."""
    from torchvision.io import write_png

    rng = np.random.default_rng(seed)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
        name = f"sub/img{i}.png" if i % 3 == 0 else f"img{i}.png"
        img = torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
        write_png(img, str(root / name))
        rows.append({"file": name, "shape": SHAPES[i % 3], "bright": str(i % 2), "size_cm": f"{1.5 + i * 0.37:.2f}"})
    write_csv(root / "labels.csv", rows)
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))


def test_folder_becomes_a_data_set(tmp_path: Path) -> None:
    rows = write_folder(tmp_path / "imgs")
    data = load_dataset("image_folder", {"root": str(tmp_path / "imgs"), "image_size": 16})
    assert data.input_shape == (3, 16, 16)
    assert {t: s.kind for t, s in data.tasks.items()} == {
        "shape": "classification", "bright": "classification", "size_cm": "regression"}
    assert data.tasks["shape"].out_dim == 3 and data.tasks["bright"].out_dim == 2
    assert len(data.train) + len(data.val) + len(data.test) == 30
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape[1:] == (3, 16, 16)
    # labels follow their images through the split; regression comes back in its own units
    by_name = {r["file"]: r for r in rows}
    spec = data.tasks["size_cm"]
    for i, name in enumerate(data.info["sources"]["test"]):
        assert sorted(SHAPES)[int(data.test.targets["shape"][i])] == by_name[name]["shape"]
        value = float(data.test.targets["size_cm"][i]) * spec.target_scale + spec.target_shift
        assert value == pytest.approx(float(by_name[name]["size_cm"]), abs=1e-4)
    gray = load_dataset("image_folder", {"root": str(tmp_path / "imgs"), "image_size": 12, "channels": "gray",
                                         "regression": "bright"})
    assert gray.input_shape == (1, 12, 12) and gray.tasks["bright"].kind == "regression"


def test_image_content_is_the_resized_centre_square(tmp_path: Path) -> None:
    from torchvision.io import write_png

    root = tmp_path / "f"
    root.mkdir()
    rows = []
    for i in range(12):
        img = torch.zeros(3, 20, 40, dtype=torch.uint8)
        img[:, :, 10:30] = 200  # the centre square is uniform grey, the sides black
        write_png(img, str(root / f"{i}.png"))
        rows.append({"image": f"{i}.png", "k": str(i % 2)})
    write_csv(root / "labels.csv", rows)
    data = load_dataset("image_folder", {"root": str(root), "image_size": 10})
    assert bool((data.train.x == 200).all())


def test_missing_setup_is_explained(tmp_path: Path) -> None:
    assert "set 'root'" in _available({"root": "", "labels": "labels.csv"})
    assert "does not exist" in _available({"root": str(tmp_path / "no"), "labels": "labels.csv"})
    (tmp_path / "e").mkdir()
    assert "labels.csv not found" in _available({"root": str(tmp_path / "e"), "labels": "labels.csv"})
    with pytest.raises(DataSourceMissing):
        load_dataset("image_folder", {"root": str(tmp_path / "e")})


def test_unreadable_and_missing_images_are_named(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_folder(root, n=12)
    (root / "img4.png").write_bytes(b"not a png at all")
    (root / "img7.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ConfigError, match=r"2 image\(s\) cannot be decoded.*img4\.png.*img7\.png"):
        load_dataset("image_folder", {"root": str(root)})
    (root / "img4.png").unlink()
    with pytest.raises(DataSourceMissing, match="img4.png"):
        load_dataset("image_folder", {"root": str(root)})


def test_paths_outside_the_folder_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    rows = write_folder(root, n=12)
    rows[2]["file"] = "../secret.png"
    (tmp_path / "secret.png").write_bytes((root / "img1.png").read_bytes())
    write_csv(root / "labels.csv", rows)
    with pytest.raises(ConfigError, match=r"leave the folder.*\.\./secret\.png"):
        load_dataset("image_folder", {"root": str(root)})


def test_caps_and_bad_tables(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "imgs"
    rows = write_folder(root, n=12)
    monkeypatch.setenv("MTL_MAX_ROWS", "11")
    with pytest.raises(ConfigError, match="12 images; the limit is 11"):
        load_dataset("image_folder", {"root": str(root)})
    monkeypatch.setenv("MTL_MAX_ROWS", "1000")
    monkeypatch.setenv("MTL_MAX_UPLOAD_MB", "0.01")  # 10 KB: 12 images of 32x32x3 take 36 KB decoded
    with pytest.raises(ConfigError, match="decoded"):
        load_dataset("image_folder", {"root": str(root)})
    monkeypatch.delenv("MTL_MAX_UPLOAD_MB")
    write_csv(root / "labels.csv", rows[:5])
    with pytest.raises(ConfigError, match="at least 10"):
        load_dataset("image_folder", {"root": str(root)})
    rows[3]["shape"] = ""
    write_csv(root / "labels.csv", rows)
    with pytest.raises(ConfigError, match=r"line\(s\) 5 "):
        load_dataset("image_folder", {"root": str(root)})
    for r in rows:
        r["shape"] = "same"
    write_csv(root / "labels.csv", rows)
    with pytest.raises(ConfigError, match="single label"):
        load_dataset("image_folder", {"root": str(root)})
