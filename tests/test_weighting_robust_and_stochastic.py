"""Behaviour of the robust (Krum, trimmed mean), smoothed (CR-MOGM), prioritised (PCD), excess-risk
(ExcessMTL) and multi-batch stochastic (MoDo, SDMGrad) methods, against their definitions.

The shared properties (finite, permutation, scale, reset) are in test_weighting_gradient.py and the
agreement with TorchJD in test_weighting_reference.py; this file checks what each method is for.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting import WEIGHTINGS, create
from mtlcore.weighting.cr_mogm import BASES
from mtlcore.weighting.solvers import project_simplex

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def random_jacobian(t: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scales = torch.rand(t, 1, generator=g, dtype=torch.float64) * 3 + 0.1
    return torch.randn(t, n, generator=g, dtype=torch.float64) * scales


# -- Krum and the trimmed mean -------------------------------------------------------------------


@pytest.mark.parametrize("t,f,m", [(4, 0, 1), (5, 1, 1), (6, 2, 2), (8, 0, 3)])
def test_krum_scores_are_the_papers_summed_squared_distances(t: int, f: int, m: int) -> None:
    for seed in range(10):
        jac = random_jacobian(t, 12, seed)
        scores = []
        for i in range(t):
            others = sorted(float((jac[i] - jac[j]).square().sum()) for j in range(t) if j != i)
            scores.append(sum(others[:t - f - 2]))
        chosen = sorted(np.argsort(scores, kind="stable")[:m].tolist())
        agg = create("krum", t, n_byzantine=f, n_selected=m).aggregate(jac)
        assert sorted(torch.nonzero(agg.weights).flatten().tolist()) == chosen
        torch.testing.assert_close(agg.direction, t / m * jac[chosen].sum(0))


def test_krum_leaves_out_the_task_that_disagrees_with_the_rest() -> None:
    base = random_jacobian(1, 20, 1)[0]
    jac = torch.stack([base + 0.01 * random_jacobian(1, 20, s)[0] for s in range(3)] + [-5 * base])
    weights = create("krum", 4, n_byzantine=1, n_selected=2).aggregate(jac).weights
    assert float(weights[3]) == 0.0 and float(weights.sum()) == pytest.approx(4.0)


def test_trimmed_mean_ignores_an_extreme_entry_in_each_coordinate() -> None:
    jac = torch.tensor([[1.0, -2.0], [1.1, -2.2], [100.0, -2.1], [0.9, 50.0], [1.05, -1.9]], dtype=torch.float64)
    d = create("trimmed_mean", 5, trim=1).aggregate(jac).direction
    expected = torch.tensor([(1.0 + 1.1 + 1.05) / 3, (-2.0 - 2.1 - 1.9) / 3], dtype=torch.float64)
    torch.testing.assert_close(d, 5 * expected)
    torch.testing.assert_close(create("trimmed_mean", 5, trim=0).aggregate(jac).direction, jac.sum(0))


def test_krum_ties_share_their_place_and_too_few_tasks_give_the_sum() -> None:
    jac = random_jacobian(3, 12, 4)
    jac[2] = jac[1] + 0.01  # rows 1 and 2 are each other's nearest neighbour: with one neighbour they tie
    agg = create("krum", 3).aggregate(jac)
    torch.testing.assert_close(agg.weights, torch.tensor([0.0, 1.5, 1.5], dtype=torch.float64))
    for t, f in ((2, 0), (4, 2), (1, 0)):  # no neighbours to score by: every row ties
        j = random_jacobian(t, 12, 5)
        torch.testing.assert_close(create("krum", t, n_byzantine=f).aggregate(j).direction, j.sum(0))
    with pytest.raises(ConfigError, match="n_selected"):
        create("krum", 3, n_selected=4)


def test_trimmed_mean_caps_the_trim_at_the_median() -> None:
    jac = random_jacobian(4, 12, 6)
    median = torch.sort(jac, dim=0).values[1:3].mean(0)
    torch.testing.assert_close(create("trimmed_mean", 4, trim=5).aggregate(jac).direction, 4 * median)
    two = random_jacobian(2, 12, 7)
    torch.testing.assert_close(create("trimmed_mean", 2).aggregate(two).direction, two.sum(0))


# -- CR-MOGM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
def test_every_cr_mogm_base_steps_along_its_reported_weights(base: str) -> None:
    """The contract smoothing relies on: the base's direction is J^T (its weights)."""
    method = create(base, 4)
    for seed in range(3):
        jac = random_jacobian(4, 30, seed)
        agg = method.aggregate(jac, torch.rand(4, dtype=torch.float64) + 0.5)
        torch.testing.assert_close(agg.direction, agg.weights @ jac)


