"""The warm worker: a pre-imported process that trains the run the page hands it."""

from __future__ import annotations

import time

import pytest

from mtlcore.config import RunConfig
from mtlcore.runs import executor, workers
from mtlcore.runs.store import RunStore
from mtlcore.runs.workers import StandbyPool


def tiny_config() -> RunConfig:
    config = RunConfig(name="standby test")
    config.data.tasks = ["left", "right"]
    config.data.params = {"n_train": 64, "n_val": 32, "n_test": 32}
    config.optim.epochs = 10.0
    config.optim.max_steps = 3
    config.optim.batch_size = 32
    return config


def test_without_a_standby_the_pool_starts_a_cold_worker(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(workers, "start_cold",
                        lambda config, store, name="", group_id="", owner="": calls.append(name) or "cold")
    pool = StandbyPool(db_path)
    assert pool.start(tiny_config(), RunStore(db_path), name="n") == "cold"
    assert calls == ["n"]


@pytest.mark.slow
def test_the_standby_trains_the_run_it_is_handed(db_path: str) -> None:
    store = RunStore(db_path)
    pool = StandbyPool(db_path)
    pool.ensure()
    try:
        rid = pool.start(tiny_config(), store, name="warm")
        deadline = time.monotonic() + 180
        while store.get_run(rid)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
        run = store.get_run(rid)
        assert run["status"] == "finished", run["error"]
        assert run["name"] == "warm", run
        assert run["step"] == 3, run
        assert len(store.metrics(rid, split="train", name="loss")) == 6
    finally:
        pool.close()
        for rid in store.list_runs(status=["queued", "running"])["id"]:
            executor.kill(store, rid)


def test_with_a_ray_address_the_app_keeps_no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs go to the cluster then: a local standby would hold memory and CPU for nothing."""
    from dashboard.shared import state

    monkeypatch.setenv("MTL_STANDBY", "1")
    assert state.standby_enabled()
    monkeypatch.setenv(executor.RAY_ENV, "127.0.0.1:6379")
    assert not state.standby_enabled()
    assert executor.default_executor().kind == "ray"  # chosen without connecting
