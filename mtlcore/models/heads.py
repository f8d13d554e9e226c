"""Task heads: map a flat representation to the output a task's loss expects.

The output convention lives here once: classification gives (B, classes) logits, regression
(B, out_dim) values (task_loss reshapes them to the target's shape), reconstruction (B, *out_shape)
values in [0, 1] through a sigmoid, matching images stored in [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

HEAD_PARAMS: tuple[Param, ...] = (
    Param("head_hidden", "int", 0, "hidden units in each task head; 0 gives a linear head", low=0, high=4096),
    Param("dropout", "float", 0.0, "dropout rate on the representation each head reads (training only; "
          "each head draws its own mask); 0 turns it off", low=0.0, high=0.9),
)


class TaskHead(nn.Module):
    """One task's head: a linear map or a one-hidden-layer MLP, then the task's output shaping."""

    def __init__(self, spec: TaskSpec, in_dim: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        check_task(spec)
        if hidden < 0:
            raise ConfigError(f"head_hidden must be >= 0, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.kind = spec.kind
        self.out_shape = tuple(spec.out_shape) if spec.kind == "reconstruction" and spec.out_shape else (spec.out_dim,)
        if hidden:
            self.net: nn.Module = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, spec.out_dim))
        else:
            self.net = nn.Linear(in_dim, spec.out_dim)

    def forward(self, rep: torch.Tensor) -> torch.Tensor:
        out = self.net(self.dropout(rep))
        if self.kind == "reconstruction":
            out = torch.sigmoid(out).reshape(out.shape[0], *self.out_shape)
        return out


def check_task(spec: TaskSpec) -> None:
    """Reject task specs a head cannot serve, naming the task."""
    if spec.out_dim < 1:
        raise ConfigError(f"task '{spec.name}' has out_dim {spec.out_dim}; it must be >= 1")
    if spec.kind == "reconstruction" and spec.out_shape and math.prod(spec.out_shape) != spec.out_dim:
        raise ConfigError(f"task '{spec.name}': out_shape {tuple(spec.out_shape)} holds "
                          f"{math.prod(spec.out_shape)} values but out_dim is {spec.out_dim}")


def build_heads(tasks: dict[str, TaskSpec], in_dim: int, hidden: int, dropout: float = 0.0) -> nn.ModuleList:
    """One head per task, in the tasks' order (a list, so any task name is allowed, dots included)."""
    check_tasks(tasks)
    return nn.ModuleList(TaskHead(spec, in_dim, hidden, dropout) for spec in tasks.values())


def check_tasks(tasks: dict[str, TaskSpec]) -> None:
    """A model needs at least one task, each a valid TaskSpec."""
    if not tasks:
        raise ConfigError("a model needs at least one task")
    for spec in tasks.values():
        if not isinstance(spec, TaskSpec):
            raise ConfigError(f"tasks must be TaskSpec objects, got {type(spec).__name__}")
        check_task(spec)


def task_position(tasks: list[str], task: str) -> int:
    """Index of `task` in a model's task order; an unknown name is a ConfigError naming the known ones."""
    try:
        return tasks.index(task)
    except ValueError:
        raise ConfigError(f"unknown task {task!r}; this model has {tasks}") from None
