"""A folder of your own images and a CSV of per-image labels, as a multi-task data set.

Layout: `<root>/` holds the images (any depth of sub-folders) and a CSV (by default
`<root>/labels.csv`) whose first column names each image by its path relative to `<root>` and whose
other columns are the tasks, one label per image. A column is a classification task when it holds
text or at most `limits.MAX_DISCRETE` distinct numbers (the tables' rule), a regression otherwise;
`regression` forces named numeric columns to regression.

Images are decoded with `torchvision.io.decode_image` (PNG, JPEG, GIF, WebP), converted to RGB or
grey, centre-cropped to a square and resized to `image_size` with torchvision's v2 `resize`, then
cached as uint8. The same caps as tables apply: the CSV's size (MTL_MAX_UPLOAD_MB), the number of
rows (MTL_MAX_ROWS, at least `MIN_ROWS`), the classes per task (`MAX_CLASSES`), and the decoded
images must fit in the upload cap too. Paths that leave `<root>`, missing images and files that do
not decode are refused with their names.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

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
from mtlcore.data.limits import (
    MAX_CLASSES,
    MAX_COLUMNS,
    MAX_DISCRETE,
    MIN_ROWS,
    describe_bytes,
    max_rows,
    max_upload_bytes,
)
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

NAME = "image_folder"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
DEFAULT_LABELS = "labels.csv"
SHOWN = 5  # names listed in a refusal before "and N more"

PARAMS = (
    Param("root", "str", "", "folder holding the images (sub-folders allowed) and the labels CSV"),
    Param("labels", "str", DEFAULT_LABELS, "the CSV, relative to root or absolute: first column the image's "
          "path relative to root, one column per task"),
    Param("image_size", "int", 32, "side of the square the images are resized to", low=8, high=256),
    Param("channels", "choice", "rgb", "colour (3 channels) or grey (1)", choices=("rgb", "gray")),
    Param("regression", "str", "", "comma-separated numeric columns to treat as regression even with few "
          "distinct values"),
    Param("val_fraction", "float", 0.15, "share of the images held out for validation", low=0.01, high=0.5),
    Param("test_fraction", "float", 0.15, "share of the images held out for testing", low=0.01, high=0.5),
    Param("data_seed", "int", 0, "seed of the split (not the training seed)", low=0),
)


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def labels_path(params: dict[str, Any]) -> Path:
    given = Path(str(params["labels"]) or DEFAULT_LABELS).expanduser()
    return given if given.is_absolute() else Path(params["root"]).expanduser() / given


def _available(params: dict[str, Any]) -> str | None:
    if not params["root"]:
        return ("set 'root' to a folder of images holding a labels CSV (first column: each image's path "
                f"relative to the folder; one column per task), by default <root>/{DEFAULT_LABELS}")
    root = Path(params["root"]).expanduser()
    if not root.is_dir():
        return f"image folder {root} does not exist"
    if not labels_path(params).is_file():
        return f"labels file {labels_path(params)} not found (a CSV: image path, then one column per task)"
    return None


def read_labels(params: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The image names and the raw label text of each task column, with the caps checked."""
    why = _available(params)
    if why:
        raise DataSourceMissing(why)
    path = labels_path(params)
    size = path.stat().st_size
    if size > max_upload_bytes():
        raise ConfigError(f"{path} is {describe_bytes(size)}; the limit is {describe_bytes(max_upload_bytes())} "
                          "(MTL_MAX_UPLOAD_MB)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save the CSV as UTF-8") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ConfigError(f"{path} needs a header and at least one image row")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or len(header) > MAX_COLUMNS:
        raise ConfigError(f"{path}: the header must name the image column and 1 to {MAX_COLUMNS - 1} task "
                          f"columns, got {len(header)} column(s)")
    if len(set(header)) != len(header) or not all(header):
        raise ConfigError(f"{path}: column names must be non-empty and distinct, got {header}")
    body = rows[1:]
    if len(body) > max_rows():
        raise ConfigError(f"{path} lists {len(body):,} images; the limit is {max_rows():,} (MTL_MAX_ROWS)")
    if len(body) < MIN_ROWS:
        raise ConfigError(f"{path} lists {len(body)} images; a data set needs at least {MIN_ROWS}")
    short = [str(i + 2) for i, r in enumerate(body) if len(r) != len(header) or any(not c.strip() for c in r)]
    if short:
        raise ConfigError(f"{path}: line(s) {_listed(short)} do not have a value in each of the "
                          f"{len(header)} columns")
    names = [r[0].strip() for r in body]
    return names, {h: [r[i].strip() for r in body] for i, h in enumerate(header) if i > 0}


