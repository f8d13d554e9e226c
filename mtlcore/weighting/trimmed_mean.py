"""Coordinate-wise trimmed mean (Yin et al. 2018): in every coordinate drop the k largest and k
smallest task gradients' entries and average the rest.

A byzantine-robust average (as TorchJD offers it): a task whose gradient is extreme in a coordinate
does not move that coordinate. Not a weighting of the rows (each coordinate keeps different tasks),
so there are no task weights. Scale: sum convention (T times the trimmed mean), so T identical
gradients give T g. k is capped at (T - 1) // 2, where the trimmed mean is the coordinate-wise
median (with two tasks, their mean: the EW sum).
"""

from __future__ import annotations

import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import check_jacobian


@register
class TrimmedMean(GradientWeighting):
    name = "trimmed_mean"
    title = "Trimmed mean"
    summary = "In every coordinate, drops the k largest and k smallest task entries and averages the rest."
    paper = ("Yin, Chen, Ramchandran & Bartlett, Byzantine-Robust Distributed Learning: Towards Optimal "
             "Statistical Rates, ICML 2018 (as offered by TorchJD)")
    family = "robust aggregation"
    needs = "gradients"
    independent_rows = True
    formula = (r"d_c = \frac{T}{T - 2k} \sum_{r = k+1}^{T-k} J_{(r), c}"
               r"\quad (J_{(r), c} \text{: the } r\text{-th smallest entry of column } c)")
    cost = "a sort of every column of the T x n Jacobian (no Gramian)"
    params = (Param("trim", "int", 1, low=0, high=1000,
                    help="k: entries dropped at each end of every coordinate (0 = the plain sum; at most "
                         "(T - 1) // 2, the median)"),)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        k = min(self.hp["trim"], (self.n_tasks - 1) // 2)
        kept = torch.sort(jacobian.detach(), dim=0).values[k:self.n_tasks - k]
        return Aggregation(kept.mean(dim=0) * self.n_tasks, None)
