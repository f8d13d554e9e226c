"""Fair-share methods: weights w > 0 with G w = w^(-p), so each task's share of the update follows a
utility of its own directional derivative.

Nash-MTL (p = 1) is the Nash bargaining solution, g_i^T d = 1 / w_i; FairGrad (p = 1 / alpha)
generalises it to alpha-fairness, alpha = 1 being Nash-MTL and alpha -> 0 equal weights. Both keep
their papers' own scale (not the sum convention): the weights have units of 1 / |g|, so the
direction's norm does not grow with the gradients (Nash-MTL: T identical gradients g give
sqrt(T) g / |g|), and both are solved by a damped Newton method in T dimensions (solvers.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian_tools import (
    GramianWeighting, check_jacobian, check_jacobians, combine_batch, gramians, masked_nonfinite, row_gramians,
    small_two_task_stack, weighted_rows,
)
from mtlcore.weighting.solvers import (
    POWER_BALANCE_RIDGE, power_balance_row, power_balance_weights, two_task_power_balance,
)


def _clip(directions: torch.Tensor, weights: torch.Tensor, max_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each row's direction and weights down to max_norm (0 disables), as the reference code clips.

    directions (B, n), weights (B, T), on the Jacobian's device; a non-finite norm is left alone for
    the trainer to report.
    """
    if max_norm <= 0:
        return directions, weights
    norms = torch.linalg.vector_norm(directions, dim=1).double().cpu().numpy()  # B numbers leave the device
    factors = _clip_factors(norms * norms, max_norm)
    if (factors == 1.0).all():
        return directions, weights
    factor = torch.as_tensor(factors[:, None], dtype=directions.dtype, device=directions.device)
    return directions * factor, weights * factor


def clip_factor(squared_norm: float, max_norm: float) -> float:
    """_clip_factors for one row, on floats."""
    norm = math.sqrt(max(squared_norm, 0.0))
    return max_norm / norm if max_norm < norm < math.inf else 1.0


def _clip_factors(squared_norms: np.ndarray, max_norm: float) -> np.ndarray:
    """Per-row factor that brings a direction of this squared norm down to max_norm (1 when within,
    or when the norm is not finite)."""
    norms = np.sqrt(np.maximum(squared_norms, 0.0))
    over = (norms > max_norm) & (norms < np.inf)
    return np.where(over, max_norm / np.where(over, norms, 1.0), 1.0)


_MAX_NORM_HELP = "clip the update's norm to this value (0 turns clipping off)"


@register
class NashMTL(GradientWeighting):
    """Solve G alpha = 1 / alpha every `update_every` steps (warm-started at the last alpha).

    Between solves the last alpha is reused with the current Jacobian, as in the paper's speed-up.
    A tiny ridge keeps alpha finite at Pareto-stationary points (0 in the convex hull), where the
    bargaining problem has no solution; the update is then clipped by max_norm.
    State: alpha (one row per problem of a batch; a new batch size starts afresh) and the step count.
    Two tasks use the closed form of solvers.two_task_power_balance, vectorised over the batch.
    """

    independent_rows = True

    name = "nash_mtl"
    title = "Nash-MTL"
    summary = "Nash bargaining over the update: weights with g_i . d = 1 / alpha_i for every task."
    paper = "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022"
    family = "bargaining"
    needs = "gradients"
    formula = r"G\alpha = 1/\alpha,\ \alpha > 0;\quad d = J^\top \alpha \ \text{(norm clipped to max\_norm)}"
    cost = ("Gramian plus a few Newton steps in T dimensions (tens of microseconds; the reference code "
            "rebuilds a convex programme every step instead); T gradients per step")
    params = (
        Param("update_every", "int", 1, low=1, high=10000, help="solve for new weights every k steps"),
        Param("max_norm", "float", 1.0, low=0.0, high=1e6, help=_MAX_NORM_HELP),
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
            return self._aggregate_small(small)
        grams = None
        if self.alpha is None or self.step % self.hp["update_every"] == 0:
            grams = gramians(jacobians)
            self.alpha = self._solve(grams, self.alpha)
        self.step += 1
        max_norm = self.hp["max_norm"]
        if grams is not None and max_norm > 0:  # clip in weight space: |d|^2 = alpha^T G alpha
            squared = np.einsum("bi,bij,bj->b", self.alpha, grams, self.alpha)
            return Aggregation(*combine_batch(jacobians, self.alpha * _clip_factors(squared, max_norm)[:, None]))
        return Aggregation(*_clip(*combine_batch(jacobians, self.alpha), max_norm))

    def _aggregate_small(self, small: np.ndarray) -> Aggregation:
        """The float path of jacobian_tools for two tasks: the same closed form, warm start and clip."""
        solve = self.alpha is None or self.step % self.hp["update_every"] == 0
        self.step += 1
        kept = [(1.0, 1.0)] * small.shape[0] if self.alpha is None else [tuple(a) for a in self.alpha.tolist()]
        max_norm = self.hp["max_norm"]
        alphas, weights = [], []
        for gram, old in zip(row_gramians(small), kept):
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
        return weighted_rows(small, weights)

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
    params = (
        Param("alpha", "float", 2.0, low=0.0, high=100.0,
              help="fairness: 0 = equal weights, 1 = proportional (Nash), large = max-min"),
        Param("max_norm", "float", 0.0, low=0.0, high=1e6, help=_MAX_NORM_HELP),
    )

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        agg = super().aggregate_batch(jacobians, losses)
        if agg.weights is None:
            return agg
        return Aggregation(*_clip(agg.direction, agg.weights, self.hp["max_norm"]))

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        alpha = self.hp["alpha"]
        if alpha < 1e-3:
            return np.ones(self.n_tasks)
        return power_balance_weights(gram, 1.0 / alpha)
