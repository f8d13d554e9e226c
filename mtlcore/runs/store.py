"""The run store: one SQLite file (WAL) that training processes write and every page reads.

Why SQLite: runs and their metrics must survive the process that wrote them, be readable while a
worker writes (WAL gives concurrent readers and one writer), and need no server. Metrics are kept
in long format (run, step, split, task, name, value) so any chart or export is one indexed query.
A run whose process died is reported as `interrupted`, never as running forever.
No torch import: pages use this module directly.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from mtlcore.runs import packing
from mtlcore.runs.faults import StoreError, storage_fault
from mtlcore.runs.rows import event_rows  # noqa: F401  (re-exported: rows as the store writes them)
from mtlcore.runs.states import pid_alive, resume_problem

# 2: packed_curves, which code of version 1 would leave stale when it appends a run's rows
SCHEMA_VERSION = 2
DEFAULT_DB = os.path.join("runs", "mtl.sqlite")
ACTIVE = ("queued", "running")
TERMINAL = ("finished", "stopped", "failed", "diverged", "interrupted")
STALE_AFTER_S = 60.0  # a running run whose heartbeat is older than this (on another host) is dead
LOCAL = "local"  # executors: local worker processes queue under a limit; Ray's scheduler queues its own
EXECUTORS = (LOCAL, "ray")
# columns added after schema version 1 shipped: added in place (old code reads and writes them fine)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    dataset TEXT NOT NULL DEFAULT '',
    tasks TEXT NOT NULL DEFAULT '[]',
    method TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0,
    device TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '[]',
    group_id TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    host TEXT NOT NULL DEFAULT '',
    heartbeat REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    executor TEXT NOT NULL DEFAULT 'local',
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_id);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    time REAL NOT NULL,
    split TEXT NOT NULL,
    task TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, split, name, step);
-- one curve (run, split, name, task) read in step order from the index alone: the compare page
-- reads a few hundred thousand points per view, and table lookups would cost 3x as much
CREATE INDEX IF NOT EXISTS metrics_trace ON metrics(run_id, split, name, task, step, value);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, kind);
-- an ended run's curves, one row each, steps and values as float64 arrays (see packing.py): made when the
-- run ends (or on its first read), dropped whenever the run's rows change
CREATE TABLE IF NOT EXISTS packed_curves (
    run_id TEXT NOT NULL, split TEXT NOT NULL, name TEXT NOT NULL, task TEXT NOT NULL,
    steps BLOB NOT NULL, vals BLOB NOT NULL, PRIMARY KEY (run_id, split, name, task)
);
CREATE TABLE IF NOT EXISTS controls (
    run_id TEXT PRIMARY KEY,
    stop INTEGER NOT NULL DEFAULT 0,
    weights TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
"""


def default_db_path() -> str:
    return os.environ.get("MTL_DB") or DEFAULT_DB


# columns added after a database may have been created: (table, column, declaration)
_ADDED_COLUMNS = (
    ("runs", "executor", "TEXT NOT NULL DEFAULT 'local'"),
    ("runs", "owner", "TEXT NOT NULL DEFAULT ''"),
    # the run's last resumable checkpoint (a file beside the database) and its step
    ("runs", "checkpoint", "TEXT NOT NULL DEFAULT ''"),
    ("runs", "checkpoint_step", "INTEGER NOT NULL DEFAULT 0"),
)


def _add_missing_columns(c: sqlite3.Connection) -> None:
    """Bring a database made by an older version up to the current columns (its rows keep their data)."""
    for table, column, declaration in _ADDED_COLUMNS:
        have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


