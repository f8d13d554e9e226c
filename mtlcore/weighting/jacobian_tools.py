"""The few operations every gradient method does on the T x n Jacobian, done once and cheaply.

Methods that need only the Gramian touch the n-dimensional Jacobian twice, both here: one Gramian
(a T x T GEMM in the Jacobian's own dtype, so no float64 copy of J is ever made) and one weighted sum
of rows; everything in between runs in float64 on T x T (see solvers.py and GramianWeighting). Also:
input checks with user-facing messages, the gradient normalisers of the MGDA family, and a tiny Adam
for the methods that learn T numbers.
"""

from __future__ import annotations

from math import isfinite
from typing import Callable

import numpy as np
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting.base import Aggregation, GradientWeighting
from mtlcore.weighting.solvers import SMALL_STACK


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


def check_jacobians(method: str, n_tasks: int, jacobians: torch.Tensor) -> None:
    """The batched form of check_jacobian: a (B, T, n) stack."""
    if not isinstance(jacobians, torch.Tensor) or jacobians.dim() != 3:
        got = tuple(jacobians.shape) if isinstance(jacobians, torch.Tensor) else type(jacobians).__name__
        raise ConfigError(f"{method}: expected a (batch, tasks, parameters) stack of Jacobians, got {got}")
    if jacobians.shape[1] != n_tasks:
        raise ConfigError(f"{method}: the Jacobians have {jacobians.shape[1]} rows but the method was built for "
                          f"{n_tasks} tasks")


def require_batch_losses(method: str, n_tasks: int, losses: torch.Tensor | None, batch: int) -> np.ndarray:
    """(B, T) task losses as float64, for the batched paths of methods that read them."""
    if losses is None:
        raise ConfigError(f"{method} needs the task losses; pass them to aggregate(jacobian, losses)")
    out = losses.detach().double().cpu().numpy()
    if out.shape != (batch, n_tasks):
        raise ConfigError(f"{method}: got losses of shape {out.shape} for {batch} problem(s) of {n_tasks} tasks")
    return out


SMALL_STACK_ELEMENTS = 4096  # a CPU stack this small is multiplied in numpy: 1 us per call instead of ~5


def _small_cpu(j: torch.Tensor) -> bool:
    """Tiny CPU stacks (the 2-D toy's B x 2 x 2) skip torch's per-call overhead; the maths is the same."""
    return j.device.type == "cpu" and j.dtype in (torch.float32, torch.float64) and j.numel() <= SMALL_STACK_ELEMENTS


def gramians(jacobians: torch.Tensor) -> np.ndarray:
    """(B, T, T) float64 Gramians of a (B, T, n) stack: one batched GEMM in J's dtype, then widened."""
    j = jacobians.detach()
    if j.dtype in (torch.float16, torch.bfloat16):
        j = j.float()
    if _small_cpu(j):
        a = j.numpy()
        g = np.matmul(a, a.transpose(0, 2, 1)).astype(np.float64, copy=False)
    else:
        g = torch.bmm(j, j.transpose(1, 2)).double().cpu().numpy()
    return 0.5 * (g + g.transpose(0, 2, 1))


