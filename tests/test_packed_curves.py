"""An ended run's curves kept packed (mtlcore/runs/packing.py, RunStore.curves): the same points in
the same order as its rows, made when the run ends or on its first read, never stale."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlcore.runs import packing
from mtlcore.runs.store import RunStore

CONFIG = {"name": "packed", "data": {"name": "multi_digits", "tasks": ["left", "right"]}}
KEYS = [("train", "loss", "left"), ("train", "loss", "right"), ("val", "accuracy", "left"),
        ("grad", "cosine", "left|right"), ("train", "lr", "")]


def packed_rows(store: RunStore, rid: str) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM packed_curves WHERE run_id=?", (rid,)).fetchone()[0]


def expected(rows: list[tuple], key: tuple[str, str, str]) -> list[tuple[float, float]]:
    """The points of one curve as the rows say: values present, ordered by step (then value)."""
    return sorted((float(r[0]), float(r[6])) for r in rows if (r[3], r[5], r[4]) == key and r[6] is not None)


def as_points(curve: packing.Curve) -> list[tuple[float, float]]:
    return list(zip(curve[0].tolist(), curve[1].tolist()))


row_strategy = st.tuples(
    st.integers(0, 40),  # step: repeats and gaps
    st.sampled_from(KEYS),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=True, width=64)))


@settings(max_examples=40, deadline=None)
@given(points=st.lists(row_strategy, max_size=120))
def test_packed_curves_hold_the_rows_points_in_order(tmp_path_factory: pytest.TempPathFactory,
                                                    points: list[tuple]) -> None:
    store = RunStore(tmp_path_factory.mktemp("db") / "p.sqlite")
    rid = store.create_run(CONFIG, status="running")
    rows = [(step, step / 10, 0.0, split, task, name, value) for step, (split, name, task), value in points]
    store.write_rows(rid, rows, step=max((r[0] for r in rows), default=0))
    live = store.curves(rid, KEYS)  # running: from the rows
    assert packed_rows(store, rid) == 0
    store.set_status(rid, "finished")
    ended = store.curves(rid, KEYS)
    assert packed_rows(store, rid) == len({(r[3], r[5], r[4]) for r in rows if r[6] is not None})
    for key in KEYS:
        want = expected(rows, key)
        assert as_points(live[key]) == want and as_points(ended[key]) == want, key
        assert ended[key][0].dtype == ended[key][1].dtype == np.float64


def test_a_run_that_gets_rows_after_ending_is_never_read_stale(tmp_path: Path) -> None:
    """New rows (a late flush, a resumed run) drop the packed copy in the same transaction."""
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(CONFIG, status="running")
    store.write_rows(rid, [(1, 0.1, 0.0, "train", "left", "loss", 2.0)], step=1)
    store.set_status(rid, "finished")
    assert packed_rows(store, rid) == 1
    store.write_rows(rid, [(2, 0.2, 0.0, "train", "left", "loss", 1.0)], step=2)
    assert packed_rows(store, rid) == 0
    assert as_points(store.curves(rid, KEYS[:1])[KEYS[0]]) == [(1.0, 2.0), (2.0, 1.0)]
    assert packed_rows(store, rid) == 1  # ended, so packed again on that read


def test_resuming_drops_the_packed_copy_with_the_rows_after_the_checkpoint(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(CONFIG, status="running")
    store.write_rows(rid, [(s, s / 10, 0.0, "train", "left", "loss", 1.0 / s) for s in range(1, 6)], step=5)
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"x")
    store.set_checkpoint(rid, str(checkpoint), 3)
    store.set_status(rid, "stopped")
    assert packed_rows(store, rid) == 1
    store.prepare_resume(rid)
    assert packed_rows(store, rid) == 0
    assert [s for s, _ in as_points(store.curves(rid, KEYS[:1])[KEYS[0]])] == [1.0, 2.0, 3.0]


def test_a_run_ended_without_set_status_is_packed_on_its_first_read(tmp_path: Path) -> None:
    """Runs the reaper marked interrupted, and runs stored before packing existed."""
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(CONFIG, status="running")
    store.write_rows(rid, [(1, 0.1, 0.0, "train", "left", "loss", 2.0)], step=1)
    store.conn.execute("UPDATE runs SET status='interrupted' WHERE id=?", (rid,))
    assert packed_rows(store, rid) == 0
    assert as_points(store.curves(rid, KEYS[:1])[KEYS[0]]) == [(1.0, 2.0)]
    assert packed_rows(store, rid) == 1


def test_when_packing_fails_the_rows_still_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(CONFIG, status="running")
    store.write_rows(rid, [(1, 0.1, 0.0, "train", "left", "loss", 2.0)], step=1)

    def locked(_run_id: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "pack_curves", locked)
    store.set_status(rid, "finished")  # the status is kept; only the packed copy is missing
    assert store.get_run(rid)["status"] == "finished" and packed_rows(store, rid) == 0
    assert as_points(store.curves(rid, KEYS[:1])[KEYS[0]]) == [(1.0, 2.0)]


def test_deleting_a_run_deletes_its_packed_curves(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(CONFIG, status="running")
    store.write_rows(rid, [(1, 0.1, 0.0, "train", "left", "loss", 2.0)], step=1)
    store.set_status(rid, "finished")
    store.delete_run(rid)
    assert packed_rows(store, rid) == 0


def test_packed_numbers_are_exact_and_stored_little_endian() -> None:
    values = [0.1, -math.inf, 1e-300, 123456789.123456789]
    [(split, name, task, steps, vals)] = packing.pack([("val", "loss", "left", i, v) for i, v in enumerate(values)])
    assert (split, name, task) == ("val", "loss", "left")
    assert np.frombuffer(vals, dtype="<f8").tolist() == values
    assert packing.unpack(steps, vals)[0].tolist() == [0.0, 1.0, 2.0, 3.0]
