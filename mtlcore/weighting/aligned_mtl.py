"""Aligned-MTL: make the task gradients orthogonal and of equal size before summing them.

The Gramian's eigendecomposition G = V diag(lambda) V^T gives the whitening B = V diag(lambda)^(-1/2)
V^T; rescaled by sqrt(lambda_min) it turns J into rows whose principal components all have the
smallest singular value, so no dominant or conflicting component survives. The condition number of
the aligned system is 1, which is the paper's stability argument.

Scale: sum convention with the preference vector 1 (T identical gradients g give T g).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import dtype_eps


def aligned_weights(gram: np.ndarray, scale_mode: str, eps: float) -> np.ndarray:
    """B 1 with B = sqrt(scale) V_r diag(lambda_r)^(-1/2) V_r^T on the numerical rank r of G.

    Eigenvalues below T * eps * lambda_max (eps of the Jacobian's dtype, which is what the Gramian's
    entries can resolve) count as zero; an all-zero Gramian gives equal weights.
    """
    t = gram.shape[0]
    lam, vec = np.linalg.eigh(gram)
    lam_max = float(lam[-1])
    keep = lam > lam_max * t * eps
    if lam_max <= 0 or not keep.any():
        return np.ones(t)
    lam_r, vec_r = lam[keep], vec[:, keep]
    if scale_mode == "min":
        scale = float(lam_r.min())
    elif scale_mode == "median":
        scale = float(np.sort(lam_r)[(lam_r.shape[0] - 1) // 2])  # lower middle: an eigenvalue itself
    else:  # "mean"
        scale = float(lam_r.mean())
    balance = np.sqrt(scale) * (vec_r / np.sqrt(lam_r)) @ vec_r.T
    return balance @ np.ones(t)


@register
class AlignedMTL(GramianWeighting):
    name = "aligned_mtl"
    title = "Aligned-MTL"
    summary = "Aligns the principal components of the task gradients to the smallest singular value."
    paper = ("Senushkin et al., Independent Component Alignment for Multi-Task Learning, CVPR 2023")
    family = "alignment"
    needs = "gradients"
    supports_representation = True
    formula = (r"G = V \Lambda V^\top,\ B = \sqrt{\lambda_{\min}}\, V \Lambda^{-1/2} V^\top,\ "
               r"d = J^\top B\,\mathbf{1}")
    cost = "Gramian plus one T x T eigendecomposition (microseconds); T gradients per step"
    params = (Param("scale", "choice", "min", choices=("min", "median", "mean"),
                    help="eigenvalue that sets the aligned size: the paper's smallest, the (lower) "
                         "median, or the mean (the authors' code)"),)

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        return aligned_weights(gram, self.hp["scale"], dtype_eps(jacobian))
