"""Reading a run while it trains: new metric rows only, progress, and what to say about its state.

Plain functions over the run store's rows, so the page's live fragment stays a few lines and the
logic is tested without Streamlit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from dashboard.shared import catalog
from dashboard.shared.charts import RunView, split_series
from dashboard.shared.text import md_escape
from mtlcore.runs.store import RunStore
from mtlcore.tracking.origin import external_caption, is_external

ACTIVE = ("queued", "running")
RATE_WINDOW_S = 10.0  # steps/s is measured over the last seconds, so a slow start does not linger


class MetricsBuffer:
    """All metric rows of one run, fetched incrementally: each update reads only the newest steps.

    The trainer writes events in order, so once a step s has been seen every row of a step below s
    is already stored; rows of step s itself may still grow (an evaluation follows the step's
    losses), so each update drops and re-reads the last step seen.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.rows = pd.DataFrame(columns=["run_id", "step", "epoch", "time", "split", "task", "name", "value"])

    def update(self, store: RunStore) -> pd.DataFrame:
        if self.rows.empty:
            self.rows = store.metrics(self.run_id)
            return self.rows
        last = int(self.rows["step"].max())
        fresh = store.metrics(self.run_id, since_step=last - 1)
        kept = self.rows[self.rows["step"] < last]
        self.rows = pd.concat([kept, fresh], ignore_index=True) if not fresh.empty else self.rows
        return self.rows


def wait_for_first_points(store: RunStore, run_id: str, timeout_s: float = 2.0, poll_s: float = 0.05) -> bool:
    """Block until the run has stored its first training step (or timeout_s passes).

    Called right after Train: a warm worker logs its first step in about half a second, so the page
    drawn next already shows points instead of waiting one refresh period for them.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if not store.metrics(run_id, split="train", name="loss").empty:
            return True
        run = store.get_run(run_id)
        if run is None or run["status"] not in ACTIVE or time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    rate: float | None  # steps per second, over the last RATE_WINDOW_S of training
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    def text(self) -> str:
        parts = [f"step {self.step:,} / {self.total:,}" if self.total else f"step {self.step:,}"]
        if self.rate:
            parts.append(f"{self.rate:,.1f} steps/s")
        if self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def progress(run: Mapping[str, Any], steps: np.ndarray, times: np.ndarray) -> Progress:
    """Progress from the run row and the (step, seconds since start) of its logged training steps."""
    step = int(max(run.get("step") or 0, int(steps[-1]) if len(steps) else 0))
    total = int(run.get("total_steps") or 0)
    rate = None
    if len(steps) >= 2:
        i0 = int(np.searchsorted(times, times[-1] - RATE_WINDOW_S))
        i0 = min(i0, len(steps) - 2)
        dt = float(times[-1] - times[i0])
        if dt > 0:
            rate = float(steps[-1] - steps[i0]) / dt
    eta = (total - step) / rate if (rate and total and run.get("status") == "running") else None
    return Progress(step, total, rate, eta)


def training_clock(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(steps, seconds since start) of the logged training steps, from any one task's loss."""
    rows = df[(df["split"] == "train") & (df["name"] == "loss")]
    if rows.empty:
        return np.zeros(0), np.zeros(0)
    first = rows["task"].iloc[0]
    rows = rows[rows["task"] == first].sort_values("step")
    return rows["step"].to_numpy(dtype=np.float64), rows["time"].to_numpy(dtype=np.float64)


def run_view(run: Mapping[str, Any], df: pd.DataFrame, changes: pd.DataFrame | None = None) -> RunView:
    """Everything the charts need about one run: series, task colours, each task's main metric."""
    config = run.get("config") or {}
    dataset = run.get("dataset") or config.get("data", {}).get("name", "")
    tasks = list(run.get("tasks") or config.get("data", {}).get("tasks") or [])
    try:
        described = {t["name"]: t for t in catalog.dataset(dataset)["tasks"]}
    except Exception:  # a run of a data set this version no longer has, or an external run: still plot it
        described = {}
    all_tasks = list(described) or tasks
    for t, ms in (config.get("data", {}).get("metrics") or {}).items():  # an external run declares its own
        described.setdefault(t, {"metrics": ms})
    if not tasks:
        tasks = sorted(set(df.loc[df["split"] == "train", "task"]) - {""}) if not df.empty else []
    metric = {}
    for t in tasks:
        ms = described.get(t, {}).get("metrics") or []
        if ms:
            metric[t] = (ms[0]["name"], bool(ms[0]["higher_is_better"]))
    weight_changes = []
    if changes is not None and not changes.empty:
        weight_changes = [(int(r.step), dict(r.payload)) for r in changes.itertuples()]
    return RunView(tasks=tasks, all_tasks=all_tasks, series=split_series(df), metric=metric,
                   weight_changes=weight_changes, total_steps=int(run.get("total_steps") or 0),
                   key=str(run.get("id", "")))


