"""A sweep's results read back from the store: its runs as a table, its Pareto points, its baselines.

Why apart from execution: the page reads these every refresh, while the sweep trains in other
processes; nothing here starts or stops anything. No torch import (the catalogue of metric
directions is imported when needed).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mtlcore.registry import ConfigError
from mtlcore.runs.store import ACTIVE, RunStore
from mtlcore.sweeps.config import STATIC
from mtlcore.sweeps.pareto import pareto_table
from mtlcore.sweeps.plan import fmt_point

GROUP_PREFIX = "sweep-"


def status_counts(store: RunStore, group_id: str) -> dict[str, int]:
    df = store.list_runs(group_id=group_id)
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}


def list_sweeps(store: RunStore) -> pd.DataFrame:
    """One row per sweep group: id, data set, tasks, runs, finished, active, created (newest first)."""
    df = store.list_runs()
    df = df[df["group_id"].str.startswith(GROUP_PREFIX)]
    cols = ["group_id", "dataset", "tasks", "runs", "finished", "active", "created"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby("group_id")
    out = pd.DataFrame({
        "dataset": g["dataset"].first(),
        "tasks": g["tasks"].first().map(lambda t: ", ".join(t)),
        "runs": g.size(),
        "finished": g["status"].apply(lambda s: int((s == "finished").sum())),
        "active": g["status"].apply(lambda s: int(s.isin(ACTIVE).sum())),
        "created": g["created"].min(),
    }).reset_index()
    return out.sort_values("created", ascending=False)[cols].reset_index(drop=True)


def run_setting(config: dict[str, Any]) -> tuple[str, str, tuple[float, ...] | None]:
    """(kind, label, simplex point) of a stored run's weighting."""
    w = config.get("weighting", {})
    method = w.get("method", "")
    weights = (w.get("params") or {}).get("weights")
    if method == STATIC and weights:
        total = float(sum(weights))
        point = tuple(round(float(x) / total, 6) for x in weights) if total > 0 else None
        return "grid", f"static {fmt_point(point or weights)}", point
    return "method", method, None


def sweep_table(store: RunStore, group_id: str, split: str = "val") -> pd.DataFrame:
    """One row per run of the group with its setting and final metrics as `task/metric` columns."""
    df = store.list_runs(group_id=group_id)
    rows = []
    for r in df.sort_values(["created", "id"]).itertuples(index=False):
        kind, label, point = run_setting(r.config)
        row: dict[str, Any] = {"run_id": r.id, "name": r.name, "status": r.status, "kind": kind,
                               "label": label, "method": r.method, "point": point, "seed": r.seed,
                               "step": r.step, "total_steps": r.total_steps}
        for task, ms in ((r.summary or {}).get(split) or {}).items():
            for metric, value in ms.items():
                if metric != "loss":
                    row[f"{task}/{metric}"] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_values(store: RunStore, group_id: str, split: str = "val") -> tuple[dict[str, float], list[int]]:
    """Mean `task/metric` values of the single-task baselines of the group's seeds, and the seeds
    that have no baseline yet (the page offers to train those)."""
    from mtlcore.sweeps.delta_m import final_metrics, find_baselines

    runs = store.list_runs(group_id=group_id)
    if runs.empty:
        return {}, []
    one_per_seed = runs.drop_duplicates("seed")
    found = find_baselines(store, one_per_seed)
    sums: dict[str, list[float]] = {}
    missing: list[int] = []
    for r in one_per_seed.itertuples(index=False):
        base_id = found.get(r.id)
        if base_id is None:
            missing.append(int(r.seed))
            continue
        base = store.get_run(base_id)
        for task, ms in final_metrics(base or {}, split).items():
            for metric, value in ms.items():
                if math.isfinite(value):
                    sums.setdefault(f"{task}/{metric}", []).append(value)
    return {k: float(np.mean(v)) for k, v in sums.items()}, sorted(missing)


def main_objectives(dataset: str, tasks: Sequence[str]) -> tuple[list[str], list[bool]]:
    """Each task's main metric as a `task/metric` column, and whether higher is better."""
    from mtlcore.sweeps.delta_m import metric_directions

    directions = metric_directions(dataset, list(tasks))
    cols = [f"{t}/{next(iter(directions[t]))}" for t in tasks]
    return cols, [directions[t][c.split("/", 1)[1]] for t, c in zip(tasks, cols)]


def group_pareto(store: RunStore, group_id: str, split: str = "val", objectives: Sequence[str] | None = None,
                 average_seeds: bool = True) -> tuple[pd.DataFrame, list[str], list[bool]]:
    """The Pareto points of a sweep group on `objectives` (default: each task's main metric)."""
    runs = store.list_runs(group_id=group_id)
    if runs.empty:
        raise ConfigError(f"no sweep '{group_id}' in {store.path}")
    dataset, tasks = runs["dataset"].iloc[0], list(runs["tasks"].iloc[0])
    from mtlcore.sweeps.delta_m import metric_directions

    directions = metric_directions(dataset, tasks)
    cols = list(objectives) if objectives else main_objectives(dataset, tasks)[0]
    higher = []
    for col in cols:
        task, _, metric = col.partition("/")
        if metric not in directions.get(task, {}):
            raise ConfigError(f"'{col}' is not a task/metric of this sweep; choose from "
                              f"{[f'{t}/{m}' for t, ms in directions.items() for m in ms]}")
        higher.append(directions[task][metric])
    table = sweep_table(store, group_id, split)
    if not all(c in table.columns for c in cols):
        return pd.DataFrame(columns=["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"]), cols, higher
    return pareto_table(table, cols, higher, average_seeds), cols, higher
