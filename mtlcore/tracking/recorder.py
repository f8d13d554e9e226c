"""Buffered recording of a user's loop into the run store, with one device sync per flush.

A step's losses stay on the user's device as detached tensors until a flush (at most every
FLUSH_EVERY_S, like our runner's), where every pending value goes to the host in one transfer per
device. A writer thread turns them into the trainer's own events (StepMetrics, Evaluation, ...) and
rows (`event_rows`) and writes them, so the loop never waits for SQLite; it also keeps the run's
heartbeat fresh while the loop is busy elsewhere (a long evaluation), so pages on other hosts do
not take a live run for a dead one.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Union

import torch

from mtlcore.events import Evaluation, Event, StepMetrics
from mtlcore.runs.store import RunStore, event_rows

FLUSH_EVERY_S = 0.25  # the runner's rate: pages see points within a second
HEARTBEAT_EVERY_S = 10.0

Scalar = Union[torch.Tensor, float, int]
_EMPTY = torch.zeros(0)


@dataclass(slots=True)
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
    """Each value as a list of floats, with one device-to-host copy per device (not one per value).

    Values of one device, shape and dtype (every step's loss vector, say) are stacked in one call;
    the few stacks of a device are joined and copied together.
    """
    out: list[list[float] | None] = [None] * len(values)
    groups: dict[tuple, list[int]] = {}
    for i, v in enumerate(values):
        if isinstance(v, torch.Tensor):
            groups.setdefault((v.device, tuple(v.shape), v.dtype), []).append(i)
        else:
            out[i] = [float(v)]
    by_device: dict[torch.device, list[tuple[list[int], torch.Tensor]]] = {}
    for (device, _shape, _), idx in groups.items():
        stacked = torch.stack([values[i] for i in idx]).detach().float().reshape(len(idx), -1)  # type: ignore[misc]
        by_device.setdefault(device, []).append((idx, stacked))
    for parts in by_device.values():
        flat = torch.cat([t.reshape(-1) for _, t in parts]).tolist()  # the one sync of this device
        pos = 0
        for idx, t in parts:
            width = t.shape[1]
            for i in idx:
                out[i] = flat[pos:pos + width]
                pos += width
    return out  # type: ignore[return-value]


def host_copy(pending: list[PendingStep]) -> list[list[float]]:
    """Every value of these steps on the host, in `to_events`' order: the flush's one device sync.

    Every step's loss vector (and weight vector) has the same shape on the same device, so each kind
    is stacked in one call; `host_values`, value by value, is the fallback for anything mixed.
    """
    losses = [p.losses for p in pending if p.losses is not None]
    weights = [p.weights for p in pending if p.weights is not None]
    metrics = [v for p in pending for v in p.metrics.values()]
    try:
        parts = [torch.stack(x).detach().float().reshape(-1) for x in (losses, weights) if x]  # type: ignore[arg-type]
        parts += [torch.stack([torch.as_tensor(v).detach().float().reshape(()) for v in metrics])] if metrics else []
        flat = torch.cat(parts).tolist() if parts else []
    except (RuntimeError, TypeError):  # tensors on several devices, or of several shapes
        values: list[Any] = []
        for p in pending:
            values += [p.losses if p.losses is not None else _EMPTY, p.weights if p.weights is not None else _EMPTY]
            values += list(p.metrics.values())
        return host_values(values)
    n_loss = sum(len(p.tasks) for p in pending if p.losses is not None)  # (T,) each: no tensor len()
    n_weight = sum(len(p.tasks) for p in pending if p.weights is not None)
    at = {"l": 0, "w": n_loss, "m": n_loss + n_weight}
    out: list[list[float]] = []

    def take(kind: str, n: int) -> list[float]:
        chunk = flat[at[kind]:at[kind] + n]
        at[kind] += n
        return chunk

    for p in pending:
        out.append(take("l", len(p.tasks)) if p.losses is not None else [])
        out.append(take("w", len(p.tasks)) if p.weights is not None else [])
        out += [take("m", 1) for _ in p.metrics]
    return out


def to_events(pending: list[PendingStep], flat: list[list[float]]) -> list[Event]:
    """The trainer's events for these steps (values from `host_copy`): StepMetrics for training
    losses and weights, Evaluation for other splits and for named metrics, so the rows (split /
    task / metric) are the trainer's."""
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
    """Owns the pending steps of one run. A flush copies their values to the host (in the loop's
    thread, so the copy is ordered after the step that made them) and hands them to a writer thread,
    which turns them into rows and writes one transaction; the loop does not wait for SQLite."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.pending: list[PendingStep] = []
        self.events: list[Event] = []  # already on the host (gradient stats, weight changes, ...)
        self.step = 0  # the newest step written
        self.last_flush = time.monotonic()
        self.last_evaluations: dict[str, Evaluation] = {}  # split -> newest, for the run's summary
        self.error: BaseException | None = None  # the writer's last failure, reported at close
        self._queue: queue.Queue[tuple[list[PendingStep], list[list[float]], list[Event]] | None] = queue.Queue()
        self._last_write = time.monotonic()
        self._writer = threading.Thread(target=self._write_loop, daemon=True, name=f"mtl-writer-{run_id}")
        self._writer.start()

    def due(self) -> bool:
        return time.monotonic() - self.last_flush >= FLUSH_EVERY_S

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        events, self.events = self.events, []
        self.last_flush = time.monotonic()
        if pending or events:
            self._queue.put((pending, host_copy(pending), events))

    def close(self) -> None:
        """Flush, then wait until everything is written."""
        self.flush()
        self._queue.put(None)
        self._writer.join()

    def _write(self, pending: list[PendingStep], flat: list[list[float]], events: list[Event]) -> None:
        rows: list[tuple] = []
        evs: list[tuple] = []
        for event in to_events(pending, flat) + events:
            r, e = event_rows(event)
            rows += r
            evs += e
            if isinstance(event, Evaluation) and event.split != "train":
                self.last_evaluations[event.split] = event
        if pending:
            self.step = max(self.step, max(p.step for p in pending))
        self.store.write_rows(self.run_id, rows, evs, self.step)

    def _write_loop(self) -> None:
        """The writer thread: batches as they come; a heartbeat when the loop is quiet for long
        (a long evaluation), so pages on other hosts do not take the run for dead."""
        while True:
            try:
                item = self._queue.get(timeout=HEARTBEAT_EVERY_S)
            except queue.Empty:
                item = ([], [], [])
            if item is None:
                return
            try:
                self._write(*item)
            except Exception as exc:  # noqa: BLE001  a busy or vanished database must not kill the loop
                self.error = exc


def summary(steps: int, evaluations: dict[str, Evaluation]) -> dict[str, Any]:
    """The run's summary as the runner writes it: steps and the last val / test metrics."""
    out: dict[str, Any] = {"steps": steps}
    for split in ("val", "test"):
        if split in evaluations:
            out[split] = evaluations[split].metrics
    if "test" in evaluations:
        out["test_loss"] = evaluations["test"].losses
    return out
