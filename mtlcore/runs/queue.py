"""The local queue: how many runs train at once on this machine, and waiting for a turn.

Runs queue in the store, not in a process, so the queue survives a restart of the server: a worker
waits (cheaply, before importing torch) until `RunStore.claim_queued` gives it a slot. Everyone
that trains a run locally (the Train page, sweeps, the CLI's worker) goes through `take_turn`.
No torch import.
"""

from __future__ import annotations

import os
import time

from mtlcore.runs.store import RunStore

LIMIT_ENV = "MTL_MAX_CONCURRENT"


def max_concurrent() -> int:
    """How many local runs may train at once: MTL_MAX_CONCURRENT, else 2."""
    raw = os.environ.get(LIMIT_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 2


def take_turn(store: RunStore, run_id: str, pid: int, limit: int | None, poll_s: float = 0.2) -> bool:
    """Block until the run `run_id` is claimed by `pid` (True), or it must not train (False).

    `limit` None claims at once (Ray queues its own tasks). A stop asked for while the run waits
    marks it stopped without training; a run that someone else took, or that was deleted or
    reaped, is left as it is.
    """
    while True:
        stop_requested, _, _ = store.read_control(run_id)
        if stop_requested:
            store.stop_queued(run_id)
            return False
        if store.claim_queued(run_id, pid, limit):
            return True
        current = store.get_run(run_id)
        if current is None or current["status"] != "queued":
            return False
        time.sleep(poll_s)


def running_local(store: RunStore) -> int:
    """Local runs training now (the worker sizes its torch threads by it)."""
    runs = store.list_runs(status=["running"])
    return int((runs["executor"] == "local").sum()) if not runs.empty else 0


def wait_until_ended(store: RunStore, run_id: str, grace_s: float) -> bool:
    """True once the run has left queued/running (or is gone), False if grace_s passed first."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        run = store.get_run(run_id)
        if run is None or run["status"] not in ("queued", "running"):
            return True
        time.sleep(0.05)
    return False
