"""The papers' toy protocols as presets, and the per-start cache: a new start or method computes only itself.

CAGrad's own protocol (three starts, 100,000 steps, c = 0.5, no scaling) takes CAGrad to the
average-loss optimum from every start, as in its paper; the Nash-MTL protocol does not (test_toy.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from mtlcore import teaching as toy
from mtlcore.registry import ConfigError
from mtlcore.teaching import cache, runs, simulator
from mtlcore.weighting import WEIGHTINGS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Short runs stay in the test process; each test has its own toy cache."""
    monkeypatch.setenv("MTL_TOY_WORKERS", "1")
    monkeypatch.setenv("MTL_CACHE", str(tmp_path / "cache"))


def average_loss_optimum() -> np.ndarray:
    """Minimum of L1 + L2 (no scaling), found by BFGS on the closed-form gradient: about (0, -8.3551)."""
    def total(x: np.ndarray) -> float:
        return float(toy.toy_losses(x).sum())

    def gradient(x: np.ndarray) -> np.ndarray:
        return toy.toy_losses_and_jacobian(x)[1].sum(axis=0)

    found = minimize(total, np.array([0.5, -8.0]), jac=gradient, method="BFGS", options={"gtol": 1e-12})
    assert np.linalg.norm(gradient(found.x)) < 1e-8  # stationary (BFGS may stop on precision first)
    return found.x


def test_the_presets_are_the_papers_protocols() -> None:
    cagrad, nash = toy.protocol("cagrad"), toy.protocol("nash_mtl")
    assert cagrad.starts == ((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0)) and cagrad.steps == 100_000
    assert cagrad.imbalance == 1.0 and cagrad.params_for("cagrad") == {"c": 0.5} and cagrad.params_for("mgda") == {}
    assert nash.starts == toy.PAPER_STARTS and nash.steps == 35_000 and nash.imbalance == 0.1
    assert "CAGrad" in cagrad.title and "Nash-MTL" in nash.title
    assert toy.Protocol.from_dict(cagrad.to_dict()) == cagrad
    with pytest.raises(ConfigError):
        toy.protocol("imbalance 1")


@pytest.mark.slow
def test_cagrad_reaches_the_average_loss_optimum_from_all_three_starts_under_its_own_protocol() -> None:
    preset = toy.CAGRAD
    optimum = average_loss_optimum()
    assert abs(optimum[0]) < 1e-6 and optimum[1] == pytest.approx(toy.PARETO_X2, abs=1e-3)
    (run,) = toy.simulate([("cagrad", preset.params_for("cagrad"))], preset.starts, steps=preset.steps,
                          lr=preset.lr, imbalance=preset.imbalance, use_cache=False)
    assert run.points.shape[0] == 3
    np.testing.assert_allclose(run.final_points, np.tile(optimum, (3, 1)), atol=1e-3)


def test_a_new_start_or_method_computes_only_what_is_new(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[tuple[str, tuple[int, ...]]] = []
    real = runs._simulate_jobs

    def counting(jobs, *args, **kwargs):  # type: ignore[no-untyped-def]
        computed.extend((job.spec.method, job.slots) for job in jobs)
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(runs, "_simulate_jobs", counting)
    methods = ["ew", "mgda", "pcgrad", ("cagrad", {"c": 0.5}), "rlw"]
    two, three = [(-8.5, 7.5), (9.0, 9.0)], [(-8.5, 7.5), (9.0, 9.0), (3.0, -2.0)]
    first = toy.simulate(methods, two, steps=300, imbalance=0.1)
    assert sorted(computed) == sorted((m if isinstance(m, str) else m[0], (0, 1)) for m in methods)
    computed.clear()
    second = toy.simulate(methods, three, steps=300, imbalance=0.1)
    # deterministic methods (PCGrad's only draw, the task order, is forced with two tasks) compute the new
    # start alone; RLW draws random weights per start and position, so its set is computed again
    assert sorted(computed) == sorted([("ew", (2,)), ("mgda", (2,)), ("pcgrad", (2,)), ("cagrad", (2,)),
                                       ("rlw", (0, 1, 2))])
    assert not any(r.cached for r in second)
    computed.clear()
    third = toy.simulate([*methods, "nash_mtl"], three, steps=300, imbalance=0.1)
    assert computed == [("nash_mtl", (0, 1, 2))] and all(r.cached for r in third[:-1])
    fresh = toy.simulate([*methods, "nash_mtl"], three, steps=300, imbalance=0.1, use_cache=False)
    for a, b, c in zip(first, third, fresh):
        np.testing.assert_array_equal(a.points, b.points[:2])
        np.testing.assert_array_equal(b.points, c.points)
        np.testing.assert_array_equal(b.weights, c.weights)
    assert toy.cached_runs(methods, three, steps=300, imbalance=0.1) is not None
    assert toy.cached_runs(methods, [*three, (1.0, 1.0)], steps=300, imbalance=0.1) is None


def test_every_method_the_cache_reuses_start_by_start_runs_the_same_alone() -> None:
    """The cache's claim, for every registered method it reuses per start: a trajectory does not depend
    on the other starts; and a start computed at its place later draws what it drew in the whole set."""
    starts = np.array([(-8.5, 7.5), (0.0, 0.0), (9.0, -1.0)])
    names = [e.name for e in WEIGHTINGS]
    free = [n for n in names if not cache.depends_on_other_starts(n)]
    assert {"ew", "mgda", "pcgrad", "cagrad", "nash_mtl", "uw", "gradvac"} <= set(free)
    assert {"rlw", "graddrop"} <= set(names) - set(free)
    specs = [simulator._Spec(n) for n in names]
    together = simulator._simulate_joint(specs, starts, 150, 1e-2, 0.1, 0, None)
    for j in range(3):
        alone = simulator._simulate_jobs([simulator._Job(s, starts[[j]], (j,)) for s in specs], 150, 1e-2, 0.1,
                                         0, None)
        for name, whole, one in zip(names, together, alone):
            if name in free or name in {"rlw", "graddrop"}:  # per-start instances seeded by their place
                np.testing.assert_array_equal(whole.points[j], one.points[0], err_msg=f"{name} from start {j}")


def test_the_toy_command_runs_a_named_protocol() -> None:
    out = subprocess.run([sys.executable, "-m", "mtlcore", "toy", "--protocol", "cagrad", "--methods", "cagrad,ew",
                          "--steps", "200", "--quiet", "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "CAGrad paper" in out.stdout and "cagrad c = 0.5" in out.stdout and "L1 scaled by 1" in out.stdout
    assert "(-8.5, -5)" in out.stdout and "(0, 0)" not in out.stdout
