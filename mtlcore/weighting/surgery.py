"""Gradient surgery: edit individual task gradients (or their components) where they conflict, then sum.

PCGrad removes from each gradient its component along every gradient it conflicts with; GradVac
instead raises each pairwise cosine towards a running target; GradDrop keeps, per coordinate, only
one sign, chosen with probability given by how much of the gradient mass has that sign.

PCGrad and GradVac only ever add multiples of the original rows, so they run on the Gramian through a
T x T coefficient matrix C (modified g_i = sum_k C_ik g_k) and cost one weighted sum of J. Visiting
orders are random, drawn from the method's generator: at T = 2 both are deterministic, and for T > 2
permuting the tasks permutes the draws, so only the distribution is permutation invariant.

Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian_tools import (
    GramianWeighting, TwoTaskRule, as_tensor, check_jacobian, combine, gramian, masked_nonfinite,
)
from mtlcore.weighting.solvers import mean_scale, pcgrad_row, two_task_pcgrad


def method_generator(method: GradientWeighting) -> torch.Generator:
    """The run's generator, or a default-seeded one kept for the method's lifetime."""
    if method.generator is None:
        method.generator = torch.Generator()
    return method.generator


def visiting_orders(n_tasks: int, generator: torch.Generator) -> np.ndarray:
    """(T, T-1): row i is a uniformly random order of the tasks other than i (one draw for all rows)."""
    keys = torch.rand((n_tasks, n_tasks), generator=generator, dtype=torch.float64)
    keys.fill_diagonal_(float("inf"))
    return torch.argsort(keys, dim=1)[:, : n_tasks - 1].numpy()


def pcgrad_weights(gram: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Coefficients of sum_i g_i^PC: step k projects every row i off its k-th task at once."""
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


def batch_visiting_orders(batch: int, n_tasks: int, generator: torch.Generator) -> np.ndarray:
    """(B, T, T-1) orders as visiting_orders, one draw for the whole stack (B = 1 draws the same numbers)."""
    keys = torch.rand((batch, n_tasks, n_tasks), generator=generator, dtype=torch.float64)
    keys.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return torch.argsort(keys, dim=2)[:, :, : n_tasks - 1].numpy()


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
    summary = "Projects each gradient off the normal plane of every gradient it conflicts with (random order)."
    paper = "Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020"
    family = "gradient surgery"
    needs = "gradients"
    stochastic = True
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


@register
class GradVac(GradientWeighting):
    """Whole-model GradVac (the paper also applies it per layer group). State: the T x T EMA targets."""

    name = "gradvac"
    title = "GradVac"
    summary = "Raises each pairwise gradient cosine towards an EMA of past cosines (gradient vaccine)."
    paper = ("Wang et al., Gradient Vaccine: Investigating and Improving Multi-task Optimization in "
             "Massively Multilingual Models, ICLR 2021")
    family = "gradient surgery"
    needs = "gradients"
    stochastic = True
    formula = (r"\text{if}\ \phi_{ij} < \hat\phi_{ij}:\ g_i \leftarrow g_i + "
               r"\frac{\|g_i\|(\hat\phi_{ij}\sqrt{1-\phi_{ij}^2} - \phi_{ij}\sqrt{1-\hat\phi_{ij}^2})}"
               r"{\|g_j\|\sqrt{1-\hat\phi_{ij}^2}} g_j;\ "
               r"\hat\phi_{ij} \leftarrow (1-\beta)\hat\phi_{ij} + \beta\phi_{ij}")
    cost = "Gramian plus T(T-1) scalar updates in task space; keeps a T x T table of targets"
    params = (Param("beta", "float", 0.5, low=0.0, high=1.0,
                    help="EMA rate of the target cosines (as in LibMTL and TorchJD)"),)
    _EPS = 1e-8  # in units of the mean gradient norm

    def reset(self) -> None:
        self.targets = np.zeros((self.n_tasks, self.n_tasks))

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        gram = gramian(jacobian)
        scale = mean_scale(gram)
        if not (np.isfinite(gram).all() and scale > 0):
            w = np.ones(self.n_tasks)
        else:
            w = self._weights(gram / scale, visiting_orders(self.n_tasks, method_generator(self)))
        return Aggregation(combine(jacobian, w), as_tensor(w, jacobian))

    def _weights(self, g: np.ndarray, orders: np.ndarray) -> np.ndarray:
        t, beta, eps = self.n_tasks, self.hp["beta"], self._EPS
        coef = np.eye(t)
        rows = np.arange(t)
        norms = np.sqrt(np.clip(np.diag(g), 0.0, None))
        for k in range(t - 1):
            j = orders[:, k]
            cg = coef @ g
            dots = cg[rows, j]
            norm_i = np.sqrt(np.clip(np.einsum("ik,ik->i", cg, coef), 0.0, None))
            norm_j = norms[j]
            phi = dots / (norm_i * norm_j + eps)
            target = self.targets[rows, j]
            hit = phi < target
            if hit.any():
                root_phi = np.sqrt(np.clip(1.0 - phi * phi, 0.0, None))
                root_target = np.sqrt(np.clip(1.0 - target * target, 0.0, None))
                step = norm_i * (target * root_phi - phi * root_target) / (norm_j * root_target + eps)
                coef[rows[hit], j[hit]] += step[hit]
            self.targets[rows, j] = (1.0 - beta) * target + beta * phi
        return coef.sum(axis=0)


@register
class GradDrop(GradientWeighting):
    """Per coordinate: purity P = (1 + sum_i g_i / sum_i |g_i|) / 2; keep positive parts where P > U,
    negative parts where P < U, U ~ uniform(0, 1).

    The paper sums the sign purity over the batch dimension of an activation; with a flat Jacobian
    the purity is per coordinate. Only the sums of the positive and negative parts are needed, so
    beyond one transient |J| the memory is O(n). `leak` lets that fraction of every gradient through
    unmasked. No task weights.
    """

    name = "graddrop"
    title = "GradDrop"
    summary = "Gradient sign dropout: per coordinate, keep one sign, chosen by the sign purity."
    paper = ("Chen et al., Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign "
             "Dropout, NeurIPS 2020")
    family = "gradient surgery"
    needs = "representation"
    supports_representation = True
    stochastic = True
    formula = (r"P = \tfrac12\Big(1 + \frac{\sum_i g_i}{\sum_i |g_i|}\Big),\ U \sim \mathcal U(0,1);\ "
               r"d = \sum_i \big(\ell + (1-\ell)[\,(P>U)(g_i>0) + (P<U)(g_i<0)\,]\big) g_i")
    cost = "elementwise over the T x n gradients (no Gramian), one uniform draw per coordinate"
    params = (Param("leak", "float", 0.0, low=0.0, high=1.0,
                    help="fraction of each gradient passed through unmasked"),)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        j = jacobian.detach()
        total = j.sum(0)
        mass = j.abs().sum(0)  # (a strided ord-1 norm over dim 0 is ~50x slower on CPU)
        positive = 0.5 * (total + mass)
        negative = total - positive
        draw = torch.rand(j.shape[1], generator=method_generator(self), dtype=j.dtype).to(j.device)
        threshold = draw.mul_(mass)  # P > U  <=>  positive > U * mass (and a zero column keeps nothing)
        kept = torch.where(positive > threshold, positive, 0).add_(torch.where(positive < threshold, negative, 0))
        leak = self.hp["leak"]
        direction = kept if leak == 0 else leak * total + (1.0 - leak) * kept
        return Aggregation(direction, None)
