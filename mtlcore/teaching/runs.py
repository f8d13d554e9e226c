"""The public entry of the toy: cached trajectories load, only the missing ones are computed (inline or
in worker processes)."""

from __future__ import annotations

from typing import Any, Sequence

from mtlcore.registry import ConfigError
from mtlcore.teaching.cache import Plan, plan
from mtlcore.teaching.objective import PAPER_LR, PAPER_STARTS, PAPER_STEPS
from mtlcore.teaching.parallel import (
    PARALLEL_ABOVE_S,
    _simulate_parallel,
    job_cost_us,
    offloaded,
    step_cost_us,
    worker_limit,
)
from mtlcore.teaching.simulator import MethodSpec, Progress, Trajectories, _Job, _simulate_jobs, _spec


def simulate(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
             lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0, progress: Progress | None = None,
             use_cache: bool = True, workers: int | None = None) -> list[Trajectories]:
    """Run each method (a name, or (name, params)) from every start with Adam; one result per method.

    Cached trajectories load instantly (one file per method and start: a new start or method computes
    only itself); the others are computed together, `progress(fraction, message)` being called about
    a hundred times. `workers`: processes to split the work over; None picks up to MTL_TOY_WORKERS
    (default 2) on a multi-core machine when the work is estimated above PARALLEL_ABOVE_S, else 1.
    A process that keeps torch out computes even then in a worker process. Results are deterministic
    for a seed and depend neither on `workers` nor on what was cached.
    """
    return complete(plan(methods, starts, steps, lr, imbalance, seed, use_cache), progress, workers)


def complete(request: Plan, progress: Progress | None = None, workers: int | None = None) -> list[Trajectories]:
    """Compute what `request` misses, save it, and return every method's trajectories."""
    jobs = request.missing()
    if jobs:
        n = _worker_count(jobs, request.steps, workers)
        if n > 1 or offloaded():
            fresh = _simulate_parallel(jobs, request.steps, request.lr, request.imbalance, request.seed, progress, n)
        else:
            fresh = _simulate_jobs(jobs, request.steps, request.lr, request.imbalance, request.seed, progress)
        request.fill(fresh, jobs)
    if progress is not None:
        progress(1.0, "done")
    runs = request.runs()
    assert runs is not None  # every missing trajectory was just filled
    return runs


def estimated_seconds(methods: Sequence[MethodSpec], n_starts: int, steps: int) -> float:
    """Single-process compute time of a run, from a measured probe (step_cost_us; for the page's expectations)."""
    return steps * step_cost_us([_spec(m) for m in methods], n_starts) * 1e-6


def missing_seconds(request: Plan) -> float:
    """Single-process compute time of what `request` misses (0 when everything is cached)."""
    return sum(request.steps * job_cost_us(job) * 1e-6 for job in request.missing())


def _worker_count(jobs: Sequence[_Job], steps: int, workers: int | None) -> int:
    if workers is not None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
        return min(workers, len(jobs))
    limit = min(worker_limit(), len(jobs))
    if limit < 2:
        return 1
    if offloaded():  # the work goes to the warm pool anyway: every worker it has takes a share
        return limit
    estimate = sum(steps * job_cost_us(job) * 1e-6 for job in jobs)
    return limit if estimate > PARALLEL_ABOVE_S else 1