def status_message(run: Mapping[str, Any], queue_position: int | None = None, running: int = 0,
                   limit: int = 0) -> tuple[str, str]:
    """(level, text) for a run's state: level is info / success / warning / error."""
    status = run.get("status", "")
    steps = int(run.get("step") or 0)
    if status == "queued":
        where = f" (position {queue_position} in the queue)" if queue_position else ""
        return "info", (f"Queued{where}: {running} of {limit} training slots are busy; it starts as "
                        "soon as one frees up.")
    if status == "running":
        device = run.get("device") or "..."
        return "info", f"Training on **{md_escape(device)}**."
    duration = run.get("duration")
    took = f" in {format_duration(float(duration))}" if duration and duration == duration else ""
    if status == "finished":
        alerts = (run.get("summary") or {}).get("alerts") or []
        if alerts:  # it ran to the end, but a task never left chance level: not a success
            return "warning", f"Finished{took}: {steps:,} steps, with a warning: {md_escape(alerts[0]['message'])}"
        return "success", f"Finished{took}: {steps:,} steps."
    if status == "diverged":
        return "error", f"Diverged: {md_escape(run.get('error') or 'the losses blew up')}"
    if status == "stopped":
        return "warning", f"Stopped at step {steps:,}{took}; every point up to there is kept."
    if status == "failed":
        return "error", f"Failed: {md_escape(run.get('error') or 'no reason recorded')}"
    if status == "interrupted":
        return "error", f"Interrupted at step {steps:,}: {md_escape(run.get('error') or 'the training process ended')}"
    return "info", md_escape(status)


def queue_position(queued: pd.DataFrame, run_id: str) -> int | None:
    """1-based place of a queued run, oldest first (the order workers claim slots in)."""
    if queued.empty:
        return None
    order = list(queued.sort_values(["created", "id"])["id"])
    return order.index(run_id) + 1 if run_id in order else None



def external_note(run: Mapping[str, Any]) -> str:
    """The caption of a run a user's own loop writes ("external run: script X on host Y"), escaped;
    empty for our runs."""
    return md_escape(external_caption(run.get("config")))


def external_weights(run: Mapping[str, Any], df: pd.DataFrame) -> list[float]:
    """The weights an external static run uses now: its newest logged ones, else those it started with."""
    tasks = list(run.get("tasks") or [])
    if not df.empty:
        w = df[(df["split"] == "train") & (df["name"] == "weight")]
        if not w.empty:
            last = w[w["step"] == w["step"].max()].set_index("task")["value"]
            if all(t in last for t in tasks):
                return [float(last[t]) for t in tasks]
    given = ((run.get("config") or {}).get("weighting", {}).get("params") or {}).get("weights")
    return [float(v) for v in given] if given else [1.0] * len(tasks)


def steered_by_sliders(run: Mapping[str, Any]) -> bool:
    """An external run the page's own weight sliders can steer: training with static weights."""
    return is_external(run.get("config")) and run.get("status") == "running" and run.get("method") == "static"


# The colour of each status_message level, wherever a status is shown in a table (Runs, Compare).
LEVEL_COLOURS = {"error": "#d62728", "warning": "#b26b00", "success": "#2e7d32", "info": "#1f77b4"}


def status_level(run: Mapping[str, Any]) -> str:
    """info / success / warning / error, as status_message says it: a diverged run is an error and a
    finished one with alerts (a task stuck at chance) a warning, never a success."""
    return status_message(run)[0]


def status_style(level: str) -> str:
    """CSS for a table cell holding a status of this level."""
    colour = LEVEL_COLOURS.get(level)
    return f"color: {colour}; font-weight: 600" if colour else ""


def alerts_text(summary: Mapping[str, Any] | None) -> str:
    """A run's alerts (from its summary) as one line; empty when it has none."""
    return "; ".join(str(a.get("message", "")) for a in ((summary or {}).get("alerts") or []))
