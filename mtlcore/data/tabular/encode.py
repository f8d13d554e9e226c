"""Splitting a chosen table by seed and encoding it with statistics of the training split only.

The encoding is scikit-learn's, fitted on the training rows: per input column a SimpleImputer (the
missing-value rule: median or most frequent) then a StandardScaler for numbers, or a OneHotEncoder
with unseen categories ignored (all zeros) for text, joined by a ColumnTransformer; classification
targets through a LabelEncoder of the training split's classes. Validation and test never leak into
the encoding. scikit-learn is imported when a table is encoded, not with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from mtlcore.data.base import PreparedData, Split, seeded_split
from mtlcore.data.tabular.select import TableSource
from mtlcore.data.tabular.table import Column, TableError
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

SPLIT_PARAMS = (
    Param("val_fraction", "float", 0.15, "share of rows held out for validation", low=0.01, high=0.4),
    Param("test_fraction", "float", 0.15, "share of rows held out for the test", low=0.01, high=0.4),
    Param("data_seed", "int", 0, "seed of the train / validation / test split (not the training seed)",
          low=0),
)
_SPLITS = ("train", "val", "test")
_SPLIT_WORD = {"train": "training", "val": "validation", "test": "test"}
_MISSING_CODE = -1  # a missing category's code (numbers use NaN)


def prepare(source: TableSource, name: str, data_seed: int = 0, val_fraction: float = 0.15,
            test_fraction: float = 0.15) -> PreparedData:
    """Split by seed, then encode inputs and targets with training-split statistics only.

    Numbers: imputed (rule) then standardised. Text inputs: imputed (rule) then one-hot over the
    training split's categories; a category first seen in validation or test encodes as all
    zeros. Classification targets: classes are those of the training split; validation and test
    rows with another label are dropped (noted). Regression targets: standardised, with the
    training mean and deviation in the TaskSpec so metrics come back in the column's units.
    """
    import torch

    train_fraction = 1.0 - val_fraction - test_fraction
    if train_fraction < 0.2:
        raise ConfigError(f"validation ({val_fraction}) and test ({test_fraction}) fractions leave "
                          "less than 20% of the rows for training")
    n = source.n_rows
    parts = [p.numpy() for p in seeded_split(n, (train_fraction, val_fraction, test_fraction), data_seed)]
    idx = dict(zip(_SPLITS, parts))
    for split in _SPLITS:
        if idx[split].size == 0:
            raise TableError(f"the {split} split of {n} rows is empty; use more rows or larger fractions")
    notes = list(source.notes)
    train = idx["train"]

    specs: dict[str, TaskSpec] = {}
    target_values: dict[str, np.ndarray] = {}
    classes: dict[str, list[str]] = {}
    keep = {s: np.ones(idx[s].size, dtype=bool) for s in ("val", "test")}
    for t in source.targets:
        col = source.columns[t]
        if source.kinds[t] == "classification":
            target_values[t], labels = _encode_classes(col, idx, keep, notes)
            classes[t] = labels
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            specs[t] = TaskSpec(t, "classification", len(labels), f"column {t!r}: {len(labels)} classes ({shown})")
        else:
            target_values[t], mean, std = _standardised_target(col, train)
            specs[t] = TaskSpec(t, "regression", 1,
                                f"column {t!r}: numbers, standardised for training (mean {mean:.4g}, sd "
                                f"{std:.4g}); metrics in the column's units",
                                target_scale=std, target_shift=mean)
    for s in ("val", "test"):
        idx[s] = idx[s][keep[s]]
        if idx[s].size == 0:
            raise TableError(f"the {_SPLIT_WORD[s]} split is empty after dropping rows with labels "
                             "unseen in training; use more rows")

    x, features = encode_inputs(source, idx, notes)

    splits = {}
    for s in _SPLITS:
        rows = idx[s]
        ys: dict[str, torch.Tensor] = {}
        for t in source.targets:
            v = target_values[t][rows]
            ys[t] = (torch.from_numpy(v.astype(np.int64)) if source.kinds[t] == "classification"
                     else torch.from_numpy(v.astype(np.float32)))
        splits[s] = Split(torch.from_numpy(np.ascontiguousarray(x[rows])), ys)
    info = {
        "sizes": {s: len(splits[s]) for s in _SPLITS},
        "features": features, "inputs": list(source.inputs), "targets": list(source.targets),
        "kinds": dict(source.kinds), "classes": classes, "missing": source.missing,
        "notes": notes, "split": {"data_seed": data_seed, "val_fraction": val_fraction,
                                  "test_fraction": test_fraction},
        "sources": {s: torch.from_numpy(idx[s].copy()) for s in _SPLITS},  # row numbers in the source
    }
    return PreparedData(name, (x.shape[1],), specs, splits["train"], splits["val"], splits["test"], info)


def _encode_classes(col: Column, idx: dict[str, np.ndarray], keep: dict[str, np.ndarray],
                    notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Class numbers of every row (-1 where unseen in training) and the training split's labels.

    Validation and test rows whose label the training split never holds are dropped (noted)."""
    from sklearn.preprocessing import LabelEncoder

    train = idx["train"]
    encoder = LabelEncoder().fit(col.values[train])
    if encoder.classes_.size < 2:
        raise TableError(f"target {col.name!r} has a single class in the training split; use more "
                         "rows or another data_seed")
    known = np.isin(col.values, encoder.classes_)
    mapped = np.full(col.values.shape[0], -1, dtype=np.int64)
    mapped[known] = encoder.transform(col.values[known])
    for s in ("val", "test"):
        unseen = ~known[idx[s]]
        if unseen.any():
            keep[s] &= ~unseen
            notes.append(f"{int(unseen.sum())} {_SPLIT_WORD[s]} row(s) dropped: their {col.name!r} "
                         "label never occurs in the training split")
    return mapped, [col.vocab[i] for i in encoder.classes_.tolist()]


