"""FairGrad: alpha-fair allocation of the update, G w = w^(-1/alpha); alpha = 1 is Nash-MTL.

Fair-share methods (Nash-MTL, FairGrad) find weights w > 0 with G w = w^(-p), so each task's share of
the update follows a utility of its own directional derivative. They keep their papers' own scale
(not the sum convention): the weights have units of 1 / |g|, so the direction's norm does not grow
with the gradients, and they are solved by a damped Newton method in T dimensions (solvers.py).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import WEIGHTED_HEADS_NOTE, Aggregation, GramianWeighting, register
from mtlcore.weighting.norm_clip import MAX_NORM_HELP, clip_rows
from mtlcore.weighting.solvers import power_balance_weights


@register
class FairGrad(GramianWeighting):
    """Solve G w = w^(-1/alpha); alpha = 0 is the limit w = 1 (equal weights, the EW sum)."""

    name = "fairgrad"
    title = "FairGrad"
    summary = "alpha-fair allocation of the update: G w = w^(-1/alpha); alpha = 1 is Nash-MTL."
    paper = "Ban & Ji, Fair Resource Allocation in Multi-Task Learning, ICML 2024"
    family = "bargaining"
    needs = "gradients"
    formula = r"G w = w^{-1/\alpha},\ w > 0;\quad d = J^\top w"
    cost = "Gramian plus a few Newton steps in T dimensions; T gradients per step"
    departures = (
        "Defaults as the official code: alpha 1, the update's norm clipped to 1 (earlier versions here: alpha 2, "
        "no clipping). Solver: the official code runs scipy's least squares on G w = w^(-1/alpha) from w = 1, "
        "which can stop short of the root; we solve it by damped Newton to 1e-10 relative. "
        + WEIGHTED_HEADS_NOTE)
    params = (
        Param("alpha", "float", 1.0, low=0.0, high=100.0,
              help="fairness: 0 = equal weights, 1 = proportional (Nash; the official code's default), "
                   "large = max-min"),
        Param("max_norm", "float", 1.0, low=0.0, high=1e6, help=MAX_NORM_HELP + "; 1 as in the official code"),
    )

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        agg = super().aggregate_batch(jacobians, losses)
        if agg.weights is None:
            return agg
        return Aggregation(*clip_rows(agg.direction, agg.weights, self.hp["max_norm"]))

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        alpha = self.hp["alpha"]
        if alpha < 1e-3:
            return np.ones(self.n_tasks)
        return power_balance_weights(gram, 1.0 / alpha)
