"""The Ray path: a sweep given a Ray address runs as Ray tasks and lands in the same store.

A local Ray instance is started in this test (two CPUs, no dashboard) and the sweep is run by the
CLI in another process, which connects to it by address exactly as it would to a remote cluster
(the mtlcore package travels to the workers with the job). Ray is an optional extra
(requirements-ray.txt): without it the test is skipped, saying so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mtlcore.runs.store import RunStore
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.results import list_sweeps, sweep_table

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
def ray_address() -> str:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_sweep_runs_as_ray_tasks_into_the_same_store(ray_address: str, db_path: str, tmp_path: Path) -> None:
    sweep = SweepConfig.from_dict({
        "name": "on ray", "tasks": ["left", "right"], "grid_points": 2, "corners": True, "methods": ["ew"],
        "seeds": [3],
        "base": {"data": {"name": "multi_digits", "tasks": ["left", "right"],
                          "params": {"n_train": 256, "n_val": 128, "n_test": 128}},
                 "optim": {"batch_size": 64, "epochs": 100, "max_steps": 6}, "grad_stats_every": 0,
                 "threads": 1}})
    config = tmp_path / "sweep.json"
    config.write_text(sweep.to_json(), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mtlcore", "sweep", "--config", str(config), "--db", db_path,
                           "--ray", ray_address], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"on Ray at {ray_address}" in done.stderr
    store = RunStore(db_path)
    (group,) = list_sweeps(store)["group_id"]
    table = sweep_table(store, group)
    assert table["status"].tolist() == ["finished"] * 3
    assert table["label"].tolist() == ["static (0, 1)", "static (1, 0)", "ew"]
    assert (table["step"] == 6).all() and (table["seed"] == 3).all()
    for rid in table["run_id"]:
        run = store.get_run(rid)
        assert len(store.metrics(rid, split="train", name="loss")) == 12
        assert "left" in run["summary"]["test"]
    assert "status: finished 3" in done.stdout
