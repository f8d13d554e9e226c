"""The disk cache of toy runs, one file per (method, its parameters, start, protocol), so a page shows
a computed set at once and adding a start or a method computes only the new trajectories.

A trajectory depends on its own start alone unless its method draws random numbers (then it depends
on its place among the starts and, for methods stepped in one batch, on the other starts): such a
method's files are keyed by the whole list of starts and its place in it. Methods whose only draw
is the order of tasks (forced with the toy's two tasks) count as deterministic. No torch here: the
parameters resolve through the torch-free catalogue.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mtlcore.teaching.objective import PAPER_LR, PAPER_STARTS, PAPER_STEPS
from mtlcore.teaching.simulator import (
    MethodSpec,
    Trajectories,
    _Job,
    _Spec,
    _spec,
    _validated_inputs,
    resolved_params,
)

_FORMAT = 2  # bump when the toy or the simulator changes what a cached result holds (2: one file per start)


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the toy's modules and every weighting module: a changed method invalidates its cached runs."""
    here = Path(__file__).resolve().parent
    files = [*sorted(here.glob("*.py")), *sorted((here.parent / "weighting").rglob("*.py"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def depends_on_other_starts(method: str) -> bool:
    """Whether a trajectory of `method` depends on the other starts of its run (random draws)."""
    from mtlcore import catalog

    entry = catalog.method(method)
    return bool(entry.get("stochastic")) and not entry.get("random_only_in_task_order")


def _hex_point(p: Sequence[float]) -> list[str]:
    return [float.hex(float(v)) for v in p]


def _cache_path(spec: _Spec, starts: np.ndarray, index: int, steps: int, lr: float, imbalance: float,
                seed: int) -> Path:
    """The file of start `index`'s trajectory of this method under this protocol."""
    from mtlcore.data.base import cache_dir

    place: Any = None
    if depends_on_other_starts(spec.method):
        place = {"starts": [_hex_point(p) for p in starts], "index": int(index)}
    key = json.dumps({"format": _FORMAT, "code": _code_version(), "method": spec.method,
                      "params": resolved_params(spec), "start": _hex_point(starts[index]), "place": place,
                      "steps": int(steps), "lr": float.hex(float(lr)), "imbalance": float.hex(float(imbalance)),
                      "seed": int(seed)}, sort_keys=True, default=str)
    folder = cache_dir() / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{spec.method}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _save_start(path: Path, run: Trajectories, row: int) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, steps=run.steps, points=run.points[row], losses=run.losses[row], weights=run.weights[row],
             meta=np.array(json.dumps({"seconds": run.seconds})))
    os.replace(tmp, path)


def _load_start(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return data["steps"], data["points"], data["losses"], data["weights"], float(meta["seconds"])
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)  # unreadable: computed again
        return None


@dataclass
class Plan:
    """What a request needs: per method, its starts' files, the rows already on disk, and what is missing."""

    specs: list[_Spec]
    starts: np.ndarray
    steps: int
    lr: float
    imbalance: float
    seed: int
    paths: list[list[Path | None]]  # [method][start]
    found: list[list[Any]]  # [method][start]: a loaded row or None

    def missing(self) -> list[_Job]:
        """The trajectories to compute: one job per method with any start missing, only those starts."""
        jobs = []
        for spec, rows in zip(self.specs, self.found):
            todo = tuple(j for j, row in enumerate(rows) if row is None)
            if todo:
                jobs.append(_Job(spec, self.starts[list(todo)], todo))
        return jobs

    def fill(self, computed: Sequence[Trajectories], jobs: Sequence[_Job]) -> None:
        """Take computed trajectories into the plan, saving each start's file."""
        by_method = {id(job.spec): (job, run) for job, run in zip(jobs, computed)}
        for i, spec in enumerate(self.specs):
            if id(spec) not in by_method:
                continue
            job, run = by_method[id(spec)]
            for row, j in enumerate(job.slots):
                self.found[i][j] = (run.steps, run.points[row], run.losses[row], run.weights[row], run.seconds, False)
                path = self.paths[i][j]
                if path is not None:
                    _save_start(path, run, row)

    def runs(self) -> list[Trajectories] | None:
        """One Trajectories per method, every start filled; None while any is missing."""
        if any(row is None for rows in self.found for row in rows):
            return None
        out = []
        for spec, rows in zip(self.specs, self.found):
            out.append(Trajectories(
                method=spec.method, params=dict(spec.params), starts=self.starts.copy(), steps=rows[0][0],
                points=np.stack([r[1] for r in rows]), losses=np.stack([r[2] for r in rows]),
                weights=np.stack([r[3] for r in rows]), total_steps=self.steps, lr=float(self.lr),
                imbalance=float(self.imbalance), seed=self.seed, seconds=max(r[4] for r in rows),
                cached=all(r[5] for r in rows)))
        return out


def plan(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS, lr: float = PAPER_LR,
         imbalance: float = 1.0, seed: int = 0, use_cache: bool = True) -> Plan:
    """Read what the disk holds for this request (torch-free)."""
    s = _validated_inputs(starts, steps, lr, imbalance)
    specs = [_spec(m) for m in methods]
    paths: list[list[Path | None]] = []
    found: list[list[Any]] = []
    for spec in specs:
        row_paths = [_cache_path(spec, s, j, steps, lr, imbalance, seed) if use_cache else None
                     for j in range(s.shape[0])]
        paths.append(row_paths)
        rows = []
        for path in row_paths:
            got = _load_start(path) if path is not None else None
            rows.append(None if got is None else (*got, True))
        found.append(rows)
    return Plan(specs, s, int(steps), float(lr), float(imbalance), int(seed), paths, found)


def cached_runs(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
                lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0) -> list[Trajectories] | None:
    """Every method's result from the disk cache, or None when any trajectory has not been computed."""
    return plan(methods, starts, steps, lr, imbalance, seed).runs()
