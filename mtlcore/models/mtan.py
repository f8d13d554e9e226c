"""MTAN, multi-task attention network (Liu, Johns & Davison 2019): per-task soft attention over a
shared trunk.

The trunk is shared and computed once. Each task has an attention module at every block of it:
from the block's shared features s_k and the task's attended features of the block before (passed
through the same shared block, to match s_k's shape), a small network of two 1x1 convolutions
(dense layers on flat features) gives a mask m in (0, 1), and the task keeps m * s_k. So each task
selects the shared features it needs, block by block, and its head reads the last attended features.

Differences from the paper: the paper's shape-matching layer f is a separate shared 3x3 convolution
and its masks use batch norm; here f is the trunk's own block and there is no batch norm (one
trunk definition for every architecture, and no running statistics). On vector inputs the trunk is
an MLP and the masks are feature-wise. Shared: the trunk; task-specific: a task's attention modules
and head. Each head reads its own attended features, so has_representation is False. Cost: the
trunk runs once for the shared features and once more per task for the attention inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, input_size, trunk_arguments
from mtlcore.tasks import TaskSpec


class AttentionMask(nn.Module):
    """m = sigmoid(g([shared; task])) on the channel (or feature) axis; returns m * shared."""

    def __init__(self, channels: int, spatial: bool) -> None:
        super().__init__()
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if spatial else (lambda i, o: nn.Linear(i, o))  # noqa: E731
        self.net = nn.Sequential(layer(2 * channels, channels), nn.ReLU(), layer(channels, channels), nn.Sigmoid())

    def forward(self, shared: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([shared, task], dim=1)) * shared


class MTANModel(MTLModel):
    """A shared trunk; per task, an attention mask after every block and a head on the last one."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        self.tasks = list(tasks)
        self.trunk = build_trunk(input_shape=input_shape, **trunk_arguments(params))
        shapes = []
        with torch.no_grad():  # the feature shape after each block, from one probe sample
            h = torch.zeros((1, *input_size(input_shape)))
            for block in self.trunk.blocks:
                h = block(h)
                shapes.append(tuple(h.shape[1:]))
        self.attention = nn.ModuleList(
            nn.ModuleList(AttentionMask(shape[0], spatial=len(shape) == 3) for shape in shapes) for _ in self.tasks)
        self.heads = nn.ModuleList(TaskHead(spec, self.trunk.out_dim, params["head_hidden"]) for spec in tasks.values())

    def attended_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each task's attended features after the last block, (B, out_dim) per task."""
        shared = self.trunk.blocks[0](x)
        attended = [masks[0](shared, shared) for masks in self.attention]
        for k, block in enumerate(self.trunk.blocks[1:], start=1):
            shared = block(shared)
            attended = [masks[k](shared, block(a)) for masks, a in zip(self.attention, attended)]
        return attended

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: head(h) for task, head, h in zip(self.tasks, self.heads, self.attended_features(x))}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        i = task_position(self.tasks, task)
        return list(self.attention[i].parameters()) + list(self.heads[i].parameters())


MTAN = register(ModelInfo(
    name="mtan",
    title="Multi-task attention network (MTAN)",
    summary="One shared trunk; after each of its blocks every task applies its own learned soft mask "
            "(two 1x1 convolutions and a sigmoid) to the shared features, so each task picks what it "
            "needs. Shared: the trunk; task-specific: attention modules and heads.",
    build=MTANModel,
    params=TRUNK_PARAMS + HEAD_PARAMS,
    paper="Liu, Johns & Davison, End-to-End Multi-Task Learning with Attention, CVPR 2019",
    shares_parameters=True,
    has_representation=False,  # each head reads its own attended features
))