def masked_nonfinite(grams: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Gramians safe for a vectorised solver (non-finite rows zeroed) and which rows those were.

    None when every row is finite (the common case, checked with two array operations); the caller
    then sets the weights of the masked rows to ones, as the row-by-row path does.
    """
    if np.isfinite(grams).all():
        return grams, None
    finite = np.isfinite(grams).all(axis=(1, 2))
    return np.where(finite[:, None, None], grams, 0.0), finite


def combine_batch(jacobians: torch.Tensor, weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions (B, n), row b = sum_i weights[b, i] J[b, i], and the weights as a tensor, both in
    J's dtype and device (the record an Aggregation of a stack holds)."""
    j = jacobians.detach()
    if _small_cpu(j):
        w = np.array(weights, dtype=j.numpy().dtype)  # a copy: the record must not alias a method's state
        return torch.from_numpy(np.matmul(w[:, None, :], j.numpy())[:, 0]), torch.from_numpy(w)
    w_t = torch.as_tensor(np.ascontiguousarray(weights), dtype=j.dtype, device=j.device)
    return torch.bmm(w_t.unsqueeze(1), j).squeeze(1), w_t


# -- two tasks on Python floats ---------------------------------------------------------------------------
# The 2-D toy asks a method for B directions from B x 2 x 2 Jacobians tens of thousands of times, where a
# numpy or torch call (1-5 us) costs more than the arithmetic it does. For such stacks (float64 on the
# CPU, two tasks, at most SMALL_STACK rows of at most TWO_TASK_WIDTH entries) the whole aggregation runs
# on floats: the three Gramian entries, the method's closed form (the row functions in solvers.py, which
# the array paths use too) and the weighted sum, a few microseconds per row instead of ~100 per call.
# float64 only, so the answer is the array path's to rounding (tests hold the two together).
TWO_TASK_WIDTH = 8

TwoTaskRule = Callable[[float, float, float], tuple[float, float]]


def small_two_task_stack(jacobians: torch.Tensor) -> np.ndarray | None:
    """The stack as a float64 array when it is small enough for the float path (see above), else None."""
    b, t, n = jacobians.shape
    if t != 2 or b > SMALL_STACK or n > TWO_TASK_WIDTH or jacobians.dtype is not torch.float64 or not jacobians.is_cpu:
        return None
    return (jacobians.detach() if jacobians.requires_grad else jacobians).numpy()


def row_gramians(stack: np.ndarray) -> list[tuple[float, float, float] | None]:
    """(|g1|^2, |g2|^2, g1 . g2) of each row of a small stack, None for a row where any of them is not
    finite (callers then use ones, as masked_nonfinite does for the array path)."""
    out: list[tuple[float, float, float] | None] = []
    for g1, g2 in stack.tolist():
        p = q = s = 0.0
        for a, b in zip(g1, g2):
            p += a * a
            q += b * b
            s += a * b
        out.append((p, q, s) if isfinite(p) and isfinite(q) and isfinite(s) else None)
    return out


def weighted_rows(stack: np.ndarray, weights: list[tuple[float, float]]) -> Aggregation:
    """Directions w1 g1 + w2 g2 of every row of a small stack, with the weights (combine_batch's arithmetic)."""
    w = np.array(weights, dtype=np.float64)
    return Aggregation(torch.from_numpy(np.matmul(w[:, None, :], stack)[:, 0]), torch.from_numpy(w))


NORMALIZATIONS = ("none", "l2", "loss", "loss+")


def gradient_normalizers(kind: str, gram: np.ndarray, losses: np.ndarray | None) -> np.ndarray:
    """Per-task divisors of Sener & Koltun's code: 1, |g_i|, L_i or L_i |g_i| (zero stays zero)."""
    norms = np.sqrt(np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0.0, None))  # (T,) or (B, T) for a stack
    if kind == "none":
        out = np.ones(norms.shape)
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

    independent_rows = True  # stateless: the rows of a batch are independent problems

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        agg = self.aggregate_batch(jacobian.unsqueeze(0), None if losses is None else losses.reshape(1, -1))
        return Aggregation(agg.direction[0], None if agg.weights is None else agg.weights[0])

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobians(self.name, self.n_tasks, jacobians)
        rule = self.two_task_rule() if self.n_tasks == 2 else None
        small = None if rule is None else small_two_task_stack(jacobians)
        if rule is not None and small is not None:
            return weighted_rows(small, [(1.0, 1.0) if g is None else rule(*g) for g in row_gramians(small)])
        direction, w = combine_batch(jacobians, self.batch_weights(gramians(jacobians), jacobians, losses))
        return Aggregation(direction, w)

    def two_task_rule(self) -> TwoTaskRule | None:
        """Weights of one two-task problem from its Gramian entries (|g1|^2, |g2|^2, g1 . g2) on floats,
        for methods whose weights then need nothing else (no losses, no state); None otherwise.

        Must give what `batch_weights` gives (it should call the same row function of solvers.py).
        """
        return None

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        raise NotImplementedError

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """(B, T) weights for (B, T, T) Gramians: `weights` row by row, ones for a non-finite Gramian.

        Methods with a vectorised solver override this (the two-task closed forms in solvers.py).
        """
        out = np.ones(grams.shape[:2])
        for b in np.flatnonzero(np.isfinite(grams).all(axis=(1, 2))):
            out[b] = self.weights(grams[b], jacobians[b], None if losses is None else losses[b])
        return out
