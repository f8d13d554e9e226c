"""Nash-MTL: the Nash bargaining solution over the update, g_i . d = 1 / alpha_i for every task (p = 1).

Fair-share methods (Nash-MTL, FairGrad) find weights w > 0 with G w = w^(-p), so each task's share of
the update follows a utility of its own directional derivative. They keep their papers' own scale
(not the sum convention): the weights have units of 1 / |g|, so the direction's norm does not grow
with the gradients, and they are solved by a damped Newton method in T dimensions (solvers.py).
T identical gradients g give sqrt(T) g / |g|.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import WEIGHTED_HEADS_NOTE, Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import check_jacobian, check_jacobians, combine_batch, gramians, masked_nonfinite
from mtlcore.weighting.norm_clip import MAX_NORM_HELP, clip_factor, clip_factors, clip_rows
from mtlcore.weighting.solvers import POWER_BALANCE_RIDGE, power_balance_weights
from mtlcore.weighting.two_task import (
    FloatRows,
    power_balance_row,
    row_gramians,
    small_two_task_stack,
    two_task_power_balance,
    weighted_rows,
)


@register
class NashMTL(GradientWeighting):
    """Solve G alpha = 1 / alpha every `update_every` steps (warm-started at the last alpha).

    Between solves the last alpha is reused with the current Jacobian, as in the paper's speed-up.
    A tiny ridge keeps alpha finite at Pareto-stationary points (0 in the convex hull), where the
    bargaining problem has no solution; the update is then clipped by max_norm.
    State: alpha (one row per problem of a batch; a new batch size starts afresh) and the step count.
    Two tasks use the closed form of two_task.two_task_power_balance, vectorised over the batch.
    """

    independent_rows = True

    name = "nash_mtl"
    title = "Nash-MTL"
    summary = "Nash bargaining over the update: weights with g_i . d = 1 / alpha_i for every task."
    paper = "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022"
    family = "bargaining"
    needs = "gradients"
    formula = r"G\alpha = 1/\alpha,\ \alpha > 0;\quad d = J^\top \alpha \ \text{(norm clipped to max\_norm)}"
    cost = ("Gramian plus a few Newton steps in T dimensions (tens of microseconds; the reference code builds "
            "a convex programme once and re-solves it up to 20 times a step); T gradients per step")
    departures = (
        "Solver: the reference code builds a cvxpy programme once and re-solves it up to 20 times a step (a "
        "sequential convex approximation that stops when alpha settles); we solve the same fixed point "
        "G alpha = 1/alpha by damped Newton to 1e-10 relative, with a 1e-12 relative ridge so Pareto-stationary "
        "Jacobians keep finite weights. Defaults as the reference: update every step, update norm clipped to 1. "
        + WEIGHTED_HEADS_NOTE)
    params = (
        Param("update_every", "int", 1, low=1, high=10000, help="solve for new weights every k steps"),
        Param("max_norm", "float", 1.0, low=0.0, high=1e6, help=MAX_NORM_HELP),
    )

    def reset(self) -> None:
        self.alpha: np.ndarray | None = None
        self.step = 0

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        agg = self.aggregate_batch(jacobian.unsqueeze(0))
        return Aggregation(agg.direction[0], None if agg.weights is None else agg.weights[0])

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobians(self.name, self.n_tasks, jacobians)
        if self.alpha is not None and self.alpha.shape[0] != jacobians.shape[0]:
            self.alpha = None
        small = small_two_task_stack(jacobians)
        if small is not None:
            return Aggregation(*weighted_rows(small, self.two_task_weights(small.tolist())))
        grams = None
        if self.alpha is None or self.step % self.hp["update_every"] == 0:
            grams = gramians(jacobians)
            self.alpha = self._solve(grams, self.alpha)
        self.step += 1
        max_norm = self.hp["max_norm"]
        if grams is not None and max_norm > 0:  # clip in weight space: |d|^2 = alpha^T G alpha
            squared = np.einsum("bi,bij,bj->b", self.alpha, grams, self.alpha)
            return Aggregation(*combine_batch(jacobians, self.alpha * clip_factors(squared, max_norm)[:, None]))
        return Aggregation(*clip_rows(*combine_batch(jacobians, self.alpha), max_norm))

    def two_task_weights(self, rows: FloatRows) -> list[tuple[float, float]]:
        """The float path of two_task.py: the same closed form, warm start and clip."""
        if self.alpha is not None and self.alpha.shape[0] != len(rows):
            self.alpha = None
        solve = self.alpha is None or self.step % self.hp["update_every"] == 0
        self.step += 1
        kept = [(1.0, 1.0)] * len(rows) if self.alpha is None else [tuple(a) for a in self.alpha.tolist()]
        max_norm = self.hp["max_norm"]
        alphas, weights = [], []
        for gram, old in zip(row_gramians(rows), kept):
            if gram is None:  # a non-finite row keeps its weights and is not clipped
                alphas.append(old)
                weights.append(old)
                continue
            p, q, s = gram
            a1, a2 = power_balance_row(p, q, s, POWER_BALANCE_RIDGE) if solve else old
            alphas.append((a1, a2))
            factor = clip_factor(a1 * a1 * p + 2.0 * a1 * a2 * s + a2 * a2 * q, max_norm) if max_norm > 0 else 1.0
            weights.append((a1 * factor, a2 * factor))
        self.alpha = np.array(alphas, dtype=np.float64)
        return weights

    def _solve(self, grams: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """New alpha per row, warm-started at the previous one; a non-finite row keeps it (or ones)."""
        grams, finite = masked_nonfinite(grams)
        kept = np.ones(grams.shape[:2]) if previous is None else previous
        if self.n_tasks == 2:
            fresh = two_task_power_balance(grams)
        else:
            fresh = kept.copy()
            rows = range(grams.shape[0]) if finite is None else np.flatnonzero(finite)
            for b in rows:
                fresh[b] = power_balance_weights(grams[b], 1.0, init=None if previous is None else previous[b])
        return fresh if finite is None else np.where(finite[:, None], fresh, kept)
