"""Stored user tables: saving a chosen table under its content hash, loading it with the hash
checked, and registering stored sets as data sets `table:<name>-<hash>`.

Nothing is scanned at import: a stored set is registered when it is saved in this process, when a
listing is asked for (`refresh_saved`), or when a run names one this process does not know yet
(`find_saved`, which the data-set registry asks before it says a name is unknown), so a worker
started before the set was saved still finds it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mtlcore.data.base import DATASETS, DataSetInfo, DataSourceMissing, PreparedData, register
from mtlcore.data.tabular.encode import SPLIT_PARAMS, prepare
from mtlcore.data.tabular.read import read_table_file
from mtlcore.data.tabular.select import TableSource, select_columns
from mtlcore.data.tabular.table import Column, SavedDataChanged, Table, TableError
from mtlcore.registry import ConfigError
from mtlcore.tasks import TaskSpec

NAME_PREFIX = "table:"
_STEM = re.compile(r"[a-z0-9_.-]+-[0-9a-f]{8}")  # slugify(title) + "-" + 8 hex digits of the hash


def data_dir() -> Path:
    """Where imported tables are stored: MTL_DATA_DIR, else <cache>/tables.

    Not created here (base.cache_dir would create the cache): listing the stored sets must leave
    no trace, and a rejected file must leave nothing behind.
    """
    root = os.environ.get("MTL_DATA_DIR")
    if root:
        return Path(root).expanduser()
    cache = os.environ.get("MTL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mtl-playground")
    return Path(cache) / "tables"


def slugify(title: str) -> str:
    """A file-safe name: lower case letters, digits, '_', '.', '-'."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", title.strip().lower()).strip("-.")[:40].strip("-.")
    if not slug:
        raise TableError("give the data set a name with at least one letter or digit")
    return slug


@dataclass(frozen=True)
class SavedTable:
    """A stored table: its data-set name (what a run config uses) and what it holds."""

    name: str
    title: str
    sha256: str
    path: Path
    tasks: list[TaskSpec]
    sizes: dict[str, int]
    n_features: int
    notes: list[str] = field(default_factory=list)
    created: bool = True  # False when the same content was already stored

    def report(self) -> str:
        """Lines for a terminal: what was stored and how to use it."""
        lines = [f"{'saved' if self.created else 'already stored'}: {self.name} "
                 f"({sum(self.sizes.values())} rows: {self.sizes['train']} train, {self.sizes['val']} "
                 f"validation, {self.sizes['test']} test; {self.n_features} input features) in {self.path.parent}"]
        for t in self.tasks:
            lines.append(f"  - {t.name}: {t.kind}" + (f", {t.out_dim} classes" if t.kind == "classification" else ""))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f'use it in a run config as "data": {{"name": "{self.name}"}}')
        return "\n".join(lines)


def _spec_dict(spec: TaskSpec) -> dict[str, Any]:
    return {"name": spec.name, "kind": spec.kind, "out_dim": spec.out_dim, "description": spec.description,
            "target_scale": spec.target_scale, "target_shift": spec.target_shift}


def save_table(table: Table, title: str, inputs: str | Iterable[str] | None,
               targets: str | Iterable[str], missing: str = "drop",
               kinds: str | dict[str, str] | None = None) -> SavedTable:
    """Check the choices, prepare once at the default split (so a set that cannot train is never
    stored), then store and register it. Saving the same content again is a no-op."""
    title = title.strip()[:80]
    slug = slugify(title)
    source = select_columns(table, inputs, targets, missing, kinds)
    digest = source.content_hash()
    stem = f"{slug}-{digest[:8]}"
    name = NAME_PREFIX + stem
    data = prepare(source, name)
    folder = data_dir()
    meta = {
        **source.describe(),
        "name": name, "title": title, "sha256": digest, "rows": source.n_rows,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "file": {"name": table.filename, "sha256": table.sha256, "bytes": table.n_bytes, "rows": table.n_rows},
        "notes": list(source.notes),
        "tasks": [_spec_dict(s) for s in data.tasks.values()],
        "sizes": data.info["sizes"], "n_features": int(data.input_shape[0]),
    }
    meta_path = folder / f"{stem}.json"
    created = True
    existing = _read_meta(meta_path)
    if existing is not None and existing.get("sha256") == digest and (folder / f"{stem}.npz").is_file():
        created = False
        meta = existing
    else:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"c{i}": source.columns[c].values for i, c in enumerate((*source.inputs, *source.targets))}
        tag = f".{os.getpid()}.tmp"
        with open(folder / f"{stem}.npz{tag}", "wb") as fh:
            np.savez(fh, **arrays)
        (folder / f"{stem}.json{tag}").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(folder / f"{stem}.npz{tag}", folder / f"{stem}.npz")
        os.replace(folder / f"{stem}.json{tag}", meta_path)  # the metadata last: it marks a complete set
    _register_saved(meta)
    return SavedTable(name, title, digest, meta_path, list(data.tasks.values()), dict(data.info["sizes"]),
                      int(data.input_shape[0]), list(data.info["notes"]), created)


