"""Properties every gradient weighting method must have, and the exactness of the task-space solvers.

The method list comes from the registry, so a newly registered gradient method is covered by the
generic properties without touching this file (it may need an entry in an exemption table, with the
reason written next to it).
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting import WEIGHTINGS, create, solvers
from mtlcore.weighting.imtl_g import imtl_g_weights

# thousands of tiny tensor ops: one torch thread (see conftest)
pytestmark = pytest.mark.usefixtures("single_torch_thread")


GRADIENT_METHODS = [e.name for e in WEIGHTINGS if e.extra["kind"] == "gradient"]

EXPECTED = {"gradnorm", "mgda", "pcgrad", "gradvac", "graddrop", "cagrad", "imtl_g", "imtl", "nash_mtl",
            "moco", "aligned_mtl", "db_mtl", "fairgrad", "upgrad", "dualproj", "config"}

# Methods on the sum convention: one task gives exactly its gradient, T identical gradients exactly
# T times it (the EW sum). The others keep their paper's own scale, documented in their modules.
EXACT_SUM = {"gradnorm", "mgda", "pcgrad", "gradvac", "graddrop", "cagrad", "imtl_g", "imtl", "aligned_mtl",
             "upgrad", "dualproj", "config", "excess_mtl", "modo", "krum", "trimmed_mean", "cr_mogm"}

# Methods that rank the tasks: permuting them is only a symmetry when the first task stays first.
PRIMARY_FIRST = {"pcd": "the first task is the primary objective; the others are constrained around it"}

# Directions that never conflict with a task (g_i . d >= 0), and the condition the guarantee needs.
NO_CONFLICT_ANY_RANK = {"mgda", "upgrad", "dualproj", "nash_mtl"}
NO_CONFLICT_INDEPENDENT_ROWS = {"imtl_g", "imtl", "config"}  # equal-angle directions need independent rows

# Random methods that are permutation equivariant only in distribution for T > 2, and why.
ORDER_DEPENDENT = {
    "pcgrad": "each task draws its own random visiting order, so permuting tasks permutes the draws",
    "gradvac": "each task draws its own random visiting order, so permuting tasks permutes the draws",
}


def make(name: str, n_tasks: int, seed: int = 0, **params):
    method = create(name, n_tasks, **params)
    method.set_generator(torch.Generator().manual_seed(seed))
    return method


def random_jacobian(t: int, n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scales = torch.rand(t, 1, generator=g, dtype=torch.float64) * 3 + 0.1
    return (torch.randn(t, n, generator=g, dtype=torch.float64) * scales).to(dtype)


def random_losses(t: int, seed: int) -> torch.Tensor:
    return torch.rand(t, generator=torch.Generator().manual_seed(seed + 1000), dtype=torch.float64) * 2 + 0.2


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a.double() @ b.double() / (a.double().norm() * b.double().norm()).clamp_min(1e-300))


def test_registry_lists_every_gradient_method_with_complete_metadata() -> None:
    assert EXPECTED <= set(GRADIENT_METHODS)
    for entry in WEIGHTINGS:
        if entry.extra["kind"] != "gradient":
            continue
        meta = entry.to_dict()
        assert meta["family"] and meta["formula"] and meta["cost"], entry.name
        assert re.search(r"(19|20)\d\d", meta["paper"]), f"{entry.name}: paper needs a year"
        assert meta["needs"] in ("gradients", "representation")
        cls = entry.factory
        if meta["needs"] == "representation":
            assert cls.supports_representation
    representation = {e.name for e in WEIGHTINGS if e.extra.get("supports_representation")}
    assert {"mgda", "gradnorm", "imtl_g", "imtl", "aligned_mtl", "graddrop"} <= representation


@pytest.mark.parametrize("name", GRADIENT_METHODS)
@pytest.mark.parametrize("shape", [(2, 10), (3, 50), (5, 200), (10, 1000), (6, 3)])
def test_finite_direction_on_random_jacobians(name: str, shape: tuple[int, int]) -> None:
    t, n = shape
    method = make(name, t)
    for step in range(3):  # several steps, so stateful methods also run from their state
        jac = random_jacobian(t, n, seed=10 * step + t, dtype=torch.float32)
        agg = method.aggregate(jac, random_losses(t, step).float())
        assert agg.direction.shape == (n,) and agg.direction.dtype == torch.float32
        assert torch.isfinite(agg.direction).all()
        if agg.weights is not None:
            assert agg.weights.shape == (t,) and torch.isfinite(agg.weights).all()


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_permuting_tasks_permutes_nothing_but_the_weights(name: str) -> None:
    t = 2 if name in ORDER_DEPENDENT else 4
    for seed in range(3):
        jac = random_jacobian(t, 30, seed)
        losses = random_losses(t, seed)
        perm = torch.tensor(list(reversed(range(t)))) if seed == 0 else torch.randperm(
            t, generator=torch.Generator().manual_seed(seed))
        if name in PRIMARY_FIRST:  # permute the other tasks only
            perm = torch.cat([torch.zeros(1, dtype=torch.long), perm[perm != 0]])
        a = make(name, t, seed=seed).aggregate(jac, losses)
        b = make(name, t, seed=seed).aggregate(jac[perm], losses[perm])
        torch.testing.assert_close(b.direction, a.direction, rtol=1e-6, atol=1e-9)
        if a.weights is not None:
            torch.testing.assert_close(b.weights, a.weights[perm], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_single_task_gives_its_own_gradient(name: str) -> None:
    jac = random_jacobian(1, 40, seed=3)
    agg = make(name, 1).aggregate(jac, torch.tensor([0.7], dtype=torch.float64))
    g = jac[0]
    assert cosine(agg.direction, g) > 1 - 1e-9
    if name in EXACT_SUM:
        torch.testing.assert_close(agg.direction, g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_identical_gradients_give_a_positive_multiple(name: str) -> None:
    t = 3
    g = random_jacobian(1, 40, seed=4)[0]
    jac = g.repeat(t, 1)
    agg = make(name, t).aggregate(jac, torch.full((t,), 0.5, dtype=torch.float64))
    assert cosine(agg.direction, g) > 1 - 1e-9
    if name in EXACT_SUM:
        torch.testing.assert_close(agg.direction, t * g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
@pytest.mark.parametrize("case", ["opposite", "zero_row", "opposite_plus_one", "all_zero", "duplicate_rows"])
def test_degenerate_jacobians_give_no_nan(name: str, case: str) -> None:
    g = random_jacobian(1, 25, seed=5, dtype=torch.float32)[0]
    h = random_jacobian(1, 25, seed=6, dtype=torch.float32)[0]
    rows = {
        "opposite": [g, -g],
        "zero_row": [g, torch.zeros_like(g)],
        "opposite_plus_one": [g, -g, h],
        "all_zero": [torch.zeros_like(g), torch.zeros_like(g)],
        "duplicate_rows": [g, g, h],
    }[case]
    jac = torch.stack(rows)
    method = make(name, len(rows))
    for _ in range(2):
        agg = method.aggregate(jac, torch.full((len(rows),), 0.5))
        assert torch.isfinite(agg.direction).all()
        if agg.weights is not None:
            assert torch.isfinite(agg.weights).all()
    if case == "all_zero":
        assert float(agg.direction.abs().max()) == 0.0


@pytest.mark.parametrize("name", sorted(NO_CONFLICT_ANY_RANK | NO_CONFLICT_INDEPENDENT_ROWS))
@pytest.mark.parametrize("shape", [(2, 6), (3, 10), (5, 40), (8, 30), (10, 200), (6, 4)])
def test_no_task_is_opposed_where_the_method_guarantees_it(name: str, shape: tuple[int, int]) -> None:
    t, n = shape
    if name in NO_CONFLICT_INDEPENDENT_ROWS and t > n:
        pytest.skip("the equal-angle direction needs linearly independent gradients")
    for seed in range(8):
        jac = random_jacobian(t, n, seed)
        jac[0] = -jac[1] * 0.5 + 0.3 * jac[0]  # make sure some pairs conflict
        agg = make(name, t, seed=seed).aggregate(jac, random_losses(t, seed))
        d = agg.direction
        products = jac @ d
        # relative to |g_i| |d|, plus the roundoff of forming d = J^T w (what remains at
        # Pareto-stationary points, where d is zero up to that roundoff)
        roundoff = 1e-12 * (agg.weights.abs() * jac.norm(dim=1)).sum()
        slack = jac.norm(dim=1) * (1e-9 * d.norm() + roundoff)
        assert (products >= -slack).all(), (seed, products)


def test_imtl_g_common_projection_stays_positive_where_the_paper_formula_flips_it() -> None:
    # u3 nearly in the plane of u1, u2 and with a small norm: sum(G^+ n) < 0, so the paper's
    # normalisation by that sum would give a direction opposed to every task.
    delta = 0.05
    u3 = torch.tensor([1.0, 1.0, delta], dtype=torch.float64)
    jac = torch.stack([torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                       torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), 0.1 * u3 / u3.norm()])
    gram = (jac @ jac.T).numpy()
    norms = np.sqrt(np.diag(gram))
    assert (np.linalg.pinv(gram) @ norms).sum() < 0  # the case exists
    d = create("imtl_g", 3).aggregate(jac).direction
    projections = (jac @ d) / jac.norm(dim=1)
    assert (projections > 0).all()
    torch.testing.assert_close(projections, projections.mean().expand(3), rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_reset_returns_a_method_to_its_fresh_state(name: str) -> None:
    t, n = 3, 20
    used = make(name, t, seed=7)
    for step in range(4):
        used.aggregate(random_jacobian(t, n, seed=step), random_losses(t, step))
    used.reset()
    used.set_generator(torch.Generator().manual_seed(8))
    fresh = make(name, t, seed=8)
    for step in range(3):
        jac, losses = random_jacobian(t, n, seed=100 + step), random_losses(t, 100 + step)
        a, b = used.aggregate(jac, losses), fresh.aggregate(jac, losses)
        torch.testing.assert_close(a.direction, b.direction, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["gradnorm", "gradvac", "moco", "db_mtl", "imtl", "nash_mtl", "excess_mtl", "modo",
                                  "sdmgrad", "cr_mogm", "pcd"])
def test_stateful_methods_do_carry_state(name: str) -> None:
    """The same Jacobian gives a different update once the method has seen other steps."""
    t, n = 3, 20
    params = {"update_every": 3} if name == "nash_mtl" else {}
    jac, losses = random_jacobian(t, n, seed=50), random_losses(t, 50)
    fresh = make(name, t, **params).aggregate(jac, losses).direction
    used = make(name, t, **params)
    for step in range(2):
        used.aggregate(random_jacobian(t, n, seed=60 + step), random_losses(t, 60 + step))
    assert not torch.allclose(used.aggregate(jac, losses).direction, fresh)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_wrong_jacobian_shape_is_a_config_error(name: str) -> None:
    method = make(name, 3)
    with pytest.raises(ConfigError):
        method.aggregate(torch.randn(2, 5), torch.ones(2))
    with pytest.raises(ConfigError):
        method.aggregate(torch.randn(15), torch.ones(3))


@pytest.mark.parametrize("name,params", [("gradnorm", {}), ("db_mtl", {}), ("imtl", {}), ("moco", {}),
                                         ("mgda", {"normalization": "loss"})])
def test_methods_that_read_losses_explain_when_they_are_missing(name: str, params: dict) -> None:
    with pytest.raises(ConfigError, match="losses"):
        make(name, 2, **params).aggregate(torch.randn(2, 5))


def test_bad_hyperparameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        create("mgda", 2, normalization="l3")
    with pytest.raises(ConfigError):
        create("cagrad", 2, c=-1.0)
    with pytest.raises(ConfigError):
        create("nash_mtl", 2, update_every=0)


# -- the task-space solvers --------------------------------------------------------------------------


def random_gramian(t: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((t, rank)) * rng.uniform(0.1, 3.0, size=(t, 1))
    return a @ a.T


@pytest.mark.parametrize("t,rank", [(2, 2), (3, 3), (5, 5), (8, 8), (10, 10), (6, 3), (10, 4)])
def test_nonnegative_quadratic_matches_scipy_nnls(t: int, rank: int) -> None:
    from scipy.optimize import nnls

    rng = np.random.default_rng(t * 100 + rank)
    for _ in range(20):
        a = rng.standard_normal((rank + 1, t))
        b = rng.standard_normal(rank + 1)
        x = solvers.nonnegative_quadratic(a.T @ a, a.T @ b)
        ref, _ = nnls(a, b)
        assert (x >= 0).all()
        # residuals are unique even where x is not (dependent columns)
        assert np.linalg.norm(a @ x - b) <= np.linalg.norm(a @ ref - b) + 1e-10
        np.testing.assert_allclose(a @ x, a @ ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("t,rank", [(2, 2), (3, 3), (4, 4), (6, 6), (6, 2)])
def test_min_norm_weights_are_the_exact_minimum(t: int, rank: int) -> None:
    for seed in range(20):
        g = random_gramian(t, rank, seed)
        w = solvers.min_norm_weights(g)
        assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
        value = w @ g @ w
        # KKT: every vertex has directional derivative >= the value, with equality on the support
        gw = g @ w
        assert (gw >= value - 1e-10 * np.trace(g)).all()
        # brute force over supports: minimum over faces of the affine-hull min-norm points
        best = math.inf
        for k in range(1, t + 1):
            for support in itertools.combinations(range(t), k):
                sub = g[np.ix_(support, support)]
                kkt = np.block([[sub, np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
                try:
                    sol = np.linalg.solve(kkt, np.r_[np.zeros(k), 1.0])[:k]
                except np.linalg.LinAlgError:
                    continue
                if (sol >= -1e-12).all():
                    best = min(best, float(sol @ sub @ sol))
        assert value <= best + 1e-10 * np.trace(g)


def test_frank_wolfe_is_exact_for_two_tasks_and_close_otherwise() -> None:
    for seed in range(10):
        g2 = random_gramian(2, 2, seed)
        np.testing.assert_allclose(solvers.frank_wolfe_min_norm(g2), solvers.min_norm_weights(g2), atol=1e-12)
        g5 = random_gramian(5, 5, seed)
        exact = solvers.min_norm_weights(g5)
        fw = solvers.frank_wolfe_min_norm(g5, max_iter=5000, tol=1e-12)
        assert exact @ g5 @ exact <= fw @ g5 @ fw + 1e-12


@pytest.mark.parametrize("t,rank", [(2, 2), (4, 4), (8, 8), (6, 3)])
def test_dual_cone_projection_satisfies_its_kkt_conditions(t: int, rank: int) -> None:
    for seed in range(10):
        g = random_gramian(t, rank, seed)
        u = np.random.default_rng(seed).uniform(-1, 1, size=t)
        v = solvers.dual_cone_weights(g, u)
        scale = np.trace(g)
        assert (v >= u - 1e-12).all()
        mu = g @ v  # = J (J^T v): the projection is in the dual cone ...
        assert (mu >= -1e-9 * scale).all()
        # ... and complementary slackness: where v_i > u_i the constraint is inactive
        assert np.abs(mu * (v - u)).max() <= 1e-9 * scale * max(1.0, np.abs(v).max())


@pytest.mark.parametrize("t", [2, 3, 5, 10])
def test_cagrad_dual_solution_satisfies_its_kkt_conditions(t: int) -> None:
    for seed in range(10):
        for c in (0.1, 0.4, 2.0):
            g = random_gramian(t, t, seed)
            a = np.full(t, 1.0 / t)
            r = c * math.sqrt(a @ g @ a)
            combined = solvers.cagrad_weights(g, c)  # a + (r / s) w
            w = combined - a
            w = w / w.sum()
            s = math.sqrt(w @ g @ w)
            grad = g @ a + r * (g @ w) / s  # gradient of the dual objective at w
            lowest = grad[w > 1e-9].mean()
            assert (grad >= lowest - 1e-8).all()
            np.testing.assert_allclose(grad[w > 1e-7], lowest, rtol=1e-7)


def test_cagrad_root_search_fallback_finds_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The closed-form active set normally settles the dual; the root search behind it must agree."""
    for t in (2, 5, 8):
        for seed in range(5):
            g = random_gramian(t, t, 100 + seed)
            fast = solvers.cagrad_weights(g, 0.5)
            with monkeypatch.context() as patch:
                patch.setattr(solvers, "_cagrad_active_set", lambda *args: None)
                slow = solvers.cagrad_weights(g, 0.5)
            np.testing.assert_allclose(slow, fast, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("p", [1.0, 0.5, 2.0, 0.2])
def test_power_balance_solves_its_equation(p: float) -> None:
    for t in (2, 4, 10):
        for seed in range(5):
            g = random_gramian(t, t, seed)
            w = solvers.power_balance_weights(g, p)
            assert (w > 0).all()
            np.testing.assert_allclose((g @ w) * w ** p, 1.0, rtol=1e-6)


def test_fairgrad_with_alpha_one_is_nash_mtl() -> None:
    jac = random_jacobian(4, 30, seed=9)
    nash = create("nash_mtl", 4, max_norm=0.0).aggregate(jac).direction
    fair = create("fairgrad", 4, alpha=1.0, max_norm=0.0).aggregate(jac).direction
    torch.testing.assert_close(fair, nash, rtol=1e-8, atol=1e-12)


def test_nash_mtl_reuses_its_weights_between_updates_and_clips() -> None:
    method = create("nash_mtl", 3, update_every=3, max_norm=0.0)
    jacs = [random_jacobian(3, 20, seed=s) for s in range(4)]
    w = [method.aggregate(j).weights for j in jacs]
    torch.testing.assert_close(w[1], w[0])
    torch.testing.assert_close(w[2], w[0])
    assert not torch.allclose(w[3], w[0])
    clipped = create("nash_mtl", 3, max_norm=1e-3).aggregate(jacs[0] * 100)
    assert abs(float(clipped.direction.norm()) - 1e-3) < 1e-12


def test_mgda_l2_normalisation_balances_two_tasks_whatever_their_norms() -> None:
    # the min-norm point of two unit vectors is their midpoint, and the weights apply to the raw rows
    jac = random_jacobian(2, 30, seed=17)
    jac[0] *= 50
    torch.testing.assert_close(create("mgda", 2, normalization="l2").aggregate(jac).direction, jac.sum(0))


def test_pcgrad_two_task_closed_form() -> None:
    g1 = torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)
    g2 = torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64)
    d = create("pcgrad", 2).aggregate(torch.stack([g1, g2])).direction
    dot = g1 @ g2
    expected = (g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)
    torch.testing.assert_close(d, expected)


