"""The Pareto front and Delta-m against hand-computed examples; baselines found in a real store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore
from mtlcore.sweeps.delta_m import (
    baseline_config,
    comparison_key,
    delta_m,
    delta_m_for_runs,
    find_baselines,
    metric_directions,
)
from mtlcore.sweeps.pareto import front_path, non_dominated


# -- Pareto front ---------------------------------------------------------------------------------
def brute_force_front(points: np.ndarray, higher: list[bool]) -> list[bool]:
    signs = np.where(higher, 1.0, -1.0)
    p = points * signs
    out = []
    for i in range(len(p)):
        dominated = any(np.all(p[j] >= p[i]) and np.any(p[j] > p[i]) for j in range(len(p)) if j != i)
        out.append(not dominated)
    return out


def test_front_with_one_objective_up_and_one_down() -> None:
    # accuracy (higher is better) against error (lower is better)
    pts = np.array([[0.9, 0.30], [0.8, 0.10], [0.85, 0.35], [0.7, 0.05], [0.8, 0.20], [0.9, 0.30]])
    mask = non_dominated(pts, [True, False])
    # (0.85, 0.35) is beaten by (0.9, 0.30); (0.8, 0.20) by (0.8, 0.10); the duplicates both stay
    assert mask.tolist() == [True, True, False, True, False, True]
    assert mask.tolist() == brute_force_front(pts, [True, False])


def test_front_matches_brute_force_on_random_points() -> None:
    rng = np.random.default_rng(3)
    for k in (2, 3):
        pts = rng.integers(0, 6, size=(40, k)).astype(float)  # many ties on purpose
        higher = [True, False, True][:k]
        assert non_dominated(pts, higher).tolist() == brute_force_front(pts, higher)


def test_front_path_is_ordered_along_the_first_objective() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [1.5, 1.5]])
    assert front_path(pts, [True, True]).tolist() == [1, 2, 0]


def test_bad_points_are_explained() -> None:
    with pytest.raises(ConfigError, match="one direction per objective"):
        non_dominated(np.zeros((3, 2)), [True])
    with pytest.raises(ConfigError, match="finite"):
        non_dominated(np.array([[1.0, np.nan]]), [True, True])
    assert non_dominated(np.zeros((0, 2)), [True, True]).tolist() == []


# -- Delta-m --------------------------------------------------------------------------------------
HIGHER = {"digit": {"accuracy": True}, "size": {"mae": False, "rmse": False}}
RUN = {"digit": {"accuracy": 0.90, "loss": 0.4}, "size": {"mae": 1.2, "rmse": 1.5}}
BASE = {"digit": {"accuracy": 0.95, "loss": 0.3}, "size": {"mae": 1.0, "rmse": 2.0}}


def test_delta_m_by_hand() -> None:
    # digit accuracy: -(0.90 - 0.95) / 0.95 * 100 = +5.2632 (worse); size mae: +20 (worse);
    # size rmse: (1.5 - 2.0) / 2.0 * 100 = -25 (better)
    dm = delta_m(RUN, BASE, HIGHER, "tasks")
    assert dm.changes["digit"]["accuracy"] == pytest.approx(100 * 0.05 / 0.95)
    assert dm.changes["size"] == pytest.approx({"mae": 20.0, "rmse": -25.0})
    assert dm.per_task == pytest.approx({"digit": 5.263157894736842, "size": -2.5})
    assert dm.value == pytest.approx((5.263157894736842 - 2.5) / 2)
    flat = delta_m(RUN, BASE, HIGHER, "metrics")
    assert flat.value == pytest.approx((5.263157894736842 + 20.0 - 25.0) / 3)
    assert dm.skipped == [] and "loss" not in dm.changes["digit"]
    # the default is the papers' form (Nash-MTL, CAGrad, FAMO): every metric at once
    assert delta_m(RUN, BASE, HIGHER).value == pytest.approx(flat.value)
    assert delta_m(RUN, BASE, HIGHER).averaging == "metrics"


def test_delta_m_of_identical_results_is_zero_and_better_is_negative() -> None:
    assert delta_m(BASE, BASE, HIGHER).value == 0.0
    better = {"digit": {"accuracy": 0.99}, "size": {"mae": 0.5, "rmse": 1.0}}
    assert delta_m(better, BASE, HIGHER).value < 0


def test_delta_m_names_what_it_skips() -> None:
    dm = delta_m({"digit": {"accuracy": 0.9}}, {"digit": {"accuracy": 0.0}, "size": {"mae": 1.0}}, HIGHER)
    assert dm.value is None and dm.changes == {}
    assert "digit/accuracy: the baseline is 0 (relative change undefined)" in dm.skipped
    assert "size/mae: missing in the run" in dm.skipped
    with pytest.raises(ConfigError, match="averaging"):
        delta_m(RUN, BASE, HIGHER, "median")


# -- baselines in the store -----------------------------------------------------------------------
def stored(store: RunStore, arch: str, seed: int, val: dict, test: dict, tasks=("left", "right"),
           params: dict | None = None, lr: float = 1e-3, status: str = "finished") -> str:
    config = RunConfig.from_dict({"data": {"name": "multi_digits", "tasks": list(tasks), "params": params or {}},
                                  "model": {"architecture": arch}, "seed": seed, "optim": {"lr": lr}})
    rid = store.create_run(config.to_dict(), status="queued")
    store.set_status(rid, status, summary={"steps": 10, "val": val, "test": test})
    return rid


def acc(left: float, right: float) -> dict:
    return {"left": {"loss": 0.5, "accuracy": left}, "right": {"loss": 0.5, "accuracy": right}}


def test_baselines_are_found_by_data_tasks_and_seed(db_path: str) -> None:
    store = RunStore(db_path)
    mtl = stored(store, "hps", 0, acc(0.9, 0.8), acc(0.88, 0.82), params={"n_train": 6000})  # the default
    mtl_seed1 = stored(store, "hps", 1, acc(0.9, 0.8), acc(0.9, 0.8))
    mtl_three = stored(store, "hps", 0, acc(0.9, 0.8), acc(0.9, 0.8), tasks=("left", "right", "sum"))
    base_other_lr = stored(store, "single_task", 0, acc(0.5, 0.5), acc(0.5, 0.5), lr=0.1)
    base = stored(store, "single_task", 0, acc(0.95, 0.9), acc(0.8, 0.8))
    stored(store, "single_task", 0, acc(0.1, 0.1), acc(0.1, 0.1), params={"n_train": 500})  # other data
    stored(store, "single_task", 1, acc(0.1, 0.1), acc(0.1, 0.1), status="failed")
    runs = store.list_runs()
    found = find_baselines(store, runs[runs["id"].isin([mtl, mtl_seed1, mtl_three])])
    assert found == {mtl: base, mtl_seed1: None, mtl_three: None}
    assert base_other_lr != base  # the one with the same optimiser settings won
    table = delta_m_for_runs(store, [mtl, mtl_seed1, base], split="test").set_index("run_id")
    # test split: left -(0.88-0.8)/0.8 = -10 %, right -(0.82-0.8)/0.8 = -2.5 % -> -6.25 %
    assert table.loc[mtl, "delta_m"] == pytest.approx(-6.25)
    assert table.loc[mtl, "per_task"] == pytest.approx({"left": -10.0, "right": -2.5})
    assert table.loc[mtl, "baseline_id"] == base
    assert math.isnan(table.loc[mtl_seed1, "delta_m"]) and table.loc[mtl_seed1, "baseline_id"] is None
    assert table.loc[base, "delta_m"] == 0.0  # a baseline against itself
    val = delta_m_for_runs(store, [mtl], split="val").set_index("run_id")
    # val: left -(0.9-0.95)/0.95 = +5.263 %, right -(0.8-0.9)/0.9 = +11.111 %
    assert val.loc[mtl, "delta_m"] == pytest.approx((100 * 0.05 / 0.95 + 100 * 0.1 / 0.9) / 2)


def test_comparison_key_fills_defaults_and_all_tasks() -> None:
    a = comparison_key({"data": {"name": "multi_digits", "tasks": [], "params": {}}, "seed": 2})
    b = comparison_key({"data": {"name": "multi_digits", "tasks": ["sum", "right", "left"],
                                 "params": {"n_val": 1500}}, "seed": 2})
    assert a == b and a[2] == ("left", "right", "sum")


def test_baseline_config_keeps_data_seed_optimiser_and_trunk() -> None:
    config = RunConfig.from_dict({"data": {"name": "multi_digits", "tasks": ["left", "right"]}, "seed": 4,
                                  "model": {"architecture": "hps", "params": {}},
                                  "weighting": {"method": "static", "params": {"weights": [2.0, 0.5]}},
                                  "optim": {"lr": 0.01, "max_steps": 7}})
    base = baseline_config(config)
    assert base.model.architecture == "single_task" and base.weighting.method == "ew"
    assert base.seed == 4 and base.data == config.data and base.optim == config.optim
    assert comparison_key(base.to_dict()) == comparison_key(config.to_dict())


def test_metric_directions_come_from_the_catalogue() -> None:
    assert metric_directions("multi_digits") == {"left": {"accuracy": True}, "right": {"accuracy": True},
                                                  "sum": {"mae": False, "rmse": False}}
    with pytest.raises(ConfigError, match="no task"):
        metric_directions("multi_digits", ["middle"])


def test_delta_m_table_is_empty_for_no_runs(db_path: str) -> None:
    out = delta_m_for_runs(RunStore(db_path), [])
    assert isinstance(out, pd.DataFrame) and out.empty
