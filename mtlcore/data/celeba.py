"""CelebA from a folder of the user's: face images, tasks chosen among the 40 binary attributes.

Nothing downloads: the user names a folder in torchvision's layout,
`<root>/celeba/list_attr_celeba.txt`, `<root>/celeba/list_eval_partition.txt` and
`<root>/celeba/img_align_celeba/*.jpg` (the files may also sit directly in `<root>`). The
official partition gives train / validation / test; a seeded subset of each (`n_train`,
`n_val`, `n_test`) keeps a 2-core CPU in business. Each image's central square is downscaled to
`image_size` (32 or 64 pixels) and cached as uint8 RGB, so the JPEGs are decoded once. Every
attribute is kept in the cache, so choosing other attributes (`attributes`) reuses it.

Each chosen attribute is a 2-way task: 1 when the file says 1 (present), 0 when it says -1.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlcore.data.base import DataSetInfo, DataSourceMissing, PreparedData, Split, cached, register
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    pass

NAME = "celeba"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_FOLDER = "img_align_celeba"

# The 40 attributes, in the order of list_attr_celeba.txt.
ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)
DEFAULT_ATTRIBUTES = "Smiling,Male,Young,Eyeglasses"

PARAMS = (
    Param("root", "str", "", "folder holding CelebA in torchvision's layout: <root>/celeba/"
          f"{ATTR_FILE}, {PARTITION_FILE} and {IMAGE_FOLDER}/*.jpg (or those directly in <root>)"),
    Param("attributes", "str", DEFAULT_ATTRIBUTES, "comma-separated attributes to learn, one task each, "
          "or 'all' for the 40: " + ", ".join(ATTRIBUTES)),
    Param("image_size", "choice", 32, "side of the downscaled square images", choices=(32, 64)),
    Param("n_train", "int", 20_000, "training images (a seeded subset of the official training partition)",
          low=10, high=200_000),
    Param("n_val", "int", 2_000, "validation images (subset of the official validation partition)",
          low=1, high=50_000),
    Param("n_test", "int", 2_000, "test images (subset of the official test partition)", low=1, high=50_000),
    Param("data_seed", "int", 0, "seed of the subsets (not the training seed)", low=0),
)


def chosen_attributes(params: dict[str, Any]) -> list[str]:
    """The attributes named by the 'attributes' parameter, checked against the 40."""
    raw = str(params["attributes"]).strip()
    if raw.lower() == "all":
        return list(ATTRIBUTES)
    names = [a.strip() for a in raw.split(",") if a.strip()]
    if not names:
        raise ConfigError("data set 'celeba': choose at least one attribute (parameter 'attributes')")
    by_lower = {a.lower(): a for a in ATTRIBUTES}
    out = []
    for a in names:
        if a.lower() not in by_lower:
            raise ConfigError(f"data set 'celeba': unknown attribute {a!r}; the 40 are: {', '.join(ATTRIBUTES)}")
        out.append(by_lower[a.lower()])
    if len(set(out)) != len(out):
        raise ConfigError(f"data set 'celeba': attributes listed twice: {out}")
    return out


def task_specs(params: dict[str, Any]) -> list[TaskSpec]:
    return [TaskSpec(a, "classification", 2, f"attribute {a}: 1 present, 0 absent")
            for a in chosen_attributes(params)]


def find_files(root: str) -> dict[str, Path] | str:
    """The attribute list, the partition list and the image folder, or what is missing."""
    if not root:
        return ("CelebA needs its files and has no default location: set the parameter 'root' to a "
                f"folder holding celeba/{ATTR_FILE}, celeba/{PARTITION_FILE} and celeba/{IMAGE_FOLDER}/ "
                "(torchvision's layout); nothing is downloaded")
    base = Path(root).expanduser()
    if not base.is_dir():
        return f"CelebA: folder {base} does not exist"
    for folder in (base / "celeba", base):
        files = {"attr": folder / ATTR_FILE, "partition": folder / PARTITION_FILE, "images": folder / IMAGE_FOLDER}
        if files["attr"].is_file() and files["partition"].is_file() and files["images"].is_dir():
            return files
    return (f"CelebA files not found in {base}: expected {ATTR_FILE}, {PARTITION_FILE} and the folder "
            f"{IMAGE_FOLDER}/ in {base / 'celeba'} (torchvision's layout) or in {base}")


def read_attributes(path: Path) -> tuple[list[str], np.ndarray]:
    """Image file names and their (N, 40) attributes as 0/1, checked against the header."""
    import pandas as pd

    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
        header = fh.readline().split()
    if not first.isdigit():
        raise ConfigError(f"{path}: the first line must be the number of images, got {first[:40]!r}")
    if tuple(header) != ATTRIBUTES:
        raise ConfigError(f"{path}: the second line must name CelebA's 40 attributes "
                          f"({ATTRIBUTES[0]} ... {ATTRIBUTES[-1]})")
    try:
        frame = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, names=["image", *ATTRIBUTES],
                            dtype={"image": str, **{a: np.int8 for a in ATTRIBUTES}}, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{path}: not a CelebA attribute list ({str(exc).splitlines()[0][:160]})") from None
    values = frame[list(ATTRIBUTES)].to_numpy()
    if len(frame) != int(first):
        raise ConfigError(f"{path}: the header announces {first} images but {len(frame)} are listed")
    if not np.isin(values, (-1, 1)).all():
        raise ConfigError(f"{path}: attribute values must be -1 or 1")
    return frame["image"].tolist(), (values > 0).astype(np.uint8)


def read_partition(path: Path, images: list[str]) -> np.ndarray:
    """The official partition (0 train, 1 validation, 2 test) of each listed image."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=["image", "partition"],
                            dtype={"image": str, "partition": np.int64}, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{path}: not a CelebA partition list ({str(exc).splitlines()[0][:160]})") from None
    lookup = dict(zip(frame["image"], frame["partition"]))
    missing = [im for im in images if im not in lookup]
    if missing:
        raise ConfigError(f"{path}: {len(missing)} image(s) of the attribute list have no partition "
                          f"(first: {missing[0]})")
    part = np.array([lookup[im] for im in images], dtype=np.int64)
    if not np.isin(part, (0, 1, 2)).all():
        raise ConfigError(f"{path}: partitions must be 0, 1 or 2")
    return part


