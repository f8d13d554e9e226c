"""Where an external run comes from (script, host, process, rank) and the config it is stored with.

An external run is one the user's own training loop records through `Session`. It is stored like
one of ours (same tables, same events), with a config of the same shape as `RunConfig.to_dict()`
(data, model, weighting, seed, device, ...) so the Runs table, Compare's config diff and its
columns work unchanged, plus an `external` block that marks it and says which script on which host
writes it. Pages test `is_external(config)` and show `external_caption(config)`. No torch import.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mtlcore.registry import ConfigError

EXTERNAL_KEY = "external"

# The metrics a task kind reports by default (mirrors mtlcore.tasks.DEFAULT_METRICS without torch):
# the main one, first, is what the live panel and Compare plot per task.
KIND_METRICS: dict[str, list[dict[str, Any]]] = {
    "classification": [{"name": "accuracy", "higher_is_better": True}],
    "regression": [{"name": "mae", "higher_is_better": False}, {"name": "rmse", "higher_is_better": False}],
    "reconstruction": [{"name": "mse", "higher_is_better": False}, {"name": "psnr", "higher_is_better": True}],
}
GOALS = {"max": True, "min": False}


@dataclass
class Origin:
    """The process that writes an external run: shown on the pages, and used to reap it when it dies."""

    script: str
    host: str
    pid: int
    argv: list[str] = field(default_factory=list)
    cwd: str = ""
    rank: int = 0
    world_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Origin":
        return cls(str(raw.get("script", "")), str(raw.get("host", "")), int(raw.get("pid", 0) or 0),
                   list(raw.get("argv", [])), str(raw.get("cwd", "")), int(raw.get("rank", 0) or 0),
                   int(raw.get("world_size", 1) or 1))


def script_name() -> str:
    """The running script's file name (`python train.py` -> train.py), or how Python was started."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        return Path(path).name
    if sys.argv and sys.argv[0] not in ("", "-c", "-m"):
        return Path(sys.argv[0]).name
    return "interactive python"


def env_rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (torchrun, SLURM); (0, 1) when alone."""
    for rank_key, size_key in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        raw = os.environ.get(rank_key, "")
        if raw.isdigit():
            size = os.environ.get(size_key, "")
            return int(raw), int(size) if size.isdigit() else int(raw) + 1
    return 0, 1


def current_origin(rank: int = 0, world_size: int = 1) -> Origin:
    return Origin(script_name(), socket.gethostname(), os.getpid(), list(sys.argv), os.getcwd(), rank, world_size)


def task_metrics(kinds: Mapping[str, str], goals: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Per task, the metrics with their direction, main one first: the `goals` the user declared
    ("task/metric" -> "max" | "min"), else the defaults of the task's kind."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, goal in goals.items():
        task, _, metric = key.partition("/")
        if not metric or task not in kinds:
            raise ConfigError(f"goal {key!r} must be 'task/metric' with a task of this session ({list(kinds)})")
        if goal not in GOALS:
            raise ConfigError(f"goal of {key!r} must be 'max' or 'min', got {goal!r}")
        out.setdefault(task, []).append({"name": metric, "higher_is_better": GOALS[goal]})
    for task, kind in kinds.items():
        if task not in out and kind in KIND_METRICS:
            out[task] = [dict(m) for m in KIND_METRICS[kind]]
    return out


def external_config(name: str, kinds: Mapping[str, str], method: str, params: Mapping[str, Any],
                    gradients: str, origin: Origin, *, heads: str = "weighted", dataset: str = "",
                    model: str = "", seed: int = 0, grad_stats_every: int = 0, goals: Mapping[str, str] | None = None,
                    hyperparameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The stored config of an external run: RunConfig's shape where a field applies, plus
    `external` (who writes it) and `hyperparameters` (whatever the user wants compared)."""
    return {
        "name": name,
        "data": {"name": dataset, "tasks": list(kinds), "params": {}, "kinds": dict(kinds),
                 "metrics": task_metrics(kinds, goals or {})},
        "model": {"architecture": model, "params": {}},
        "weighting": {"method": method, "params": dict(params), "gradients": gradients, "heads": heads},
        "seed": int(seed),
        "device": "",
        "grad_stats_every": int(grad_stats_every),
        "log_every": 1,
        "hyperparameters": dict(hyperparameters or {}),
        EXTERNAL_KEY: origin.to_dict(),
    }


def is_external(config: Mapping[str, Any] | None) -> bool:
    return bool(config) and isinstance(config.get(EXTERNAL_KEY), Mapping)  # type: ignore[union-attr]


def external_caption(config: Mapping[str, Any] | None) -> str:
    """'external run: script train.py on host gpu-3' (empty for runs our trainer makes)."""
    if not is_external(config):
        return ""
    o = Origin.from_dict(config[EXTERNAL_KEY])  # type: ignore[index]
    rank = f" (rank 0 of {o.world_size})" if o.world_size > 1 else ""
    return f"external run: script {o.script} on host {o.host}{rank}"
