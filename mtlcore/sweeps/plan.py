"""A sweep's runs, planned as plain RunConfigs before anything is stored.

Static weights are simplex points scaled by the number of tasks, so the centre of the grid is
exactly equal weighting (every weight 1) and a learning rate tuned for EW carries over.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.sweeps.config import STATIC, SweepConfig


def simplex_grid(n_tasks: int, points_per_edge: int, corners: bool = False) -> list[tuple[float, ...]]:
    """A simplex lattice: every point whose coordinates are multiples of one step and sum to 1.

    With `corners`, coordinates are k/m (m = points_per_edge - 1), so the vertices (one task alone,
    the others at weight 0) are included; without (the default), they are (k+1)/(m+n_tasks), the
    same lattice shrunk into the interior so every task keeps a weight above 0. Two tasks give
    `points_per_edge` points, three give (m+1)(m+2)/2. Ordered by the first coordinate, rising.
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


def sweep_grid(sweep: SweepConfig) -> list[tuple[float, ...]]:
    """The simplex points of a sweep's static runs."""
    return simplex_grid(len(sweep.task_list), sweep.grid_points, sweep.corners)


def fmt_point(point: Sequence[float]) -> str:
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
            for point in sweep_grid(sweep)]
        settings += [("method", m, dict(sweep.method_params.get(m, {})), None) for m in sweep.methods]
        for kind, method, params, point in settings:
            raw = sweep.base.to_dict()
            raw["data"]["tasks"] = list(tasks)
            raw["weighting"] = {"method": method, "params": params,
                                "gradients": "auto" if kind == "grid" else sweep.base.weighting.gradients}
            raw["seed"] = seed
            label = f"static {fmt_point(point)}" if point is not None else method
            # a named sweep's runs read "<sweep> · <setting> · seed n"; an unnamed one's get the
            # telling name every run gets (data set, tasks, architecture, weights)
            raw["name"] = (f"{prefix}{label} · seed {seed}" if prefix
                           else f"{naming.run_name(raw)} · seed {seed}")
            out.append(PlannedRun(raw["name"], RunConfig.from_dict(raw).validate(), kind, method, point, seed))
    return out
