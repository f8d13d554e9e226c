"""Cross-stitch networks (Misra et al. 2016): a column per task, mixed after every block.

After block k each column's activation is replaced by a learned linear combination of all columns'
activations (a T x T matrix per block). Starting near the identity lets every column begin as its
task's own network and learn how much to borrow from the others.

Which parameters are shared: the cross-stitch units, and also the columns themselves. Once the
units mix them, every task's loss depends on every column (at the 0.9 / 0.1 start a task's loss
already has a gradient on the other columns), so calling a column "task-specific" would hide
conflicts from the gradient methods. Only the heads are task-specific.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, trunk_arguments
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec


def initial_mixing(n_tasks: int, self_weight: float) -> torch.Tensor:
    """T x T matrix with `self_weight` on the diagonal and rows summing to one."""
    if n_tasks == 1:
        return torch.ones(1, 1)
    off = (1.0 - self_weight) / (n_tasks - 1)
    return torch.full((n_tasks, n_tasks), off) + (self_weight - off) * torch.eye(n_tasks)


def mix_columns(mixing: torch.Tensor, columns: list[torch.Tensor]) -> list[torch.Tensor]:
    """columns'[i] = sum_j mixing[i, j] * columns[j], as one matmul that keeps channels_last layout."""
    stacked = torch.stack(columns)
    t = stacked.shape[0]
    mixing = mixing.to(stacked.dtype)
    first = columns[0]
    if first.dim() == 4 and not first.is_contiguous() and first.is_contiguous(memory_format=torch.channels_last):
        nhwc = stacked.permute(0, 1, 3, 4, 2)  # a contiguous view for channels_last inputs
        mixed = (mixing @ nhwc.reshape(t, -1)).view(nhwc.shape).permute(0, 1, 4, 2, 3)
    else:
        mixed = (mixing @ stacked.reshape(t, -1)).view(stacked.shape)
    return list(mixed.unbind(0))


class CrossStitchModel(MTLModel):
    """Columns of the same trunk, one per task, mixed by a cross-stitch unit after each block."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        self_weight = params.pop("self_weight")
        if not isinstance(self_weight, (int, float)) or not 0.0 <= self_weight <= 1.0:
            raise ConfigError(f"cross-stitch self_weight must lie in [0, 1], got {self_weight!r}")
        self.tasks = list(tasks)
        trunk_args = trunk_arguments(params)
        self.columns = nn.ModuleList(build_trunk(input_shape=input_shape, **trunk_args) for _ in self.tasks)
        n_blocks = len(self.columns[0].blocks)
        self.units = nn.ParameterList(nn.Parameter(initial_mixing(len(self.tasks), float(self_weight)))
                                      for _ in range(n_blocks))
        out_dim = self.columns[0].out_dim
        self.heads = nn.ModuleList(TaskHead(spec, out_dim, params["head_hidden"], params["dropout"])
                                   for spec in tasks.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        columns = [x] * len(self.tasks)
        for k, mixing in enumerate(self.units):
            columns = [column.blocks[k](h) for column, h in zip(self.columns, columns)]
            columns = mix_columns(mixing, columns)
        return {task: head(h) for task, head, h in zip(self.tasks, self.heads, columns)}

    def mixing_matrices(self) -> list[torch.Tensor]:
        """The learned T x T cross-stitch matrices, one per block (detached), for inspection."""
        return [m.detach().clone() for m in self.units]

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.units.parameters()) + list(self.columns.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task_position(self.tasks, task)].parameters())


CROSS_STITCH = register(ModelInfo(
    name="cross_stitch",
    title="Cross-stitch networks",
    summary="A trunk per task, with a learned T x T cross-stitch unit after each block that mixes the "
            "columns (started near the identity). Shared: the units and, since the units let every task "
            "reach every column, the columns; task-specific: the heads.",
    build=CrossStitchModel,
    params=TRUNK_PARAMS + HEAD_PARAMS + (
        Param("self_weight", "float", 0.9, "initial diagonal of each cross-stitch unit (the rest of each "
              "row is split evenly among the other tasks)", low=0.0, high=1.0),
    ),
    paper="Misra, Shrivastava, Gupta & Hebert, Cross-stitch Networks for Multi-task Learning, CVPR 2016",
    shares_parameters=True,
    has_representation=False,  # each head reads its own mixed column
))
