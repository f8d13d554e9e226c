"""What a sweep is: a base run, the tasks whose weights are swept, the grid, methods and seeds.

Why a dataclass of its own: the page, the CLI and a JSON file all describe the same sweep, and
checking it in one place (shape first, then names against the registries) means every entry point
refuses the same mistakes with the same words. No torch import until names are checked.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mtlcore.config import RunConfig, json_object, read_text
from mtlcore.registry import ConfigError, resolve_params

STATIC = "static"
MAX_RUNS = 500
POINTS_RANGE = {2: (2, 21), 3: (2, 11)}  # points per edge of the simplex, per number of tasks


def grid_size(n_tasks: int, points_per_edge: int) -> int:
    """How many points a simplex lattice with this many points per edge holds: C(m + n - 1, n - 1)."""
    return math.comb(points_per_edge - 1 + n_tasks - 1, n_tasks - 1)


@dataclass
class SweepConfig:
    """Everything a sweep needs; `mtlcore.sweeps.plan.plan` turns it into one RunConfig per run."""

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

    def run_count(self) -> int:
        """Runs this sweep starts: (grid points + methods) x seeds."""
        return (grid_size(len(self.task_list), self.grid_points) + len(self.methods)) * len(self.seeds)

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
        params = self.method_params
        if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
            raise ConfigError("method_params must map a method name to an object of its parameters")
        stray = sorted(set(self.method_params) - set(self.methods))
        if stray:
            raise ConfigError(f"method_params names method(s) {stray} that are not in methods {self.methods}")
        if (not isinstance(self.seeds, list) or not self.seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds)
                or len(set(self.seeds)) != len(self.seeds)):
            raise ConfigError(f"seeds must be a non-empty list of distinct whole numbers >= 0, got {self.seeds!r}")
        total = self.run_count()
        if total > MAX_RUNS:
            raise ConfigError(f"this sweep would start {total} runs; the limit is {MAX_RUNS} "
                              "(use fewer grid points, methods or seeds)")
        self._check_names(tasks)
        return self

    def _check_names(self, tasks: list[str]) -> None:
        from mtlcore import catalog
        from mtlcore.sweeps.delta_m import metric_directions

        metric_directions(self.base.data.name, tasks)  # raises for an unknown data set or task
        for method in self.methods:
            # an unknown name raises listing the available methods; then its parameters are checked
            specs = tuple(catalog.param_spec(s) for s in catalog.method(method)["params"])
            resolve_params(specs, self.method_params.get(method, {}), f"method '{method}'")
