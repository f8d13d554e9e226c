"""The few operations every gradient method does on the T x n Jacobian, done once and cheaply.

Methods that need only the Gramian touch the n-dimensional Jacobian twice, both here: one Gramian
(a T x T GEMM in the Jacobian's own dtype, so no float64 copy of J is ever made) and one weighted sum
of rows; everything in between runs in float64 on T x T (see solvers.py and GramianWeighting). Also:
input checks with user-facing messages, the gradient normalisers of the MGDA family, and a tiny Adam
for the methods that learn T numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting.base import Aggregation, GradientWeighting


def check_jacobian(method: str, n_tasks: int, jacobian: torch.Tensor) -> None:
    if not isinstance(jacobian, torch.Tensor) or jacobian.dim() != 2:
        raise ConfigError(f"{method}: expected a (tasks, parameters) Jacobian matrix, got "
                          f"{tuple(jacobian.shape) if isinstance(jacobian, torch.Tensor) else type(jacobian).__name__}")
    if jacobian.shape[0] != n_tasks:
        raise ConfigError(f"{method}: the Jacobian has {jacobian.shape[0]} rows but the method was built for "
                          f"{n_tasks} tasks")


def require_losses(method: str, n_tasks: int, losses: torch.Tensor | None) -> np.ndarray:
    """Task losses as float64 (methods that read them cannot run without them)."""
    if losses is None:
        raise ConfigError(f"{method} needs the task losses; pass them to aggregate(jacobian, losses)")
    out = losses.detach().reshape(-1).double().cpu().numpy()
    if out.shape[0] != n_tasks:
        raise ConfigError(f"{method}: got {out.shape[0]} losses for {n_tasks} tasks")
    return out


def gramian(jacobian: torch.Tensor) -> np.ndarray:
    """G = J J^T as a symmetric float64 array (the GEMM runs in J's dtype, then is widened)."""
    j = jacobian.detach()
    if j.dtype in (torch.float16, torch.bfloat16):
        j = j.float()
    g = (j @ j.T).double().cpu().numpy()
    return 0.5 * (g + g.T)


def dtype_eps(jacobian: torch.Tensor) -> float:
    """Relative precision of the Jacobian's entries, which bounds what a rank or a zero can mean."""
    return float(torch.finfo(jacobian.dtype).eps) if jacobian.dtype.is_floating_point else 1e-7


def solver_tolerance(jacobian: torch.Tensor) -> float:
    """KKT tolerance for the T x T solvers: exact in float64, matched to the data's precision else."""
    return 1e-12 if jacobian.dtype == torch.float64 else 10.0 * dtype_eps(jacobian)


def combine(jacobian: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """sum_i weights[i] * J[i], in J's dtype and device."""
    w = torch.as_tensor(np.ascontiguousarray(weights), dtype=jacobian.dtype, device=jacobian.device)
    return w @ jacobian.detach()


def as_tensor(weights: np.ndarray, jacobian: torch.Tensor) -> torch.Tensor:
    """Weights for the Aggregation record, in J's dtype and device."""
    return torch.as_tensor(np.ascontiguousarray(weights), dtype=jacobian.dtype, device=jacobian.device)


NORMALIZATIONS = ("none", "l2", "loss", "loss+")


def gradient_normalizers(kind: str, gram: np.ndarray, losses: np.ndarray | None) -> np.ndarray:
    """Per-task divisors of Sener & Koltun's code: 1, |g_i|, L_i or L_i |g_i| (zero stays zero)."""
    t = gram.shape[0]
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    if kind == "none":
        out = np.ones(t)
    elif kind == "l2":
        out = norms
    elif kind == "loss":
        out = np.asarray(losses, dtype=np.float64)
    elif kind == "loss+":
        out = np.asarray(losses, dtype=np.float64) * norms
    else:
        raise ConfigError(f"unknown gradient normalisation {kind!r}; choose one of {list(NORMALIZATIONS)}")
    return np.where(out > 1e-30, out, 1.0)


class VectorAdam:
    """Adam on a float64 vector: for methods that learn T numbers from a closed-form gradient.

    GradNorm's and IMTL-L's gradients carry the scale of the task gradients or losses; Adam's
    per-coordinate normalisation makes one learning rate work whatever that scale is.
    """

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t = 0

    def step(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(x), np.zeros_like(x)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        m_hat = self.m / (1 - b1 ** self.t)
        v_hat = self.v / (1 - b2 ** self.t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class GramianWeighting(GradientWeighting):
    """A method whose weights depend on the Jacobian only through its Gramian (and the losses).

    Subclasses implement `weights`; the direction is then w^T J. A non-finite Gramian skips the
    solver and sums the rows, so the non-finite update surfaces where the trainer checks for it.
    """

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        gram = gramian(jacobian)
        if np.isfinite(gram).all():
            w = self.weights(gram, jacobian, losses)
        else:
            w = np.ones(self.n_tasks)
        return Aggregation(combine(jacobian, w), as_tensor(w, jacobian))

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        raise NotImplementedError
