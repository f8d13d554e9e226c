"""Defaults and rules matched to the methods' official code (issue 15): FairGrad and FAMO defaults,
DB-MTL's gradient average from zero, GradVac per layer as in its paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting import create
from tests.test_weighting_gradient import make, random_jacobian

# thousands of tiny tensor ops: one torch thread (see conftest)
pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_db_mtl_average_starts_at_zero_as_the_authors_code() -> None:
    """A few steps against the recursion written out by hand: h_0 = 0, h_k = b_k h_{k-1} + (1 - b_k) g_k / L_k
    with b_k = beta / k^sigma, d_k = max_i |h_k,i| sum_i h_k,i / |h_k,i|."""
    beta, sigma = 0.9, 0.5
    method = create("db_mtl", 3, beta=beta, beta_sigma=sigma)
    h = np.zeros((3, 30))
    for k in range(1, 6):
        jac = random_jacobian(3, 30, seed=40 + k)
        losses = torch.tensor([0.5 * k, 2.0, 1.0 / k], dtype=torch.float64)
        b = beta / k ** sigma
        h = b * h + (1 - b) * jac.numpy() / losses.numpy()[:, None]
        norms = np.linalg.norm(h, axis=1)
        expected = norms.max() * (h / norms[:, None]).sum(0)
        np.testing.assert_allclose(method.aggregate(jac, losses).direction.numpy(), expected, rtol=1e-12)
    # the first step of a fresh method is (1 - beta) times the filled average's: 10x shorter at beta = 0.9
    jac, losses = random_jacobian(3, 30, seed=7), torch.ones(3, dtype=torch.float64)
    first = create("db_mtl", 3).aggregate(jac, losses).direction
    filled = create("db_mtl", 3, beta=0.0).aggregate(jac, losses).direction
    torch.testing.assert_close(first, 0.1 * filled)


def test_fairgrad_and_famo_defaults_are_the_official_codes() -> None:
    """FairGrad: alpha 1, update clipped to norm 1; FAMO: gamma 0.01, max_norm 1 (issue 15)."""
    fair = create("fairgrad", 3)
    assert (fair.hp["alpha"], fair.hp["max_norm"]) == (1.0, 1.0)
    famo = create("famo", 3)
    assert (famo.hp["gamma"], famo.hp["max_norm"]) == (0.01, 1.0)
    jac = 10.0 * random_jacobian(3, 30, seed=8)
    clipped = fair.aggregate(jac)
    free = create("fairgrad", 3, max_norm=0.0).aggregate(jac)
    assert float(free.direction.norm()) > 1.0
    torch.testing.assert_close(clipped.direction, free.direction / free.direction.norm())
    torch.testing.assert_close(clipped.weights, free.weights / free.direction.norm())


def _gradvac_by_hand(jac: np.ndarray, bounds: list[tuple[int, int]], targets: np.ndarray, orders: np.ndarray,
                     beta: float) -> np.ndarray:
    """The paper's rule written out per task, per visited task, per layer block (the loops of its algorithm)."""
    pc = jac.copy()
    for i in range(jac.shape[0]):
        for j in orders[i]:
            for k, (a, b) in enumerate(bounds):
                gi, gj = pc[i, a:b], jac[j, a:b]
                phi = gi @ gj / (np.linalg.norm(gi) * np.linalg.norm(gj))
                target = targets[k, i, j]
                if phi < target:
                    pc[i, a:b] = gi + gj * np.linalg.norm(gi) * (
                        target * np.sqrt(1 - phi ** 2) - phi * np.sqrt(1 - target ** 2)) / (
                        np.linalg.norm(gj) * np.sqrt(1 - target ** 2))
                targets[k, i, j] = (1 - beta) * target + beta * phi
    return pc.sum(0)


def test_gradvac_per_layer_follows_the_papers_rule_on_each_block() -> None:
    from mtlcore.weighting.draws import visiting_orders

    sizes, beta = [7, 3, 12], 0.3
    bounds = list(zip(np.cumsum([0] + sizes[:-1]), np.cumsum(sizes)))
    method = make("gradvac", 3, seed=5, beta=beta, granularity="layer")
    method.set_blocks(sizes)
    orders_gen = torch.Generator().manual_seed(5)
    targets = np.zeros((3, 3, 3))
    for step in range(4):
        jac = random_jacobian(3, sum(sizes), seed=60 + step)
        expected = _gradvac_by_hand(jac.numpy(), bounds, targets, visiting_orders(3, orders_gen), beta)
        agg = method.aggregate(jac)
        assert agg.weights is None  # each layer mixes the tasks differently
        # ours adds eps = 1e-8 (of the block's mean gradient norm) to the denominators, the hand loop none
        np.testing.assert_allclose(agg.direction.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(method.targets, targets, rtol=1e-5, atol=1e-7)
    # one block spanning everything is the whole-model rule
    whole, one = make("gradvac", 3, seed=2), make("gradvac", 3, seed=2, granularity="layer")
    one.set_blocks([22])
    for step in range(3):
        jac = random_jacobian(3, 22, seed=70 + step)
        torch.testing.assert_close(one.aggregate(jac).direction, whole.aggregate(jac).direction, rtol=1e-13, atol=0)


def test_gradvac_per_layer_needs_the_layer_sizes() -> None:
    method = create("gradvac", 2, granularity="layer")
    with pytest.raises(ConfigError, match="set_blocks"):
        method.aggregate(random_jacobian(2, 10, seed=1))
    method.set_blocks([4, 5])
    with pytest.raises(ConfigError, match="10 columns"):
        method.aggregate(random_jacobian(2, 10, seed=1))
    with pytest.raises(ConfigError, match="positive"):
        method.set_blocks([4, 0, 6])
