"""PCGrad (gradient surgery): remove from each gradient its component along every gradient it conflicts with.

PCGrad only ever adds multiples of the original rows, so it runs on the Gramian through a T x T
coefficient matrix C (modified g_i = sum_k C_ik g_k) and costs one weighted sum of J.
Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.draws import batch_visiting_orders, method_generator, visiting_orders
from mtlcore.weighting.jacobian import masked_nonfinite
from mtlcore.weighting.two_task import TwoTaskRule, pcgrad_row, two_task_pcgrad


def pcgrad_weights(gram: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Coefficients of sum_i g_i^PC: step k projects every row i that conflicts with its k-th task onto
    that task's normal plane (removing the conflicting component), all rows at once."""
    t = gram.shape[0]
    coef = np.eye(t)
    rows = np.arange(t)
    sq = np.diag(gram)
    for k in range(t - 1):
        j = orders[:, k]
        dots = np.einsum("ik,ik->i", coef, gram[j])  # g_i^PC . g_j
        hit = (dots < 0) & (sq[j] > 0)
        coef[rows[hit], j[hit]] -= dots[hit] / sq[j[hit]]
    return coef.sum(axis=0)


def batch_pcgrad_weights(grams: np.ndarray, orders: np.ndarray | None) -> np.ndarray:
    """pcgrad_weights for a (B, T, T) stack of Gramians and (B, T, T-1) orders, without a loop over B
    (two tasks: the closed form, no orders needed)."""
    b, t = grams.shape[:2]
    if t == 2:
        return two_task_pcgrad(grams)
    coef = np.broadcast_to(np.eye(t), (b, t, t)).copy()
    batch = np.arange(b)[:, None]
    rows = np.arange(t)[None, :]
    sq = np.diagonal(grams, axis1=1, axis2=2)
    for k in range(t - 1):
        j = orders[:, :, k]
        dots = np.einsum("bik,bik->bi", coef, grams[batch, j])  # g_i^PC . g_j, every row of every problem
        sq_j = sq[batch, j]
        hit = (dots < 0) & (sq_j > 0)
        coef[batch, rows, j] -= np.where(hit, dots / np.where(hit, sq_j, 1.0), 0.0)
    return coef.sum(axis=1)


@register
class PCGrad(GramianWeighting):
    name = "pcgrad"
    title = "PCGrad"
    summary = ("Projects each gradient onto the normal plane of every gradient it conflicts with, removing the "
               "conflicting component (random order).")
    paper = "Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020"
    family = "gradient surgery"
    needs = "gradients"
    stochastic = True
    random_only_in_task_order = True
    formula = (r"g_i \leftarrow g_i - \frac{g_i^\top g_j}{\|g_j\|^2} g_j \ \text{if}\ g_i^\top g_j < 0"
               r"\ (j \ne i\ \text{in random order});\quad d = \sum_i g_i")
    cost = "Gramian plus T(T-1) scalar updates in task space; T gradients per step"

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        orders = visiting_orders(self.n_tasks, method_generator(self))
        return pcgrad_weights(gram, orders)

    def two_task_rule(self) -> TwoTaskRule:
        return pcgrad_row  # two tasks: the visiting order is forced, nothing is drawn

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """All rows at once; a non-finite Gramian sums its rows, as the row-by-row path does."""
        orders = (batch_visiting_orders(grams.shape[0], self.n_tasks, method_generator(self))
                  if self.n_tasks > 2 else None)  # with two tasks the order is forced
        grams, finite = masked_nonfinite(grams)
        w = batch_pcgrad_weights(grams, orders)
        return w if finite is None else np.where(finite[:, None], w, 1.0)
