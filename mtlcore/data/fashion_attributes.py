"""Fashion attributes: one Fashion-MNIST item per image, tasks of different kinds and loss scales.

Where Multi-Fashion has two tasks of one kind, this set mixes kinds so the loss scales differ by
construction (cross-entropy over 10 or 4 classes, pixel MSE, a standardised scalar), which is what
loss-weighting methods are meant to fix:

- `category`: the 10 Fashion-MNIST classes.
- `group`: 4 coarse groups: tops = {0 T-shirt/top, 2 Pullover, 4 Coat, 6 Shirt} -> 0;
  bottoms and dresses = {1 Trouser, 3 Dress} -> 1; footwear = {5 Sandal, 7 Sneaker, 9 Ankle boot}
  -> 2; bags = {8 Bag} -> 3.
- `rotation` (self-supervised, only when `rotate`): each image is turned by a seeded k * 90
  degrees counter-clockwise, k in 0..3, and the task predicts k. The input is the turned image.
- `reconstruction`: the input itself (so the turned image), as values in [0, 1], 784 outputs
  reshaped to (1, 28, 28).
- `ink`: the fraction of pixels brighter than 0.5 (unchanged by the turn), standardised with the
  training split's mean and standard deviation; the spec's target_shift/target_scale bring the
  metrics back to fractions.

Memory: inputs stay uint8 (Split.batch converts them per batch), but Split.batch leaves targets as
they are, so the reconstruction targets are held as float16: half the memory of float32 (about
110 MB for all 70k images), and float16's rounding error on [0, 1] (< 2.5e-4) is far below the
1/255 step of the source pixels. They are derived from the inputs at load time, not cached twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlcore.data.base import DataSetInfo, PreparedData, Split, cached, dataset_params, register, seeded_split
from mtlcore.data.idx import FASHION_MNIST, file_signature, read_mnist_like
from mtlcore.registry import Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    pass

NAME = "fashion_attributes"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
GROUPS = ("tops", "bottoms and dresses", "footwear", "bags")
# Fashion-MNIST class -> group index (see the module docstring)
CLASS_TO_GROUP = np.array([0, 1, 0, 1, 0, 2, 0, 2, 3, 2], dtype=np.int64)
INK_THRESHOLD = 127  # uint8 value above which a pixel counts as ink (value / 255 > 0.5)

PARAMS = (
    Param("root", "str", "", f"folder with the Fashion-MNIST IDX files (empty = Debian's "
          f"{FASHION_MNIST.default_root}); <root>/FashionMNIST/raw, <root>/raw or <root> itself"),
    Param("val_fraction", "float", 0.1, "share of the official training images held out for "
          "validation", low=0.01, high=0.5),
    Param("rotate", "bool", True, "turn each image by a seeded multiple of 90 degrees and add the "
          "self-supervised `rotation` task"),
    Param("data_seed", "int", 0, "seed of the split and the rotations (not the training seed)", low=0),
)


def task_specs(params: dict[str, Any], ink_mean: float = 0.0, ink_std: float = 1.0) -> list[TaskSpec]:
    """The tasks; the ink standardisation is measured on the training split when the data loads."""
    classes = ", ".join(f"{i} {c}" for i, c in enumerate(FASHION_MNIST.classes))
    groups = "; ".join(
        f"{i} {g} = {{{', '.join(FASHION_MNIST.classes[c] for c in np.flatnonzero(CLASS_TO_GROUP == i))}}}"
        for i, g in enumerate(GROUPS))
    specs = [
        TaskSpec("category", "classification", 10, f"Fashion-MNIST class ({classes})"),
        TaskSpec("group", "classification", 4, f"coarse group: {groups}"),
    ]
    if params["rotate"]:
        specs.append(TaskSpec("rotation", "classification", 4,
                              "self-supervised: how many quarter turns (counter-clockwise) the "
                              "input was given, 0..3", augmentable=False))
    specs += [
        TaskSpec("reconstruction", "reconstruction", 28 * 28,
                 "reproduce the input image (pixel values in [0, 1])", out_shape=(1, 28, 28)),
        TaskSpec("ink", "regression", 1, "fraction of pixels brighter than 0.5 (standardised for "
                 "training, metrics in fractions)", target_scale=ink_std, target_shift=ink_mean),
    ]
    return specs


def quarter_turns(images: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Each (H, W) image turned counter-clockwise by k[i] * 90 degrees (images must be square)."""
    out = images.copy()
    for turns in (1, 2, 3):
        sel = k == turns
        out[sel] = np.rot90(images[sel], turns, axes=(1, 2))
    return out


