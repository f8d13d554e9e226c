"""Multi-Digits: two small handwritten digits side by side; trains in seconds on any machine.

Built from scikit-learn's bundled digits (1797 images of 8x8, values 0..16), so it is always
available and nothing downloads. An image is two digits next to each other, (1, 8, 16), scaled to
uint8 0..255. Tasks: `left` and `right` (10-way each) and `sum` of the two (a regression,
standardised with the training split's mean and standard deviation; metrics in original units).

The 1797 source images are split into train / val / test pools first (60 / 20 / 20, seeded by
`data_seed`) and pairs are drawn only within a pool, so no source image appears in two splits.
A pool has a few hundred images, so pairs repeat images (and, rarely, whole pairs) within a split.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlcore.data.base import DataSetInfo, PreparedData, Split, cached, register, seeded_split
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    pass

NAME = "multi_digits"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
POOL_FRACTIONS = (0.6, 0.2, 0.2)

PARAMS = (
    Param("n_train", "int", 6000, "pairs in the training split", low=10, high=200_000),
    Param("n_val", "int", 1500, "pairs in the validation split", low=10, high=100_000),
    Param("n_test", "int", 1500, "pairs in the test split", low=10, high=100_000),
    Param("data_seed", "int", 0, "seed of the pools and the pairing (not the training seed)", low=0),
)


def task_specs(params: dict[str, Any], sum_mean: float = 0.0, sum_std: float = 1.0) -> list[TaskSpec]:
    """The tasks; the sum's standardisation is measured on the training split when the data loads."""
    return [
        TaskSpec("left", "classification", 10, "the left digit, 0..9"),
        TaskSpec("right", "classification", 10, "the right digit, 0..9"),
        TaskSpec("sum", "regression", 1, "left + right, 0..18 (standardised for training, "
                 "metrics in original units)", target_scale=sum_std, target_shift=sum_mean),
    ]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def _source_signature() -> list:
    """The bundled file's size and mtime, so a changed scikit-learn copy rebuilds the cache.

    Found without importing scikit-learn, so a warm load stays fast.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ConfigError("Multi-Digits needs scikit-learn (pip install scikit-learn)")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        return [str(path)]
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _build(params: dict[str, Any]) -> dict[str, Any]:
    import torch

    images, labels = _digits()
    seed = params["data_seed"]
    pools = dict(zip(_SPLITS, (p.numpy() for p in seeded_split(len(images), POOL_FRACTIONS, seed))))
    rng = np.random.default_rng([seed, 3])  # a stream apart from the pools'
    out: dict[str, Any] = {}
    for split in _SPLITS:
        pool, n = pools[split], params[f"n_{split}"]
        first = rng.integers(0, len(pool), size=n)
        # the right digit is another image of the same pool
        second = (first + rng.integers(1, len(pool), size=n)) % len(pool)
        left, right = pool[first], pool[second]
        x = np.concatenate([images[left], images[right]], axis=2)[:, None]
        out[f"{split}_x"] = torch.from_numpy(np.ascontiguousarray(x))
        out[f"{split}_left"] = torch.from_numpy(labels[left])
        out[f"{split}_right"] = torch.from_numpy(labels[right])
        out[f"{split}_sources"] = torch.from_numpy(np.stack([left, right], axis=1))
    return out


def _load(params: dict[str, Any]) -> PreparedData:
    key = {"dataset": NAME, "format": _FORMAT, "params": params, "files": _source_signature()}
    blob = cached(key, lambda: _build(params))
    train_sum = (blob["train_left"] + blob["train_right"]).double()
    mean, std = float(train_sum.mean()), float(train_sum.std().clamp_min(1e-8))
    specs = {t.name: t for t in task_specs(params, mean, std)}
    splits = {}
    for s in _SPLITS:
        total = (blob[f"{s}_left"] + blob[f"{s}_right"]).double()
        splits[s] = Split(blob[f"{s}_x"], {
            "left": blob[f"{s}_left"], "right": blob[f"{s}_right"],
            "sum": ((total - mean) / std).float(),
        })
    info = {
        "sizes": {s: len(splits[s]) for s in _SPLITS},
        "sum_mean": mean, "sum_std": std,
        # (N, 2) indices of the left and right digit in scikit-learn's 1797 images
        "sources": {s: blob[f"{s}_sources"] for s in _SPLITS},
    }
    return PreparedData(NAME, (1, 8, 16), specs, splits["train"], splits["val"], splits["test"], info)


MULTI_DIGITS = register(DataSetInfo(
    name=NAME, title="Multi-Digits",
    summary=("Two 8x8 handwritten digits side by side: classify each and regress their sum. "
             "Tiny (8x16 inputs) and always available: a first run takes seconds."),
    tasks=task_specs, load=_load, available=lambda params: None, params=PARAMS,
    source="scikit-learn's bundled digits (load_digits: 1797 images, UCI optical recognition)",
    input_kind="image", input_shape=lambda params: (1, 8, 16),
))