def load_image(path: Path, size: int) -> np.ndarray:
    """The central square of one image, downscaled to (3, size, size) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size * 2, size * 2))  # JPEG decodes at a reduced scale: much faster
            rgb = img.convert("RGB")
    except FileNotFoundError:
        raise DataSourceMissing(f"CelebA image missing: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"CelebA image {path} cannot be read ({exc}); re-copy it") from None
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    small = rgb.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(small, dtype=np.uint8).transpose(2, 0, 1)


def _source_signature(files: dict[str, Path]) -> dict[str, list]:
    out = {}
    for key, p in sorted(files.items()):
        st = p.stat()
        out[key] = [str(p.resolve()), st.st_size, st.st_mtime_ns]
    return out


def _build(files: dict[str, Path], params: dict[str, Any]) -> dict[str, Any]:
    import torch

    images, attrs = read_attributes(files["attr"])
    part = read_partition(files["partition"], images)
    rng = np.random.default_rng([params["data_seed"], 7])
    size = int(params["image_size"])
    out: dict[str, Any] = {}
    for code, split in enumerate(_SPLITS):
        pool = np.flatnonzero(part == code)
        n = min(params[f"n_{split}"], pool.size)
        if n == 0:
            raise ConfigError(f"CelebA: the official {split} partition lists no images")
        chosen = np.sort(rng.choice(pool, size=n, replace=False))
        paths = [files["images"] / images[i] for i in chosen.tolist()]
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise DataSourceMissing(f"CelebA: {len(absent)} listed image(s) are not in {files['images']} "
                                    f"(first: {absent[0].name}); copy the whole {IMAGE_FOLDER} folder")
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool_ex:  # PIL frees the GIL
            pixels = list(pool_ex.map(lambda p: load_image(p, size), paths))
        out[f"{split}_x"] = torch.from_numpy(np.stack(pixels))
        out[f"{split}_attrs"] = torch.from_numpy(attrs[chosen])
        out[f"{split}_index"] = torch.from_numpy(chosen)  # rows of the attribute list
    return out


def _available(params: dict[str, Any]) -> str | None:
    found = find_files(params["root"])
    return found if isinstance(found, str) else None


def _load(params: dict[str, Any]) -> PreparedData:
    attributes = chosen_attributes(params)
    files = find_files(params["root"])
    if isinstance(files, str):
        raise DataSourceMissing(files)
    key_params = {k: v for k, v in params.items() if k != "attributes"}  # every attribute is cached
    key = {"dataset": NAME, "format": _FORMAT, "params": key_params,
           "files": _source_signature(files)}
    blob = cached(key, lambda: _build(files, params))
    columns = [ATTRIBUTES.index(a) for a in attributes]
    splits = {s: Split(blob[f"{s}_x"], {a: blob[f"{s}_attrs"][:, c].long() for a, c in zip(attributes, columns)})
              for s in _SPLITS}
    size = int(params["image_size"])
    info = {
        "sizes": {s: len(splits[s]) for s in _SPLITS},
        "root": str(files["attr"].parent),
        "attributes": attributes,
        "positive_rate": {a: float(blob["train_attrs"][:, c].float().mean()) for a, c in zip(attributes, columns)},
        "sources": {s: blob[f"{s}_index"] for s in _SPLITS},  # rows of list_attr_celeba.txt
    }
    return PreparedData(NAME, (3, size, size), {t.name: t for t in task_specs(params)},
                        splits["train"], splits["val"], splits["test"], info)


CELEBA = register(DataSetInfo(
    name=NAME, title="CelebA attributes (your folder)",
    summary=("Face images from your own copy of CelebA, downscaled to 32 or 64 pixels; each chosen "
             "attribute (of 40: Smiling, Male, Young, Eyeglasses, ...) is a 2-way task."),
    tasks=task_specs, load=_load, available=_available, params=PARAMS,
    input_shape=lambda params: (3, int(params["image_size"]), int(params["image_size"])),
    source=("CelebA (Liu et al. 2015, Deep Learning Face Attributes in the Wild) from a folder you name, "
            "in torchvision's layout; nothing downloads"),
    input_kind="image",
))
