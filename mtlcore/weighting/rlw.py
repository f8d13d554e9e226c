"""Random loss weighting: fresh random weights every step, the litmus test for tuned methods."""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, RecordedLossWeighting


@register
class RandomLossWeighting(RecordedLossWeighting):
    """Fresh random weights every step: T * softmax(eps), eps ~ N(0, I).

    The paper (and LibMTL) use softmax(eps), summing to 1; the factor T here makes the expected
    weight of every task exactly 1, so RLW is EW plus noise and shares its learning rate.
    """

    name: ClassVar[str] = "rlw"
    title: ClassVar[str] = "Random loss weighting"
    summary: ClassVar[str] = ("Draws new random weights every step (softmax of a normal draw, times T); a "
                              "litmus test for tuned methods.")
    paper: ClassVar[str] = ("Lin, Ye, Zhang, Tsang. Reasonable Effectiveness of Random Weighting: A Litmus Test "
                            "for Multi-Task Learning. TMLR 2022")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = (r"w = T\,\operatorname{softmax}(\epsilon), \quad \epsilon \sim \mathcal{N}(0, I_T) "
                              r"\text{ drawn every step}, \quad \mathcal{L} = \sum_{i} w_i L_i")
    cost: ClassVar[str] = "one backward pass"
    stochastic: ClassVar[bool] = True

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        # Drawn on the CPU with the run's generator (None falls back to torch's global one).
        draw = torch.randn(self.n_tasks, generator=self.generator)
        return self._weighted_sum(losses, self.n_tasks * torch.softmax(draw, 0))
