"""Single-task baselines: an independent network per task, trained side by side.

Nothing is shared, so each task's loss moves only its own network; summing the losses therefore
trains every network exactly as if it were alone. These are the baselines Delta-m is measured against.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, trunk_arguments
from mtlcore.tasks import TaskSpec


class SingleTaskModel(MTLModel):
    """One trunk and one head per task, with no parameter in common."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        self.tasks = list(tasks)
        trunk_args = trunk_arguments(params)
        self.trunks = nn.ModuleList(build_trunk(input_shape=input_shape, **trunk_args) for _ in self.tasks)
        self.heads = nn.ModuleList(TaskHead(spec, trunk.out_dim, params["head_hidden"], params["dropout"])
                                   for spec, trunk in zip(tasks.values(), self.trunks))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: head(trunk(x)) for task, trunk, head in zip(self.tasks, self.trunks, self.heads)}

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        i = task_position(self.tasks, task)
        return list(self.trunks[i].parameters()) + list(self.heads[i].parameters())


SINGLE_TASK = register(ModelInfo(
    name="single_task",
    title="Single-task baselines",
    summary="An independent network (same trunk and head) per task, nothing shared: the reference "
            "each multi-task result is compared with (Delta-m). Works with loss-based methods only.",
    build=SingleTaskModel,
    params=TRUNK_PARAMS + HEAD_PARAMS,
    paper="",
    shares_parameters=False,
    has_representation=False,
))
