from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mtlcore.events import Evaluation, Finished, GradientStats, StepMetrics, WeightsChanged
from mtlcore.runs.store import SCHEMA_VERSION, RunStore, StoreError, event_rows

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"name": "demo", "seed": 1, "data": {"name": "multi_digits", "tasks": ["left", "right"]},
          "weighting": {"method": "ew"}, "model": {"architecture": "hps"}}


def test_round_trip(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run(CONFIG)
    run = store.get_run(rid)
    assert run is not None and run["config"] == CONFIG and run["status"] == "queued"
    assert run["dataset"] == "multi_digits" and run["tasks"] == ["left", "right"] and run["method"] == "ew"
    rows, evs = event_rows(StepMetrics(1, 0.1, 0.5, {"left": 2.0, "right": 3.0}, {"left": 1.0, "right": 1.0}))
    rows2, _ = event_rows(Evaluation(1, 0.1, 0.6, "val", {"left": 1.5}, {"left": {"loss": 1.5, "accuracy": 0.4}}))
    rows3, _ = event_rows(GradientStats(1, 0.1, 0.6, {"left": 1.0, "right": 2.0}, [[1, -0.5], [-0.5, 1]], True,
                                        {"left": 0.3, "right": 0.9}, ["left", "right"]))
    _, evs4 = event_rows(WeightsChanged(1, {"left": 0.2, "right": 0.8}))
    store.write_rows(rid, rows + rows2 + rows3, evs + evs4, step=1)
    df = store.metrics(rid)
    assert len(df) == len(rows + rows2 + rows3)
    assert store.metrics(rid, split="val", name="accuracy")["value"].tolist() == [0.4]
    cos = store.metrics(rid, split="grad", name="cosine")
    assert cos["task"].tolist() == ["left|right"] and cos["value"].tolist() == [-0.5]
    assert store.metrics(rid, split="grad", name="conflict")["value"].tolist() == [1.0]
    assert store.events(rid, "weights_changed")["payload"].tolist() == [{"left": 0.2, "right": 0.8}]
    store.set_status(rid, "finished", summary={"test": {"left": {"accuracy": 0.9}}})
    listed = store.list_runs()
    assert listed.loc[0, "status"] == "finished" and listed.loc[0, "summary"]["test"]["left"]["accuracy"] == 0.9
    store.rename(rid, "renamed")
    store.set_tags(rid, ["b", "a", " ", "a"])
    run = store.get_run(rid)
    assert run["name"] == "renamed" and run["tags"] == ["a", "b"]
    store.delete_run(rid)
    assert store.get_run(rid) is None and store.metrics(rid).empty


def test_controls(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run(CONFIG)
    assert store.read_control(rid) == (False, None, 0)
    store.set_live_weights(rid, [0.5, 2])
    assert store.read_control(rid) == (False, [0.5, 2.0], 1)
    store.request_stop(rid)
    assert store.read_control(rid)[0] is True


def test_wal_mode_and_schema_version(db_path: str) -> None:
    RunStore(db_path)
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this code"):
        RunStore(db_path)


def test_garbage_file_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="not a usable run database"):
        RunStore(str(bad))


WRITER = textwrap.dedent("""
    import sys, time
    from mtlcore.runs.store import RunStore
    store = RunStore(sys.argv[1])
    rid = sys.argv[2]
    store.set_status(rid, "running", pid=__import__("os").getpid(), host=store.host)
    for step in range(1, 100000):
        store.write_rows(rid, [(step, 0.0, 0.0, "train", "left", "loss", 1.0 / step)], step=step)
        if step == 50:
            print("ready", flush=True)
        time.sleep(0.002)
""")


def _start_writer(db_path: str, rid: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_path, rid], cwd=str(ROOT),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_database_of_an_older_version_gains_the_owner_column(tmp_path: Path) -> None:
    """Runs made before runs had owners keep their data and belong to nobody ('')."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        c.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', created REAL NOT NULL, "
                  "started REAL, ended REAL, status TEXT NOT NULL, config TEXT NOT NULL, "
                  "dataset TEXT NOT NULL DEFAULT '', tasks TEXT NOT NULL DEFAULT '[]', "
                  "method TEXT NOT NULL DEFAULT '', architecture TEXT NOT NULL DEFAULT '', "
                  "seed INTEGER NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', "
                  "summary TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]', "
                  "group_id TEXT NOT NULL DEFAULT '', pid INTEGER, host TEXT NOT NULL DEFAULT '', heartbeat REAL, "
                  "step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL DEFAULT 0)")
        c.execute("INSERT INTO runs (id, name, created, status, config) VALUES ('old1', 'kept', 1.0, 'finished', '{}')")
    store = RunStore(path)
    old = store.get_run("old1")
    assert old is not None and old["name"] == "kept" and old["owner"] == ""
    store.set_owner("old1", "h" * 64)
    assert RunStore(path).get_run("old1")["owner"] == "h" * 64  # reopening does not add it twice
    with sqlite3.connect(path) as c:  # marked as this version's now: older code refuses it (see packed_curves)
        assert c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert list(store.list_runs()["owner"]) == ["h" * 64]


def test_concurrent_reader_sees_growing_metrics(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run(CONFIG)
    proc = _start_writer(db_path, rid)
    try:
        counts = []
        for _ in range(5):
            counts.append(len(store.metrics(rid)))
            assert store.get_run(rid)["status"] == "running"
            time.sleep(0.1)
        assert counts == sorted(counts) and counts[-1] > counts[0] >= 50
    finally:
        proc.kill()
        proc.wait()


def test_killed_writer_becomes_interrupted_and_keeps_metrics(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run(CONFIG)
    proc = _start_writer(db_path, rid)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(store.metrics(rid))
    run = store.get_run(rid)
    assert run["status"] == "interrupted"
    assert "ended without finishing" in run["error"]
    assert kept >= 50 and len(store.metrics(rid)) == kept
    assert rid not in store.list_runs(status=["running"])["id"].tolist()


def test_stale_heartbeat_from_another_host_is_interrupted(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run(CONFIG, status="running")
    with store.transaction() as c:
        c.execute("UPDATE runs SET host='elsewhere', pid=1, heartbeat=? WHERE id=?", (time.time() - 3600, rid))
    assert store.get_run(rid)["status"] == "interrupted"


def test_claim_queued_respects_limit_and_order(db_path: str) -> None:
    store = RunStore(db_path)
    a = store.create_run(CONFIG)
    b = store.create_run(CONFIG)
    me = os.getpid()
    assert not store.claim_queued(b, me, limit=1)  # a is older
    assert store.claim_queued(a, me, limit=1)
    assert not store.claim_queued(b, me, limit=1)  # the limit is reached
    store.set_status(a, "finished")
    assert store.claim_queued(b, me, limit=1)
    assert not store.claim_queued(b, me, limit=1) and not store.claim_queued(b, me)  # taken once only


def test_ray_runs_neither_block_nor_fill_the_local_queue(db_path: str) -> None:
    """Ray's scheduler queues its own runs: they claim without a limit, and local runs neither wait
    behind a queued Ray run nor count a running one against MTL_MAX_CONCURRENT."""
    store = RunStore(db_path)
    me = os.getpid()
    on_ray = [store.create_run(CONFIG, executor="ray", pid=me) for _ in range(3)]
    local = store.create_run(CONFIG, pid=me)
    assert store.claim_queued(on_ray[0], me)
    assert store.claim_queued(local, me, limit=1)
    assert store.claim_queued(on_ray[2], me)  # out of order and over the local limit: Ray decides
    assert store.get_run(local)["executor"] == "local" and store.get_run(on_ray[1])["executor"] == "ray"


def test_stop_queued_and_owner(db_path: str) -> None:
    store = RunStore(db_path)
    a, b = store.create_run(CONFIG, group_id="g"), store.create_run(CONFIG, group_id="g")
    assert store.queued_ids("g") == [a, b]
    store.hand_to_process([a, b], os.getppid())  # a live process that is not this one
    assert store.get_run(a)["pid"] == os.getppid()
    assert store.claim_queued(a, os.getpid())
    assert not store.stop_queued(a) and store.stop_queued(b)
    assert store.get_run(b)["status"] == "stopped" and store.queued_ids("g") == []


def test_a_version_one_store_without_the_executor_column_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    RunStore(path).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE runs DROP COLUMN executor")
    con.execute("INSERT INTO runs (id, created, status, config) VALUES ('old', 1.0, 'finished', '{}')")
    con.commit()
    con.close()
    assert RunStore(path).get_run("old")["executor"] == "local"


def test_finished_event_rows_are_events_not_metrics() -> None:
    rows, evs = event_rows(Finished("failed", "boom", 0.0))
    assert rows == [] and evs[0][2] == "finished"


def test_a_run_is_recorded_with_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner goes into the same INSERT as the run: no moment where a started run belongs to nobody
    (which, without a teacher key, would let any browser steer it)."""
    from mtlcore.config import RunConfig
    from mtlcore.runs import workers

    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create_run(RunConfig().to_dict(), owner="o" * 64)
    assert store.get_run(rid)["owner"] == "o" * 64
    assert store.get_run(store.create_run(RunConfig().to_dict()))["owner"] == ""
    seen: list[str] = []
    real = RunStore.create_run

    def watched(self: RunStore, *args: object, **kwargs: object) -> str:
        run_id = real(self, *args, **kwargs)
        seen.append(self.get_run(run_id)["owner"])  # as the row is when it first exists
        return run_id

    store.create_run = watched.__get__(store)  # type: ignore[method-assign]
    monkeypatch.setattr(workers, "start_worker", lambda *a, **k: None)  # the row is what is tested
    started = workers.start_cold(RunConfig.from_dict({"optim": {"max_steps": 1}}), store, owner="p" * 64)
    assert seen == ["p" * 64] and store.get_run(started)["owner"] == "p" * 64