def test_cr_mogm_is_its_base_at_alpha_zero_and_frozen_at_alpha_one() -> None:
    jacs = [random_jacobian(3, 20, s) for s in range(4)]
    base, plain, frozen = create("mgda", 3), create("cr_mogm", 3, alpha=0.0), create("cr_mogm", 3, alpha=1.0)
    first = None
    for jac in jacs:
        expected = base.aggregate(jac)
        torch.testing.assert_close(plain.aggregate(jac).direction, expected.direction)
        held = frozen.aggregate(jac)
        first = held.weights if first is None else first
        torch.testing.assert_close(held.weights, first)
        torch.testing.assert_close(held.direction, first @ jac)


def test_cr_mogm_moving_average_of_the_weights() -> None:
    method, base = create("cr_mogm", 3, alpha=0.6), create("mgda", 3)
    average = None
    for seed in range(5):
        jac = random_jacobian(3, 20, seed)
        fresh = base.aggregate(jac).weights
        average = fresh if average is None else 0.6 * average + 0.4 * fresh
        torch.testing.assert_close(method.aggregate(jac).weights, average)
    assert WEIGHTINGS.get("cr_mogm").factory.params[0].choices == BASES


# -- PCD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.02, 0.5])
def test_pcd_two_tasks_closed_form(tau: float) -> None:
    """First step, unit normalised gradients u1, u2 with c = u1 . u2: d~ = u1 when c >= tau, else
    u1 + (tau - c) u2 (the projection onto u2 . d >= tau); the step is d~ rescaled to |g1|."""
    for seed in range(10):
        jac = random_jacobian(2, 15, seed)
        u1, u2 = jac[0] / jac[0].norm(), jac[1] / jac[1].norm()
        c = float(u1 @ u2)
        tilde = u1 if c >= tau else u1 + (tau - c) * u2
        d = create("pcd", 2, tau=tau, eps=0.0).aggregate(jac).direction
        torch.testing.assert_close(d, jac[0].norm() * tilde / tilde.norm(), rtol=1e-9, atol=1e-12)


def test_pcd_guarantees_each_secondary_task_its_share() -> None:
    for seed in range(10):
        jac = random_jacobian(5, 30, seed)
        jac[1] = -jac[0] + 0.2 * jac[1]  # a secondary task opposed to the primary one
        agg = create("pcd", 5, tau=0.1, eps=0.0).aggregate(jac)
        units = jac / jac.norm(dim=1, keepdim=True)
        tilde = agg.direction / agg.direction.norm()  # d~ up to a positive factor ...
        scale = float(agg.weights[0] * jac[0].norm())  # ... which is |g1| / |d~| (w_1 = s_1 |g1| / |d~|)
        products = (units[1:] @ tilde) * float(agg.direction.norm()) / scale
        assert (products >= 0.1 - 1e-9).all(), products
        assert float(agg.direction.norm()) == pytest.approx(float(jac[0].norm()), rel=1e-9)


# -- ExcessMTL -----------------------------------------------------------------------------------


