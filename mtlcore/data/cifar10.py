"""CIFAR-10 from a folder of the user's: the tutorials' classification + regression example.

Nothing downloads. The user names a folder (`root`) holding torchvision's layout,
`<root>/cifar-10-batches-py/` (the python pickles: data_batch_1..5, test_batch) or the binary
version `<root>/cifar-10-batches-bin/` (data_batch_1..5.bin, test_batch.bin). The pickles are read
with `safe_pickle.RestrictedUnpickler`, not torchvision's loader (which calls `pickle.load`, so a
tampered batch would run code). torchvision supplies the file list and md5 sums; a copy whose sums
differ still loads and is reported as not the official one in `info`.

Tasks:
- `class`: the 10 CIFAR-10 classes.
- `animal`: 2-way, 1 animal (bird, cat, deer, dog, frog, horse), 0 vehicle (airplane, automobile,
  ship, truck).
- `angle` (regression): every image is rotated by a seeded whole number of degrees drawn uniformly
  from [-max_angle, max_angle] (counter-clockwise positive, torchvision's `rotate`, bilinear, black
  corners) and the task predicts that angle. Trained standardised by the uniform draw's standard
  deviation; metrics (MAE, RMSE) are in degrees. The class tasks see the rotated image too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

from mtlcore.data.augment import rotate_images
from mtlcore.data.base import (
    DataSetInfo,
    DataSourceMissing,
    PreparedData,
    Split,
    cached,
    dataset_params,
    register,
    seeded_split,
)
from mtlcore.data.safe_pickle import load_restricted
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

NAME = "cifar10"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VEHICLES = (0, 1, 8, 9)
IS_ANIMAL = np.array([0 if c in VEHICLES else 1 for c in range(10)], dtype=np.int64)
PY_FOLDER = "cifar-10-batches-py"
BIN_FOLDER = "cifar-10-batches-bin"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_BYTES = 3 * 32 * 32
DEFAULT_ROOTS = ("data", "~/data")  # the tutorials' root="./data", then the home folder's

PARAMS = (
    Param("root", "str", "", f"folder holding {PY_FOLDER}/ (data_batch_1..5, test_batch) or {BIN_FOLDER}/ "
          f"(data_batch_1..5.bin, test_batch.bin), torchvision's layout; empty = ./data, then ~/data"),
    Param("val_fraction", "float", 0.1, "share of the 50,000 training images held out for validation",
          low=0.01, high=0.5),
    Param("n_train", "int", 0, "training images kept (a seeded subset, for a quick run); 0 keeps all",
          low=0, high=50_000),
    Param("max_angle", "int", 30, "the `angle` task: images are rotated by a whole number of degrees "
          "drawn from [-max_angle, max_angle]", low=1, high=180),
    Param("data_seed", "int", 0, "seed of the split, the subset and the rotations (not the training seed)",
          low=0),
)


def angle_std(max_angle: int) -> float:
    """Standard deviation of a whole number drawn uniformly from [-m, m]: sqrt(m (m + 1) / 3)."""
    return float(np.sqrt(max_angle * (max_angle + 1) / 3.0))


def task_specs(params: dict[str, Any]) -> list[TaskSpec]:
    classes = ", ".join(f"{i} {c}" for i, c in enumerate(CLASSES))
    m = int(params["max_angle"])
    return [
        TaskSpec("class", "classification", 10, f"CIFAR-10 class ({classes})"),
        TaskSpec("animal", "classification", 2, "1 animal (bird, cat, deer, dog, frog, horse), "
                 "0 vehicle (airplane, automobile, ship, truck)"),
        TaskSpec("angle", "regression", 1, f"degrees the image was rotated by (counter-clockwise, a "
                 f"whole number in [-{m}, {m}]); metrics in degrees", target_scale=angle_std(m),
                 augmentable=False),
    ]


def layout_help(base: str = "<root>") -> str:
    py = ", ".join((*TRAIN_BATCHES, TEST_BATCH))
    return (f"{base}/{PY_FOLDER}/ with {py} (the python version), or {base}/{BIN_FOLDER}/ with "
            f"data_batch_1.bin .. data_batch_5.bin and test_batch.bin (the binary version)")


def find_files(root: str) -> tuple[str, dict[str, Path]] | str:
    """("py" | "bin", split name -> file) for the first complete copy, or what is missing."""
    roots = [root] if root else list(DEFAULT_ROOTS)
    notes = []
    for r in roots:
        base = Path(r).expanduser()
        for folder, kind, suffix in ((base / PY_FOLDER, "py", ""), (base / BIN_FOLDER, "bin", ".bin"),
                                     (base, "py", ""), (base, "bin", ".bin")):
            files = {name: folder / f"{name}{suffix}" for name in (*TRAIN_BATCHES, TEST_BATCH)}
            present = [n for n, p in files.items() if p.is_file()]
            if len(present) == len(files):
                return kind, files
            if present:
                absent = [p.name for n, p in files.items() if n not in present]
                notes.append(f"{folder} lacks {', '.join(absent)}")
    where = f"folder {Path(root).expanduser()}" if root else "./data or ~/data (no folder named)"
    found = f" ({'; '.join(notes)})" if notes else ""
    return (f"CIFAR-10 not found in {where}{found}. Put the batches there as {layout_help()}, and set "
            "'root' to that folder. Nothing is downloaded: copy the archive from "
            "https://www.cs.toronto.edu/~kriz/cifar.html yourself and unpack it.")


def read_py_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) labels of one python batch, read without pickle.load."""
    obj = load_restricted(path)
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: a CIFAR-10 batch is a dict, this pickle holds a {type(obj).__name__}")
    get = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = get.get("data"), get.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise ConfigError(f"{path}: 'data' must be a uint8 array of shape (N, {IMAGE_BYTES})")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    return data.reshape(-1, 3, 32, 32), check_labels(labels, data.shape[0], path)