def _as_numbers(values: list[str]) -> np.ndarray | None:
    try:
        out = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None
    return out if np.isfinite(out).all() else None


def column_tasks(columns: dict[str, list[str]], forced: set[str]) -> list[tuple[TaskSpec, list[str]]]:
    """Each column's task (classification or regression) and, for classification, its class names."""
    unknown = sorted(forced - set(columns))
    if unknown:
        raise ConfigError(f"'regression' names column(s) {unknown} the CSV does not have; it has {list(columns)}")
    out = []
    for name, values in columns.items():
        numbers = _as_numbers(values)
        distinct = sorted(set(values), key=lambda v: (float(v), v) if numbers is not None else (0.0, v))
        if name in forced and numbers is None:
            raise ConfigError(f"column '{name}' is not all numbers, so it cannot be a regression target")
        if numbers is not None and (name in forced or len(distinct) > MAX_DISCRETE):
            out.append((TaskSpec(name, "regression", 1, f"column '{name}' (standardised for training, "
                                 "metrics in its own units)"), []))
            continue
        if len(distinct) > MAX_CLASSES:
            raise ConfigError(f"column '{name}' has {len(distinct)} distinct labels; a classification task may "
                              f"have at most {MAX_CLASSES}")
        if len(distinct) < 2:
            raise ConfigError(f"column '{name}' has a single label ({distinct[0]!r}): nothing to learn")
        out.append((TaskSpec(name, "classification", len(distinct),
                             "column '" + name + "': " + ", ".join(f"{i} {c}" for i, c in enumerate(distinct))),
                    distinct))
    return out


def task_specs(params: dict[str, Any]) -> list[TaskSpec]:
    _, columns = read_labels(params)
    return [spec for spec, _ in column_tasks(columns, _forced(params))]


def _forced(params: dict[str, Any]) -> set[str]:
    return {c.strip() for c in str(params["regression"]).split(",") if c.strip()}


def image_files(root: Path, names: list[str]) -> list[Path]:
    """The files the CSV names, refusing paths outside root and files that are absent."""
    base = root.resolve()
    outside, absent, files = [], [], []
    for name in names:
        p = (base / name).resolve()
        if not p.is_relative_to(base):
            outside.append(name)
        elif not p.is_file():
            absent.append(name)
        files.append(p)
    if outside:
        raise ConfigError(f"image path(s) leave the folder {base}: {_listed(outside)}; name images relative to it")
    if absent:
        raise DataSourceMissing(f"{len(absent)} image(s) listed in the CSV are not in {base}: {_listed(absent)}")
    return files


