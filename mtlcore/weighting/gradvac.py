"""GradVac (gradient vaccine): raise each pairwise gradient cosine towards a running target.

Like PCGrad it only adds multiples of the original rows (a T x T coefficient matrix on the Gramian).
Scale: sum convention (T identical gradients g give T g; one task gives its gradient).

Granularity: "whole" treats the shared parameters as one vector (LibMTL's and TorchJD's default);
"layer" runs the same rule on each layer's block of columns of the Jacobian with its own targets, as
the paper does (it reports finer granularity working better). The blocks' sizes come from the trainer
or the Session through `set_blocks`.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.draws import method_generator, visiting_orders
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, gramian
from mtlcore.weighting.solvers import mean_scale


@register
class GradVac(GradientWeighting):
    """GradVac on the whole shared vector, or per layer (granularity). State: the EMA targets, a T x T
    table per block."""

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
    cost = ("Gramian plus T(T-1) scalar updates in task space (one Gramian and table per layer with "
            "granularity 'layer'); keeps a T x T table of targets per block")
    departures = (
        "The paper released no code. Defaults as LibMTL and TorchJD: beta 0.5 and the whole shared vector as one "
        "block. The paper applies the rule per layer (parameter groups), reporting finer granularity working "
        "better: granularity 'layer' does that, one block per layer (a layer's weight and bias together). Every "
        "visited pair updates its target, as the paper's algorithm (LibMTL updates it only when the cosine is "
        "below the target). With 'layer' there are no task weights (each layer mixes the tasks differently), so "
        "task heads get their plain gradients.")
    params = (
        Param("beta", "float", 0.5, low=0.0, high=1.0,
              help="EMA rate of the target cosines (as in LibMTL and TorchJD)"),
        Param("granularity", "choice", "whole", choices=("whole", "layer"),
              help="whole: the shared parameters as one vector (LibMTL, TorchJD); layer: each layer on its own, "
                   "with its own targets (the paper)"),
    )
    _EPS = 1e-8  # in units of the mean gradient norm

    def reset(self) -> None:
        self.targets = np.zeros((1, self.n_tasks, self.n_tasks))  # (blocks, T, T)

    def _block_sizes(self, n: int) -> list[int]:
        if self.hp["granularity"] == "whole":
            return [n]
        if not self.blocks or sum(self.blocks) != n:
            raise ConfigError(f"gradvac: granularity 'layer' needs the sizes of the shared layers, summing to the "
                              f"Jacobian's {n} columns (got {list(self.blocks)}); the trainer and the Session "
                              "hand them over, direct callers use set_blocks(sizes)")
        return list(self.blocks)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        sizes = self._block_sizes(jacobian.shape[1])
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        parts = [jacobian[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        grams = np.stack([gramian(part) for part in parts])
        scales = np.array([mean_scale(g) for g in grams])
        usable = np.isfinite(grams).all(axis=(1, 2)) & (scales > 0)
        if self.targets.shape[0] != len(sizes):
            self.targets = np.zeros((len(sizes), self.n_tasks, self.n_tasks))
        w = np.ones((len(sizes), self.n_tasks))
        if usable.any():
            orders = visiting_orders(self.n_tasks, method_generator(self))
            normalized = np.where(usable[:, None, None], grams / np.where(usable, scales, 1.0)[:, None, None],
                                  np.eye(self.n_tasks))
            kept = self.targets[~usable].copy()  # a block without a usable Gramian keeps its targets
            w = np.where(usable[:, None], self._weights(normalized, orders), 1.0)
            self.targets[~usable] = kept
        if len(sizes) == 1:
            return Aggregation(combine(jacobian, w[0]), as_tensor(w[0], jacobian))
        return Aggregation(torch.cat([combine(part, wb) for part, wb in zip(parts, w)]), None)

    def _weights(self, g: np.ndarray, orders: np.ndarray) -> np.ndarray:
        """(K, T) row coefficients for K blocks' normalised Gramians (K, T, T), one visiting order for all."""
        t, beta, eps = self.n_tasks, self.hp["beta"], self._EPS
        coef = np.broadcast_to(np.eye(t), g.shape).copy()
        rows = np.arange(t)
        norms = np.sqrt(np.clip(np.diagonal(g, axis1=1, axis2=2), 0.0, None))  # (K, T)
        for k in range(t - 1):
            j = orders[:, k]
            cg = coef @ g
            dots = cg[:, rows, j]
            norm_i = np.sqrt(np.clip(np.einsum("bik,bik->bi", cg, coef), 0.0, None))
            norm_j = norms[:, j]
            phi = dots / (norm_i * norm_j + eps)
            target = self.targets[:, rows, j]
            hit = phi < target
            if hit.any():
                root_phi = np.sqrt(np.clip(1.0 - phi * phi, 0.0, None))
                root_target = np.sqrt(np.clip(1.0 - target * target, 0.0, None))
                step = norm_i * (target * root_phi - phi * root_target) / (norm_j * root_target + eps)
                coef[:, rows, j] += np.where(hit, step, 0.0)
            self.targets[:, rows, j] = (1.0 - beta) * target + beta * phi
        return coef.sum(axis=1)
