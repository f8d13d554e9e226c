"""Progressive Layered Extraction (Tang et al. 2020): CGC layers stacked, joined by shared gates.

Layer 1's experts are trunks on the input; each later layer's experts are dense layers on the
previous layer's outputs. Between layers, task i's branch carries its gate's mixture and the shared
branch carries a shared gate's mixture of every expert of the layer; the last layer has no shared
gate and feeds the heads.

Which parameters are task i's own: those only task i's loss reaches, that is its head, its experts
and gate in the last layer, and its gate in the layer before (whose output only task i's last-layer
experts and gate read); with no task experts (n_specific = 0) every gate of task i. Everything else
reaches every task through the shared gates, so it is shared (one layer is CGC exactly). No single
representation: has_representation is False.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, MTLModel, register
from mtlcore.models.cgc import EXPERT_PARAMS, ExtractionLayer, expert_counts
from mtlcore.models.heads import HEAD_PARAMS, TaskHead, check_tasks, task_position
from mtlcore.models.trunks import TRUNK_PARAMS, build_trunk, input_size, trunk_arguments
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec


class PLEModel(MTLModel):
    """n_layers extraction layers; the first on the input, the others on the branches' (B, d) outputs."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        super().__init__()
        check_tasks(tasks)
        n_layers = params.pop("n_layers")
        if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
            raise ConfigError(f"ple n_layers must be a whole number >= 1, got {n_layers!r}")
        n_shared, n_specific = expert_counts(params)
        self.tasks = list(tasks)
        t = len(self.tasks)
        trunk_args = trunk_arguments(params)
        layers = [ExtractionLayer(lambda: build_trunk(input_shape=input_shape, **trunk_args),
                                  math.prod(input_size(input_shape)), t, n_shared, n_specific,
                                  shared_gate=n_layers > 1)]
        d = layers[0].shared[0].out_dim
        for k in range(1, n_layers):
            layers.append(ExtractionLayer(lambda: nn.Sequential(nn.Linear(d, d), nn.ReLU()), d, t, n_shared,
                                          n_specific, shared_gate=k < n_layers - 1))
        self.layers = nn.ModuleList(layers)
        self.heads = nn.ModuleList(TaskHead(spec, d, params["head_hidden"]) for spec in tasks.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        branches, shared = [x] * len(self.tasks), x
        for layer in self.layers:
            branches, new_shared = layer(branches, shared)
            if new_shared is not None:
                shared = new_shared
        return {task: head(h) for task, head, h in zip(self.tasks, self.heads, branches)}

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """From the top down: task i's gate output feeds only its experts and gate one layer up, and its
        experts are its own only in the last layer (below, the shared gate reads them too)."""
        i = task_position(self.tasks, task)
        last = self.layers[-1]
        own = list(self.heads[i].parameters()) + list(last.specific[i].parameters()) + list(last.gates[i].parameters())
        for below, above in zip(reversed(self.layers[:-1]), reversed(self.layers[1:])):
            if above.shared_gate is not None and len(above.specific[i]) > 0:
                break  # task i's experts above are read by the shared gate: everything below is shared
            own += list(below.gates[i].parameters())
        return own

    def shared_parameters(self) -> list[nn.Parameter]:
        own = {id(p) for task in self.tasks for p in self.task_parameters(task)}
        return [p for p in self.parameters() if id(p) not in own]


PLE = register(ModelInfo(
    name="ple",
    title="Progressive Layered Extraction (PLE)",
    summary="n_layers stacked CGC layers: shared and per-task experts, a gate per task, and a shared gate that "
            "mixes every expert for the next layer. Task-specific: heads, last-layer experts and gates, and the "
            "gates feeding them; the rest is shared.",
    build=PLEModel,
    params=(Param("n_layers", "int", 2, "stacked extraction layers (1 is CGC)", low=1, high=8),)
    + EXPERT_PARAMS + TRUNK_PARAMS + HEAD_PARAMS,
    paper="Tang, Liu, Zhao & Gong, Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) "
          "Model for Personalized Recommendations, RecSys 2020",
    shares_parameters=True,
    has_representation=False,  # each head reads its own branch
))