def test_excess_mtl_upweights_the_task_whose_gradient_stays_large() -> None:
    method = create("excess_mtl", 2, robust_step_size=0.5)
    direction = random_jacobian(2, 20, 3)
    for step in range(30):  # task 1's gradient shrinks as if converging, task 0's does not
        agg = method.aggregate(torch.stack([direction[0], direction[1] * 0.8 ** step]))
    assert float(agg.weights[0]) > 1.5 > float(agg.weights[1])
    assert float(agg.weights.sum()) == pytest.approx(2.0)


def test_excess_mtl_keeps_equal_weights_during_its_warmup() -> None:
    method = create("excess_mtl", 3, warmup_steps=4, robust_step_size=1.0)
    for seed in range(4):
        assert method.aggregate(random_jacobian(3, 10, seed)).weights.tolist() == pytest.approx([1.0] * 3)
    assert method.aggregate(random_jacobian(3, 10, 9)).weights.tolist() != pytest.approx([1.0] * 3)


# -- MoDo and SDMGrad ----------------------------------------------------------------------------


def test_modo_moves_its_weights_on_the_product_of_two_batches_and_steps_on_the_third() -> None:
    step, first, second = (random_jacobian(3, 20, s) for s in (1, 2, 3))
    agg = create("modo", 3, gamma=0.05, rho=0.1).aggregate_batches([step, first, second], [])
    lam0 = np.full(3, 1 / 3)
    lam = project_simplex(lam0 - 0.05 * ((first @ second.T).numpy() @ lam0 + 0.1 * lam0))
    np.testing.assert_allclose(agg.weights.numpy(), 3 * lam, rtol=1e-12)
    torch.testing.assert_close(agg.direction, agg.weights @ step)


@pytest.mark.parametrize("name", ["modo", "sdmgrad"])
def test_one_or_two_batches_reuse_the_steps_own(name: str) -> None:
    a, b = random_jacobian(3, 20, 4), random_jacobian(3, 20, 5)
    one, three = create(name, 3), create(name, 3)
    torch.testing.assert_close(one.aggregate(a).direction, three.aggregate_batches([a, a, a], []).direction)
    two, explicit = create(name, 3), create(name, 3)
    torch.testing.assert_close(two.aggregate_batches([a, b], []).direction,
                               explicit.aggregate_batches([a, a, b], []).direction)
    with pytest.raises(ConfigError, match="differ in shape"):
        create(name, 3).aggregate_batches([a, a[:, :5]], [])
    assert WEIGHTINGS.get(name).extra["batches_per_step"] == 3


def test_sdmgrad_large_lambda_is_equal_weighting_and_the_update_is_clipped() -> None:
    step, first, second = (random_jacobian(3, 20, s) for s in (6, 7, 8))
    agg = create("sdmgrad", 3, lam=1e6, max_norm=0.0).aggregate_batches([step, first, second], [])
    torch.testing.assert_close(agg.direction, step.sum(0), rtol=1e-4, atol=0)  # T w / lam ~ 3e-6 off
    clipped = create("sdmgrad", 3, max_norm=0.5).aggregate_batches([step, first, second], [])
    assert float(clipped.direction.norm()) == pytest.approx(0.5)
    torch.testing.assert_close(clipped.direction, clipped.weights @ step)
    assert math.isfinite(float(clipped.weights.sum()))


@pytest.mark.parametrize("name", ["modo", "sdmgrad"])
def test_batches_whose_gradients_all_disagree_keep_the_weights_on_the_simplex(name: str) -> None:
    """Every diagonal entry of J_1 J_2^T negative (each task's two batch gradients opposed): SDMGrad's
    normaliser falls to its 1e-8 floor and the inner steps leave the simplex by ~1e20."""
    first = random_jacobian(3, 20, 11)
    second = -first + 0.01 * random_jacobian(3, 20, 12)
    assert ((first @ second.T).diagonal() < 0).all()
    agg = create(name, 3, **({"max_norm": 0.0} if name == "sdmgrad" else {})).aggregate_batches(
        [random_jacobian(3, 20, 13), first, second], [])
    assert torch.isfinite(agg.weights).all() and (agg.weights >= 0).all()
    assert float(agg.weights.sum()) == pytest.approx(3.0)
