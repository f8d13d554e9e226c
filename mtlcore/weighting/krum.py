"""Krum (Blanchard et al. 2017): keep the task gradient that sits closest to its neighbours.

A byzantine-robust average from federated learning, offered here as TorchJD offers it: each row is
scored by the summed distances to its T - f - 2 nearest other rows (f = the number of rows that may
be adversarial), and the m lowest-scoring rows are averaged (Multi-Krum; m = 1 is Krum). In
multi-task terms a task whose gradient points away from the others is left out of the step.

Distances: the paper scores with squared distances; TorchJD 0.18 with plain distances, which can
pick a different row. Both are offered ('squared' is the default, the paper's).
Ties: rows whose score equals the m-th lowest share the remaining places equally (TorchJD keeps one
of them, by position), so the result does not depend on the order of the tasks. With one neighbour
(T = f + 3) the two rows of the closest pair always tie and Krum averages them; with fewer than
f + 3 tasks no row has a neighbour, every score ties and the step is the plain sum (EW): with so
few tasks an outlier cannot be told apart.
Scale: sum convention, weights T / m on the selected rows, so T identical gradients give T g.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import GramianWeighting, register


def krum_weights(gram: np.ndarray, n_byzantine: int, n_selected: int, squared: bool) -> np.ndarray:
    """Simplex weights 1/m on the m rows with the lowest Krum scores; rows tied with the m-th share its
    remaining places equally."""
    t = gram.shape[0]
    norms = np.diagonal(gram)
    distances = np.clip(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0, None)  # exactly symmetric
    if not squared:
        distances = np.sqrt(distances)
    neighbours = max(t - n_byzantine - 2, 0)
    # each row's smallest entry is its distance to itself (0): skip it, sum the next `neighbours`
    scores = np.sort(distances, axis=1)[:, 1:neighbours + 1].sum(axis=1)
    cutoff = np.sort(scores)[n_selected - 1]
    better, tied = scores < cutoff, scores == cutoff
    weights = np.where(better, 1.0, 0.0)
    weights[tied] = (n_selected - better.sum()) / tied.sum()
    return weights / n_selected


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
    cost = "Gramian (pairwise distances from it) and a sort in T dimensions; scores need T >= f + 3 tasks"
    params = (
        Param("n_byzantine", "int", 0, low=0, high=1000, help="f: how many task gradients may be adversarial"),
        Param("n_selected", "int", 1, low=1, high=1000,
              help="m: how many best-scored gradients are averaged (1 = Krum, more = Multi-Krum)"),
        Param("distance", "choice", "squared", choices=("squared", "euclidean"),
              help="score by squared distances (the paper) or by distances (TorchJD)"),
    )

    def __init__(self, n_tasks: int, **params: Any) -> None:
        super().__init__(n_tasks, **params)
        if self.hp["n_selected"] > n_tasks:
            raise ConfigError(f"krum n_selected ({self.hp['n_selected']}) cannot exceed the number of tasks "
                              f"({n_tasks})")

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        w = krum_weights(gram, self.hp["n_byzantine"], self.hp["n_selected"], self.hp["distance"] == "squared")
        return self.n_tasks * w
