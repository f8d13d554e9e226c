"""Dynamic Weight Average: weights from how slowly each task's mean loss is falling."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, LOSS_FLOOR, RecordedLossWeighting


@register
class DynamicWeightAverage(RecordedLossWeighting):
    """Weights T * softmax(r / temperature), r_i the ratio of task i's last two mean losses.

    A task whose loss fell least (ratio near or above 1) gets the most weight. The means come from
    epochs, as in the paper, or, with `window` > 0, from consecutive windows of that many steps,
    so short runs (a few epochs) still adapt. Until two means exist, every weight is 1.
    """

    name: ClassVar[str] = "dwa"
    title: ClassVar[str] = "Dynamic Weight Average"
    summary: ClassVar[str] = ("Weights tasks by how slowly their loss is falling (ratio of the last two epoch "
                              "or window means).")
    paper: ClassVar[str] = "Liu, Johns, Davison. End-to-End Multi-Task Learning with Attention. CVPR 2019"
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = (r"w_i = T\,\frac{\exp(r_i/\tau)}{\sum_{j} \exp(r_j/\tau)}, \quad "
                              r"r_i = \frac{\bar L_i(t-1)}{\bar L_i(t-2)}, \quad w_i = 1 \text{ for } t \le 2")
    cost: ClassVar[str] = "one backward pass"
    epoch_end_only_when: ClassVar[dict[str, Any] | None] = {"window": 0}
    params: ClassVar[tuple[Param, ...]] = (
        Param("temperature", "float", 2.0, help="softmax temperature; larger keeps the weights closer to 1",
              low=0.01, high=100.0, log=True),
        Param("window", "int", 0, help="steps per averaging window; 0 averages over epochs (the paper)",
              low=0, high=1_000_000),
    )

    def reset(self) -> None:
        super().reset()
        self._means: list[torch.Tensor] = []  # the last two mean losses (CPU, float64)
        self._window_sum: torch.Tensor | None = None
        self._window_count = 0
        self._weights = torch.ones(self.n_tasks)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        result = self._weighted_sum(losses, self._weights)  # weights from completed periods only
        window = int(self.hp["window"])
        if window > 0:
            step = losses.detach().float()
            self._window_sum = step if self._window_sum is None else self._window_sum + step
            self._window_count += 1
            if self._window_count == window:
                self._push_mean(self._window_sum / window)
                self._window_sum, self._window_count = None, 0
        return result

    def end_of_epoch(self, mean_losses: torch.Tensor) -> None:
        if int(self.hp["window"]) == 0:
            self._push_mean(mean_losses)

    def _push_mean(self, mean: torch.Tensor) -> None:
        mean = mean.detach().to("cpu", torch.float64).reshape(-1)
        if mean.numel() != self.n_tasks:
            raise ConfigError(f"dwa: expected {self.n_tasks} mean losses, got {mean.numel()}")
        self._means = (self._means + [mean])[-2:]
        if len(self._means) == 2:
            older, newer = (m.clamp_min(LOSS_FLOOR) for m in self._means)
            ratio = newer / older  # float64: finite for any finite float32 losses
            self._weights = (self.n_tasks * torch.softmax(ratio / float(self.hp["temperature"]), 0)).float()

    def _planned_weights(self) -> torch.Tensor | None:
        return self._weights