def import_table_file(path: str | Path, title: str, inputs: str | Iterable[str] | None,
                      targets: str | Iterable[str], missing: str = "drop",
                      kinds: str | dict[str, str] | None = None) -> SavedTable:
    """Read a file from disk and save it as a data set (the CLI's `import-table`)."""
    return save_table(read_table_file(path), title, inputs, targets, missing, kinds)


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    required = ("name", "title", "sha256", "inputs", "targets", "kinds", "missing", "columns", "tasks")
    if not isinstance(meta, dict) or not all(k in meta for k in required):
        return None
    if not str(meta["name"]).startswith(NAME_PREFIX):
        return None
    return meta


def load_saved(name: str) -> TableSource:
    """The stored TableSource of `table:<stem>`, its content hash checked against its name."""
    stem = name.removeprefix(NAME_PREFIX)
    folder = data_dir()
    meta = _read_meta(folder / f"{stem}.json")
    npz = folder / f"{stem}.npz"
    if meta is None or not npz.is_file():
        raise DataSourceMissing(f"data set {name} is not stored in {folder}; import its file again "
                                "(or set MTL_DATA_DIR to the folder that holds it)")
    order = [*meta["inputs"], *meta["targets"]]
    try:
        with np.load(npz, allow_pickle=False) as arrays:
            values = {c: arrays[f"c{i}"] for i, c in enumerate(order)}
    except (OSError, ValueError, KeyError) as exc:
        raise SavedDataChanged(f"stored data of {name} is damaged ({exc}); import its file again") from None
    columns = {c: Column(c, meta["columns"][c]["kind"], values[c], tuple(meta["columns"][c]["vocab"]))
               for c in order}
    source = TableSource(columns, tuple(meta["inputs"]), tuple(meta["targets"]), dict(meta["kinds"]),
                         meta["missing"], tuple(meta.get("notes", [])))
    digest = source.content_hash()
    if digest != meta["sha256"] or not stem.endswith("-" + digest[:8]):
        raise SavedDataChanged(f"stored data of {name} does not match its content hash (changed on "
                               "disk?); import its file again")
    return source


def saved_tables() -> list[dict[str, Any]]:
    """The metadata of every set stored in data_dir(), newest first (for pages and the CLI)."""
    folder = data_dir()
    if not folder.is_dir():
        return []
    metas = [m for m in (_read_meta(p) for p in sorted(folder.glob("*.json"))) if m is not None]
    return sorted(metas, key=lambda m: m.get("created", ""), reverse=True)


def find_saved(name: str) -> bool:
    """Register the stored set `name` if it is on disk now (saved after this process last looked).

    Asked by the data-set registry before it reports an unknown name; reads one metadata file."""
    stem = name.removeprefix(NAME_PREFIX)
    if not name.startswith(NAME_PREFIX) or not _STEM.fullmatch(stem):
        return False
    meta = _read_meta(data_dir() / f"{stem}.json")
    if meta is None or meta["name"] != name:
        return False
    _register_saved(meta)
    return True


def refresh_saved() -> list[str]:
    """Register every stored set not yet in DATASETS (a set saved by another process); returns them."""
    added = []
    for meta in saved_tables():
        if meta["name"] not in DATASETS:
            _register_saved(meta)
            added.append(meta["name"])
    return added


def _split_args(params: dict[str, Any]) -> dict[str, Any]:
    return {"data_seed": params["data_seed"], "val_fraction": params["val_fraction"],
            "test_fraction": params["test_fraction"]}


def _register_saved(meta: dict[str, Any]) -> None:
    name = meta["name"]
    if name in DATASETS:
        return
    default_specs = [TaskSpec(**d) for d in meta["tasks"]]
    defaults = {p.name: p.default for p in SPLIT_PARAMS}

    def load(params: dict[str, Any]) -> PreparedData:
        data = prepare(load_saved(name), name, **_split_args(params))
        data.info.update({"title": meta["title"], "sha256": meta["sha256"], "file": meta.get("file", {})})
        return data

    def tasks(params: dict[str, Any]) -> list[TaskSpec]:
        if params == defaults:
            return list(default_specs)
        try:
            return list(load(params).tasks.values())
        except ConfigError:
            return list(default_specs)

    def available(params: dict[str, Any]) -> str | None:
        stem = name.removeprefix(NAME_PREFIX)
        folder = data_dir()
        if (folder / f"{stem}.json").is_file() and (folder / f"{stem}.npz").is_file():
            return None
        return (f"data set {name} is not stored in {folder}; import its file again (or set "
                "MTL_DATA_DIR to the folder that holds it)")

    file = meta.get("file", {})
    kinds = ", ".join(f"{t} ({meta['kinds'][t]})" for t in meta["targets"])
    info = DataSetInfo(
        name=name, title=f"{meta['title']} (your table)",
        summary=(f"Your table {file.get('name', '')!r}: {meta.get('rows', '?')} rows, inputs "
                 f"{', '.join(meta['inputs'][:6])}{', ...' if len(meta['inputs']) > 6 else ''}; "
                 f"tasks {kinds}. Missing inputs: {meta['missing']}."),
        tasks=tasks, load=load, available=available, params=SPLIT_PARAMS,
        source=(f"imported {meta.get('created', '')} from {file.get('name', '?')} (file sha256 "
                f"{str(file.get('sha256', ''))[:12]}); stored content hash {meta['sha256'][:12]}"),
        input_kind="vector",
    )
    try:
        register(info)
    except ValueError:  # registered meanwhile by another thread (two tabs saving the same table)
        pass


