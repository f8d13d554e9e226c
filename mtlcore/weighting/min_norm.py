"""Common-descent methods built on the min-norm point of the task gradients' convex hull.

MGDA takes that point itself (a direction no task disagrees with); CAGrad looks for the best
worst-case improvement inside a ball around the mean gradient; MoCo tracks the gradients over steps
to remove the bias of doing MGDA on noisy mini-batch gradients.

Scale (the project's sum convention): simplex weights are multiplied by T, so T identical gradients
g give exactly T g, the same as equal weighting of the summed losses, and one task gives its own
gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian_tools import (
    NORMALIZATIONS, GramianWeighting, TwoTaskRule, as_tensor, check_jacobian, combine, gradient_normalizers, gramian,
    masked_nonfinite, require_batch_losses, require_losses, solver_tolerance,
)
from mtlcore.weighting.solvers import (
    cagrad_row, cagrad_weights, frank_wolfe_min_norm, min_norm_row, min_norm_weights, project_simplex, two_task_cagrad,
    two_task_min_norm,
)

_NORMALIZATION = Param(
    "normalization", "choice", "none", choices=NORMALIZATIONS,
    help="divide each gradient by 1, its norm, its loss, or loss x norm before solving "
         "(Sener & Koltun's code); the weights then apply to the raw gradients",
)


@register
class MGDA(GramianWeighting):
    """Weights found on the (optionally normalised) Gramian, applied to the raw gradients.

    With normalisation 'none' the direction is T times the min-norm point, so every task's
    directional derivative is >= |d|^2 / T >= 0. With a normalisation, Sener & Koltun apply the
    weights of the normalised problem to the unnormalised losses; that keeps their behaviour but
    not the no-conflict guarantee.
    """

    name = "mgda"
    title = "MGDA"
    summary = "Min-norm point of the convex hull of the task gradients: a direction every task agrees with."
    paper = "Sener & Koltun, Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018"
    family = "multi-objective"
    needs = "gradients"
    supports_representation = True  # on the representation this is MGDA-UB
    formula = (r"w^\star = \arg\min_{w \in \Delta_T} \Big\| \sum_i w_i \tfrac{g_i}{n_i} \Big\|^2,"
               r"\quad d = T \sum_i w^\star_i g_i")
    cost = ("one T x T Gramian of the per-task gradients plus an exact active-set solve in T dimensions "
            "(microseconds); needs T gradients per step (one batched backward)")
    params = (
        _NORMALIZATION,
        Param("solver", "choice", "exact", choices=("exact", "frank_wolfe"),
              help="exact active-set solver, or the paper's Frank-Wolfe iterations (approximate)"),
        Param("max_iter", "int", 250, low=1, high=100000, help="Frank-Wolfe iterations at most"),
        Param("tol", "float", 1e-5, low=1e-15, high=1.0, log=True, help="Frank-Wolfe stops below this step size"),
    )

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        kind = self.hp["normalization"]
        loss_values = require_losses(self.name, self.n_tasks, losses) if kind in ("loss", "loss+") else None
        scale = gradient_normalizers(kind, gram, loss_values)
        normalized = gram / np.outer(scale, scale)
        if self.hp["solver"] == "exact":
            w = min_norm_weights(normalized, solver_tolerance(jacobian))
        else:
            w = frank_wolfe_min_norm(normalized, self.hp["max_iter"], self.hp["tol"])
        return self.n_tasks * w

    def two_task_rule(self) -> TwoTaskRule | None:
        if self.hp["normalization"] != "none" or self.hp["solver"] != "exact":
            return None

        def rule(p: float, q: float, s: float) -> tuple[float, float]:
            x = min_norm_row(p, q, s)
            return 2.0 * x, 2.0 * (1.0 - x)
        return rule

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """Two tasks with the exact solver: the closed form for a whole stack at once."""
        if self.n_tasks != 2 or self.hp["solver"] != "exact":
            return super().batch_weights(grams, jacobians, losses)
        kind = self.hp["normalization"]
        loss_values = (require_batch_losses(self.name, self.n_tasks, losses, grams.shape[0])
                       if kind in ("loss", "loss+") else None)
        grams, finite = masked_nonfinite(grams)
        if kind != "none":
            with np.errstate(invalid="ignore"):
                scale = gradient_normalizers(kind, grams, loss_values)
            grams = grams / (scale[:, :, None] * scale[:, None, :])
        w = two_task_min_norm(grams)
        w *= self.n_tasks
        return w if finite is None else np.where(finite[:, None], w, 1.0)


@register
class CAGrad(GramianWeighting):
    """d = T / (1 + c) * (g0 + c |g0| g_w / |g_w|), g0 the mean gradient, w from the exact dual.

    The paper's d = g0 + c|g0| g_w/|g_w| is rescaled by T / (1 + c) so identical gradients give the
    EW sum T g; the official code divides by 1 + c^2 by default instead (a constant learning-rate
    factor). When g_w vanishes (0 in the convex hull) the perturbation is undefined and d = T g0 / (1+c).
    """

    name = "cagrad"
    title = "CAGrad"
    summary = "Best worst-task improvement within a ball of radius c|g0| around the mean gradient."
    paper = "Liu et al., Conflict-Averse Gradient Descent for Multi-task Learning, NeurIPS 2021"
    family = "multi-objective"
    needs = "gradients"
    formula = (r"\max_{d} \min_i g_i^\top d \ \text{s.t.}\ \|d - g_0\| \le c\|g_0\|;\ "
               r"d = \tfrac{T}{1+c}\Big(g_0 + c\|g_0\| \tfrac{g_w}{\|g_w\|}\Big),\ "
               r"w = \arg\min_{w\in\Delta} g_w^\top g_0 + c\|g_0\|\|g_w\|")
    cost = ("Gramian plus a one-dimensional root search whose every step is an exact T-dimensional "
            "min-norm solve (well under a millisecond at T <= 10); T gradients per step")
    params = (Param("c", "float", 0.4, low=0.0, high=100.0,
                    help="radius of the ball around the mean gradient, relative to its norm (0 = EW)"),)

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        c = self.hp["c"]
        return self.n_tasks / (1.0 + c) * cagrad_weights(gram, c, solver_tolerance(jacobian))

    def two_task_rule(self) -> TwoTaskRule | None:
        c = self.hp["c"]
        scale = self.n_tasks / (1.0 + c)

        def rule(p: float, q: float, s: float) -> tuple[float, float]:
            w1, w2 = cagrad_row(p, q, s, c) if c != 0 else (0.5, 0.5)
            return scale * w1, scale * w2
        return rule

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """Two tasks: the closed form of the one-dimensional dual for a whole stack at once."""
        if self.n_tasks != 2:
            return super().batch_weights(grams, jacobians, losses)
        c = self.hp["c"]
        grams, finite = masked_nonfinite(grams)
        w = two_task_cagrad(grams, c)
        w *= self.n_tasks / (1.0 + c)
        return w if finite is None else np.where(finite[:, None], w, 1.0)


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