def decode(path: Path, size: int, gray: bool) -> torch.Tensor:
    """One image as (C, size, size) uint8: decoded by torchvision, centre square, resized."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2 import functional as TF

    img = decode_image(str(path), mode=ImageReadMode.GRAY if gray else ImageReadMode.RGB)
    side = min(img.shape[-2:])
    img = TF.center_crop(img, [side, side])
    return TF.resize(img, [size, size], antialias=True)


def _build(params: dict[str, Any]) -> dict[str, Any]:
    import torch

    names, columns = read_labels(params)
    size, gray = int(params["image_size"]), params["channels"] == "gray"
    decoded_bytes = len(names) * (1 if gray else 3) * size * size
    if decoded_bytes > max_upload_bytes():
        raise ConfigError(f"{len(names):,} images of {size}x{size} take {describe_bytes(decoded_bytes)} decoded; the "
                          f"limit is {describe_bytes(max_upload_bytes())} (MTL_MAX_UPLOAD_MB): use a smaller "
                          "image_size or fewer images")
    files = image_files(Path(params["root"]).expanduser(), names)
    too_big = [n for n, p in zip(names, files) if p.stat().st_size > max_upload_bytes()]
    if too_big:
        raise ConfigError(f"image(s) larger than {describe_bytes(max_upload_bytes())}: {_listed(too_big)}")
    pixels, unreadable = [], []
    for name, path in zip(names, files):
        try:
            pixels.append(decode(path, size, gray))
        except (RuntimeError, ValueError, OSError) as exc:
            unreadable.append(f"{name} ({str(exc).splitlines()[0][:80]})")
    if unreadable:
        raise ConfigError(f"{len(unreadable)} image(s) cannot be decoded (PNG, JPEG, GIF or WebP expected): "
                          f"{_listed(unreadable)}")
    out: dict[str, Any] = {"x": torch.stack(pixels), "names": names}
    for spec, classes in column_tasks(columns, _forced(params)):
        if spec.kind == "classification":
            index = {c: i for i, c in enumerate(classes)}
            out[f"y:{spec.name}"] = torch.tensor([index[v] for v in columns[spec.name]], dtype=torch.long)
        else:
            out[f"y:{spec.name}"] = torch.tensor([float(v) for v in columns[spec.name]], dtype=torch.float64)
    return out


def _signature(params: dict[str, Any]) -> list:
    labels = labels_path(params)
    root = Path(params["root"]).expanduser().resolve()
    listing = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in root.rglob("*") if p.is_file() and p != labels.resolve())
    return [str(labels.resolve()), labels.stat().st_size, labels.stat().st_mtime_ns, listing]


def _load(params: dict[str, Any]) -> PreparedData:

    key = {"dataset": NAME, "format": _FORMAT, "params": params, "files": _signature(params)}
    blob = cached(key, lambda: _build(params))
    _, columns = read_labels(params)
    specs = [spec for spec, _ in column_tasks(columns, _forced(params))]
    n = blob["x"].shape[0]
    val, test = params["val_fraction"], params["test_fraction"]
    if val + test >= 0.9:
        raise ConfigError(f"val_fraction + test_fraction = {val + test:g} leaves too little to train on (< 0.1)")
    parts = seeded_split(n, (1.0 - val - test, val, test), params["data_seed"])
    if any(len(p) == 0 for p in parts):
        raise ConfigError(f"{n} images are too few for a training, validation and test split of these fractions")
    train_idx = parts[0]
    targets: dict[str, torch.Tensor] = {}
    final: dict[str, TaskSpec] = {}
    for spec in specs:
        y = blob[f"y:{spec.name}"]
        if spec.kind == "regression":
            mean = float(y[train_idx].mean())
            std = float(y[train_idx].std()) if len(train_idx) > 1 else 1.0
            std = std if math.isfinite(std) and std > 0 else 1.0
            spec = TaskSpec(spec.name, spec.kind, 1, spec.description, target_scale=std, target_shift=mean)
            y = ((y - mean) / std).float()
        final[spec.name], targets[spec.name] = spec, y
    splits = [Split(blob["x"][p], {t: y[p] for t, y in targets.items()}) for p in parts]
    info = {"sizes": dict(zip(_SPLITS, (len(p) for p in parts))), "root": str(Path(params["root"]).expanduser()),
            "labels": str(labels_path(params)),
            "sources": {s: [blob["names"][i] for i in p.tolist()] for s, p in zip(_SPLITS, parts)}}
    shape = (1 if params["channels"] == "gray" else 3, int(params["image_size"]), int(params["image_size"]))
    return PreparedData(NAME, shape, final, *splits, info)


IMAGE_FOLDER = register(DataSetInfo(
    name=NAME, title="Your image folder",
    summary=("A folder of your images with a CSV of labels, one column per task (classification for text "
             "or few distinct numbers, regression otherwise); images are resized to a square."),
    tasks=lambda params: task_specs(dataset_params(NAME, params)),
    load=_load, available=_available, params=PARAMS,
    source="your own images and labels CSV, read with torchvision.io",
    input_kind="image",
))
