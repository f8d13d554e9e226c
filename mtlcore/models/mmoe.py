"""Multi-gate Mixture-of-Experts (Ma et al. 2018): shared experts, one softmax gate per task.

Each task reads its own input-dependent mixture of the experts' outputs, so tasks that disagree can
lean on different experts while still sharing all of them. The gates read the raw input, so there
is no single representation from which every head's output follows: has_representation is False
(`expert_outputs` still exposes what the experts compute, for inspection).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, input_size, trunk_arguments
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec


class MixtureOfExpertsModel(MTLModel):
    """Shared expert trunks; per task, a softmax gate on the input and a head on the gated mixture."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        n_experts = params.pop("n_experts")
        self.check_experts(n_experts)
        self.tasks = list(tasks)
        trunk_args = trunk_arguments(params)
        self.experts = nn.ModuleList(build_trunk(input_shape=input_shape, **trunk_args) for _ in range(n_experts))
        n_in = math.prod(input_size(input_shape))
        self.gates = nn.ModuleList(self.make_gate(n_in, n_experts) for _ in self.tasks)
        out_dim = self.experts[0].out_dim
        self.heads = nn.ModuleList(TaskHead(spec, out_dim, params["head_hidden"], params["dropout"])
                                   for spec in tasks.values())

    def check_experts(self, n_experts: Any) -> None:
        if not isinstance(n_experts, int) or isinstance(n_experts, bool) or n_experts < 1:
            raise ConfigError(f"mmoe n_experts must be a whole number >= 1, got {n_experts!r}")

    def make_gate(self, n_in: int, n_experts: int) -> nn.Module:
        """One task's gate: input -> scores over the experts (softmaxed in gate_weights)."""
        return nn.Linear(n_in, n_experts)

    def mix(self, scores: torch.Tensor) -> torch.Tensor:
        """A gate's output -> the task's weights over the experts."""
        return torch.softmax(scores, dim=-1)

    def expert_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_experts, d): every expert's representation of the batch."""
        return torch.stack([expert(x) for expert in self.experts], dim=1)

    def gate_weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_experts): each task's softmax weights over the experts, per sample."""
        flat = x.flatten(1)
        return torch.stack([self.mix(gate(flat)) for gate in self.gates], dim=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        experts = self.expert_outputs(x)
        mixed = torch.bmm(self.gate_weights(x).to(experts.dtype), experts)  # (B, T, d)
        return {task: head(mixed[:, i]) for i, (task, head) in enumerate(zip(self.tasks, self.heads))}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.experts.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        i = task_position(self.tasks, task)
        return list(self.gates[i].parameters()) + list(self.heads[i].parameters())


MMOE = register(ModelInfo(
    name="mmoe",
    title="Multi-gate Mixture-of-Experts",
    summary="n_experts shared expert trunks; each task has a softmax gate (on the input) that mixes the "
            "experts' outputs for its own head. Shared: the experts; task-specific: gates and heads.",
    build=MixtureOfExpertsModel,
    params=(Param("n_experts", "int", 3, "number of shared expert trunks", low=1, high=16),)
    + TRUNK_PARAMS + HEAD_PARAMS,
    paper="Ma, Zhao, Yi, Chen, Hong & Chi, Modeling Task Relationships in Multi-task Learning with "
          "Multi-gate Mixture-of-Experts, KDD 2018",
    shares_parameters=True,
    has_representation=False,  # each head reads its own gate's mix of the experts
))
