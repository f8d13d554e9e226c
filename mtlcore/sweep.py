"""Sweeps: static task weights over a grid on the simplex, plus dynamic methods, times seeds.

Why: the honest test of a weighting method is whether it beats the front that tuned static weights
trace on the same problem (users report tuned static weights beating every method). A sweep is
planned as plain RunConfigs, recorded in the store under one group id (so a page shows one progress
view and one Pareto plot), and executed by a pool of local worker processes or, given an address,
as Ray tasks (mtlcore.ray_backend). Either way each run is `runner.execute` writing into the same
store, so a sweep's runs are ordinary runs everywhere else.

Static weights are simplex points scaled by the number of tasks, so the centre of the grid is
exactly equal weighting (every weight 1) and a learning rate tuned for EW carries over.
No torch import at module level: the page and the coordinator stay light; workers import it.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import multiprocessing
import os
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from mtlcore import launch, naming
from mtlcore.config import RunConfig, json_object, read_text
from mtlcore.device import usable_cores
from mtlcore.pareto import non_dominated
from mtlcore.registry import ConfigError, resolve_params
from mtlcore.store import ACTIVE, RunStore

STATIC = "static"
GROUP_PREFIX = "sweep-"
MAX_RUNS = 500
POINTS_RANGE = {2: (2, 21), 3: (2, 11)}  # points per edge of the simplex, per number of tasks
RAY_ENV = "MTL_RAY_ADDRESS"


@dataclass
class SweepConfig:
    """Everything a sweep needs; `plan()` turns it into one RunConfig per run."""

    name: str = ""
    base: RunConfig = field(default_factory=RunConfig)  # data set, model, optimiser: shared by all runs
    tasks: list[str] = field(default_factory=list)  # 2 or 3; empty means base.data.tasks
    grid_points: int = 5  # points per edge of the simplex (two tasks: the number of weightings)
    corners: bool = False  # include the weightings that give a task weight 0 (the simplex's vertices)
    methods: list[str] = field(default_factory=list)  # dynamic weighting methods run beside the grid
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}
        out["base"] = self.base.to_dict()
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Any) -> "SweepConfig":
        if not isinstance(raw, dict):
            raise ConfigError(f"a sweep config must be an object, got {raw!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"sweep: unknown key(s) {unknown}; known: {sorted(known)}")
        kwargs = dict(raw)
        if "base" in kwargs:
            kwargs["base"] = RunConfig.from_dict(kwargs["base"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "SweepConfig":
        return cls.from_dict(json_object(text, "sweep config"))

    @classmethod
    def load(cls, path: str | Path) -> "SweepConfig":
        return cls.from_json(read_text(path, "sweep config"))

    @property
    def task_list(self) -> list[str]:
        return list(self.tasks or self.base.data.tasks)

    def grid(self) -> list[tuple[float, ...]]:
        return simplex_grid(len(self.task_list), self.grid_points, self.corners)

    def validate(self) -> "SweepConfig":
        """Shape checks, then names against the registries (data set tasks, weighting methods)."""
        self.base.validate()
        if not isinstance(self.name, str):
            raise ConfigError(f"sweep name must be a string, got {self.name!r}")
        tasks = self.task_list
        if not all(isinstance(t, str) for t in tasks) or len(set(tasks)) != len(tasks):
            raise ConfigError(f"sweep tasks must be distinct task names, got {tasks!r}")
        if len(tasks) not in POINTS_RANGE:
            raise ConfigError(f"a sweep needs 2 or 3 tasks, got {len(tasks)} ({tasks})")
        low, high = POINTS_RANGE[len(tasks)]
        if isinstance(self.grid_points, bool) or not isinstance(self.grid_points, int) or not (
                low <= self.grid_points <= high):
            raise ConfigError(f"grid_points must be a whole number from {low} to {high} for {len(tasks)} tasks, "
                              f"got {self.grid_points!r}")
        if not isinstance(self.corners, bool):
            raise ConfigError(f"corners must be true or false, got {self.corners!r}")
        if not isinstance(self.methods, list) or len(set(map(str, self.methods))) != len(self.methods):
            raise ConfigError(f"methods must be a list of distinct method names, got {self.methods!r}")
        if STATIC in self.methods:
            raise ConfigError("methods lists the dynamic methods; 'static' weights are the grid itself")
        if not isinstance(self.method_params, dict) or not all(isinstance(v, dict) for v in self.method_params.values()):
            raise ConfigError("method_params must map a method name to an object of its parameters")
        stray = sorted(set(self.method_params) - set(self.methods))
        if stray:
            raise ConfigError(f"method_params names method(s) {stray} that are not in methods {self.methods}")
        if (not isinstance(self.seeds, list) or not self.seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds)
                or len(set(self.seeds)) != len(self.seeds)):
            raise ConfigError(f"seeds must be a non-empty list of distinct whole numbers >= 0, got {self.seeds!r}")
        total = (len(self.grid()) + len(self.methods)) * len(self.seeds)
        if total > MAX_RUNS:
            raise ConfigError(f"this sweep would start {total} runs; the limit is {MAX_RUNS} "
                              "(use fewer grid points, methods or seeds)")
        self._check_names(tasks)
        return self

    def _check_names(self, tasks: list[str]) -> None:
        from mtlcore.delta_m import metric_directions
        from mtlcore.weighting import WEIGHTINGS

        metric_directions(self.base.data.name, tasks)  # raises for an unknown data set or task
        for method in self.methods:
            # an unknown name raises listing the available methods; then its parameters are checked
            resolve_params(WEIGHTINGS.get(method).params, self.method_params.get(method, {}),
                           f"method '{method}'")


def simplex_grid(n_tasks: int, points_per_edge: int, corners: bool = False) -> list[tuple[float, ...]]:
    """A simplex lattice: every point whose coordinates are multiples of one step and sum to 1.

    With `corners`, coordinates are k/m (m = points_per_edge - 1), so the vertices (one task alone,
    the others at weight 0) are included; without (the default), they are (k+1)/(m+n_tasks), the
    same lattice shrunk into the interior so every task keeps a weight above 0. Two tasks give `points_per_edge` points, three give
    (m+1)(m+2)/2. Ordered by the first coordinate, rising.
    """
    if n_tasks < 2:
        raise ConfigError(f"a simplex grid needs at least 2 tasks, got {n_tasks}")
    if points_per_edge < 2:
        raise ConfigError(f"a simplex grid needs at least 2 points per edge, got {points_per_edge}")
    m = points_per_edge - 1
    parts = [c + (m - sum(c),) for c in itertools.product(range(m + 1), repeat=n_tasks - 1) if sum(c) <= m]
    denom, shift = (m, 0) if corners else (m + n_tasks, 1)
    points = [tuple(round((k + shift) / denom, 10) for k in c) for c in parts]
    return sorted(points)


def _fmt_point(point: Sequence[float]) -> str:
    return "(" + ", ".join(f"{p:.3g}" for p in point) + ")"


@dataclass(frozen=True)
class PlannedRun:
    name: str
    config: RunConfig
    kind: str  # "grid" | "method"
    method: str
    point: tuple[float, ...] | None  # simplex coordinates of a grid run
    seed: int


def plan(sweep: SweepConfig) -> list[PlannedRun]:
    """One RunConfig per grid point and dynamic method, per seed (seed-major, grid first)."""
    sweep.validate()
    tasks = sweep.task_list
    prefix = f"{sweep.name} · " if sweep.name else ""
    out: list[PlannedRun] = []
    for seed in sweep.seeds:
        settings: list[tuple[str, str, dict[str, Any], tuple[float, ...] | None]] = [
            ("grid", STATIC, {"weights": [round(len(tasks) * p, 10) for p in point]}, point)
            for point in sweep.grid()]
        settings += [("method", m, dict(sweep.method_params.get(m, {})), None) for m in sweep.methods]
        for kind, method, params, point in settings:
            raw = sweep.base.to_dict()
            raw["data"]["tasks"] = list(tasks)
            raw["weighting"] = {"method": method, "params": params,
                                "gradients": "auto" if kind == "grid" else sweep.base.weighting.gradients}
            raw["seed"] = seed
            label = f"static {_fmt_point(point)}" if point is not None else method
            # a named sweep's runs read "<sweep> · <setting> · seed n"; an unnamed one's get the
            # telling name every run gets (data set, tasks, architecture, weights)
            raw["name"] = (f"{prefix}{label} · seed {seed}" if prefix
                           else f"{naming.run_name(raw)} · seed {seed}")
            out.append(PlannedRun(raw["name"], RunConfig.from_dict(raw).validate(), kind, method, point, seed))
    return out


# -- recording and executing --------------------------------------------------------------------
def new_group_id() -> str:
    return f"{GROUP_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def submit(sweep: SweepConfig, store: RunStore, owner_pid: int | None = None) -> str:
    """Record every planned run as queued under a new group id; returns the group id.

    `owner_pid` is the process that will execute them (this one by default): the store marks
    queued runs interrupted when their owner dies, so a crashed sweep never shows as queued forever.
    """
    runs = plan(sweep)
    group = new_group_id()
    owner = owner_pid or os.getpid()
    for r in runs:
        rid = store.create_run(r.config.to_dict(), status="queued", name=r.name, group_id=group)
        store.set_status(rid, "queued", pid=owner)
    return group


def _queued_ids(store: RunStore, group_id: str) -> list[str]:
    df = store.list_runs(status=["queued"], group_id=group_id)
    return df.sort_values(["created", "id"])["id"].tolist()


def _set_owner(store: RunStore, run_ids: Sequence[str], pid: int) -> None:
    for rid in run_ids:
        store.set_status(rid, "queued", pid=pid, host=store.host)


def _claim(store: RunStore, run_id: str) -> bool:
    """Atomically take a queued run, so two executors of one group never train the same run."""
    with store.transaction(immediate=True) as c:
        cur = c.execute("UPDATE runs SET status='running', started=?, pid=?, host=?, heartbeat=? "
                        "WHERE id=? AND status='queued'",
                        (time.time(), os.getpid(), store.host, time.time(), run_id))
        return cur.rowcount == 1


def execute_queued(db_path: str, run_id: str) -> str:
    """Train one queued run of a sweep to its end in this process; returns its final status.

    The body of every pool worker and Ray task. A run whose stop was requested while it waited is
    marked stopped without training; a run someone else already took is left alone.
    """
    store = RunStore(db_path)
    try:
        stop_requested, _, _ = store.read_control(run_id)
        if stop_requested:
            with store.transaction() as c:
                c.execute("UPDATE runs SET status='stopped', ended=? WHERE id=? AND status='queued'",
                          (time.time(), run_id))
            return "stopped"
        if not _claim(store, run_id):
            run = store.get_run(run_id)
            return run["status"] if run else "missing"
        run = store.get_run(run_id)
        assert run is not None
        from mtlcore.runner import execute  # torch is imported here, in the worker only

        execute(RunConfig.from_dict(run["config"]), store, run_id)
        final = store.get_run(run_id)
        return final["status"] if final else "missing"
    finally:
        store.close()


def _init_worker(threads: int) -> None:
    os.environ["MTL_WORKER_THREADS"] = str(threads)


Progress = Callable[[str, str], None]  # (run id, final status)


def _run_local(store: RunStore, run_ids: list[str], workers: int | None, on_done: Progress | None) -> None:
    n = max(1, min(workers or usable_cores(), len(run_ids)))
    threads = max(1, usable_cores() // n)
    # spawn, not fork: the caller may hold torch threads (tests, notebooks), which fork would copy
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(threads,))
    try:
        futures = {pool.submit(execute_queued, store.path, rid): rid for rid in run_ids}
        for fut in as_completed(futures):
            rid = futures[fut]
            try:
                status = fut.result()
            except BrokenProcessPool as exc:
                _fail_waiting(store, run_ids, f"a sweep worker process died ({exc})")
                raise
            except Exception as exc:  # a store fault inside the worker; its run is marked failed
                status = "failed"
                store.set_status(rid, "failed", error=f"{type(exc).__name__}: {exc}")
            if on_done is not None:
                on_done(rid, status)
    except BaseException:
        for rid in run_ids:
            store.request_stop(rid)  # running runs stop at their next poll, queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)
        _fail_waiting(store, run_ids, "the sweep was interrupted before this run started", status="stopped")
        raise
    pool.shutdown(wait=True)


def _fail_waiting(store: RunStore, run_ids: Sequence[str], why: str, status: str = "failed") -> None:
    """End the runs that are still queued (their executor is gone), saying why."""
    for rid in run_ids:
        run = store.get_run(rid)
        if run is not None and run["status"] == "queued":
            store.set_status(rid, status, error=why)


def run_group(store: RunStore, group_id: str, workers: int | None = None, ray_address: str | None = None,
              on_done: Progress | None = None) -> dict[str, int]:
    """Execute every queued run of a group, blocking until all have ended; returns status counts.

    Without `ray_address`, on a pool of `workers` local processes (default: one per core, each
    with its share of the cores as torch threads); with it, as Ray tasks on that cluster.
    """
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    run_ids = _queued_ids(store, group_id)
    _set_owner(store, run_ids, os.getpid())
    if run_ids:
        if ray_address:
            from mtlcore.ray_backend import run_on_ray

            run_on_ray(store.path, run_ids, ray_address, on_done=on_done)
        else:
            _run_local(store, run_ids, workers, on_done)
    return status_counts(store, group_id)


def run_sweep(sweep: SweepConfig, store: RunStore, workers: int | None = None,
              ray_address: str | None = None, on_done: Progress | None = None) -> str:
    """Plan, record and execute a sweep in this process (blocking); returns the group id."""
    group = submit(sweep, store)
    run_group(store, group, workers, ray_address, on_done)
    return group


_coordinators: list[subprocess.Popen] = []


def start_sweep(sweep: SweepConfig, store: RunStore, workers: int | None = None,
                ray_address: str | None = None) -> str:
    """Record the sweep and execute it in a detached coordinator process; returns at once.

    The coordinator is `python -m mtlcore sweep --group ...`, so a page that starts a sweep never
    trains in its own process, and the sweep outlives a restart of the page's server.
    """
    for proc in list(_coordinators):
        if proc.poll() is not None:
            _coordinators.remove(proc)
    group = submit(sweep, store)
    args = ["-m", "mtlcore", "sweep", "--db", store.path, "--group", group]
    if workers:
        args += ["--workers", str(workers)]
    if ray_address:
        args += ["--ray", ray_address]
    proc = launch.spawn(args, launch.log_dir(store.path) / f"{group}.log")
    _coordinators.append(proc)
    _set_owner(store, _queued_ids(store, group), proc.pid)
    return group


def stop_sweep(store: RunStore, group_id: str) -> int:
    """Ask every queued or running run of the group to stop; returns how many were asked."""
    active = store.list_runs(status=list(ACTIVE), group_id=group_id)
    for rid in active["id"]:
        store.request_stop(rid)
    return len(active)


def status_counts(store: RunStore, group_id: str) -> dict[str, int]:
    df = store.list_runs(group_id=group_id)
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}


def list_sweeps(store: RunStore) -> pd.DataFrame:
    """One row per sweep group: id, data set, tasks, runs, finished, active, created (newest first)."""
    df = store.list_runs()
    df = df[df["group_id"].str.startswith(GROUP_PREFIX)]
    cols = ["group_id", "dataset", "tasks", "runs", "finished", "active", "created"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby("group_id")
    out = pd.DataFrame({
        "dataset": g["dataset"].first(),
        "tasks": g["tasks"].first().map(lambda t: ", ".join(t)),
        "runs": g.size(),
        "finished": g["status"].apply(lambda s: int((s == "finished").sum())),
        "active": g["status"].apply(lambda s: int(s.isin(ACTIVE).sum())),
        "created": g["created"].min(),
    }).reset_index()
    return out.sort_values("created", ascending=False)[cols].reset_index(drop=True)


# -- results ------------------------------------------------------------------------------------
def run_setting(config: dict[str, Any]) -> tuple[str, str, tuple[float, ...] | None]:
    """(kind, label, simplex point) of a stored run's weighting."""
    w = config.get("weighting", {})
    method = w.get("method", "")
    weights = (w.get("params") or {}).get("weights")
    if method == STATIC and weights:
        total = float(sum(weights))
        point = tuple(round(float(x) / total, 6) for x in weights) if total > 0 else None
        return "grid", f"static {_fmt_point(point or weights)}", point
    return "method", method, None


