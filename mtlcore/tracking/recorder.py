"""Buffered recording of a user's loop into the run store, with one device sync per flush.

A step's losses stay on the user's device as detached tensors until a flush (at most every
FLUSH_EVERY_S, like our runner's), where every pending value goes to the host in one transfer per
device and becomes the trainer's own events (StepMetrics, Evaluation, ...) and rows (`event_rows`).
A daemon thread keeps the run's heartbeat fresh while the loop is busy elsewhere (a long
evaluation), so pages on other hosts do not take a live run for a dead one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Union

import torch

from mtlcore.events import Evaluation, Event, StepMetrics
from mtlcore.store import RunStore, event_rows

FLUSH_EVERY_S = 0.25  # the runner's rate: pages see points within a second
HEARTBEAT_EVERY_S = 10.0

Scalar = Union[torch.Tensor, float, int]


@dataclass
class PendingStep:
    """One `log` call, its values still where the user computed them."""

    step: int
    epoch: float
    time: float
    split: str
    tasks: list[str]
    losses: torch.Tensor | list[float] | None  # (T,) in task order
    weights: torch.Tensor | None  # (T,) in task order
    metrics: dict[tuple[str, str], Scalar] = field(default_factory=dict)  # (task, name) -> value


def host_values(values: list[Scalar]) -> list[list[float]]:
    """Each value as a list of floats, with one device-to-host copy per device (not one per value)."""
    out: list[list[float] | None] = [None] * len(values)
    groups: dict[torch.device, list[int]] = {}
    for i, v in enumerate(values):
        if isinstance(v, torch.Tensor):
            groups.setdefault(v.device, []).append(i)
        else:
            out[i] = [float(v)]
    for idx in groups.values():
        parts = [values[i].detach().reshape(-1).float() for i in idx]  # type: ignore[union-attr]
        flat = torch.cat(parts).tolist()
        pos = 0
        for i, p in zip(idx, parts):
            out[i] = flat[pos:pos + p.numel()]
            pos += p.numel()
    return out  # type: ignore[return-value]


def to_events(pending: list[PendingStep]) -> list[Event]:
    """The trainer's events for these steps: StepMetrics for training losses and weights, Evaluation
    for other splits and for named metrics (rows split / task / metric, as the trainer's)."""
    values: list[Scalar] = []
    for p in pending:
        values += [p.losses if p.losses is not None else [], p.weights if p.weights is not None else []]
        values += list(p.metrics.values())
    flat = host_values([torch.tensor(v) if isinstance(v, list) else v for v in values])
    events: list[Event] = []
    k = 0
    for p in pending:
        losses = dict(zip(p.tasks, flat[k]))
        weights = dict(zip(p.tasks, flat[k + 1]))
        k += 2
        metrics: dict[str, dict[str, float]] = {}
        for (task, name) in p.metrics:
            metrics.setdefault(task, {})[name] = flat[k][0]
            k += 1
        if p.split == "train":
            if losses:
                events.append(StepMetrics(p.step, p.epoch, p.time, losses, weights))
            if metrics:
                events.append(Evaluation(p.step, p.epoch, p.time, "train", {}, metrics))
        else:
            for task, loss in losses.items():
                metrics.setdefault(task, {})["loss"] = loss
            events.append(Evaluation(p.step, p.epoch, p.time, p.split, losses, metrics))
    return events


class Recorder:
    """Owns the pending steps and events of one run and writes them in one transaction per flush."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.pending: list[PendingStep] = []
        self.events: list[Event] = []  # already on the host (gradient stats, weight changes, ...)
        self.step = 0
        self.last_flush = time.monotonic()
        self.last_evaluations: dict[str, Evaluation] = {}  # split -> newest, for the run's summary
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name=f"mtl-heartbeat-{run_id}")
        self._beat.start()

    def due(self) -> bool:
        return time.monotonic() - self.last_flush >= FLUSH_EVERY_S

    def flush(self) -> None:
        with self._lock:
            pending, self.pending = self.pending, []
            events, self.events = self.events, []
            events = to_events(pending) + events
            rows: list[tuple] = []
            evs: list[tuple] = []
            for event in events:
                r, e = event_rows(event)
                rows += r
                evs += e
                if isinstance(event, Evaluation) and event.split != "train":
                    self.last_evaluations[event.split] = event
            if pending:
                self.step = max(self.step, max(p.step for p in pending))
            self.store.write_rows(self.run_id, rows, evs, self.step)
            self.last_flush = time.monotonic()

    def close(self) -> None:
        self._stopped.set()
        self._beat.join(timeout=2.0)
        self.flush()

    def _heartbeat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_EVERY_S / 2):
            if time.monotonic() - self.last_flush < HEARTBEAT_EVERY_S / 2:
                continue
            try:
                with self._lock:
                    self.store.write_rows(self.run_id, [], None)
            except Exception:  # noqa: BLE001  a busy or vanished database must not kill the user's loop
                continue


def summary(steps: int, evaluations: dict[str, Evaluation]) -> dict[str, Any]:
    """The run's summary as the runner writes it: steps and the last val / test metrics."""
    out: dict[str, Any] = {"steps": steps}
    for split in ("val", "test"):
        if split in evaluations:
            out[split] = evaluations[split].metrics
    if "test" in evaluations:
        out["test_loss"] = evaluations["test"].losses
    return out
