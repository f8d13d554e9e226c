"""Worker processes for the toy's computations, and the measured cost of a step that decides how to split them.

A step costs tens of microseconds per method, all of it Python overhead, so one process is bound by
one core. Jobs (a method from some starts) are independent, so they are split into groups (balanced
by a measured cost per step) that run in the warm pool's worker processes (mtlcore.runs.pool:
a forkserver that imports the core once, so after the first use or `warm_up` a call starts at once);
results are identical whatever the split, because every point's arithmetic is done point by point
(see objective._pointwise). A process that keeps torch out (the dashboard's server) sends every
computation there, the cost probe and short runs included; one that has torch already (tests, a
script that trains) computes short work itself.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Sequence

import numpy as np

from mtlcore.registry import ConfigError
from mtlcore.runs.pool import WarmPool
from mtlcore.teaching.objective import PAPER_LR, PAPER_STARTS
from mtlcore.teaching.simulator import Progress, Trajectories, _Job, _simulate_jobs, _simulate_joint, _Spec

log = logging.getLogger("mtl.toy")

PROBE_STEPS = (10, 60)  # a cost probe's two run lengths (see step_cost_us)
PARALLEL_ABOVE_S = 3.0  # runs estimated shorter than this stay in one process
CALL_TIMEOUT_S = 300.0  # a probe or a plane direction: a cold worker imports torch first


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # 2 x 2 problems: a second thread only adds hand-off


POOL = WarmPool(preload=["mtlcore.teaching", "mtlcore.weighting"], initializer=_init_worker)


def worker_pool(workers: int = 2) -> ProcessPoolExecutor:
    """The shared pool of `workers` processes (made on first use, remade when broken or resized)."""
    return POOL.get(workers)


def offloaded() -> bool:
    """Whether this process sends even short toy work to the workers: it has not imported torch (the
    dashboard's server never does; one that has, such as the CLI after its first run or the tests,
    computes short work itself rather than pay a round trip)."""
    return "torch" not in sys.modules


def worker_limit() -> int:
    """Worker processes a run may use: MTL_TOY_WORKERS (default 2), at most the CPU count."""
    raw = os.environ.get("MTL_TOY_WORKERS", "2")
    try:
        wanted = int(raw)
    except ValueError:
        raise ConfigError(f"MTL_TOY_WORKERS must be a whole number, got {raw!r}") from None
    return max(min(wanted, os.cpu_count() or 1), 1)


def warm_up() -> None:
    """Start the worker processes now, without waiting (their imports take a few seconds, once)."""
    POOL.warm_up(max(worker_limit(), 1))


def _key(spec: _Spec) -> tuple[str, str]:
    return spec.method, json.dumps(spec.params, sort_keys=True, default=str)


@lru_cache(maxsize=512)
def _probe_us(keys: tuple[tuple[str, str], ...], n_starts: int) -> float:
    """Worker entry (or inline where torch is loaded already): microseconds per step, measured here."""
    specs = [_Spec(name, json.loads(params)) for name, params in keys]
    starts = np.resize(np.asarray(PAPER_STARTS), (n_starts, 2))
    _simulate_joint(specs, starts, 2, PAPER_LR, 1.0, 0, None, records=2)  # first calls out of the timing
    seconds = []
    for steps in PROBE_STEPS:
        began = time.perf_counter()
        _simulate_joint(specs, starts, steps, PAPER_LR, 1.0, 0, None, records=2)
        seconds.append(time.perf_counter() - began)
    return max((seconds[1] - seconds[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0]) * 1e6, 1.0)


def step_cost_us(specs: Sequence[_Spec], n_starts: int) -> float:
    """Microseconds per step of these methods stepped together in one process from n_starts starts.

    Measured, not modelled: the difference of two short runs' times (setup and recording cancel),
    on this machine with this code, so a method that keeps one instance per start and runs autograd
    on two numbers (UW: milliseconds a step) is estimated as slow as it is, and a new method needs
    no entry anywhere. Probed once per set of methods and kept for the process's life; in a process
    that keeps torch out (the dashboard's server) the probe runs in a worker.
    """
    keys = tuple(_key(s) for s in specs)
    if offloaded():
        return _probe_in_worker(keys, n_starts)
    return _probe_us(keys, n_starts)


@lru_cache(maxsize=512)
def _probe_in_worker(keys: tuple[tuple[str, str], ...], n_starts: int) -> float:
    return worker_pool(max(worker_limit(), 1)).submit(_probe_us, keys, n_starts).result()


def job_cost_us(job: _Job) -> float:
    """A job's microseconds per step, from its method's one-start probe times its starts: the probe
    is then shared by every job of that method (a start added to a shown set probes nothing anew);
    methods whose starts share vector work are overestimated a little, which only balancing sees."""
    return step_cost_us([job.spec], 1) * job.starts.shape[0]


def _groups(costs: Sequence[float], n_groups: int) -> list[list[int]]:
    """Indices split into at most n_groups non-empty groups of balanced cost (largest first, to the lightest)."""
    loads = [0.0] * n_groups
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        g = loads.index(min(loads))
        groups[g].append(i)
        loads[g] += costs[i]
    return [sorted(g) for g in groups if g]


def _run_group(jobs: list[_Job], steps: int, lr: float, imbalance: float, seed: int,
               progress_path: str) -> list[Trajectories]:
    """Worker entry: one group's joint run, its progress written as one float64 at the file's start."""
    fd = os.open(progress_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        def report(fraction: float, message: str) -> None:
            os.pwrite(fd, struct.pack("d", fraction), 0)

        return _simulate_jobs(jobs, steps, lr, imbalance, seed, report)
    finally:
        os.close(fd)


def _read_fraction(path: str) -> float:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
        return struct.unpack("d", raw)[0] if len(raw) == 8 else 0.0
    except OSError:
        return 0.0


def _simulate_parallel(jobs: list[_Job], steps: int, lr: float, imbalance: float, seed: int,
                       progress: Progress | None, workers: int) -> list[Trajectories]:
    """The jobs split over `workers` processes of the warm pool (1: one worker, for a process that keeps
    torch out); results in the jobs' order."""
    costs = [job_cost_us(job) for job in jobs]
    groups = _groups(costs, workers)
    loads = [sum(costs[i] for i in g) for g in groups]
    pool = worker_pool(max(worker_limit(), workers))
    with tempfile.TemporaryDirectory(prefix="mtl-toy-") as folder:
        paths = [os.path.join(folder, f"group{j}") for j in range(len(groups))]
        futures = [pool.submit(_run_group, [jobs[i] for i in g], steps, lr, imbalance, seed, path)
                   for g, path in zip(groups, paths)]
        while True:
            done, pending = wait(futures, timeout=0.05)
            if progress is not None:
                share = sum(load * (1.0 if f in done else _read_fraction(path))
                            for load, f, path in zip(loads, futures, paths)) / max(sum(loads), 1e-12)
                progress(min(share, 1.0), f"{len(groups)} worker process(es), "
                                          f"{len(done)} of {len(groups)} done")
            if not pending:
                break
        results: list[Trajectories | None] = [None] * len(jobs)
        for g, f in zip(groups, futures):
            try:
                runs = f.result()
            except BrokenProcessPool:  # a worker died, or a __main__ that starts work on import
                group = [jobs[i] for i in g]
                if offloaded():  # this process keeps torch out: once more on a fresh pool
                    log.warning("toy worker processes failed; trying %d job(s) on a fresh pool", len(g))
                    runs = worker_pool(max(worker_limit(), workers)).submit(
                        _run_group, group, steps, lr, imbalance, seed, os.devnull).result()
                else:
                    log.warning("toy worker processes failed; computing %d job(s) in this process", len(g))
                    runs = _simulate_jobs(group, steps, lr, imbalance, seed, None)
            for i, run in zip(g, runs):
                results[i] = run
    return [r for r in results if r is not None]