def read_bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch: records of a label byte then 3072 pixel bytes (red, green, blue planes)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % (IMAGE_BYTES + 1):
        raise ConfigError(f"{path}: {raw.size} bytes is not a whole number of {IMAGE_BYTES + 1}-byte "
                          "CIFAR-10 records; re-copy the file")
    records = raw.reshape(-1, IMAGE_BYTES + 1)
    labels = records[:, 0].astype(np.int64)
    return records[:, 1:].reshape(-1, 3, 32, 32), check_labels(labels, len(records), path)


def check_labels(labels: np.ndarray, n: int, path: Path) -> np.ndarray:
    if labels.shape != (n,):
        raise ConfigError(f"{path}: {labels.size} labels for {n} images")
    if n and (labels.min() < 0 or labels.max() > 9):
        raise ConfigError(f"{path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return labels


def official_copy(kind: str, files: dict[str, Path]) -> bool:
    """True when a python copy matches torchvision's md5 list (the binary version has none there)."""
    if kind != "py":
        return False
    from torchvision.datasets import CIFAR10

    expected = dict(CIFAR10.train_list + CIFAR10.test_list)
    for name, path in files.items():
        if hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest() != expected.get(name):
            return False
    return True


def _build(kind: str, files: dict[str, Path], params: dict[str, Any]) -> dict[str, Any]:
    import torch

    read = read_py_batch if kind == "py" else read_bin_batch
    parts = [read(files[n]) for n in TRAIN_BATCHES]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read(files[TEST_BATCH])
    seed = params["data_seed"]
    frac = params["val_fraction"]
    train_pool, val_pool = (p.numpy() for p in seeded_split(len(train_x), (1.0 - frac, frac), seed))
    if params["n_train"]:
        train_pool = train_pool[: params["n_train"]]  # the split is already a random order
    if len(train_pool) == 0 or len(val_pool) == 0 or len(test_x) == 0:
        raise ConfigError("CIFAR-10: the batches hold too few images for a training, validation and test split")
    gen = torch.Generator().manual_seed(seed * 1_000 + 11)  # a stream apart from the split's
    m = int(params["max_angle"])
    out: dict[str, Any] = {"official": official_copy(kind, files)}
    for split, (x, y, pool) in {"train": (train_x, train_y, train_pool), "val": (train_x, train_y, val_pool),
                                "test": (test_x, test_y, np.arange(len(test_x)))}.items():
        images = torch.from_numpy(np.ascontiguousarray(x[pool]))
        angles = torch.randint(-m, m + 1, (len(pool),), generator=gen)
        out[f"{split}_x"] = rotate_images(images, angles)
        out[f"{split}_class"] = torch.from_numpy(y[pool])
        out[f"{split}_angle"] = angles.to(torch.int16)
        out[f"{split}_sources"] = torch.from_numpy(pool.astype(np.int64))
    return out


def _available(params: dict[str, Any]) -> str | None:
    found = find_files(params["root"])
    return found if isinstance(found, str) else None


def _signature(files: dict[str, Path]) -> list:
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for _, p in sorted(files.items())]


def _load(params: dict[str, Any]) -> PreparedData:
    import torch

    found = find_files(params["root"])
    if isinstance(found, str):
        raise DataSourceMissing(found)
    kind, files = found
    key = {"dataset": NAME, "format": _FORMAT, "params": {k: v for k, v in params.items() if k != "root"},
           "files": _signature(files)}
    blob = cached(key, lambda: _build(kind, files, params))
    specs = {t.name: t for t in task_specs(params)}
    scale = specs["angle"].target_scale
    splits = {}
    for s in _SPLITS:
        cls = blob[f"{s}_class"]
        splits[s] = Split(blob[f"{s}_x"], {
            "class": cls, "animal": torch.from_numpy(IS_ANIMAL)[cls],
            "angle": blob[f"{s}_angle"].float() / scale,
        })
    info = {"classes": list(CLASSES), "format": kind, "files": {k: str(p) for k, p in files.items()},
            "official_copy": bool(blob["official"]), "sizes": {s: len(splits[s]) for s in _SPLITS},
            "sources": {s: blob[f"{s}_sources"] for s in _SPLITS}}
    return PreparedData(NAME, (3, 32, 32), specs, splits["train"], splits["val"], splits["test"], info)


CIFAR10_INFO = register(DataSetInfo(
    name=NAME, title="CIFAR-10 (your folder)",
    summary=("32x32 colour photos of 10 classes from your own copy of CIFAR-10: the 10-way class, "
             "animal vs vehicle, and the angle each image was rotated by (a regression in degrees)."),
    tasks=lambda params: task_specs(dataset_params(NAME, params)),
    load=_load, available=_available, params=PARAMS,
    source=("CIFAR-10 (Krizhevsky 2009) from a folder you name, in torchvision's layout "
            f"({PY_FOLDER}/ or {BIN_FOLDER}/); nothing downloads"),
    input_kind="image",
))
