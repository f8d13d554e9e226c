"""Geometric loss strategy: minimise the geometric mean of the task losses."""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, LOSS_FLOOR, RecordedLossWeighting


@register
class GeometricLossStrategy(RecordedLossWeighting):
    """Total = geometric mean of the losses, computed as exp(mean log L) so it never under/overflows.

    Its gradient weights each task by total / (T L_i): small losses get large weights. A loss at or
    below LOSS_FLOOR is held at the floor and gets weight 0 (a zero loss would zero the product).
    """

    name: ClassVar[str] = "gls"
    title: ClassVar[str] = "Geometric loss strategy"
    summary: ClassVar[str] = "Minimises the geometric mean of the losses; each task's weight is inverse to its loss."
    paper: ClassVar[str] = ("Chennupati, Sistu, Yogamani, Rawashdeh. MultiNet++: Multi-Stream Feature "
                            "Aggregation and Geometric Loss Strategy for Multi-Task Learning. CVPR Workshops 2019")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = (r"\mathcal{L} = \Big( \prod_{i=1}^{T} L_i \Big)^{1/T}, \quad "
                              r"w_i = \frac{\partial \mathcal{L}}{\partial L_i} = \frac{\mathcal{L}}{T\, L_i}")
    cost: ClassVar[str] = "one backward pass"

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        above = losses.detach() > LOSS_FLOOR
        floored = torch.where(above, losses, torch.full_like(losses, LOSS_FLOOR))
        total = floored.log().mean().exp()
        weights = torch.where(above, total.detach() / (self.n_tasks * floored.detach()),
                              torch.zeros_like(floored))
        return total, self._record(weights)
