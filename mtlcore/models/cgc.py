"""Customized Gate Control (Tang et al. 2020): shared experts plus experts of each task's own.

MMoE lets every task mix the same experts; when tasks conflict, the shared experts are pulled both
ways (the "seesaw" the paper describes). CGC adds experts that only one task reads: task i's softmax
gate (on the input) mixes its own experts with the shared ones, and its head reads that mixture. So
the shared experts are shared; a task's experts, gate and head are its own. Each head reads its own
mixture, so there is no single representation (has_representation is False).

`ExtractionLayer` is one such layer; PLE (ple.py) stacks them, with a shared gate between layers.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, input_size, trunk_arguments
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

EXPERT_PARAMS: tuple[Param, ...] = (
    Param("n_shared", "int", 2, "experts every task reads", low=1, high=16),
    Param("n_specific", "int", 1, "experts of each task's own", low=0, high=16),
)


def mix(gate: nn.Linear, gate_input: torch.Tensor, experts: list[torch.Tensor]) -> torch.Tensor:
    """Softmax of the gate on its (flattened) input, mixing the experts' (B, d) outputs into (B, d)."""
    stacked = torch.stack(experts, dim=1)  # (B, k, d)
    weights = torch.softmax(gate(gate_input.flatten(1)), dim=-1).to(stacked.dtype)
    return torch.bmm(weights.unsqueeze(1), stacked).squeeze(1)


class ExtractionLayer(nn.Module):
    """Shared experts, each task's experts, one gate per task and (between PLE layers) a shared gate.

    Task i's gate reads task i's input and mixes [its experts, shared experts]; the shared gate reads
    the shared input and mixes every expert of the layer.
    """

    def __init__(self, make_expert: Callable[[], nn.Module], gate_in: int, n_tasks: int, n_shared: int,
                 n_specific: int, shared_gate: bool) -> None:
        super().__init__()
        self.shared = nn.ModuleList(make_expert() for _ in range(n_shared))
        self.specific = nn.ModuleList(nn.ModuleList(make_expert() for _ in range(n_specific)) for _ in range(n_tasks))
        self.gates = nn.ModuleList(nn.Linear(gate_in, n_specific + n_shared) for _ in range(n_tasks))
        self.shared_gate = nn.Linear(gate_in, n_shared + n_tasks * n_specific) if shared_gate else None

    def forward(self, task_inputs: list[torch.Tensor],
                shared_input: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        shared = [expert(shared_input) for expert in self.shared]
        every_specific: list[torch.Tensor] = []
        outputs = []
        for gate, experts, h in zip(self.gates, self.specific, task_inputs):
            own = [expert(h) for expert in experts]
            every_specific += own
            outputs.append(mix(gate, h, own + shared))
        if self.shared_gate is None:
            return outputs, None
        return outputs, mix(self.shared_gate, shared_input, every_specific + shared)


def expert_counts(params: dict[str, Any]) -> tuple[int, int]:
    n_shared, n_specific = params.pop("n_shared"), params.pop("n_specific")
    for name, value, low in (("n_shared", n_shared, 1), ("n_specific", n_specific, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
    return n_shared, n_specific


class CGCModel(MTLModel):
    """One extraction layer of trunk experts on the input, then a head per task."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        n_shared, n_specific = expert_counts(params)
        self.tasks = list(tasks)
        trunk_args = trunk_arguments(params)
        make_expert = lambda: build_trunk(input_shape=input_shape, **trunk_args)  # noqa: E731
        self.layer = ExtractionLayer(make_expert, math.prod(input_size(input_shape)), len(self.tasks),
                                     n_shared, n_specific, shared_gate=False)
        out_dim = self.layer.shared[0].out_dim
        self.heads = nn.ModuleList(TaskHead(spec, out_dim, params["head_hidden"]) for spec in tasks.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs, _ = self.layer([x] * len(self.tasks), x)
        return {task: head(h) for task, head, h in zip(self.tasks, self.heads, outputs)}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.layer.shared.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        i = task_position(self.tasks, task)
        return (list(self.layer.specific[i].parameters()) + list(self.layer.gates[i].parameters())
                + list(self.heads[i].parameters()))


CGC = register(ModelInfo(
    name="cgc",
    title="Customized Gate Control (CGC)",
    summary="Shared experts plus n_specific experts per task; each task's softmax gate (on the input) mixes "
            "its own and the shared experts for its head. Shared: the shared experts; task-specific: a task's "
            "experts, gate and head.",
    build=CGCModel,
    params=EXPERT_PARAMS + TRUNK_PARAMS + HEAD_PARAMS,
    paper="Tang, Liu, Zhao & Gong, Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) "
          "Model for Personalized Recommendations, RecSys 2020",
    shares_parameters=True,
    has_representation=False,  # each head reads its own gate's mixture
))
