"""Equal weighting: the plain sum of the task losses, the baseline every method is compared with."""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, RecordedLossWeighting


@register
class EqualWeighting(RecordedLossWeighting):
    """Every task weight 1: the plain sum of the losses (a mean would only divide the learning rate by T)."""

    name: ClassVar[str] = "ew"
    title: ClassVar[str] = "Equal weighting"
    summary: ClassVar[str] = "Sum of the task losses, every weight 1: the baseline every method is compared with."
    paper: ClassVar[str] = ("Kurin, De Palma, Kostrikov, Whiteson, Kumar. In Defense of the Unitary "
                            "Scalarization for Deep Multi-Task Learning. NeurIPS 2022")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = r"\mathcal{L} = \sum_{i=1}^{T} L_i"
    cost: ClassVar[str] = "one backward pass"

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        return self._weighted_sum(losses, torch.ones(self.n_tasks))

    def _planned_weights(self) -> torch.Tensor | None:
        return torch.ones(self.n_tasks)