def test_cagrad_with_zero_radius_is_the_sum() -> None:
    jac = random_jacobian(4, 30, seed=10)
    torch.testing.assert_close(create("cagrad", 4, c=0.0).aggregate(jac).direction, jac.sum(0))


def test_config_and_imtl_g_point_the_same_way_on_independent_gradients() -> None:
    jac = random_jacobian(5, 40, seed=11)
    a = create("config", 5).aggregate(jac).direction
    b = create("imtl_g", 5).aggregate(jac).direction
    assert cosine(a, b) > 1 - 1e-10
    cos_to_tasks = (jac @ a) / (jac.norm(dim=1) * a.norm())
    torch.testing.assert_close(cos_to_tasks, cos_to_tasks.mean().expand(5))


def test_aligned_mtl_makes_the_gradient_system_perfectly_conditioned() -> None:
    from mtlcore.weighting.aligned_mtl import aligned_weights

    g = random_gramian(4, 4, 12)
    lam, vec = np.linalg.eigh(g)
    balance = math.sqrt(lam.min()) * (vec / np.sqrt(lam)) @ vec.T
    aligned = balance @ g @ balance  # Gramian of the aligned gradients B J
    np.testing.assert_allclose(aligned, lam.min() * np.eye(4), atol=1e-10 * lam.max())
    np.testing.assert_allclose(aligned_weights(g, "min", 1e-16), balance @ np.ones(4))


