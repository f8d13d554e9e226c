"""Sweeps: config round trip and checks, the simplex grid, the plan, stopping and owning queued runs,
and a three-point Multi-Digits sweep trained end to end by the CLI on a local process pool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mtlcore import cli
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore
from mtlcore.runs.workers import train_queued
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.execute import stop_sweep, submit
from mtlcore.sweeps.plan import plan, simplex_grid
from mtlcore.sweeps.results import group_pareto, list_sweeps, status_counts, sweep_table

ROOT = Path(__file__).resolve().parent.parent
TINY_DATA = {"n_train": 256, "n_val": 128, "n_test": 128}


def tiny_sweep(**over) -> SweepConfig:
    raw = {
        "name": "tiny", "tasks": ["left", "right"], "grid_points": 3, "methods": [], "seeds": [0],
        "base": {"data": {"name": "multi_digits", "tasks": ["left", "right"], "params": TINY_DATA},
                 "optim": {"batch_size": 64, "lr": 0.01, "epochs": 100, "max_steps": 12},
                 "grad_stats_every": 4, "threads": 1},
    }
    raw.update(over)
    return SweepConfig.from_dict(raw)


# -- config -------------------------------------------------------------------------------------
def test_json_round_trip_is_exact() -> None:
    sweep = tiny_sweep(methods=["uw", "dwa"], method_params={"dwa": {"temperature": 3.0}}, seeds=[0, 5])
    again = SweepConfig.from_json(sweep.to_json())
    assert again == sweep and again.to_json() == sweep.to_json()
    assert isinstance(again.base, RunConfig)


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key"),
    ({"tasks": ["left"]}, "2 or 3 tasks"),
    ({"tasks": ["left", "right", "sum", "left"]}, "distinct task names"),
    ({"grid_points": 1}, "grid_points must be a whole number from 2 to 21"),
    ({"grid_points": 5.5}, "grid_points"),
    ({"methods": ["static"]}, "'static' weights are the grid"),
    ({"methods": ["no_such_method"]}, "unknown weighting method"),
    ({"methods": ["dwa"], "method_params": {"dwa": {"temp": 1}}}, "unknown parameter"),
    ({"method_params": {"uw": {}}}, "not in methods"),
    ({"seeds": []}, "seeds"),
    ({"seeds": [1, 1]}, "seeds"),
    ({"tasks": ["left", "middle"]}, "no task"),
    ({"grid_points": 11, "tasks": ["left", "right", "sum"], "seeds": list(range(8))}, "limit is 500"),
])
def test_bad_sweeps_are_explained(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_sweep(**change).validate()


def test_missing_file_and_bad_json_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        SweepConfig.load(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SweepConfig.from_json("{")


# -- grid and plan ------------------------------------------------------------------------------
def test_simplex_grid_for_two_tasks() -> None:
    assert simplex_grid(2, 5, corners=True) == [(0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)]
    inner = np.array(simplex_grid(2, 3))
    assert np.allclose(inner, [[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]])


def test_simplex_lattice_for_three_tasks() -> None:
    for points, expected in ((2, 3), (3, 6), (4, 10), (5, 15)):
        grid = np.array(simplex_grid(3, points, corners=True))
        assert len(grid) == expected == len({tuple(p) for p in grid.tolist()})
        assert np.allclose(grid.sum(axis=1), 1.0) and grid.min() >= 0
    inner = np.array(simplex_grid(3, 3))
    assert len(inner) == 6 and inner.min() > 0 and np.allclose(inner.sum(axis=1), 1.0)


def test_plan_builds_one_config_per_point_method_and_seed() -> None:
    sweep = tiny_sweep(grid_points=5, corners=True, methods=["uw", "dwa"], seeds=[0, 1])
    runs = plan(sweep)
    assert len(runs) == (5 + 2) * 2
    grid = [r for r in runs if r.kind == "grid"]
    assert [r.config.weighting.params["weights"] for r in grid[:5]] == [
        [0.0, 2.0], [0.5, 1.5], [1.0, 1.0], [1.5, 0.5], [2.0, 0.0]]  # simplex point x 2 tasks
    assert {r.config.weighting.method for r in runs if r.kind == "method"} == {"uw", "dwa"}
    assert sorted({r.seed for r in runs}) == [0, 1] and all(r.config.seed == r.seed for r in runs)
    assert all(r.config.data.tasks == ["left", "right"] and r.config.data.params == TINY_DATA for r in runs)
    assert runs[2].name == "tiny · static (0.5, 0.5) · seed 0"
    assert len({r.name for r in runs}) == len(runs)


def test_example_sweep_is_valid() -> None:
    sweep = SweepConfig.load(ROOT / "examples" / "sweep_multidigits.json")
    runs = plan(sweep)
    assert len(runs) == 7 and sum(r.kind == "grid" for r in runs) == 5


# -- recording, owning, stopping ----------------------------------------------------------------
def test_submit_records_queued_runs_in_one_group(db_path: str) -> None:
    store = RunStore(db_path)
    group = submit(tiny_sweep(methods=["ew"]), store)
    runs = store.list_runs(group_id=group)
    assert len(runs) == 4 and set(runs["status"]) == {"queued"}
    sweeps = list_sweeps(store)
    assert sweeps["group_id"].tolist() == [group] and int(sweeps["runs"].iloc[0]) == 4


def test_queued_runs_of_a_dead_owner_are_interrupted(db_path: str) -> None:
    store = RunStore(db_path)
    owner = subprocess.Popen(["sleep", "60"])
    group = submit(tiny_sweep(), store, owner_pid=owner.pid)
    assert status_counts(store, group) == {"queued": 3}
    owner.kill()
    owner.wait()
    assert status_counts(store, group) == {"interrupted": 3}


def test_stopped_sweep_never_trains_its_queued_runs(db_path: str) -> None:
    store = RunStore(db_path)
    group = submit(tiny_sweep(), store)
    assert stop_sweep(store, group) == 3
    assert [train_queued(db_path, rid) for rid in store.list_runs(group_id=group)["id"]] == ["stopped"] * 3
    assert status_counts(store, group) == {"stopped": 3}


def test_a_run_taken_by_another_executor_is_left_alone(db_path: str) -> None:
    store = RunStore(db_path)
    group = submit(tiny_sweep(), store)
    rid = store.list_runs(group_id=group)["id"].iloc[0]
    store.set_status(rid, "finished")
    assert train_queued(db_path, rid) == "finished"
    assert store.metrics(rid).empty


# -- end to end ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_three_point_sweep_trains_and_gives_its_pareto_front(db_path: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sweep.json"
    config.write_text(tiny_sweep().to_json(), encoding="utf-8")
    assert cli.main(["sweep", "--config", str(config), "--db", db_path, "--workers", "2"]) == 0
    out = capsys.readouterr().out
    store = RunStore(db_path)
    (group,) = list_sweeps(store)["group_id"]
    table = sweep_table(store, group)
    assert table["status"].tolist() == ["finished"] * 3
    assert table["point"].tolist() == [(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]  # inside the simplex
    assert (table["step"] == 12).all()
    for rid in table["run_id"]:  # each run trained and was evaluated like any other run
        assert len(store.metrics(rid, split="train", name="loss")) == 24
        assert not store.metrics(rid, split="grad", name="cosine").empty
    points, objectives, higher = group_pareto(store, group)
    assert objectives == ["left/accuracy", "right/accuracy"] and higher == [True, True]
    assert points["label"].tolist() == ["static (0.25, 0.75)", "static (0.5, 0.5)", "static (0.75, 0.25)"]
    values = points[objectives].to_numpy()
    expected = [not any((values[j] >= values[i]).all() and (values[j] > values[i]).any() for j in range(3))
                for i in range(3)]
    assert points["on_front"].tolist() == expected and any(expected)
    # the points hold the final validation accuracies the runs stored
    for ids, left, right in zip(points["run_ids"], points["left/accuracy"], points["right/accuracy"]):
        val = store.get_run(ids[0])["summary"]["val"]
        assert (left, right) == pytest.approx((val["left"]["accuracy"], val["right"]["accuracy"]))
    middle = store.get_run(points["run_ids"][1][0])
    assert middle["config"]["weighting"]["params"]["weights"] == [1.0, 1.0]
    assert "static (0.5, 0.5)" in out and "status: finished 3" in out
