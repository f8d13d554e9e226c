"""A tiny Adam on a float64 vector, for the gradient methods that learn T numbers (GradNorm, IMTL)."""

from __future__ import annotations

import numpy as np


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