def _build(files: dict[str, Path], params: dict[str, Any]) -> dict[str, Any]:
    import torch

    raw = read_mnist_like(files)
    seed = params["data_seed"]
    train_pool, val_pool = (p.numpy() for p in seeded_split(
        raw["train_images"].shape[0], (1.0 - params["val_fraction"], params["val_fraction"]), seed))
    rng = np.random.default_rng([seed, 2])  # a stream apart from the split's
    pools = {"train": train_pool, "val": val_pool, "test": np.arange(raw["test_images"].shape[0])}
    out: dict[str, Any] = {}
    for split in _SPLITS:
        kind = "test" if split == "test" else "train"
        images = raw[f"{kind}_images"][pools[split]]
        labels = raw[f"{kind}_labels"][pools[split]]
        if params["rotate"]:
            k = rng.integers(0, 4, size=len(images))
            images = quarter_turns(images, k)
        else:
            k = np.zeros(len(images), dtype=np.int64)
        ink = (images > INK_THRESHOLD).reshape(len(images), -1).mean(axis=1, dtype=np.float64)
        out[f"{split}_x"] = torch.from_numpy(np.ascontiguousarray(images[:, None]))
        out[f"{split}_category"] = torch.from_numpy(labels)
        out[f"{split}_group"] = torch.from_numpy(CLASS_TO_GROUP[labels])
        out[f"{split}_rotation"] = torch.from_numpy(k.astype(np.int64))
        out[f"{split}_ink"] = torch.from_numpy(ink.astype(np.float32))
        out[f"{split}_sources"] = torch.from_numpy(pools[split].astype(np.int64))
    return out


def _available(params: dict[str, Any]) -> str | None:
    return FASHION_MNIST.missing(params["root"])


def _load(params: dict[str, Any]) -> PreparedData:
    import torch

    files = FASHION_MNIST.require(params["root"])
    key = {"dataset": NAME, "format": _FORMAT, "params": params, "files": file_signature(files)}
    blob = cached(key, lambda: _build(files, params))
    train_ink = blob["train_ink"].double()
    mean, std = float(train_ink.mean()), float(train_ink.std().clamp_min(1e-8))
    specs = {t.name: t for t in task_specs(params, mean, std)}
    splits = {}
    for s in _SPLITS:
        x = blob[f"{s}_x"]
        targets = {
            "category": blob[f"{s}_category"],
            "group": blob[f"{s}_group"],
            "rotation": blob[f"{s}_rotation"],
            "reconstruction": x.to(torch.float16).div_(255.0),
            "ink": ((blob[f"{s}_ink"].double() - mean) / std).float(),
        }
        splits[s] = Split(x, {name: targets[name] for name in specs})
    info = {
        "classes": list(FASHION_MNIST.classes),
        "groups": list(GROUPS),
        "class_to_group": CLASS_TO_GROUP.tolist(),
        "files": {k: str(p) for k, p in files.items()},
        "sizes": {s: len(splits[s]) for s in _SPLITS},
        "ink_mean": mean, "ink_std": std,
        # index of each image in the official file (train and val: training file; test: test file)
        "sources": {s: blob[f"{s}_sources"] for s in _SPLITS},
    }
    return PreparedData(NAME, (1, 28, 28), specs, splits["train"], splits["val"], splits["test"], info)


FASHION_ATTRIBUTES = register(DataSetInfo(
    name=NAME, title="Fashion attributes",
    summary=("One Fashion-MNIST item per image and tasks of different kinds and loss scales: "
             "10-way category, 4-way coarse group (tops / bottoms and dresses / footwear / bags), "
             "self-supervised rotation (0/90/180/270 degrees), reconstruction of the input, and "
             "the fraction of ink as a scalar regression."),
    tasks=lambda params: task_specs(dataset_params(NAME, params)),
    load=_load, available=_available, params=PARAMS, input_shape=lambda params: (1, 28, 28),
    source=(f"Fashion-MNIST IDX files from {FASHION_MNIST.default_root} (Debian package "
            f"{FASHION_MNIST.debian_package}) or a folder you name; Xiao et al. 2017"),
    input_kind="image",
))
