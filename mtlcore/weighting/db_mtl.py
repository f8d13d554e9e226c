"""DB-MTL: dual balancing, log losses for scale and every gradient stretched to the largest norm.

Keeps an EMA of the log-loss gradients (T x n, the size of the Jacobian) inside aggregate().
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import check_jacobian, combine, require_losses
from mtlcore.weighting.loss_based import LOSS_FLOOR


@register
class DBMTL(GradientWeighting):
    """h_i <- beta_k h_i + (1 - beta_k) grad log L_i (h starts at 0 as in the authors' code,
    beta_k = beta / k^sigma); d = max_k |h_k| * sum_i h_i / |h_i|.

    grad log L_i = g_i / L_i, with L_i floored at 1e-8. Starting h at 0 (no bias correction) makes the
    first steps small: step k's direction has norm (1 - beta^k) times that of a filled average, so
    with beta = 0.9 the first step is 10x shorter than starting h at the first gradient would give.
    No task weights (the direction mixes past gradients). State: h and the step count.
    """

    name = "db_mtl"
    title = "DB-MTL"
    summary = "Dual balancing: log losses for scale, and every gradient stretched to the largest norm."
    paper = "Lin et al., Dual-Balancing for Multi-Task Learning, 2023"
    family = "magnitude balancing"
    needs = "gradients"
    formula = (r"h_i \leftarrow \beta h_i + (1-\beta)\nabla \log L_i\ (h_i = 0\ \text{at the start});\ "
               r"d = \max_k \|h_k\| \sum_i \frac{h_i}{\|h_i\|}")
    cost = "elementwise EMA over the T x n gradients and T norms; keeps a T x n buffer; needs the losses"
    departures = (
        "As the authors' code: the gradient average starts at 0 without bias correction, so the first updates "
        "are short (step k's is 1 - beta^k of a filled average's: 10x shorter at the first step with beta 0.9). "
        "Earlier versions here started it at the first gradient.")
    params = (
        Param("beta", "float", 0.9, low=0.0, high=1.0,
              help="EMA rate of the log-loss gradients (the average starts at 0, as in the authors' code)"),
        Param("beta_sigma", "float", 0.0, low=0.0, high=2.0, help="decay exponent of the EMA rate"),
    )

    def reset(self) -> None:
        self.averaged: torch.Tensor | None = None
        self.step = 0

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        loss_values = np.maximum(require_losses(self.name, self.n_tasks, losses), LOSS_FLOOR)
        j = jacobian.detach()
        self.step += 1
        if self.averaged is None or self.averaged.shape != j.shape or self.averaged.dtype != j.dtype:
            self.averaged = torch.zeros_like(j)
        beta = self.hp["beta"] / self.step ** self.hp["beta_sigma"]
        rate = torch.as_tensor((1.0 - beta) / loss_values, dtype=j.dtype, device=j.device)[:, None]
        self.averaged.mul_(beta).addcmul_(j, rate)  # in place, no T x n temporary
        norms = torch.linalg.vector_norm(self.averaged, dim=1).double().cpu().numpy()
        scale = np.where(norms > 0, norms.max() / np.where(norms > 0, norms, 1.0), 0.0)
        return Aggregation(combine(self.averaged, scale), None)
