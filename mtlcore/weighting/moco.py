"""MoCo: MGDA on gradients tracked over steps, removing the bias of MGDA on noisy mini-batch gradients.

Scale (the project's sum convention): simplex weights are multiplied by T, so T identical gradients
g give exactly T g, the same as equal weighting of the summed losses, and one task gives its own
gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, gramian, require_losses
from mtlcore.weighting.solvers import project_simplex


@register
class MoCo(GradientWeighting):
    """Tracked gradients y_i and a projected-gradient step on the MGDA weights lambda.

    y <- y + beta_t (J - y); lambda <- Proj_simplex(lambda - gamma_t (Y Y^T + rho I) lambda);
    d = T * Y^T lambda, with beta_t = beta / k^beta_sigma and gamma_t = gamma / k^gamma_sigma at step k.
    The lambda step is not scale-free (it moves by gamma times squared gradient norms), so by default
    each gradient is first rescaled to norm L_i, as in the authors' code (normalization 'unit_loss');
    'none' is the paper's plain form. The tracker starts at the first gradient (the authors' code
    starts at zero, which only shrinks the first few directions). `weights` are T * lambda and apply
    to the tracked gradients, not J. State: y (T x n, the size of the Jacobian), lambda, the step count.
    """

    name = "moco"
    title = "MoCo"
    summary = "MGDA on gradients tracked over steps, with lambda moved by projected gradient steps."
    paper = ("Fernando et al., Mitigating Gradient Bias in Multi-objective Learning: "
             "A Provably Convergent Approach, ICLR 2023")
    family = "multi-objective"
    needs = "gradients"
    formula = (r"y_i \leftarrow y_i + \beta_k (g_i - y_i);\ "
               r"\lambda \leftarrow \Pi_\Delta\big(\lambda - \gamma_k (Y Y^\top + \rho I)\lambda\big);\ "
               r"d = T\, Y^\top \lambda")
    cost = ("Gramian of the tracked gradients and a simplex projection; keeps a T x n tracker in memory; "
            "needs the losses with the default normalisation")
    params = (
        Param("beta", "float", 0.5, low=0.0, high=1.0, help="tracking rate of the gradients"),
        Param("beta_sigma", "float", 0.5, low=0.0, high=2.0, help="decay exponent of the tracking rate"),
        Param("gamma", "float", 0.1, low=0.0, high=1e6, help="step size of the weights lambda (0 keeps them equal)"),
        Param("gamma_sigma", "float", 0.5, low=0.0, high=2.0, help="decay exponent of the weight step size"),
        Param("rho", "float", 0.0, low=0.0, high=1e6, help="ridge on the weights' subproblem"),
        Param("normalization", "choice", "unit_loss", choices=("unit_loss", "none"),
              help="rescale each gradient to norm L_i before tracking (authors' code), or not (paper)"),
    )

    def reset(self) -> None:
        self.tracked: torch.Tensor | None = None
        self.lam = np.full(self.n_tasks, 1.0 / self.n_tasks)
        self.step = 0

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        j = jacobian.detach()
        if self.hp["normalization"] == "unit_loss":
            loss_values = require_losses(self.name, self.n_tasks, losses)
            norms = torch.linalg.vector_norm(j, dim=1)
            factor = torch.as_tensor(loss_values, dtype=j.dtype, device=j.device) / torch.where(norms > 0, norms, 1)
            j = j * factor[:, None]  # a new tensor: safe to keep
        else:
            j = j.clone()
        self.step += 1
        k = self.step
        if self.tracked is None or self.tracked.shape != j.shape:
            self.tracked = j
        else:
            self.tracked.lerp_(j, self.hp["beta"] / k ** self.hp["beta_sigma"])
        yy = gramian(self.tracked)
        if np.isfinite(yy).all():
            gamma = self.hp["gamma"] / k ** self.hp["gamma_sigma"]
            self.lam = project_simplex(self.lam - gamma * ((yy + self.hp["rho"] * np.eye(self.n_tasks)) @ self.lam))
        w = self.n_tasks * self.lam
        return Aggregation(combine(self.tracked, w), as_tensor(w, jacobian))
