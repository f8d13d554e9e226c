"""Runs in worker processes: queue, stop, kill, live weights through the store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mtlcore import launch
from mtlcore.config import RunConfig
from mtlcore.store import RunStore
from tests.support.browser import wait_until

pytestmark = pytest.mark.slow


def cfg(max_steps: int, method: str = "ew", **params) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"name": "multi_digits", "tasks": ["left", "right"]},
        "weighting": {"method": method, "params": params},
        "optim": {"batch_size": 32, "epochs": 1000, "max_steps": max_steps},
        "threads": 1, "grad_stats_every": 0,
    })


def wait_for(pred, timeout: float = 60.0, every: float = 0.05):
    return wait_until(pred, timeout, "the run reaching the expected state", poll_s=every)


def test_worker_trains_to_the_end(db_path: str) -> None:
    store = RunStore(db_path)
    rid = launch.start(cfg(30), store)
    wait_for(lambda: store.get_run(rid)["status"] == "finished")
    run = store.get_run(rid)
    assert run["device"] == "cpu" and run["step"] == 30 and "test" in run["summary"]
    assert len(store.metrics(rid, split="train", name="loss")) == 60


def test_stop_within_a_second_keeps_points_and_live_weights(db_path: str) -> None:
    store = RunStore(db_path)
    rid = launch.start(cfg(1_000_000, "static", weights=[1.0, 1.0]), store)
    wait_for(lambda: len(store.metrics(rid, split="train", name="loss")) > 20)
    t = time.monotonic()
    store.set_live_weights(rid, [0.3, 1.7])
    wait_for(lambda: not store.events(rid, "weights_changed").empty, timeout=1.0, every=0.02)
    assert time.monotonic() - t < 1.0
    changed_at = int(store.events(rid, "weights_changed")["step"].iloc[0])
    t = time.monotonic()
    launch.stop(store, rid, grace_s=5.0)
    assert time.monotonic() - t < 1.0
    run = store.get_run(rid)
    assert run["status"] == "stopped"
    w = store.metrics(rid, split="train", name="weight")
    left = w[w.task == "left"].set_index("step")["value"]
    assert left.loc[changed_at] == 1.0 and left.loc[changed_at + 1] == pytest.approx(0.3)
    assert left.index.max() == run["step"]


def test_queue_limit_and_kill(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_MAX_CONCURRENT", "1")
    store = RunStore(db_path)
    first = launch.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(first)["status"] == "running")
    second = launch.start(cfg(20), store)
    time.sleep(1.0)
    assert store.get_run(second)["status"] == "queued"
    wait_for(lambda: len(store.metrics(first, split="train", name="loss")) > 10)
    os.killpg(store.get_run(first)["pid"], signal.SIGKILL)
    wait_for(lambda: store.get_run(first)["status"] == "interrupted")
    kept = len(store.metrics(first))
    assert kept > 10
    wait_for(lambda: store.get_run(second)["status"] == "finished")
    assert len(store.metrics(first)) == kept


def test_stopping_a_queued_run(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_MAX_CONCURRENT", "1")
    store = RunStore(db_path)
    first = launch.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(first)["status"] == "running")
    second = launch.start(cfg(20), store)
    launch.stop(store, second, grace_s=5.0)
    assert store.get_run(second)["status"] == "stopped"
    launch.stop(store, first, grace_s=5.0)
    assert store.get_run(first)["status"] == "stopped"


def test_terminate_during_set_up_is_a_clean_stop(db_path: str) -> None:
    store = RunStore(db_path)
    rid = launch.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(rid)["status"] == "running", every=0.01)
    launch.kill(store, rid)  # SIGTERM while the worker may still be importing torch or loading data
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["error"] == ""


def test_spawn_starts_a_detached_python_from_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one way workers start, cold (launch.start) or warm (dashboard.standby)."""
    monkeypatch.setenv("MTL_WORKER_THREADS", "3")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    log = tmp_path / "logs" / "child.log"
    log.parent.mkdir()
    log.write_text("earlier\n")
    code = ("import os, sys; print(os.environ['MTL_WORKER_THREADS'], os.environ['ONLY_DEFAULT'], "
            "os.getsid(0) == os.getpid(), os.getcwd(), os.environ['PYTHONPATH'], sys.stdin.read() == '')")
    proc = launch.spawn(["-c", code], log, env_defaults={"MTL_WORKER_THREADS": "9", "ONLY_DEFAULT": "d"})
    assert proc.wait(timeout=60) == 0
    earlier, out = log.read_text().splitlines()
    assert earlier == "earlier"  # appended, never truncated
    assert out.split() == ["3", "d", "True", str(launch.ROOT), f"{launch.ROOT}{os.pathsep}/elsewhere", "True"]
