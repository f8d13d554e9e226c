"""Runs written straight into a run store, as a worker would leave them: curves, summary, status.

For page tests (AppTest and the browser) that need stored runs without training any: the curves
are smooth made-up losses, accuracies, weights and cosines of Multi-Digits' left and right tasks.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.runs.store import RunStore

TASKS = ["left", "right"]


def stored_run(store: RunStore, method: str = "ew", seed: int = 0, steps: int = 300, left: float = 0.9,
               right: float = 0.8, arch: str = "hps", lr: float = 1e-3, params: dict | None = None,
               status: str = "finished", alerts: list[dict[str, Any]] | None = None, error: str = "",
               name: str | None = None, group: str = "") -> str:
    """A run of `steps` steps on Multi-Digits left+right, ended with `status` (its default name is
    the one the app gives runs, unless `name` is given)."""
    config = RunConfig.from_dict({"seed": seed, "data": {"name": "multi_digits", "tasks": TASKS},
                                  "model": {"architecture": arch},
                                  "weighting": {"method": method, "params": params or {}},
                                  "optim": {"lr": lr, "max_steps": steps}})
    config.name = naming.run_name(config, "Multi-Digits") if name is None else name
    rid = store.create_run(config.to_dict(), status="queued", group_id=group)
    s = np.arange(1, steps + 1)
    rows: list[tuple] = []
    for i, task in enumerate(TASKS):
        loss = 2.0 * np.exp(-s / 400.0) + 0.05 * (i + 1) + 0.02 * seed
        rows += [(int(k), k / 50, k * 0.01, "train", task, "loss", float(v)) for k, v in zip(s, loss)]
        rows += [(int(k), k / 50, k * 0.01, "train", task, "weight", 1.0 + 0.1 * i + 0.2 * seed) for k in s]
        for k in s[::50]:
            rows += [(int(k), k / 50, k * 0.01, "val", task, "loss", float(loss[k - 1] * 1.1)),
                     (int(k), k / 50, k * 0.01, "val", task, "accuracy", float(1 - loss[k - 1] / 3))]
    rows += [(int(k), k / 50, k * 0.01, "grad", "left|right", "cosine", float(np.cos(k / 90 + seed)))
             for k in s[::25]]
    store.write_rows(rid, rows, [(0, 0.0, "started", json.dumps({"steps_per_epoch": 50}))], step=steps)
    final = {"left": {"loss": 0.3, "accuracy": left}, "right": {"loss": 0.3, "accuracy": right}}
    summary: dict[str, Any] = {"steps": steps, "val": final}
    if status == "finished":
        summary["test"] = final
    if alerts:
        summary["alerts"] = alerts
    store.set_status(rid, status, error=error, summary=summary, total_steps=steps, started=1_000.0)
    return rid