def sweep_table(store: RunStore, group_id: str, split: str = "val") -> pd.DataFrame:
    """One row per run of the group with its setting and final metrics as `task/metric` columns."""
    df = store.list_runs(group_id=group_id)
    rows = []
    for r in df.sort_values(["created", "id"]).itertuples(index=False):
        kind, label, point = run_setting(r.config)
        row: dict[str, Any] = {"run_id": r.id, "name": r.name, "status": r.status, "kind": kind,
                               "label": label, "method": r.method, "point": point, "seed": r.seed,
                               "step": r.step, "total_steps": r.total_steps}
        for task, ms in ((r.summary or {}).get(split) or {}).items():
            for metric, value in ms.items():
                if metric != "loss":
                    row[f"{task}/{metric}"] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_table(table: pd.DataFrame, objectives: Sequence[str], higher_is_better: Sequence[bool],
                 average_seeds: bool = True) -> pd.DataFrame:
    """The points of a Pareto plot: finished runs (or their seed means), with `on_front` marked.

    `objectives` are `task/metric` columns of `sweep_table`. With `average_seeds`, one point per
    setting (grid point or method) holds the mean over its finished seeds and every run id.
    """
    cols = list(objectives)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ConfigError(f"no finished run reports {missing}")
    done = table[(table["status"] == "finished") & table[cols].notna().all(axis=1)]
    if done.empty:
        return pd.DataFrame(columns=["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"])
    if average_seeds:
        g = done.groupby("label", sort=False)
        points = g[cols].mean()
        points["kind"] = g["kind"].first()
        points["point"] = g["point"].first()
        points["run_ids"] = g["run_id"].apply(list)
        points["seeds"] = g["seed"].apply(list)
        points = points.reset_index()
    else:
        points = done.assign(run_ids=done["run_id"].map(lambda r: [r]), seeds=done["seed"].map(lambda s: [s]))
        points = points[["label", "kind", "point", "run_ids", "seeds", *cols]].reset_index(drop=True)
    points["on_front"] = non_dominated(points[cols].to_numpy(np.float64), list(higher_is_better))
    return points[["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"]]


