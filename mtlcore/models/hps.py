"""Hard parameter sharing: one trunk read by every task, one head per task.

The trunk's output is the shared representation, so representation-gradient methods (MGDA-UB and
friends) can work on the (B, rep_dim) tensor instead of on every shared weight.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, build_heads, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, trunk_arguments
from mtlcore.tasks import TaskSpec


class HardSharingModel(MTLModel):
    """A trunk whose flat output every head reads: the trunk is shared, each head is its task's own."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        self.tasks = list(tasks)
        self.trunk = build_trunk(input_shape=input_shape, **trunk_arguments(params))
        self.heads = build_heads(tasks, self.trunk.out_dim, params["head_hidden"], params["dropout"])

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def heads_forward_each(self, reps: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {task: head(rep) for task, head, rep in zip(self.tasks, self.heads, reps)}

    @property
    def has_representation(self) -> bool:
        return True

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task_position(self.tasks, task)].parameters())


HPS = register(ModelInfo(
    name="hps",
    title="Hard parameter sharing",
    summary="One shared trunk feeds a small head per task; the trunk's output is a shared "
            "representation, so representation-gradient methods apply.",
    build=HardSharingModel,
    params=TRUNK_PARAMS + HEAD_PARAMS,
    shares_parameters=True,
    has_representation=True,
    paper="Caruana, Multitask Learning, Machine Learning 28 (1997); MultiLeNet trunk: Sener & Koltun, "
          "Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018",
))
