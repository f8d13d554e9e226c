"""Uncertainty weighting: learned per-task log-variances, optimised with the model."""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, RecordedLossWeighting


@register
class UncertaintyWeighting(RecordedLossWeighting):
    """Learned per-task log-variances s_i: total = sum(exp(-s_i) L_i + s_i), weight exp(-s_i).

    This is twice Kendall et al.'s regression form (L / 2 sigma^2 + log sigma), used for every task
    as LibMTL does. Kendall et al.'s classification term is different: exp(-s) L + s / 2, whose optimum
    is exp(s) = 2 L (weight 1 / (2 L)); it is not what this method computes. The factor 2 makes UW
    start at weight 1, identical to EW, instead of 1/2; the optimum of the regression form is the same
    (exp(s_i) = L_i, so each weight tends to 1 / L_i). The s_i are handed to the model's optimiser
    through `parameters()`, as in the paper.
    """

    name: ClassVar[str] = "uw"
    title: ClassVar[str] = "Uncertainty weighting"
    summary: ClassVar[str] = ("Learns one log-variance per task; each weight tends to 1 / loss, so tasks on "
                              "larger scales are damped.")
    paper: ClassVar[str] = ("Kendall, Gal, Cipolla. Multi-Task Learning Using Uncertainty to Weigh Losses for "
                            "Scene Geometry and Semantics. CVPR 2018")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = (r"\mathcal{L} = \sum_{i=1}^{T} \left( e^{-s_i} L_i + s_i \right), \quad "
                              r"s_i = \log \sigma_i^2 \text{ learned}, \quad w_i = e^{-s_i}")
    cost: ClassVar[str] = "one backward pass (T extra learned scalars)"
    departures: ClassVar[str] = (
        "One form for every task: e^{-s} L + s, twice Kendall et al.'s regression term (as LibMTL uses for all "
        "tasks). Kendall et al.'s classification term is e^{-s} L + s/2 (its weights tend to 1/(2L), not 1/L); "
        "it is not used here.")
    params: ClassVar[tuple[Param, ...]] = (
        Param("init", "float", 0.0, help="starting log-variance s of every task (0 means weight 1)",
              low=-10.0, high=10.0),
    )

    _device: torch.device = torch.device("cpu")
    log_variance: torch.nn.Parameter

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "log_variance"):
            # Refill in place: an optimiser built on parameters() keeps pointing at this tensor.
            with torch.no_grad():
                self.log_variance.fill_(float(self.hp["init"]))
            self.log_variance.grad = None
        else:
            self.log_variance = torch.nn.Parameter(torch.full((self.n_tasks,), float(self.hp["init"]),
                                                              device=self._device))

    def to(self, device: torch.device | str) -> "UncertaintyWeighting":  # type: ignore[override]
        """Move s before the optimiser is built (the trainer calls this right after `create`)."""
        self._device = torch.device(device)
        self.log_variance = torch.nn.Parameter(self.log_variance.detach().to(self._device))
        return self

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        s = self.log_variance.to(losses.device)
        weights = torch.exp(-s)
        total = (weights * losses).sum() + s.sum()
        return total, self._record(weights)

    def _planned_weights(self) -> torch.Tensor | None:
        return torch.exp(-self.log_variance.detach())
