"""Static weights: the user's own per-task weights (the Train page's sliders), changeable mid-run."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch

from mtlcore.registry import ConfigError, Param, per_task_numbers
from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, RecordedLossWeighting


@register
class StaticWeighting(RecordedLossWeighting):
    """The user's own weights (the sliders); the baseline that tuned methods must beat.

    Weights are used as given, not normalised: doubling every slider doubles the step size, exactly
    as it would in a hand-written `w1 * L1 + w2 * L2`.
    """

    name: ClassVar[str] = "static"
    title: ClassVar[str] = "Static weights"
    summary: ClassVar[str] = "Fixed per-task weights chosen by you; they can be changed while a run trains."
    paper: ClassVar[str] = ("Linear scalarisation; on how well tuned static weights do: Xin, Ghorbani, Gilmer, "
                            "Garg, Firat. Do Current Multi-Task Optimization Methods in Deep Learning Even "
                            "Help? NeurIPS 2022")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = r"\mathcal{L} = \sum_{i=1}^{T} w_i\, L_i, \qquad w_i \ge 0 \text{ set by the user}"
    cost: ClassVar[str] = "one backward pass"
    params: ClassVar[tuple[Param, ...]] = (
        Param("weights", "floats", None, help="one weight >= 0 per task, in task order; empty means all 1",
              low=0.0, per_task=True),
    )

    def reset(self) -> None:
        super().reset()
        given = self.hp["weights"]
        values = [1.0] * self.n_tasks if given is None else self._validated(given)
        self._weights = torch.tensor(values, dtype=torch.float32)

    def _validated(self, weights: Any) -> list[float]:
        values = per_task_numbers(weights, self.n_tasks, "static weights", non_negative=True)
        if not any(v > 0 for v in values):
            raise ConfigError("static weights: at least one weight must be above 0 (all are zero, nothing would train)")
        return values

    def set_weights(self, weights: Sequence[float]) -> None:
        """Live slider change: validated first, so a bad value raises and leaves the old weights in place."""
        values = self._validated(weights)
        self._weights = torch.tensor(values, dtype=torch.float32)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        return self._weighted_sum(losses, self._weights)

    def current_weights(self) -> list[float] | None:
        # The sliders may have moved since the last step; show what the next step will use.
        return [float(w) for w in self._weights]