def test_imtl_g_weights_sum_to_one() -> None:
    g = random_gramian(5, 5, 13)
    w = imtl_g_weights(g, 1e-16)
    assert abs(abs(w.sum()) - 1) < 1e-12


def test_gradnorm_lowers_the_weight_of_the_task_with_the_larger_gradient() -> None:
    method = create("gradnorm", 2, alpha=0.0, lr=0.05)
    base = random_jacobian(2, 30, seed=14)
    jac = torch.stack([base[0] / base[0].norm() * 10, base[1] / base[1].norm()])
    for _ in range(40):
        agg = method.aggregate(jac, torch.tensor([1.0, 1.0], dtype=torch.float64))
    w = agg.weights
    assert w[0] < w[1] and abs(float(w.sum()) - 2) < 1e-9
    assert method.current_weights() is not None


def test_imtl_l_scales_converge_to_inverse_losses() -> None:
    method = create("imtl", 2, lr=0.1)
    losses = torch.tensor([4.0, 0.25], dtype=torch.float64)
    jac = random_jacobian(2, 30, seed=15)
    for _ in range(150):
        method.aggregate(jac, losses)
    np.testing.assert_allclose(np.exp(method.log_scales) * losses.numpy(), 1.0, rtol=2e-2)


def test_db_mtl_stretches_log_gradients_to_the_largest_norm() -> None:
    jac = random_jacobian(3, 30, seed=16)
    losses = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    d = create("db_mtl", 3, beta=0.0).aggregate(jac, losses).direction
    logs = jac / losses[:, None]
    norms = logs.norm(dim=1)
    torch.testing.assert_close(d, norms.max() * (logs / norms[:, None]).sum(0))


def test_graddrop_keeps_agreeing_coordinates_and_is_reproducible() -> None:
    jac = torch.tensor([[1.0, 2.0, 1.0, -1.0], [3.0, -2.0, 0.5, -4.0]], dtype=torch.float64)
    d1 = make("graddrop", 2, seed=1).aggregate(jac).direction
    d2 = make("graddrop", 2, seed=1).aggregate(jac).direction
    torch.testing.assert_close(d1, d2, rtol=0, atol=0)
    assert float(d1[0]) == 4.0 and float(d1[2]) == 1.5 and float(d1[3]) == -5.0  # pure signs are kept
    assert float(d1[1]) in (2.0, -2.0)  # a tie keeps exactly one of the two signs
    torch.testing.assert_close(make("graddrop", 2, leak=1.0).aggregate(jac).direction, jac.sum(0))


def test_moco_weights_stay_on_the_scaled_simplex() -> None:
    method = make("moco", 3)
    for step in range(5):
        agg = method.aggregate(random_jacobian(3, 20, seed=step), random_losses(3, step))
        assert float(agg.weights.min()) >= 0 and abs(float(agg.weights.sum()) - 3) < 1e-9
