"""Krum (Blanchard et al. 2017): keep the task gradient that sits closest to its neighbours.

A byzantine-robust average from federated learning, offered here as TorchJD offers it: each row is
scored by the summed distances to its T - f - 2 nearest other rows (f = the number of rows that may
be adversarial), and the m lowest-scoring rows are averaged (Multi-Krum; m = 1 is Krum). In
multi-task terms a task whose gradient points away from the others is left out of the step.

Distances: the paper scores with squared distances; TorchJD 0.18 with plain distances, which can
pick a different row. Both are offered ('squared' is the default, the paper's).
Scale: sum convention, weights T / m on the selected rows, so T identical gradients give T g.
Needs at least f + 3 tasks (otherwise no row has a neighbour to be scored by).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import register
from mtlcore.weighting.jacobian_tools import GramianWeighting


def krum_weights(gram: np.ndarray, n_byzantine: int, n_selected: int, squared: bool) -> np.ndarray:
    """Simplex weights 1/m on the m rows with the lowest Krum scores (ties go to the earlier row)."""
    t = gram.shape[0]
    norms = np.diagonal(gram)
    distances = np.clip(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0, None)
    if not squared:
        distances = np.sqrt(distances)
    neighbours = t - n_byzantine - 2
    # each row's smallest entry is its distance to itself (0): skip it, sum the next `neighbours`
    scores = np.sort(distances, axis=1)[:, 1:neighbours + 1].sum(axis=1)
    chosen = np.argsort(scores, kind="stable")[:n_selected]
    weights = np.zeros(t)
    weights[chosen] = 1.0 / n_selected
    return weights


@register
class Krum(GramianWeighting):
    name = "krum"
    title = "Krum"
    summary = "Keeps the task gradient(s) closest to their neighbours and drops outliers (byzantine-robust)."
    paper = ("Blanchard, El Mhamdi, Guerraoui & Stainer, Machine Learning with Adversaries: Byzantine "
             "Tolerant Gradient Descent, NeurIPS 2017 (as offered by TorchJD)")
    family = "robust aggregation"
    needs = "gradients"
    formula = (r"s(i) = \sum_{j \in N_i} \|g_i - g_j\|^2,\ |N_i| = T - f - 2 \text{ nearest};\ "
               r"d = \tfrac{T}{m} \sum_{i \in S} g_i,\ S = m \text{ lowest scores}")
    cost = "Gramian (pairwise distances from it) and a sort in T dimensions; needs T >= f + 3"
    params = (
        Param("n_byzantine", "int", 0, low=0, high=1000, help="f: how many task gradients may be adversarial"),
        Param("n_selected", "int", 1, low=1, high=1000,
              help="m: how many best-scored gradients are averaged (1 = Krum, more = Multi-Krum)"),
        Param("distance", "choice", "squared", choices=("squared", "euclidean"),
              help="score by squared distances (the paper) or by distances (TorchJD)"),
    )

    def __init__(self, n_tasks: int, **params: Any) -> None:
        super().__init__(n_tasks, **params)
        need = self.hp["n_byzantine"] + 3
        if n_tasks < need:
            raise ConfigError(f"krum needs at least n_byzantine + 3 = {need} tasks to score each gradient "
                              f"by its neighbours; this run has {n_tasks}")
        if self.hp["n_selected"] > n_tasks:
            raise ConfigError(f"krum n_selected ({self.hp['n_selected']}) cannot exceed the number of tasks "
                              f"({n_tasks})")

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        w = krum_weights(gram, self.hp["n_byzantine"], self.hp["n_selected"], self.hp["distance"] == "squared")
        return self.n_tasks * w