class RunStore:
    """Thread-safe handle: one SQLite connection per thread, all sharing the file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or default_db_path())
        parent = Path(self.path).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = (f"{next(p for p in (parent, *parent.parents) if p.is_file())} is a file, not a folder"
                   if any(p.is_file() for p in (parent, *parent.parents)) else exc.strerror or exc)
            raise StoreError(f"cannot create the folder {parent} for the run database {self.path}: "
                             f"{why}; use a writable path with --db or MTL_DB") from None
        self._local = threading.local()
        self.host = socket.gethostname()
        self._init_schema()

    # -- connection -----------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            c.execute("PRAGMA busy_timeout = 30000")
            c.execute("PRAGMA journal_mode = WAL")
            c.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = c
        return c

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; a storage fault (disk full, read-only) comes out as a StoreError."""
        c = self.conn
        try:
            c.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield c
            except BaseException:
                if c.in_transaction:  # SQLite itself rolls back on a full disk
                    c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if c.in_transaction:
                c.execute("ROLLBACK")
            fault = storage_fault(self.path, exc)
            if fault is None:
                raise
            raise fault from None

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def _init_schema(self) -> None:
        try:
            with self.transaction(immediate=True) as c:
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    c.execute(stmt)
                _add_missing_columns(c)
                row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) < SCHEMA_VERSION:  # brought up to date above: older code now refuses it
                    c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
                elif int(row[0]) > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} has schema version {row[0]}, newer than this code's "
                        f"{SCHEMA_VERSION}: update MTL Playground or use another --db")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise storage_fault(self.path, exc) or StoreError(
                f"{self.path} is not a usable run database ({exc})") from None

    # -- runs -----------------------------------------------------------------------------------
    def create_run(self, config: dict[str, Any], status: str = "queued", name: str = "",
                   group_id: str = "", run_id: str | None = None, executor: str = LOCAL,
                   pid: int | None = None, owner: str = "") -> str:
        """Record a run; `pid` is the process that owns it while it waits (see `reap`); `owner` the
        hash of the browser that started it, in the same INSERT (no moment without its owner)."""
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
        rid = run_id or uuid.uuid4().hex[:12]
        data = config.get("data", {})
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs (id, name, created, status, config, dataset, tasks, method, "
                "architecture, seed, device, group_id, host, executor, pid, owner) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rid, name or config.get("name", "") or "", time.time(), status,
                 json.dumps(config, sort_keys=True), data.get("name", ""),
                 json.dumps(data.get("tasks", [])), config.get("weighting", {}).get("method", ""),
                 config.get("model", {}).get("architecture", ""), int(config.get("seed", 0)),
                 config.get("device", ""), group_id, self.host, executor, pid, owner))
            c.execute("INSERT INTO controls (run_id, updated) VALUES (?, ?)", (rid, time.time()))
        return rid

    def set_status(self, run_id: str, status: str, error: str = "", **fields: Any) -> None:
        sets = ["status = ?"]
        vals: list[Any] = [status]
        if error:
            sets.append("error = ?")
            vals.append(error)
        if status in TERMINAL:
            sets.append("ended = ?")
            vals.append(time.time())
        for k, v in fields.items():
            sets.append(f"{k} = ?")
            vals.append(json.dumps(v) if isinstance(v, (dict, list)) else v)
        vals.append(run_id)
        with self.transaction() as c:
            c.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", vals)
        if status in TERMINAL:
            with suppress(StoreError, sqlite3.Error):  # only the fast read is lost: Compare reads the rows
                self.pack_curves(run_id)

    def claim_queued(self, run_id: str, pid: int, limit: int | None = None) -> bool:
        """The one claim protocol: atomically move a queued run to running, owned by `pid`.

        With `limit` (local workers): only while fewer than `limit` local runs are running and this
        run is the oldest queued local run, so the queue is first come, first served. Without (Ray,
        whose own scheduler queues tasks): whenever the run is still queued. False when it may not
        start yet, or someone else took it, or it is no longer queued.
        """
        if limit is not None:
            self.reap()
        with self.transaction(immediate=True) as c:
            if limit is not None:
                # external runs (users' own loops, mtlcore.tracking) use their own machines' slots
                running = c.execute("SELECT COUNT(*) FROM runs WHERE status='running' AND executor=? "
                                    "AND json_extract(config, '$.external') IS NULL", (LOCAL,)).fetchone()[0]
                first = c.execute("SELECT id FROM runs WHERE status='queued' AND executor=? "
                                  "ORDER BY created, id LIMIT 1", (LOCAL,)).fetchone()
                if running >= limit or first is None or first[0] != run_id:
                    return False
            now = time.time()
            cur = c.execute("UPDATE runs SET status='running', started=?, pid=?, host=?, heartbeat=? "
                            "WHERE id=? AND status='queued'", (now, pid, self.host, now, run_id))
            return cur.rowcount == 1

    def stop_queued(self, run_id: str) -> bool:
        """Mark a run stopped if it is still queued (it never trained); True if it was."""
        with self.transaction() as c:
            cur = c.execute("UPDATE runs SET status='stopped', ended=? WHERE id=? AND status='queued'",
                            (time.time(), run_id))
            return cur.rowcount == 1

    def queued_ids(self, group_id: str) -> list[str]:
        """The queued runs of a group, oldest first (the order they were planned in)."""
        rows = self.conn.execute("SELECT id FROM runs WHERE status='queued' AND group_id=? ORDER BY created, id",
                                 (group_id,)).fetchall()
        return [r[0] for r in rows]

    def hand_to_process(self, run_ids: Sequence[str], pid: int, executor: str | None = None) -> None:
        """The process `pid` on this host now owns these queued runs (they die with it); with
        `executor`, they are also moved to that executor's queue."""
        if executor is not None and executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
        with self.transaction() as c:
            c.executemany("UPDATE runs SET pid=?, host=?, executor=COALESCE(?, executor) "
                          "WHERE id=? AND status='queued'",
                          [(pid, self.host, executor, rid) for rid in run_ids])

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        self.reap()
        cur = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row))
        for key in ("config", "summary", "tags", "tasks"):
            out[key] = json.loads(out[key])
        return out

    def list_runs(self, status: Sequence[str] | None = None, group_id: str | None = None) -> pd.DataFrame:
        """One row per run, newest first; JSON columns decoded."""
        self.reap()
        q = "SELECT * FROM runs"
        where, args = [], []
        if status:
            where.append(f"status IN ({','.join('?' * len(status))})")
            args += list(status)
        if group_id is not None:
            where.append("group_id = ?")
            args.append(group_id)
        if where:
            q += " WHERE " + " AND ".join(where)
        df = pd.read_sql_query(q + " ORDER BY created DESC", self.conn, params=args)
        for key in ("config", "summary", "tags", "tasks"):
            df[key] = df[key].map(json.loads)
        df["duration"] = (df["ended"].fillna(time.time()) - df["started"]).where(df["started"].notna())
        return df

    def rename(self, run_id: str, name: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id))

    def set_owner(self, run_id: str, owner: str) -> None:
        """Record who may steer, stop and delete the run (a hash of a browser session's secret)."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET owner=? WHERE id=?", (owner, run_id))

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        clean = sorted({t.strip() for t in tags if t and t.strip()})
        with self.transaction() as c:
            c.execute("UPDATE runs SET tags=? WHERE id=?", (json.dumps(clean), run_id))

    def delete_run(self, run_id: str) -> None:
        row = self.conn.execute("SELECT checkpoint FROM runs WHERE id=?", (run_id,)).fetchone()
        with self.transaction() as c:
            for table, col in (("metrics", "run_id"), ("packed_curves", "run_id"), ("events", "run_id"),
                               ("controls", "run_id"), ("runs", "id")):
                c.execute(f"DELETE FROM {table} WHERE {col}=?", (run_id,))
        if row and row[0]:
            Path(row[0]).unlink(missing_ok=True)

    # -- checkpoints and resuming -----------------------------------------------------------------
    def set_checkpoint(self, run_id: str, path: str, step: int) -> None:
        """Record the run's newest checkpoint (written by the trainer, after the rows up to `step`)."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET checkpoint=?, checkpoint_step=? WHERE id=?", (str(path), int(step), run_id))

    def prepare_resume(self, run_id: str, pid: int | None = None) -> dict[str, Any]:
        """Queue a stopped or interrupted run again from its checkpoint: the points and events after the
        checkpoint's step are dropped (the resumed run writes them again), the stop request is cleared.
        Raises ValueError (with the reason) when the run cannot be resumed."""
        run = self.get_run(run_id)
        problem = resume_problem(run)
        if problem is not None:
            raise ValueError(problem)
        assert run is not None
        step = int(run["checkpoint_step"])
        with self.transaction(immediate=True) as c:
            cur = c.execute("UPDATE runs SET status='queued', error='', ended=NULL, step=?, pid=?, host=?, "
                            "executor=? WHERE id=? AND status IN ('stopped','interrupted')",
                            (step, pid, self.host, LOCAL, run_id))
            if cur.rowcount != 1:
                raise ValueError(f"run {run_id} changed while it was being resumed")
            c.execute("DELETE FROM metrics WHERE run_id=? AND step>?", (run_id, step))
            c.execute("DELETE FROM packed_curves WHERE run_id=?", (run_id,))
            c.execute("DELETE FROM events WHERE run_id=? AND (step>? OR kind='finished')", (run_id, step))
            c.execute("UPDATE controls SET stop=0, version=version+1, updated=? WHERE run_id=?",
                      (time.time(), run_id))
        resumed = self.get_run(run_id)
        assert resumed is not None
        return resumed

    def reap(self) -> list[str]:
        """Mark runs whose worker died as interrupted; their metrics stay."""
        now = time.time()
        rows = self.conn.execute(
            "SELECT id, pid, host, heartbeat, status, created FROM runs WHERE status IN ('queued','running')"
        ).fetchall()
        dead = []
        for rid, pid, host, hb, _status, created in rows:
            if host == self.host and pid:
                is_dead = not pid_alive(pid)
            else:
                is_dead = (hb or created) < now - STALE_AFTER_S
            if is_dead:
                dead.append(rid)
        for rid in dead:
            with self.transaction() as c:
                c.execute("UPDATE runs SET status='interrupted', ended=?, error=CASE WHEN error='' "
                          "THEN 'the training process ended without finishing (killed or crashed)' "
                          "ELSE error END WHERE id=? AND status IN ('queued','running')", (now, rid))
        return dead

    # -- controls (stop and live weights) -------------------------------------------------------
    def request_stop(self, run_id: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE controls SET stop=1, version=version+1, updated=? WHERE run_id=?",
                      (time.time(), run_id))

    def set_live_weights(self, run_id: str, weights: Sequence[float]) -> None:
        with self.transaction() as c:
            c.execute("UPDATE controls SET weights=?, version=version+1, updated=? WHERE run_id=?",
                      (json.dumps([float(w) for w in weights]), time.time(), run_id))

    def read_control(self, run_id: str) -> tuple[bool, list[float] | None, int]:
        row = self.conn.execute("SELECT stop, weights, version FROM controls WHERE run_id=?",
                                (run_id,)).fetchone()
        if row is None:
            return False, None, 0
        return bool(row[0]), (json.loads(row[1]) if row[1] else None), int(row[2])

    # -- metrics --------------------------------------------------------------------------------
    def write_rows(self, run_id: str, rows: list[tuple], events: list[tuple] | None = None,
                   step: int | None = None) -> None:
        """One transaction per flush: metric rows, event rows, progress and heartbeat."""
        with self.transaction() as c:
            if rows:
                c.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?,?)",
                              [(run_id, *r) for r in rows])
                c.execute("DELETE FROM packed_curves WHERE run_id=?", (run_id,))  # stale now
            if events:
                c.executemany("INSERT INTO events VALUES (?,?,?,?,?)", [(run_id, *e) for e in events])
            if step is not None:
                c.execute("UPDATE runs SET heartbeat=?, step=? WHERE id=?", (time.time(), step, run_id))
            else:
                c.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))

    def metrics(self, run_ids: str | Sequence[str], split: str | Sequence[str] | None = None,
                name: str | Sequence[str] | None = None, since_step: int | None = None) -> pd.DataFrame:
        """Long-format metrics: run_id, step, epoch, time, split, task, name, value."""
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        q = f"SELECT * FROM metrics WHERE run_id IN ({','.join('?' * len(ids))})"
        args: list[Any] = list(ids)
        for col, val in (("split", split), ("name", name)):
            if val is not None:
                vals = [val] if isinstance(val, str) else list(val)
                q += f" AND {col} IN ({','.join('?' * len(vals))})"
                args += vals
        if since_step is not None:
            q += " AND step > ?"
            args.append(since_step)
        return pd.read_sql_query(q + " ORDER BY run_id, step", self.conn, params=args)

    def curve_rows(self, run_id: str, split: str, name: str, task: str) -> list[tuple[float, float]]:
        """(step, value) of one curve in step order, read from the `metrics_trace` index alone."""
        return self.conn.execute(
            "SELECT step, value FROM metrics WHERE run_id=? AND split=? AND name=? AND task=? "
            "AND value IS NOT NULL ORDER BY step, value", (run_id, split, name, task)).fetchall()

    def pack_curves(self, run_id: str) -> dict[packing.CurveKey, packing.Curve] | None:
        """Keep an ended run's curves as one row each (packed_curves) and return them; None (nothing
        kept) while the run is queued or running."""
        with self.transaction(immediate=True) as c:
            row = c.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row[0] not in TERMINAL:
                return None
            c.execute("DELETE FROM packed_curves WHERE run_id=?", (run_id,))
            rows = c.execute("SELECT split, name, task, step, value FROM metrics WHERE run_id=? AND value IS NOT "
                             "NULL ORDER BY split, name, task, step, value", (run_id,)).fetchall()
            packed = packing.pack(rows)
            c.executemany("INSERT INTO packed_curves VALUES (?,?,?,?,?,?)", [(run_id, *curve) for curve in packed])
        return {(split, name, task): packing.unpack(x, y) for split, name, task, x, y in packed}

    def curves(self, run_id: str, keys: Sequence[packing.CurveKey]) -> dict[packing.CurveKey, packing.Curve]:
        """Curves (split, name, task) of one run as (steps, values), empty arrays where it has none: an
        ended run's from its packed copy (made here if it has none yet), an active run's from its rows.
        Same points in the same order either way."""
        packed = self._packed(run_id)
        row = None if packed else self.conn.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is not None and row[0] in TERMINAL:  # no lock taken for an active run's reads
            with suppress(StoreError, sqlite3.Error):  # a locked or read-only file: the rows still answer
                packed = self.pack_curves(run_id) or {}
        if packed:
            return {k: packed.get(k) or packing.as_arrays([]) for k in keys}
        return {k: packing.as_arrays(self.curve_rows(run_id, *k)) for k in keys}

    def _packed(self, run_id: str) -> dict[packing.CurveKey, packing.Curve]:
        return {(split, name, task): packing.unpack(x, y) for split, name, task, x, y in self.conn.execute(
            "SELECT split, name, task, steps, vals FROM packed_curves WHERE run_id=?", (run_id,))}

    def clock_rows(self, run_id: str, task: str) -> list[tuple[float, float]]:
        """(step, wall time) of the run's training steps, from `task`'s training loss rows."""
        return self.conn.execute(
            "SELECT step, time FROM metrics WHERE run_id=? AND split='train' AND name='loss' AND task=? "
            "ORDER BY step", (run_id, task)).fetchall()

    def events(self, run_id: str, kind: str | None = None) -> pd.DataFrame:
        q, args = "SELECT * FROM events WHERE run_id=?", [run_id]
        if kind:
            q += " AND kind=?"
            args.append(kind)
        df = pd.read_sql_query(q + " ORDER BY rowid", self.conn, params=args)
        df["payload"] = df["payload"].map(json.loads)
        return df
