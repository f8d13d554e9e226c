"""The built-in data sets. Importing this package registers every one of them in DATASETS (stored user
tables are found when asked: a listing, or a run naming one; see tabular/saved.py)."""

from __future__ import annotations

from typing import Any

from mtlcore.data import tabular
from mtlcore.data.base import DATASETS, DataSetInfo, DataSourceMissing, PreparedData, Split, get_info, load_dataset
from mtlcore.registry import ConfigError, import_all, resolve_params

# Every module here is imported, so each data set registers itself (adding one is its file and its
# test); this is the catalogue's order (the always-available set first), others come after it.
DATASET_ORDER: tuple[str, ...] = (
    "multi_digits", "multi_mnist", "fashion_attributes", "scale_imbalance", "celeba", "cifar10", "image_folder",
    "tabular",
)
import_all(__name__, DATASET_ORDER)

__all__ = ["DATASETS", "DataSetInfo", "DataSourceMissing", "PreparedData", "Split", "catalogue",
           "get_info", "load_dataset"]


def catalogue() -> list[dict[str, Any]]:
    """Every data set described for a page: its parameters, its tasks at default parameters, and
    `missing`, the reason it cannot load here (None when it can). Loads no data; stored tables are
    looked for now (nothing scans for them at import)."""
    tabular.refresh_saved()
    out = []
    for entry in DATASETS:
        info: DataSetInfo = entry.extra["info"]
        defaults = resolve_params(info.params, {}, f"data set '{info.name}'")
        missing = info.available(defaults)
        try:
            tasks = [t.to_dict() for t in info.tasks(defaults)]
        except ConfigError as exc:  # a set that needs the user's input before it has tasks
            tasks, missing = [], missing or str(exc)
        out.append({
            "name": info.name, "title": info.title, "summary": info.summary, "source": info.source,
            "input_kind": info.input_kind,
            "params": [p.to_dict() for p in info.params],
            "tasks": tasks,
            "missing": missing,
        })
    return out
