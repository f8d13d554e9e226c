"""The Runs page's table and exports: plain functions over the store's run rows, no Streamlit.

One row per run with its final metrics spread into one numeric column per task metric (so they
sort and filter like any column), and exports in the formats other tools read: the long metrics
CSV (run_id, step, epoch, time, split, task, name, value) and the configs as JSON.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import pandas as pd

from dashboard.shared import live
from mtlcore import spreadsheet
from mtlcore.runs.store import RunStore
from mtlcore.tracking.origin import external_caption

BASE_COLUMNS = ["name", "dataset", "tasks", "method", "architecture", "status", "level", "alerts", "source", "progress",
                "duration_s", "created", "tags", "group_id", "id"]
SORTABLE = {"created": "created", "name": "name", "status": "status", "duration": "duration_s",
            "data set": "dataset", "method": "method"}


def metric_column(task: str, metric: str) -> str:
    return f"{task} · {metric}"


def runs_table(runs: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    """The store's run rows as the page shows them: final metrics of `split` as numeric columns."""
    if runs.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    out = pd.DataFrame({
        "name": runs["name"].where(runs["name"] != "", runs["id"]),
        "dataset": runs["dataset"],
        "tasks": runs["tasks"].map(lambda t: ", ".join(t)),
        "method": runs["method"],
        "architecture": runs["architecture"],
        "status": runs["status"],
        # empty for our runs; "external run: script train.py on host gpu-3" for users' own loops
        "source": runs["config"].map(external_caption),
        # what the status means (info / success / warning / error): a diverged run is an error, a
        # finished one with alerts (a task stuck at chance) a warning; the page colours by it
        "level": [live.status_level(r) for r in runs[["status", "summary", "step", "error"]].to_dict("records")],
        "alerts": runs["summary"].map(live.alerts_text),
        "progress": [min(1.0, s / t) if t else (1.0 if st == "finished" else 0.0)
                     for s, t, st in zip(runs["step"], runs["total_steps"], runs["status"])],
        "duration_s": runs["duration"],
        "created": pd.to_datetime(runs["created"], unit="s"),
        "tags": runs["tags"].map(lambda t: ", ".join(t)),
        "group_id": runs["group_id"],
        "id": runs["id"],
    })
    metrics: dict[str, list[float | None]] = {}
    for i, summary in enumerate(runs["summary"]):
        for task, ms in ((summary or {}).get(split) or {}).items():
            for metric, value in ms.items():
                if metric != "loss":
                    metrics.setdefault(metric_column(task, metric), [None] * len(runs))[i] = float(value)
    for col in sorted(metrics):
        out[col] = pd.Series(metrics[col], index=out.index, dtype="float64")
    return out.reset_index(drop=True)


def filter_runs(table: pd.DataFrame, text: str = "", datasets: Sequence[str] = (), methods: Sequence[str] = (),
                statuses: Sequence[str] = (), tags: Sequence[str] = (),
                architectures: Sequence[str] = ()) -> pd.DataFrame:
    """Rows that match every filter given; `text` matches name, id, tags or group (case-insensitive)."""
    keep = pd.Series(True, index=table.index)
    if text.strip():
        needle = text.strip().lower()
        hay = (table["name"] + " " + table["id"] + " " + table["tags"] + " " + table["group_id"]).str.lower()
        keep &= hay.str.contains(needle, regex=False)
    for col, values in (("dataset", datasets), ("method", methods), ("status", statuses),
                        ("architecture", architectures)):
        if values:
            keep &= table[col].isin(list(values))
    if tags:
        wanted = set(tags)
        keep &= table["tags"].map(lambda t: bool(wanted & {x.strip() for x in t.split(",") if x.strip()}))
    return table[keep]


def sort_runs(table: pd.DataFrame, by: str = "created", descending: bool = True) -> pd.DataFrame:
    """Sort by a named column (SORTABLE) or a metric column; runs without the value go last."""
    col = SORTABLE.get(by, by)
    if col not in table.columns:
        return table
    return table.sort_values(col, ascending=not descending, na_position="last", kind="stable")


def all_tags(runs: pd.DataFrame) -> list[str]:
    return sorted({t for tags in runs["tags"] for t in tags}) if not runs.empty else []


def parse_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def with_tags(current: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    return sorted((set(current) | set(add)) - set(remove))


def metrics_csv(store: RunStore, run_ids: Sequence[str]) -> bytes:
    """Every stored metric point of the runs, long format, as CSV bytes."""
    df = store.metrics(list(run_ids)) if run_ids else pd.DataFrame(
        columns=["run_id", "step", "epoch", "time", "split", "task", "name", "value"])
    return (spreadsheet.metrics_csv(df) or "").encode("utf-8")


def configs_json(store: RunStore, run_ids: Sequence[str]) -> bytes:
    """{run id: {name, status, config, summary}}: each config re-runs its run exactly."""
    out: dict[str, Any] = {}
    for rid in run_ids:
        run = store.get_run(rid)
        if run is not None:
            out[rid] = {"name": run["name"], "status": run["status"], "config": run["config"],
                        "summary": run["summary"]}
    return json.dumps(out, indent=2, sort_keys=True).encode("utf-8")
