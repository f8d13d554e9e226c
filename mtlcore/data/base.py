"""The data-set contract: what a set declares, and the tensors it hands the trainer.

Data sets are prepared once (cached on disk as tensors) and held whole on the device; the trainer
takes batches by indexing, which on a 2-core CPU beats a per-sample DataLoader.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mtlcore.registry import ConfigError, Entry, Param, Registry, resolve_params
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    import torch


class DataSourceMissing(ConfigError):
    """The raw files of a data set are not on this machine; the message says how to get them."""


@dataclass
class Split:
    """Inputs and per-task targets of one split.

    `x` may be uint8 (images, to save memory); `batch` converts to float in [0, 1] per batch.
    """

    x: torch.Tensor
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, idx: torch.Tensor | slice,
              transform: Callable[[torch.Tensor], torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Inputs and targets of `idx`; `transform` (augmentation) sees the stored inputs, uint8 for images."""
        import torch

        x = self.x[idx]
        if transform is not None:
            x = transform(x)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        return x, {name: t[idx] for name, t in self.targets.items()}

    def to(self, device: torch.device) -> "Split":
        """Move once to the device; on CUDA through pinned memory so the copy is asynchronous."""

        def move(t: torch.Tensor) -> torch.Tensor:
            if device.type == "cuda" and t.device.type == "cpu":
                return t.pin_memory().to(device, non_blocking=True)
            return t.to(device)

        return Split(move(self.x), {k: move(v) for k, v in self.targets.items()})

    def select(self, tasks: list[str]) -> "Split":
        return Split(self.x, {t: self.targets[t] for t in tasks})


@dataclass
class PreparedData:
    """A data set ready to train on: three splits and the tasks' specs."""

    name: str
    input_shape: tuple[int, ...]  # per-sample shape, e.g. (1, 36, 36) or (d,)
    tasks: dict[str, TaskSpec]
    train: Split
    val: Split
    test: Split
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def select(self, tasks: list[str]) -> "PreparedData":
        """Keep a non-empty subset of the tasks, in the given order."""
        if not tasks:
            raise ConfigError(f"choose at least one task of {self.name}: {list(self.tasks)}")
        missing = [t for t in tasks if t not in self.tasks]
        if missing:
            raise ConfigError(f"{self.name} has no task(s) {missing}; its tasks: {list(self.tasks)}")
        return PreparedData(
            self.name, self.input_shape, {t: self.tasks[t] for t in tasks},
            self.train.select(tasks), self.val.select(tasks), self.test.select(tasks), self.info,
        )

    def to(self, device: torch.device) -> "PreparedData":
        return PreparedData(self.name, self.input_shape, self.tasks, self.train.to(device),
                            self.val.to(device), self.test.to(device), self.info)


@dataclass(frozen=True)
class DataSetInfo:
    """What the catalogue shows without loading anything."""

    name: str
    title: str
    summary: str
    tasks: Callable[[dict[str, Any]], list[TaskSpec]]  # params -> task specs
    load: Callable[[dict[str, Any]], PreparedData]  # params -> data (uses the cache)
    available: Callable[[dict[str, Any]], str | None]  # params -> None, or why it is missing
    params: tuple[Param, ...] = ()
    source: str = ""
    input_kind: str = "image"  # "image" | "vector"
    # params -> per-sample input shape, when known without loading (RunConfig.validate builds the
    # architecture for it, so a trunk that cannot read the inputs is refused before a run exists)
    input_shape: Callable[[dict[str, Any]], tuple[int, ...]] | None = None


DATASETS: Registry[DataSetInfo] = Registry("data set")


def register(info: DataSetInfo) -> DataSetInfo:
    DATASETS.add(Entry(info.name, info.title, info.summary, info.load, info.params,
                       extra={"source": info.source, "input_kind": info.input_kind, "info": info}))
    return info


# Callables asked, in turn, to register a data set whose name is not (yet) known, before the name is
# reported unknown: sets stored after this process started (a warm worker's) are found by looking again.
FINDERS: list[Callable[[str], bool]] = []


def get_info(name: str) -> DataSetInfo:
    if name not in DATASETS:
        any(find(name) for find in FINDERS)
    return DATASETS.get(name).extra["info"]


def dataset_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    info = get_info(name)
    return resolve_params(info.params, params, f"data set '{name}'")


def load_dataset(name: str, params: dict[str, Any] | None = None,
                 tasks: list[str] | None = None) -> PreparedData:
    """Load (from cache when possible) and keep the chosen tasks; the entry point for the trainer."""
    info = get_info(name)
    full = dataset_params(name, params or {})
    why = info.available(full)
    if why:
        raise DataSourceMissing(why)
    data = info.load(full)
    return data.select(tasks or list(data.tasks))


def cache_dir() -> Path:
    """Where prepared tensors live: MTL_CACHE, else ~/.cache/mtl-playground."""
    root = os.environ.get("MTL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mtl-playground")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def cached(key_parts: dict[str, Any], build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Build once and keep on disk with torch.save; the key hashes everything that changes the data.

    Written to a temporary name and renamed, so two processes preparing at once never read half a file.
    """
    import torch

    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = cache_dir() / f"{key_parts.get('dataset', 'data')}-{key}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)  # a corrupt cache is rebuilt, not trusted
    obj = build()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return obj


def seeded_split(n: int, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """A deterministic random partition of range(n) into parts of the given fractions."""
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    sizes = [int(round(f * n)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    return list(torch.split(perm, sizes))
