"""Soft parameter sharing: a network per task, pulled towards each other by an L2 penalty.

The penalty sum_{i<j} ||theta_i - theta_j||^2 equals T * sum_i ||theta_i - mean||^2, which costs one
pass over the T trunks instead of T^2 / 2 pairwise differences.
"""

from __future__ import annotations

from typing import Any

import torch

from mtlcore.models.base import ModelInfo, register
from mtlcore.models.heads import HEAD_PARAMS
from mtlcore.models.single_task import SingleTaskModel
from mtlcore.models.trunks import TRUNK_PARAMS
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec


class SoftSharingModel(SingleTaskModel):
    """Independent columns whose trunks are coupled only through `regularization()`."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        penalty = params.pop("penalty")
        if not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or penalty < 0:
            raise ConfigError(f"soft sharing penalty must be a number >= 0, got {penalty!r}")
        super().__init__(input_shape, tasks, **params)
        self.penalty = float(penalty)

    def trunk_distance(self) -> torch.Tensor:
        """sum over task pairs of the squared L2 distance between their trunks' parameters."""
        total = torch.zeros((), device=next(self.parameters()).device)
        t = len(self.trunks)
        if t < 2:
            return total
        for group in zip(*(trunk.parameters() for trunk in self.trunks)):
            stacked = torch.stack([p.float() for p in group])
            total = total + t * (stacked - stacked.mean(dim=0)).pow(2).sum()
        return total

    def regularization(self) -> torch.Tensor | None:
        if self.penalty == 0 or len(self.trunks) < 2:
            return None
        return self.penalty * self.trunk_distance()


SOFT_SHARING = register(ModelInfo(
    name="soft_sharing",
    title="Soft parameter sharing",
    summary="A network per task whose trunks are pulled together by penalty * sum over task pairs of "
            "||theta_i - theta_j||^2; no parameter is shared, so only loss-based methods apply.",
    build=SoftSharingModel,
    params=TRUNK_PARAMS + HEAD_PARAMS + (
        Param("penalty", "float", 1e-3, "strength of the L2 pull between the task trunks", low=0.0),
    ),
    paper="Duong et al., Low Resource Dependency Parsing: Cross-lingual Parameter Sharing in a Neural "
          "Network Parser, ACL 2015; Yang & Hospedales, Trace Norm Regularised Deep Multi-Task Learning, "
          "ICLR workshop 2017",
    shares_parameters=False,  # only the L2 penalty ties the task trunks
    has_representation=False,
))
