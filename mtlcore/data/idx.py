"""Reading IDX files (the MNIST / Fashion-MNIST format) and finding them on disk.

Our own reader, so nothing downloads and a damaged file fails with a message naming the file and
what is wrong with it instead of a numpy reshape error deep in a build.

Format: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per dimension,
then the values in big-endian row-major order. Files may be gzip-compressed (detected by content,
not by name).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlcore.data.base import DataSourceMissing
from mtlcore.registry import ConfigError

# IDX type code -> big-endian numpy dtype
_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"

# The four files of an MNIST-like set, without the optional ".gz".
MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IdxFormatError(ConfigError):
    """A file that should be IDX is not (wrong magic number, truncated, inconsistent sizes)."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (plain or gzip), checked against its header."""
    p = Path(path)
    raw = p.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise IdxFormatError(f"{p}: damaged gzip data ({exc}); re-copy the file") from None
    return parse_idx(raw, str(p))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes; every check names the file so the user knows which one to replace."""
    if len(raw) < 4:
        raise IdxFormatError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IdxFormatError(
            f"{name}: not an IDX file (magic number {raw[:4].hex()}, expected 0000 followed by a "
            f"type code in {sorted(hex(c) for c in _DTYPES)} and the number of dimensions)"
        )
    ndim = raw[3]
    if ndim == 0:
        raise IdxFormatError(f"{name}: IDX header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{name}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        raise IdxFormatError(
            f"{name}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{got} bytes of data; the file is truncated or not what its name says"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def find_mnist_files(root: Path, torchvision_folder: str) -> dict[str, Path] | None:
    """The four files in the first folder that holds them all, or None.

    Looked for in torchvision's layout `<root>/<torchvision_folder>/raw`, then `<root>/raw`, then
    `<root>` itself; each file may be gzip-compressed (`.gz`) or plain.
    """
    for folder in (root / torchvision_folder / "raw", root / "raw", root):
        found: dict[str, Path] = {}
        for key, stem in MNIST_FILES.items():
            for name in (stem + ".gz", stem):
                if (folder / name).is_file():
                    found[key] = folder / name
                    break
        if len(found) == len(MNIST_FILES):
            return found
    return None


def file_signature(paths: dict[str, Path]) -> dict[str, list]:
    """Path, size and modification time of each file: enough for a cache key to notice a new source."""
    out: dict[str, list] = {}
    for key, p in sorted(paths.items()):
        st = p.stat()
        out[key] = [str(p.resolve()), st.st_size, st.st_mtime_ns]
    return out


def read_mnist_like(paths: dict[str, Path], image_size: int = 28) -> dict[str, np.ndarray]:
    """Train/test images (uint8, N x size x size) and labels (int64), counts cross-checked."""
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"])
        labels = read_idx(paths[f"{split}_labels"])
        where = paths[f"{split}_images"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (image_size, image_size):
            raise IdxFormatError(
                f"{where}: expected uint8 images of shape (N, {image_size}, {image_size}), "
                f"got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise IdxFormatError(
                f"{paths[f'{split}_labels']}: expected {images.shape[0]} labels (one per image in "
                f"{where.name}), got shape {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise IdxFormatError(f"{paths[f'{split}_labels']}: labels must be 0..9")
        out[f"{split}_images"] = images
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out


@dataclass(frozen=True)
class MnistSource:
    """Where an MNIST-like set lives: a default folder (a Debian package) or one the user names."""

    title: str
    torchvision_folder: str  # torchvision keeps the files in <root>/<this>/raw
    default_root: str = ""  # used when the user gives no root; "" means there is none
    debian_package: str = ""
    classes: tuple[str, ...] = tuple(str(d) for d in range(10))  # label -> name

    def layout(self, root: str) -> str:
        files = ", ".join(f"{stem}[.gz]" for stem in MNIST_FILES.values())
        return (f"{files} in {root}/{self.torchvision_folder}/raw (torchvision's layout), "
                f"in {root}/raw, or directly in {root}")

    def locate(self, root: str) -> dict[str, Path] | str:
        """The four files, or a message saying how to provide them (never downloads)."""
        if not root:
            if not self.default_root:
                return (f"{self.title} needs its IDX files and has no default location: set the "
                        f"parameter 'root' to a folder holding {self.layout('<root>')}.")
            base = Path(self.default_root)
            found = find_mnist_files(base, self.torchvision_folder)
            if found:
                return found
            return (f"{self.title} not found in {base}: install it with "
                    f"`apt-get install {self.debian_package}`, or set the parameter 'root' to a "
                    f"folder holding {self.layout('<root>')}.")
        base = Path(root).expanduser()
        if not base.is_dir():
            return f"{self.title}: folder {base} does not exist; expected {self.layout(str(base))}."
        found = find_mnist_files(base, self.torchvision_folder)
        if found:
            return found
        hint = (f" (or leave 'root' empty to use Debian's package {self.debian_package})"
                if self.debian_package else "")
        return f"{self.title} files not found; expected {self.layout(str(base))}{hint}."

    def missing(self, root: str) -> str | None:
        """Why the set cannot load from `root` (what to install or where to put it), or None."""
        found = self.locate(root)
        return found if isinstance(found, str) else None

    def require(self, root: str) -> dict[str, Path]:
        """The four files; DataSourceMissing with that message otherwise."""
        found = self.locate(root)
        if isinstance(found, str):
            raise DataSourceMissing(found)
        return found


FASHION_MNIST = MnistSource(
    "Fashion-MNIST", "FashionMNIST", "/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
     "Ankle boot"),
)
MNIST = MnistSource("MNIST", "MNIST")
