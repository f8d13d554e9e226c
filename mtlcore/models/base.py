"""The architecture contract shared by every multi-task model.

The trainer and the gradient methods only rely on this: per-task outputs, the split of parameters
into shared and task-specific, an optional shared representation (for representation-gradient
methods) and an optional regulariser (soft sharing's L2 penalty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from mtlcore.registry import Entry, Param, Registry
from mtlcore.tasks import TaskSpec


class MTLModel(nn.Module):
    """Base class: subclasses fill `forward_shared` / `heads` or override `forward`."""

    tasks: list[str]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rep = self.representation(x)
        return self.heads_forward(rep)

    def representation(self, x: torch.Tensor) -> Any:
        """The shared representation all heads read, or raise if the model has none."""
        raise NotImplementedError(f"{type(self).__name__} has no single shared representation")

    def heads_forward(self, rep: Any) -> dict[str, torch.Tensor]:
        return self.heads_forward_each([rep] * len(self.tasks))

    def heads_forward_each(self, reps: list[Any]) -> dict[str, torch.Tensor]:
        """Head i reads reps[i]: with one leaf copy of the representation per task, a single
        backward yields every task's gradient on the representation without a T-fold vmap."""
        raise NotImplementedError

    @property
    def has_representation(self) -> bool:
        """True when `representation` + `heads_forward` reproduce `forward` (R-mode methods)."""
        return False

    def shared_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        raise NotImplementedError

    def regularization(self) -> torch.Tensor | None:
        """An extra loss term added once per step (soft sharing), or None."""
        return None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    summary: str
    build: Callable[..., MTLModel]  # (input_shape, tasks: dict[str, TaskSpec], **params) -> model
    params: tuple[Param, ...] = ()
    paper: str = ""
    # What gradient-based weighting methods need, known before any model is built (the dashboard
    # and RunConfig.validate read them; tests check them against built models). The defaults
    # describe hard sharing; every other architecture states its own.
    shares_parameters: bool = True  # shared_parameters() is non-empty
    has_representation: bool = True  # one shared representation all heads read


ARCHITECTURES: Registry[ModelInfo] = Registry("architecture")


def register(info: ModelInfo) -> ModelInfo:
    ARCHITECTURES.add(Entry(info.name, info.title, info.summary, info.build, info.params,
                            paper=info.paper,
                            extra={"info": info, "shares_parameters": info.shares_parameters,
                                   "has_representation": info.has_representation}))
    return info


def build_model(name: str, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec],
                params: dict[str, Any] | None = None) -> MTLModel:
    from mtlcore.registry import resolve_params

    entry = ARCHITECTURES.get(name)
    full = resolve_params(entry.params, params or {}, f"architecture '{name}'")
    return entry.factory(tuple(input_shape), dict(tasks), **full)