def _standardised_target(col: Column, train: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A regression target standardised with the training split's mean and deviation."""
    y = col.values
    mean = float(y[train].mean())
    std = float(y[train].std())
    if not np.isfinite(std) or std <= 0:
        raise TableError(f"target {col.name!r} is constant on the training split; nothing to regress")
    return (y - mean) / std, mean, std


def _input_matrix(source: TableSource) -> np.ndarray:
    """Every input column side by side as float64: numbers (NaN missing), category codes (-1 missing)."""
    return np.stack([source.columns[c].values.astype(np.float64, copy=False) for c in source.inputs], axis=1)


def encode_inputs(source: TableSource, idx: dict[str, np.ndarray],
                  notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The inputs as float32 features fitted on the training rows, and each feature's name.

    Numbers: imputed by the rule, then standardised (a constant column stays zeros). Text: imputed
    with the most frequent category, then one-hot over the training split's categories; a category
    first seen in validation or test encodes as all zeros (noted)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = idx["train"]
    matrix = _input_matrix(source)
    numeric_fill = "median" if source.missing == "median" else "most_frequent"
    steps = []
    for i, name in enumerate(source.inputs):
        col = source.columns[name]
        present = ~_missing(col)[train]
        if not present.any():  # SimpleImputer would drop the column without a word
            raise TableError(f"input {name!r} has no values in the training split")
        if col.kind == "numeric":
            steps.append((name, make_pipeline(SimpleImputer(strategy=numeric_fill), StandardScaler()), [i]))
        else:
            steps.append((name, make_pipeline(
                SimpleImputer(missing_values=float(_MISSING_CODE), strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)), [i]))
    encoder = ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)
    encoder.fit(matrix[train])
    x = np.asarray(encoder.transform(matrix), dtype=np.float32)
    features: list[str] = []
    for name, pipeline, _ in encoder.transformers_:
        col = source.columns[name]
        if col.kind == "numeric":
            features.append(name)
            continue
        seen = pipeline[-1].categories_[0].astype(np.int64)
        features += [f"{name}={col.vocab[c]}" for c in seen.tolist()]
        filled = col.values.copy()
        filled[filled == _MISSING_CODE] = int(pipeline[0].statistics_[0])
        for s in ("val", "test"):
            unseen = int((~np.isin(filled[idx[s]], seen)).sum())
            if unseen:
                notes.append(f"input {name!r}: {unseen} {_SPLIT_WORD[s]} row(s) hold a category not "
                             "seen in training (encoded as all zeros)")
    return x, features


def _missing(col: Column) -> np.ndarray:
    return np.isnan(col.values) if col.kind == "numeric" else col.values == _MISSING_CODE
