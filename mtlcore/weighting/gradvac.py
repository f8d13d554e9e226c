"""GradVac (gradient vaccine): raise each pairwise gradient cosine towards a running target.

Like PCGrad it only adds multiples of the original rows (a T x T coefficient matrix on the Gramian).
Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.draws import method_generator, visiting_orders
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, gramian
from mtlcore.weighting.solvers import mean_scale


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
    random_only_in_task_order = True
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