def baseline_values(store: RunStore, group_id: str, split: str = "val") -> tuple[dict[str, float], list[int]]:
    """Mean `task/metric` values of the single-task baselines of the group's seeds, and the seeds
    that have no baseline yet (the page offers to train those)."""
    from mtlcore.delta_m import final_metrics, find_baselines

    runs = store.list_runs(group_id=group_id)
    if runs.empty:
        return {}, []
    one_per_seed = runs.drop_duplicates("seed")
    found = find_baselines(store, one_per_seed)
    sums: dict[str, list[float]] = {}
    missing: list[int] = []
    for r in one_per_seed.itertuples(index=False):
        base_id = found.get(r.id)
        if base_id is None:
            missing.append(int(r.seed))
            continue
        base = store.get_run(base_id)
        for task, ms in final_metrics(base or {}, split).items():
            for metric, value in ms.items():
                if math.isfinite(value):
                    sums.setdefault(f"{task}/{metric}", []).append(value)
    return {k: float(np.mean(v)) for k, v in sums.items()}, sorted(missing)


def main_objectives(dataset: str, tasks: Sequence[str]) -> tuple[list[str], list[bool]]:
    """Each task's main metric as a `task/metric` column, and whether higher is better."""
    from mtlcore.delta_m import metric_directions

    directions = metric_directions(dataset, list(tasks))
    cols = [f"{t}/{next(iter(directions[t]))}" for t in tasks]
    return cols, [directions[t][c.split("/", 1)[1]] for t, c in zip(tasks, cols)]


def group_pareto(store: RunStore, group_id: str, split: str = "val", objectives: Sequence[str] | None = None,
                 average_seeds: bool = True) -> tuple[pd.DataFrame, list[str], list[bool]]:
    """The Pareto points of a sweep group on `objectives` (default: each task's main metric)."""
    runs = store.list_runs(group_id=group_id)
    if runs.empty:
        raise ConfigError(f"no sweep '{group_id}' in {store.path}")
    dataset, tasks = runs["dataset"].iloc[0], list(runs["tasks"].iloc[0])
    from mtlcore.delta_m import metric_directions

    directions = metric_directions(dataset, tasks)
    cols = list(objectives) if objectives else main_objectives(dataset, tasks)[0]
    higher = []
    for col in cols:
        task, _, metric = col.partition("/")
        if metric not in directions.get(task, {}):
            raise ConfigError(f"'{col}' is not a task/metric of this sweep; choose from "
                              f"{[f'{t}/{m}' for t, ms in directions.items() for m in ms]}")
        higher.append(directions[task][metric])
    table = sweep_table(store, group_id, split)
    if not all(c in table.columns for c in cols):
        return pd.DataFrame(columns=["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"]), cols, higher
    return pareto_table(table, cols, higher, average_seeds), cols, higher
