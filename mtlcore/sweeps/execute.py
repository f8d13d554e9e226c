"""Executing a sweep: record its planned runs under one group id, then train them through
mtlcore.runs, on local workers or as Ray tasks.

Why through mtlcore.runs: a sweep's runs are ordinary runs. Locally, each is trained by the same
cold worker as a Train-page run and waits in the same queue, so MTL_MAX_CONCURRENT holds for
everything this machine trains; on Ray, each is a task of the RayExecutor. A page starts a sweep
as a detached coordinator process (`python -m mtlcore sweep --group ...`), so the page never trains
or waits in its own process, and the sweep outlives a restart of the page's server.
No torch import.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from typing import Callable, Sequence

from mtlcore.device import usable_cores
from mtlcore.registry import ConfigError
from mtlcore.runs.store import ACTIVE, LOCAL, RunStore
from mtlcore.runs.workers import log_dir, spawn, start_worker
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.plan import plan
from mtlcore.sweeps.results import GROUP_PREFIX, status_counts

Progress = Callable[[str, str], None]  # (run id, final status)
POLL_S = 0.2


def new_group_id() -> str:
    return f"{GROUP_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def submit(sweep: SweepConfig, store: RunStore, owner_pid: int | None = None, owner: str = "") -> str:
    """Record every planned run as queued under a new group id; returns the group id.

    `owner_pid` is the process that will execute them (this one by default): the store marks
    queued runs interrupted when their owner dies, so a crashed sweep never shows as queued forever.
    `owner` is the hash of the browser that started the sweep (its runs are that browser's to stop).
    """
    runs = plan(sweep)
    group = new_group_id()
    pid = owner_pid or os.getpid()
    for r in runs:
        store.create_run(r.config.to_dict(), status="queued", name=r.name, group_id=group, pid=pid, owner=owner)
    return group


def _run_local(store: RunStore, run_ids: Sequence[str], workers_at_once: int | None, on_done: Progress | None) -> None:
    """Train the runs on cold workers, at most `workers_at_once` alive at a time (in plan order);
    each worker still waits for its turn in the machine's queue."""
    n = max(1, min(workers_at_once or usable_cores(), len(run_ids)))
    threads = max(1, usable_cores() // n)
    pending = list(run_ids)
    active: dict[str, subprocess.Popen] = {}
    try:
        while pending or active:
            for rid, proc in list(active.items()):
                if proc.poll() is not None:
                    del active[rid]
                    run = store.get_run(rid)
                    if on_done is not None:
                        on_done(rid, run["status"] if run else "missing")
            while pending and len(active) < n:
                rid = pending.pop(0)
                if store.read_control(rid)[0]:  # stopped while it waited here: never start it
                    store.stop_queued(rid)
                    if on_done is not None:
                        on_done(rid, "stopped")
                    continue
                active[rid] = start_worker(store, rid, threads)
            time.sleep(POLL_S)
    except BaseException:
        for rid in [*active, *pending]:
            store.request_stop(rid)  # running runs stop at their next poll, queued ones never start
        for rid in pending:
            store.stop_queued(rid)
        for proc in active.values():
            proc.wait()
        raise


def _run_on_ray(store: RunStore, run_ids: Sequence[str], address: str, on_done: Progress | None) -> None:
    from mtlcore.runs.ray import RayExecutor

    executor = RayExecutor(address)
    try:
        for rid in run_ids:
            executor.submit(store, rid)
        executor.wait(store, run_ids, on_done)
    finally:
        executor.close()


def run_group(store: RunStore, group_id: str, workers: int | None = None, ray_address: str | None = None,
              on_done: Progress | None = None) -> dict[str, int]:
    """Execute every queued run of a group, blocking until all have ended; returns status counts.

    Without `ray_address`, on local worker processes (`workers` alive at once, default one per core,
    each with its share of the cores as torch threads); with it, as Ray tasks on that cluster.
    """
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    run_ids = store.queued_ids(group_id)
    store.hand_to_process(run_ids, os.getpid(), executor="ray" if ray_address else LOCAL)
    if run_ids:
        if ray_address:
            _run_on_ray(store, run_ids, ray_address, on_done)
        else:
            _run_local(store, run_ids, workers, on_done)
    return status_counts(store, group_id)


def run_sweep(sweep: SweepConfig, store: RunStore, workers: int | None = None,
              ray_address: str | None = None, on_done: Progress | None = None) -> str:
    """Plan, record and execute a sweep in this process (blocking); returns the group id."""
    group = submit(sweep, store)
    run_group(store, group, workers, ray_address, on_done)
    return group


def start_sweep(sweep: SweepConfig, store: RunStore, workers: int | None = None,
                ray_address: str | None = None, owner: str = "") -> str:
    """Record the sweep and execute it in a detached coordinator process; returns at once.

    The coordinator is `python -m mtlcore sweep --group ...`: this process starts no thread and no
    pool, so a page that starts a sweep stays as it was (and its server log quiet).
    """
    group = submit(sweep, store, owner=owner)
    args = ["-m", "mtlcore", "sweep", "--db", store.path, "--group", group]
    if workers:
        args += ["--workers", str(workers)]
    if ray_address:
        args += ["--ray", ray_address]
    proc = spawn(args, log_dir(store.path) / f"{group}.log")
    store.hand_to_process(store.queued_ids(group), proc.pid)
    return group


def stop_sweep(store: RunStore, group_id: str) -> int:
    """Ask every queued or running run of the group to stop; returns how many were asked."""
    active = store.list_runs(status=list(ACTIVE), group_id=group_id)
    for rid in active["id"]:
        store.request_stop(rid)
    return len(active)
