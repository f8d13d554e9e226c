"""GradDrop (gradient sign dropout): per coordinate keep one sign, chosen by how much of the gradient
mass has that sign."""

from __future__ import annotations

import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.draws import method_generator
from mtlcore.weighting.jacobian import check_jacobian


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
