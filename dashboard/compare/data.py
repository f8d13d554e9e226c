"""What the Compare page reads from the run store: one float32 array pair per curve.

Why not `RunStore.metrics`: comparing eight runs of 10,000 steps means reading over half a million
points, and a long-format DataFrame with four string columns per row costs about three times as
much as two numbers per row. An ended run's curves come packed, a few rows per run (see
mtlcore/runs/packing.py); an active run's each alone, in step order, from the store's `metrics_trace`
index without touching the table. No Streamlit here (tested directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from dashboard.shared import catalog
from dashboard.shared.charts import PALETTE
from dashboard.shared.live import ACTIVE, run_view
from mtlcore import naming
from mtlcore.registry import ConfigError
from mtlcore.runs.packing import as_arrays
from mtlcore.runs.store import RunStore
from mtlcore.sweeps.delta_m import BASELINE_ARCHITECTURE, find_baselines

Curve = tuple[np.ndarray, np.ndarray]  # (steps, values), float64 steps and float32 values
CurveKey = tuple[str, str, str, str]  # (run id, split, name, task)


@dataclass
class CompareRun:
    """One selected run: what its charts, tables and legend need."""

    id: str
    label: str  # unique among the selected runs
    colour: str
    row: dict[str, Any]  # the store's run row (config, summary, status, ...)
    tasks: list[str]
    all_tasks: list[str]  # the data set's tasks, for task colours shared with the other pages
    metric: dict[str, tuple[str, bool]]  # task -> (main metric, higher is better)
    steps_per_epoch: int
    directions: dict[str, dict[str, bool]] = field(default_factory=dict)  # task -> metric -> higher is better

    @property
    def pairs(self) -> list[str]:
        """Gradient-cosine curve names, as the store writes them (run task order, i < j)."""
        return [f"{a}|{b}" for i, a in enumerate(self.tasks) for b in self.tasks[i + 1:]]


@dataclass
class CompareData:
    runs: list[CompareRun]
    curves: dict[CurveKey, Curve] = field(default_factory=dict)
    clocks: dict[str, Curve] = field(default_factory=dict)  # run id -> (steps, seconds since start)

    def curve(self, run_id: str, split: str, name: str, task: str) -> Curve | None:
        c = self.curves.get((run_id, split, name, task))
        return c if c is not None and len(c[0]) else None

    @property
    def tasks(self) -> list[str]:
        """Every task of the selected runs, in data set order, first run first."""
        seen: list[str] = []
        for r in self.runs:
            seen += [t for t in r.tasks if t not in seen]
        return seen

    def points_read(self) -> int:
        return sum(len(c[0]) for c in self.curves.values())


def run_label(row: Mapping[str, Any]) -> str:
    """A run as shown: its name and short id (dashboard and CLI share mtlcore.naming's rule)."""
    return naming.display_name(str(row.get("name") or ""), str(row["id"]))


def _directions(dataset: str, declared: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, dict[str, bool]]:
    """Which way each task metric is better: the catalog's, or what an external run declared."""
    try:
        tasks = catalog.dataset(dataset)["tasks"]
    except ConfigError:  # a data set this version no longer has, or an external run: its own, or no arrows
        tasks = [{"name": t, "metrics": ms} for t, ms in (declared or {}).items()]
    return {t["name"]: {m["name"]: bool(m["higher_is_better"]) for m in t["metrics"]} for t in tasks}


def _steps_per_epoch(store: RunStore, run_id: str) -> int:
    started = store.events(run_id, "started")
    if started.empty:
        return 0
    return int(started["payload"].iloc[-1].get("steps_per_epoch") or 0)


def load_run(store: RunStore, row: dict[str, Any], with_clock: bool = False) -> CompareData:
    """One run (as a one-run CompareData) with every curve the Compare page draws: per task the
    training and validation loss, the validation main metric and the weight; per task pair the
    gradient cosine. `with_clock` also reads its wall-clock time per step (for a time x-axis).
    Loaded per run so a page can cache finished runs one by one."""
    rid = row["id"]
    view = run_view(row, pd.DataFrame(columns=["split", "task"]))
    run = CompareRun(rid, run_label(row), PALETTE[0], row, view.tasks, view.all_tasks, view.metric,
                     _steps_per_epoch(store, rid), _directions(row.get("dataset", ""),
                                                           (row.get("config") or {}).get("data", {}).get("metrics")))
    data = CompareData([run])
    wanted: list[tuple[str, str, str]] = []  # (split, name, task)
    for t in run.tasks:
        wanted += [("train", "loss", t), ("val", "loss", t), ("train", "weight", t)]
        if t in run.metric:
            wanted.append(("val", run.metric[t][0], t))
    wanted += [("grad", "cosine", p) for p in run.pairs]
    for (split, name, task), (steps, values) in store.curves(rid, wanted).items():
        data.curves[(rid, split, name, task)] = steps, values.astype(np.float32)
    if with_clock and run.tasks:
        data.clocks[rid] = as_arrays(store.clock_rows(rid, run.tasks[0]))
    return data


def combine(parts: Sequence[CompareData]) -> CompareData:
    """Several loaded runs as one selection; each run gets the colour of its place in the selection
    and a label no other selected run has (the short id grows where two would read the same)."""
    out = CompareData([])
    labels = naming.display_names((r.id, str(r.row.get("name") or "")) for p in parts for r in p.runs)
    for i, part in enumerate(parts):
        for run in part.runs:
            out.runs.append(replace(run, colour=PALETTE[i % len(PALETTE)], label=labels[run.id]))
        out.curves.update(part.curves)
        out.clocks.update(part.clocks)
    return out


def run_rows(store: RunStore, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The store rows of these runs, in the given order (unknown ids are left out)."""
    runs = store.list_runs()
    at = {rid: i for i, rid in enumerate(runs["id"].tolist())}
    # positions, not a boolean mask: pandas' isin and indexing were most of this on a page's few rows
    return runs.iloc[[at[rid] for rid in run_ids if rid in at]].to_dict("records")


def waited_on(store: RunStore, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Ids of the runs the page shows or waits on that are queued or training: the selected runs,
    and the single-task baselines queued or training for them (their Delta-m appears when they
    finish). The page refreshes itself while this is not empty."""
    ids = {str(r["id"]) for r in rows if r.get("status") in ACTIVE}
    others = [dict(r) for r in rows if r.get("architecture") != BASELINE_ARCHITECTURE]
    if others:
        ids |= {b for b in find_baselines(store, pd.DataFrame(others), statuses=list(ACTIVE)).values() if b}
    return sorted(ids)


def load_compare(store: RunStore, run_ids: Sequence[str], with_clock: bool = False) -> CompareData:
    """The selected runs and all their curves, uncached (the benchmark and the tests use this)."""
    return combine([load_run(store, row, with_clock) for row in run_rows(store, run_ids)])


def x_values(data: CompareData, run: CompareRun, steps: np.ndarray, axis: str) -> np.ndarray:
    """Steps mapped to the chosen x-axis: step, epoch (step / steps per epoch) or wall time (s).

    Wall time is interpolated from the run's training clock, so an evaluation sits at the time of
    the training step it follows (off by at most the evaluation's own duration).
    """
    if axis == "step":
        return steps
    if axis == "epoch":
        return steps / run.steps_per_epoch if run.steps_per_epoch else steps
    clock = data.clocks.get(run.id)
    if clock is None or len(clock[0]) == 0:
        return np.full(len(steps), np.nan)
    return np.interp(steps, clock[0], clock[1])
