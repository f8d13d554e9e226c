"""The run store as one script run sees it: the runs table read once, every other call passed on.

Why: `RunStore.list_runs` reaps dead workers, reads the whole `runs` table, decodes four JSON
columns and builds a DataFrame; the Compare page asked for it ten times per script run (choosing,
statuses, curves, Delta-m, baselines, config differences). A page makes one `ScriptRunStore` at the
top of its script run (and a fragment one per rerun) and hands it down, also to core functions that
take a store (`delta_m_for_runs`, `find_baselines`): filters by status or sweep group are answered
from that one read. Never keep one across script runs: it would show stale statuses.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from mtlcore.runs.store import RunStore


class ScriptRunStore:
    """A RunStore whose `list_runs` reads the table at most once; other attributes are the store's."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._runs: pd.DataFrame | None = None

    @property
    def store(self) -> RunStore:
        """The underlying store (for writes, and reads that must be fresh)."""
        return self._store

    def list_runs(self, status: Sequence[str] | None = None, group_id: str | None = None) -> pd.DataFrame:
        """As RunStore.list_runs (newest first, JSON decoded), from this script run's one read."""
        if self._runs is None:
            self._runs = self._store.list_runs()
        runs = self._runs
        if status:
            runs = runs[runs["status"].isin(list(status))]
        if group_id is not None:
            runs = runs[runs["group_id"] == group_id]
        return runs.copy() if runs is self._runs else runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
