"""The few operations every gradient method does on the T x n Jacobian, done once and cheaply.

Methods that need only the Gramian touch the n-dimensional Jacobian twice, both here: one Gramian
(a T x T GEMM in the Jacobian's own dtype, so no float64 copy of J is ever made) and one weighted sum
of rows; everything in between runs in float64 on T x T (see solvers.py and base.GramianWeighting).
Also the input checks, with user-facing messages.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import ConfigError


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
