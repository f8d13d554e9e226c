"""Multi-Fashion and Multi-MNIST: two overlapping items on one canvas, one task per item.

The benchmark of Pareto MTL (Lin et al. 2019): a 36x36 canvas holds one 28x28 item at the top left
(offset 0) and another at the bottom right (offset 8); where they overlap the brighter pixel wins.
Task `left` is the class of the top-left item, `right` the class of the bottom-right one. The two
tasks share an input but each item hides part of the other, so they compete for the trunk.

Construction, fixed by `data_seed`: the official training images are split into train and
validation pools first (`val_fraction`), and only then paired, each image of a pool with a seeded
random partner of the same pool, so no source image appears in two splits. Every source image is
the top-left item of exactly one composite of its split; the test split pairs within the official
test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlcore.data.base import DataSetInfo, PreparedData, Split, cached, register, seeded_split
from mtlcore.data.idx import FASHION_MNIST, MNIST, MnistSource, file_signature, read_mnist_like
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    import torch

CANVAS = 36
OFFSET = 8  # the bottom-right item starts at row and column 8
_FORMAT = 1  # bump when the construction changes, so old caches are not reused
_SPLITS = ("train", "val", "test")


def overlay(top_left: np.ndarray, bottom_right: np.ndarray) -> np.ndarray:
    """Composite images (N, 1, 36, 36) uint8 from two stacks of (N, 28, 28) items (pixel-wise max)."""
    n, h, w = top_left.shape
    canvas = np.zeros((n, 1, CANVAS, CANVAS), dtype=np.uint8)
    canvas[:, 0, :h, :w] = top_left
    lower = canvas[:, 0, OFFSET:OFFSET + h, OFFSET:OFFSET + w]
    np.maximum(lower, bottom_right, out=lower)
    return canvas


def random_partners(n: int, rng: np.random.Generator) -> np.ndarray:
    """For each i in range(n), a random j != i (uniform over the others)."""
    if n < 2:
        raise ConfigError(f"pairing needs at least 2 images in a split, got {n}")
    return (np.arange(n) + rng.integers(1, n, size=n)) % n


def pair_split(images: np.ndarray, labels: np.ndarray, pool: np.ndarray,
               rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Composites of one split: pool[i] top left, a partner from the same pool bottom right."""
    import torch

    left = pool
    right = pool[random_partners(len(pool), rng)]
    return {
        "x": torch.from_numpy(overlay(images[left], images[right])),
        "left": torch.from_numpy(labels[left]),
        "right": torch.from_numpy(labels[right]),
        "sources": torch.from_numpy(np.stack([left, right], axis=1)),
    }


def _params(source: MnistSource) -> tuple[Param, ...]:
    where = (f"empty = Debian's {source.default_root}" if source.default_root
             else "required: there is no default location")
    return (
        Param("root", "str", "", f"folder with the {source.title} IDX files ({where}); "
              f"<root>/{source.torchvision_folder}/raw, <root>/raw or <root> itself"),
        Param("val_fraction", "float", 0.1, "share of the official training images held out for "
              "validation (split before pairing)", low=0.01, high=0.5),
        Param("data_seed", "int", 0, "seed of the split and the pairing (not the training seed)",
              low=0),
    )


def _tasks(source: MnistSource) -> list[TaskSpec]:
    digits = source.classes == tuple(str(d) for d in range(len(source.classes)))
    names = "0..9" if digits else ", ".join(f"{i} {c}" for i, c in enumerate(source.classes))
    return [
        TaskSpec(side, "classification", len(source.classes),
                 f"class of the {where} {source.title} item ({names})")
        for side, where in (("left", "top-left"), ("right", "bottom-right"))
    ]


def _build(source: MnistSource, files: dict[str, Path], params: dict[str, Any]) -> dict[str, Any]:
    raw = read_mnist_like(files)
    n_train = raw["train_images"].shape[0]
    train_pool, val_pool = (p.numpy() for p in seeded_split(
        n_train, (1.0 - params["val_fraction"], params["val_fraction"]), params["data_seed"]))
    rng = np.random.default_rng([params["data_seed"], 1])  # a stream apart from the split's
    pools = {"train": train_pool, "val": val_pool,
             "test": np.arange(raw["test_images"].shape[0])}
    out: dict[str, Any] = {}
    for split in _SPLITS:
        kind = "test" if split == "test" else "train"
        parts = pair_split(raw[f"{kind}_images"], raw[f"{kind}_labels"], pools[split], rng)
        out.update({f"{split}_{k}": v for k, v in parts.items()})
    return out


def _make(name: str, title: str, source: MnistSource) -> DataSetInfo:
    def available(params: dict[str, Any]) -> str | None:
        return source.missing(params["root"])

    def load(params: dict[str, Any]) -> PreparedData:
        files = source.require(params["root"])
        key = {"dataset": name, "format": _FORMAT, "params": params, "files": file_signature(files)}
        blob = cached(key, lambda: _build(source, files, params))
        splits = {s: Split(blob[f"{s}_x"], {t: blob[f"{s}_{t}"] for t in ("left", "right")})
                  for s in _SPLITS}
        info = {
            "classes": list(source.classes),
            "files": {k: str(p) for k, p in files.items()},
            "sizes": {s: len(splits[s]) for s in _SPLITS},
            # (N, 2) indices of the top-left and bottom-right items in the official files
            # (train and val index the training file, test the test file)
            "sources": {s: blob[f"{s}_sources"] for s in _SPLITS},
        }
        return PreparedData(name, (1, CANVAS, CANVAS), {t.name: t for t in _tasks(source)},
                            splits["train"], splits["val"], splits["test"], info)

    return DataSetInfo(
        name=name, title=title,
        summary=(f"Two {source.title} items overlap on a 36x36 canvas (top left and bottom right, "
                 f"brighter pixel wins); classify each. The Pareto MTL benchmark: two tasks of equal "
                 f"kind that compete for the shared features."),
        tasks=lambda params: _tasks(source), load=load, available=available,
        params=_params(source), input_shape=lambda params: (1, CANVAS, CANVAS),
        source=(f"{source.title} IDX files from {source.default_root} (Debian package "
                f"{source.debian_package})" if source.default_root else
                f"{source.title} IDX files from a folder you name (torchvision's layout works)")
        + "; Lin et al. 2019, Pareto Multi-Task Learning",
        input_kind="image",
    )


MULTI_FASHION = register(_make("multi_fashion", "Multi-Fashion", FASHION_MNIST))
MULTI_MNIST = register(_make("multi_mnist", "Multi-MNIST", MNIST))
