"""The public entry of the toy: cached runs load, the others are computed inline or in worker processes."""

from __future__ import annotations

from typing import Any, Sequence

from mtlcore.registry import ConfigError
from mtlcore.teaching.cache import _cache_path, _load, _save
from mtlcore.teaching.objective import PAPER_LR, PAPER_STARTS, PAPER_STEPS
from mtlcore.teaching.parallel import PARALLEL_ABOVE_S, _simulate_parallel, step_cost_us, worker_limit
from mtlcore.teaching.simulator import (
    MethodSpec,
    Progress,
    Trajectories,
    _simulate_joint,
    _Spec,
    _spec,
    _validated_inputs,
)


def simulate(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
             lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0, progress: Progress | None = None,
             use_cache: bool = True, workers: int | None = None) -> list[Trajectories]:
    """Run each method (a name, or (name, params)) from every start with Adam; one result per method.

    Cached runs load instantly; the others are computed together, `progress(fraction, message)`
    being called about a hundred times. `workers`: processes to split the methods over; None picks
    up to MTL_TOY_WORKERS (default 2) on a multi-core machine when the run is estimated above
    PARALLEL_ABOVE_S, else 1 (in this process). Results are deterministic for a seed and do not
    depend on `workers`.
    """
    s = _validated_inputs(starts, steps, lr, imbalance)
    specs = [_spec(m) for m in methods]
    paths = [_cache_path(spec, s, steps, lr, imbalance, seed) if use_cache else None for spec in specs]
    results: list[Trajectories | None] = [
        _load(path, spec, s, steps, lr, imbalance, seed) if path is not None and path.exists() else None
        for spec, path in zip(specs, paths)]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        todo_specs = [specs[i] for i in todo]
        n = _worker_count(todo_specs, s.shape[0], steps, workers)
        if n > 1:
            fresh = _simulate_parallel(todo_specs, s, steps, lr, imbalance, seed, progress, n)
        else:
            fresh = _simulate_joint(todo_specs, s, steps, lr, imbalance, seed, progress)
        for i, run in zip(todo, fresh):
            results[i] = run
            path = paths[i]
            if path is not None:
                _save(path, run)
    if progress is not None:
        progress(1.0, "done")
    return [r for r in results if r is not None]


def estimated_seconds(methods: Sequence[MethodSpec], n_starts: int, steps: int) -> float:
    """Single-process compute time of a run, from a measured probe (step_cost_us; for the page's expectations)."""
    return steps * step_cost_us([_spec(m) for m in methods], n_starts) * 1e-6


def _worker_count(specs: Sequence[_Spec], n_starts: int, steps: int, workers: int | None) -> int:
    if workers is not None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
        return min(workers, len(specs))
    limit = min(worker_limit(), len(specs))
    if limit < 2:
        return 1
    estimate = estimated_seconds([(sp.method, sp.params) for sp in specs], n_starts, steps)
    return limit if estimate > PARALLEL_ABOVE_S else 1
