"""CR-MOGM (Zhou et al. 2022): smooth another method's task weights with a moving average.

Stochastic multi-objective methods (MGDA, CAGrad, ...) re-solve their weights on every mini-batch,
so the weights jump with the noise; Zhou et al. show that averaging them over steps,
lambda_k = alpha lambda_{k-1} + (1 - alpha) lambda_hat_k, restores convergence. The direction is then
J^T lambda_k on the current Jacobian. The first step uses the base method's own weights (as TorchJD).

Any base whose direction is J^T w for the weights it reports can be smoothed; those are listed in
BASES (tests hold each to that). Scale: the base's (the simplex methods here are on the sum convention).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import WEIGHTINGS, Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import check_jacobian, combine

# methods whose direction is exactly J^T (their reported weights), on the Jacobian they are given
BASES = ("mgda", "cagrad", "upgrad", "dualproj", "imtl_g", "aligned_mtl", "nash_mtl", "fairgrad", "krum")


@register
class CRMOGM(GradientWeighting):
    name = "cr_mogm"
    title = "CR-MOGM"
    summary = "Another method's task weights (MGDA by default), smoothed by a moving average over steps."
    paper = ("Zhou, Zhang, Jiang, Dai, Chen & Yang, On the Convergence of Stochastic Multi-Objective Gradient "
             "Manipulation and Beyond, NeurIPS 2022")
    family = "multi-objective"
    needs = "gradients"
    formula = (r"\lambda_k = \alpha\,\lambda_{k-1} + (1 - \alpha)\,\hat\lambda_k,\ \lambda_1 = \hat\lambda_1;"
               r"\quad d = J^\top \lambda_k \quad (\hat\lambda_k \text{: the base method's weights})")
    cost = "the base method's cost plus a T-vector moving average"
    params = (
        Param("base", "choice", "mgda", choices=BASES, help="the method whose weights are smoothed"),
        Param("alpha", "float", 0.9, low=0.0, high=1.0,
              help="weight of the previous average (0 = the base method unchanged, 1 = frozen at step 1)"),
    )

    base_method: GradientWeighting

    def reset(self) -> None:
        if not hasattr(self, "base_method"):
            base = WEIGHTINGS.get(self.hp["base"]).factory(self.n_tasks)
            if not isinstance(base, GradientWeighting):
                raise ConfigError(f"cr_mogm base '{self.hp['base']}' is not a gradient method")
            self.base_method = base
            if self.generator is not None:
                base.set_generator(self.generator)
        else:
            self.base_method.reset()
        self.smoothed: np.ndarray | None = None

    def set_generator(self, generator: torch.Generator | None) -> None:
        super().set_generator(generator)
        self.base_method.set_generator(generator)

    def to(self, device: torch.device) -> "CRMOGM":
        self.base_method.to(device)
        return self

    def current_weights(self) -> list[float] | None:
        return None if self.smoothed is None else [float(w) for w in self.smoothed]

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        fresh = self.base_method.aggregate(jacobian, losses)
        if fresh.weights is None:
            raise ConfigError(f"cr_mogm: base '{self.hp['base']}' reported no task weights to smooth")
        lam_hat = fresh.weights.detach().double().cpu().numpy()
        if not np.isfinite(lam_hat).all():
            return fresh  # keep the average clean; the trainer reports the non-finite update
        alpha = self.hp["alpha"]
        self.smoothed = lam_hat if self.smoothed is None else alpha * self.smoothed + (1.0 - alpha) * lam_hat
        w = torch.as_tensor(self.smoothed.copy(), dtype=jacobian.dtype, device=jacobian.device)
        return Aggregation(combine(jacobian, self.smoothed), w)
