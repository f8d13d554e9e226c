"""Train-page runs on Ray: with MTL_RAY_ADDRESS set, a run started like any Train-page run becomes a
Ray task writing into the same store, streams its points while it trains, takes live weights and
stops exactly as a local run does. A local Ray instance is started in this process (two CPUs, no
dashboard), as in test_ray_sweep.py. Ray is an optional extra: without it the test is skipped.
"""

from __future__ import annotations

import time

import pytest

from mtlcore.config import RunConfig
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore
from tests.support.browser import wait_until

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")

pytestmark = pytest.mark.slow


def cfg(max_steps: int) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"name": "multi_digits", "tasks": ["left", "right"]},
        "weighting": {"method": "static", "params": {"weights": [1.0, 1.0]}},
        "optim": {"batch_size": 32, "epochs": 1000, "max_steps": max_steps},
        "threads": 1, "grad_stats_every": 0,
    })


@pytest.fixture
def ray_address(monkeypatch: pytest.MonkeyPatch) -> str:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        monkeypatch.setenv(executor.RAY_ENV, address)
        yield address
    finally:
        ray.shutdown()


def test_train_page_runs_go_to_ray_and_stream_steer_and_stop(ray_address: str, db_path: str) -> None:
    store = RunStore(db_path)
    assert executor.default_executor().kind == "ray"
    rid = executor.start(cfg(1_000_000), store, name="on ray")
    assert store.get_run(rid)["executor"] == "ray"
    losses = lambda: len(store.metrics(rid, split="train", name="loss"))  # noqa: E731
    wait_until(lambda: losses() > 20, 240, "the Ray run's first points", poll_s=0.1)
    seen = losses()
    wait_until(lambda: losses() > seen + 20, 30, "more points while the run trains", poll_s=0.1)
    assert store.get_run(rid)["status"] == "running"
    store.set_live_weights(rid, [0.3, 1.7])
    wait_until(lambda: not store.events(rid, "weights_changed").empty, 5, "the live weights reaching the task")
    t = time.monotonic()
    executor.stop(store, rid, grace_s=10.0)
    assert time.monotonic() - t < 5.0
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["error"] == ""
    w = store.metrics(rid, split="train", name="weight")
    left = w[w.task == "left"].set_index("step")["value"]
    assert left.iloc[-1] == pytest.approx(0.3) and left.index.max() == run["step"]

    done = executor.start(cfg(15), store, name="short")
    wait_until(lambda: store.get_run(done)["status"] not in ("queued", "running"), 240, "the short Ray run ending")
    finished = store.get_run(done)
    assert finished["status"] == "finished", finished["error"]
    assert finished["step"] == 15 and len(store.metrics(done, split="train", name="loss")) == 30


def test_killing_a_ray_run_cancels_its_task(ray_address: str, db_path: str) -> None:
    store = RunStore(db_path)
    rid = executor.start(cfg(1_000_000), store)
    wait_until(lambda: len(store.metrics(rid, split="train", name="loss")) > 4, 240, "the Ray run's first points")
    executor.kill(store, rid)
    run = store.get_run(rid)
    assert run["status"] == "stopped"
    kept = len(store.metrics(rid))
    time.sleep(1.0)
    assert len(store.metrics(rid)) == kept  # nothing trains any more
