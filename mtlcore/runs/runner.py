"""The one place that turns a RunConfig into a trained, stored run.

It feeds the trainer's events to the store in small transactions (buffered, flushed at least every
FLUSH_EVERY_S so pages see points within a second), and gives the trainer a Control that reads stop
requests and live weights from the store, so any process (a page, the CLI) can steer a run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from mtlcore.checkpoint import checkpoint_path
from mtlcore.config import RunConfig
from mtlcore.events import Alert, Checkpointed, Evaluation, Event, Finished, Started, StepMetrics
from mtlcore.runs.store import RunStore, StoreError, event_rows
from mtlcore.trainer import ControlState, Trainer

FLUSH_EVERY_S = 0.25


class StoreControl:
    """Reads the run's control row; the trainer polls it about ten times a second."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def poll(self) -> ControlState:
        stop, weights, version = self.store.read_control(self.run_id)
        return ControlState(stop, weights, version)


class StoreWriter:
    """Buffers metric rows and writes them in one transaction per flush."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.rows: list[tuple] = []
        self.events: list[tuple] = []
        self.step = 0
        self.last_flush = time.monotonic()

    def add(self, event: Event) -> None:
        rows, evs = event_rows(event)
        self.rows += rows
        self.events += evs
        if isinstance(event, StepMetrics):
            self.step = event.step
        urgent = not isinstance(event, StepMetrics)
        if urgent or time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self.store.write_rows(self.run_id, self.rows, self.events, self.step)
        self.rows, self.events = [], []
        self.last_flush = time.monotonic()


def _summary(last_val: Evaluation | None, finished: Finished, alerts: list[Alert]) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": finished.summary.get("steps", 0)}
    if alerts:  # a finished run whose task sat at chance must not read as a plain success
        out["alerts"] = [{"step": a.step, "kind": a.kind, "task": a.task, "message": a.message} for a in alerts]
    if last_val is not None:
        out["val"] = last_val.metrics
    if "test" in finished.summary:
        out["test"] = finished.summary["test"]
    return out


def _end_abruptly(store: RunStore, run_id: str, writer: StoreWriter, exc: BaseException) -> None:
    """Keep what can still be written and mark the run stopped (an interrupt) or failed.

    On a storage fault (a full disk) the buffered points may not fit: they are dropped, and the
    small status update is still tried, so the run does not stay 'running'. The StoreError is
    re-raised with the run's fate appended, for the CLI's one-line message.
    """
    try:
        writer.flush()
    except StoreError:
        pass  # the points since the last flush do not fit; the earlier ones are kept
    stopped = isinstance(exc, KeyboardInterrupt)
    reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
    try:
        store.set_status(run_id, "stopped" if stopped else "failed", error="" if stopped else reason)
        fate = f"run {run_id} was marked {'stopped' if stopped else 'failed'}"
    except StoreError:
        fate = f"run {run_id} could not be marked failed (it shows as interrupted once this process ends)"
    if isinstance(exc, StoreError):
        raise StoreError(f"{exc}; {fate}") from None


def execute(config: RunConfig, store: RunStore, run_id: str | None = None,
            on_event: Callable[[Event], None] | None = None) -> str:
    """Train one run to its end, persisting everything; returns the run id.

    With `run_id`, the run row already exists (made by the launcher, possibly queued); otherwise
    the config is validated (ConfigError) and one is created. A run whose row records a checkpoint
    (one `RunStore.prepare_resume` queued again) continues from it, under the same id, so its
    curves go on where they stopped. Checkpoints go beside the database (`checkpoint_path`).
    Never raises for a training failure: the run is marked failed with the reason.
    """
    if run_id is None:
        config.validate()  # a config that cannot train is refused before its row exists
        run_id = store.create_run(config.to_dict(), status="running")
    row = store.get_run(run_id)
    resume = bool(row and row.get("checkpoint"))
    target = row["checkpoint"] if resume and row else str(checkpoint_path(store.path, run_id))
    store.set_status(run_id, "running", pid=os.getpid(), host=store.host, started=time.time(),
                     heartbeat=time.time())
    writer = StoreWriter(store, run_id)
    last_val: Evaluation | None = None
    finished: Finished | None = None
    alerts: list[Alert] = []
    try:
        for event in Trainer(config, control=StoreControl(store, run_id), checkpoint=target, resume=resume).run():
            if isinstance(event, Started):
                store.set_status(run_id, "running", device=event.device, total_steps=event.total_steps)
            elif isinstance(event, Evaluation) and event.split == "val":
                last_val = event
            elif isinstance(event, Alert):
                alerts.append(event)
            elif isinstance(event, Finished):
                finished = event
            writer.add(event)  # a checkpoint event flushes: its step's points are stored before it is recorded
            if isinstance(event, Checkpointed):
                store.set_checkpoint(run_id, event.path, event.step)
            if on_event is not None:
                on_event(event)
    except BaseException as exc:  # KeyboardInterrupt or a store fault: keep what was written
        _end_abruptly(store, run_id, writer, exc)
        raise
    writer.flush()
    assert finished is not None
    if finished.status != "stopped":  # only a stopped run can be resumed: free the disk
        store.set_checkpoint(run_id, "", 0)
        Path(target).unlink(missing_ok=True)
    store.set_status(run_id, finished.status,
                     error=finished.reason if finished.status in ("failed", "diverged") else "",
                     summary=_summary(last_val, finished, alerts))
    return run_id
