"""The types every stage of a user table shares: a column, a parsed table, and the errors.

A table read from a path the user did not upload (a run config's `params.path`) is `private`:
messages about it never quote its contents (its header, its values), since a run's error is
stored for every viewer of the Runs page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from mtlcore.data.limits import MAX_CLASSES, MAX_DISCRETE
from mtlcore.registry import ConfigError

FORMAT = 1  # of the stored files; part of the content hash
HIDDEN = "(not shown: the file was named by path)"


def shown(value: Any, private: bool) -> str:
    """repr(value) for a message, or a placeholder when the file's contents must not be quoted."""
    return HIDDEN if private else repr(value)


class TableError(ConfigError):
    """A table file or a choice of columns that cannot become a data set; the message is one line."""


class SavedDataChanged(ConfigError):
    """A stored table no longer matches the content hash in its name."""


@dataclass(frozen=True)
class Column:
    """One column: numbers (float64, NaN = missing) or category codes into `vocab` (int32, -1 = missing).

    `kind` "unsupported" marks a Parquet column of another type (dates, lists...): it is listed
    but cannot be chosen.
    """

    name: str
    kind: str  # "numeric" | "categorical" | "unsupported"
    values: np.ndarray
    vocab: tuple[str, ...] = ()
    detail: str = ""  # unsupported: the type it holds

    @property
    def n_missing(self) -> int:
        if self.kind == "numeric":
            return int(np.isnan(self.values).sum())
        if self.kind == "categorical":
            return int((self.values < 0).sum())
        return 0

    @cached_property
    def n_distinct(self) -> int:
        """Distinct present values (computed once: the page asks on every rerun)."""
        if self.kind == "numeric":
            present = self.values[~np.isnan(self.values)]
            return int(np.unique(present).size)
        if self.kind == "categorical":
            return int(np.unique(self.values[self.values >= 0]).size)
        return 0

    def take(self, rows: np.ndarray) -> "Column":
        """The column on a subset of rows, with categories no kept row uses removed."""
        values = self.values[rows]
        if self.kind != "categorical":
            return Column(self.name, self.kind, values, self.vocab, self.detail)
        used = np.unique(values[values >= 0])
        remap = np.full(len(self.vocab) + 1, -1, dtype=np.int32)  # last slot maps -1 to -1
        remap[used] = np.arange(used.size, dtype=np.int32)
        return Column(self.name, self.kind, remap[values], tuple(self.vocab[i] for i in used))


@dataclass(frozen=True)
class Table:
    """A parsed file: its columns in file order and where it came from."""

    filename: str
    sha256: str
    n_bytes: int
    n_rows: int
    columns: dict[str, Column]
    notes: tuple[str, ...] = ()
    private: bool = False  # named by path, not uploaded: messages never quote its contents
    warnings: tuple[str, ...] = ()  # what is likely wrong with the file although it parsed

    def preview(self, n: int = 20) -> "Any":
        """The first rows as a pandas DataFrame (text shown as text), for a page to display."""
        import pandas as pd

        out: dict[str, Any] = {}
        for name, col in self.columns.items():
            head = col.values[:n]
            if col.kind == "categorical":
                out[name] = [col.vocab[c] if c >= 0 else None for c in head.tolist()]
            elif col.kind == "numeric":
                out[name] = head
            else:
                out[name] = [f"<{col.detail}>"] * min(n, self.n_rows)
        return pd.DataFrame(out)

    def describe(self) -> list[dict[str, Any]]:
        """Per column: its type, missing and distinct counts, and what it would be as a target."""
        rows = []
        for name, col in self.columns.items():
            distinct = col.n_distinct
            rows.append({
                "column": name,
                "type": {"numeric": "number", "categorical": "text"}.get(col.kind, f"unsupported ({col.detail})"),
                "missing": col.n_missing,
                "distinct": distinct,
                "as target": _auto_kind_label(col, distinct),
            })
        return rows


def _auto_kind_label(col: Column, distinct: int) -> str:
    if col.kind == "unsupported" or distinct == 0:
        return "-"
    if distinct < 2:
        return "- (a single value)"
    if col.kind == "categorical":
        return f"classification ({distinct} classes)" if distinct <= MAX_CLASSES else "- (too many classes)"
    if distinct <= MAX_DISCRETE:
        return f"classification ({distinct} classes)"
    return "regression"
