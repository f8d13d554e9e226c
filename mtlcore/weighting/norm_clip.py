"""Clipping of the update's norm, as the bargaining methods' reference code does (Nash-MTL, FairGrad)."""

from __future__ import annotations

import math

import numpy as np
import torch

MAX_NORM_HELP = "clip the update's norm to this value (0 turns clipping off)"


def clip_rows(directions: torch.Tensor, weights: torch.Tensor, max_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each row's direction and weights down to max_norm (0 disables), as the reference code clips.

    directions (B, n), weights (B, T), on the Jacobian's device; a non-finite norm is left alone for
    the trainer to report.
    """
    if max_norm <= 0:
        return directions, weights
    norms = torch.linalg.vector_norm(directions, dim=1).double().cpu().numpy()  # B numbers leave the device
    factors = clip_factors(norms * norms, max_norm)
    if (factors == 1.0).all():
        return directions, weights
    factor = torch.as_tensor(factors[:, None], dtype=directions.dtype, device=directions.device)
    return directions * factor, weights * factor


def clip_factor(squared_norm: float, max_norm: float) -> float:
    """clip_factors for one row, on floats."""
    norm = math.sqrt(max(squared_norm, 0.0))
    return max_norm / norm if max_norm < norm < math.inf else 1.0


def clip_factors(squared_norms: np.ndarray, max_norm: float) -> np.ndarray:
    """Per-row factor that brings a direction of this squared norm down to max_norm (1 when within,
    or when the norm is not finite)."""
    norms = np.sqrt(np.maximum(squared_norms, 0.0))
    over = (norms > max_norm) & (norms < np.inf)
    return np.where(over, max_norm / np.where(over, norms, 1.0), 1.0)
