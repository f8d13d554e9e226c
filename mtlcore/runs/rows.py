"""Trainer events as the rows the run store writes: metric points and events (no SQL here)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from mtlcore.events import Alert, Evaluation, Finished, GradientStats, Started, StepMetrics, WeightsChanged


def event_rows(event: Any) -> tuple[list[tuple], list[tuple]]:
    """Map one trainer event to metric rows (step, epoch, time, split, task, name, value) and event rows."""
    rows: list[tuple] = []
    evs: list[tuple] = []
    if isinstance(event, StepMetrics):
        for task, v in event.losses.items():
            rows.append((event.step, event.epoch, event.time, "train", task, "loss", v))
        for task, v in event.weights.items():
            rows.append((event.step, event.epoch, event.time, "train", task, "weight", v))
        for key, v in event.extra.items():
            rows.append((event.step, event.epoch, event.time, "train", "", key, v))
    elif isinstance(event, Evaluation):
        for task, v in event.losses.items():
            rows.append((event.step, event.epoch, event.time, event.split, task, "loss", v))
        for task, ms in event.metrics.items():
            for m, v in ms.items():
                if m != "loss":
                    rows.append((event.step, event.epoch, event.time, event.split, task, m, v))
    elif isinstance(event, GradientStats):
        s, e, t = event.step, event.epoch, event.time
        for task, v in event.norms.items():
            rows.append((s, e, t, "grad", task, "grad_norm", v))
        for task, v in event.direction_cosine.items():
            rows.append((s, e, t, "grad", task, "direction_cosine", v))
        names = event.tasks
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                rows.append((s, e, t, "grad", f"{names[i]}|{names[j]}", "cosine", event.cosine[i][j]))
        rows.append((s, e, t, "grad", "", "conflict", float(event.conflict)))
    elif isinstance(event, WeightsChanged):
        evs.append((event.step, time.time(), "weights_changed", json.dumps(event.weights)))
    elif isinstance(event, Alert):
        evs.append((event.step, time.time(), "alert", json.dumps(asdict(event))))
    elif isinstance(event, (Started, Finished)):
        evs.append((0 if isinstance(event, Started) else -1, time.time(),
                    type(event).__name__.lower(), json.dumps(asdict(event), default=str)))
    return rows, evs
