"""Runs in local worker processes: queue, stop, kill, live weights through the store; how workers
start; and that no exited worker is left as a zombie."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mtlcore.config import RunConfig
from mtlcore.runs import executor, workers
from mtlcore.runs.store import RunStore
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


@pytest.mark.slow
def test_worker_trains_to_the_end(db_path: str) -> None:
    store = RunStore(db_path)
    rid = executor.start(cfg(30), store)
    wait_for(lambda: store.get_run(rid)["status"] == "finished")
    run = store.get_run(rid)
    assert run["device"] == "cpu" and run["step"] == 30 and "test" in run["summary"]
    assert len(store.metrics(rid, split="train", name="loss")) == 60


@pytest.mark.slow
def test_stop_within_a_second_keeps_points_and_live_weights(db_path: str) -> None:
    store = RunStore(db_path)
    rid = executor.start(cfg(1_000_000, "static", weights=[1.0, 1.0]), store)
    wait_for(lambda: len(store.metrics(rid, split="train", name="loss")) > 20)
    t = time.monotonic()
    store.set_live_weights(rid, [0.3, 1.7])
    wait_for(lambda: not store.events(rid, "weights_changed").empty, timeout=1.0, every=0.02)
    assert time.monotonic() - t < 1.0
    changed_at = int(store.events(rid, "weights_changed")["step"].iloc[0])
    t = time.monotonic()
    executor.stop(store, rid, grace_s=5.0)
    assert time.monotonic() - t < 1.0
    run = store.get_run(rid)
    assert run["status"] == "stopped"
    w = store.metrics(rid, split="train", name="weight")
    left = w[w.task == "left"].set_index("step")["value"]
    assert left.loc[changed_at] == 1.0 and left.loc[changed_at + 1] == pytest.approx(0.3)
    assert left.index.max() == run["step"]


@pytest.mark.slow
def test_queue_limit_and_kill(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_MAX_CONCURRENT", "1")
    store = RunStore(db_path)
    first = executor.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(first)["status"] == "running")
    second = executor.start(cfg(20), store)
    time.sleep(1.0)
    assert store.get_run(second)["status"] == "queued"
    wait_for(lambda: len(store.metrics(first, split="train", name="loss")) > 10)
    os.killpg(store.get_run(first)["pid"], signal.SIGKILL)
    wait_for(lambda: store.get_run(first)["status"] == "interrupted")
    kept = len(store.metrics(first))
    assert kept > 10
    wait_for(lambda: store.get_run(second)["status"] == "finished")
    assert len(store.metrics(first)) == kept


@pytest.mark.slow
def test_stopping_a_queued_run(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_MAX_CONCURRENT", "1")
    store = RunStore(db_path)
    first = executor.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(first)["status"] == "running")
    second = executor.start(cfg(20), store)
    executor.stop(store, second, grace_s=5.0)
    assert store.get_run(second)["status"] == "stopped"
    executor.stop(store, first, grace_s=5.0)
    assert store.get_run(first)["status"] == "stopped"


@pytest.mark.slow
def test_terminate_during_set_up_is_a_clean_stop(db_path: str) -> None:
    store = RunStore(db_path)
    rid = executor.start(cfg(1_000_000), store)
    wait_for(lambda: store.get_run(rid)["status"] == "running", every=0.01)
    executor.kill(store, rid)  # SIGTERM while the worker may still be importing torch or loading data
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["error"] == ""


def test_spawn_starts_a_detached_python_from_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one way workers start, cold (workers.start_cold) or warm (workers.StandbyPool).

    Nothing is injected into PYTHONPATH: the child runs from the project root, which puts the root
    first on its sys.path, so it imports this checkout's mtlcore (installed or not)."""
    monkeypatch.setenv("MTL_WORKER_THREADS", "3")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    log = tmp_path / "logs" / "child.log"
    log.parent.mkdir()
    log.write_text("earlier\n")
    code = ("import os, sys, mtlcore; print(os.environ['MTL_WORKER_THREADS'], os.environ['ONLY_DEFAULT'], "
            "os.getsid(0) == os.getpid(), os.getcwd(), os.environ['PYTHONPATH'], sys.stdin.read() == '', "
            "os.path.dirname(os.path.dirname(mtlcore.__file__)))")
    proc = workers.spawn(["-c", code], log, env_defaults={"MTL_WORKER_THREADS": "9", "ONLY_DEFAULT": "d"})
    assert proc.wait(timeout=60) == 0
    earlier, out = log.read_text().splitlines()
    assert earlier == "earlier"  # appended, never truncated
    assert out.split() == ["3", "d", "True", str(workers.ROOT), "/elsewhere", "True", str(workers.ROOT)]


def _zombie_children() -> list[int]:
    """Children of this process that exited but were not reaped (state Z in /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def test_exited_workers_are_reaped_without_anyone_polling(db_path: str) -> None:
    """A long-lived server spawns cold workers, standbys and sweep coordinators and never waits on
    them itself: each must be reaped as it exits, or `<defunct>` entries pile up."""
    store = RunStore(db_path)
    rid = store.create_run(cfg(5).to_dict(), status="queued")
    store.delete_run(rid)
    procs = [workers.start_worker(store, rid) for _ in range(3)]  # the run is gone: each exits at once
    procs.append(workers.spawn(["-c", "pass"], Path(db_path).parent / "logs" / "x.log"))
    wait_for(lambda: not workers.live_children(), timeout=60)
    wait_for(lambda: not _zombie_children(), timeout=5)
    assert [p.returncode for p in procs] == [2, 2, 2, 0]
