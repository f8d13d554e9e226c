"""The Runs page's Resume button: shown for a stopped or interrupted run with a checkpoint, it queues the
run again under the same id and hands it to a worker (replaced by a recorder here: nothing trains)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtlcore.runs import workers
from mtlcore.runs.store import RunStore
from tests.test_dashboard_runs_compare_sweep import app, assert_clean, filled  # noqa: F401  (fixture)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(workers, "start_worker", lambda store, run_id, threads=None: calls.append(run_id))
    return calls


def stop_with_checkpoint(store: RunStore, run_id: str, step: int, tmp_path: Path) -> None:
    path = tmp_path / f"{run_id}.pt"
    path.write_bytes(b"a checkpoint")  # never read: the worker that would read it is a recorder
    store.set_status(run_id, "stopped")
    store.set_checkpoint(run_id, str(path), step)


def test_resume_button_queues_a_stopped_run_under_the_same_id(filled: dict[str, Any], started: list[str],  # noqa: F811
                                                              tmp_path: Path) -> None:
    store, ids = filled["store"], filled["ids"]
    rid = ids["uw"]  # 300 steps stored
    stop_with_checkpoint(store, rid, 150, tmp_path)
    at = app("runs").run()
    at.multiselect(key="runs_selected").set_value([rid]).run()
    assert_clean(at)
    button = at.button(key="runs_resume")
    assert button.label == "Resume from step 150"
    button.click().run()
    assert_clean(at)
    assert started == [rid]
    run = store.get_run(rid)
    assert run["status"] == "queued" and run["step"] == 150
    assert int(store.metrics(rid, split="train", name="loss")["step"].max()) == 150  # later points dropped


def test_no_resume_for_a_finished_run_and_a_reason_without_checkpoint(filled: dict[str, Any],  # noqa: F811
                                                                       started: list[str]) -> None:
    store, ids = filled["store"], filled["ids"]
    at = app("runs").run()
    at.multiselect(key="runs_selected").set_value([ids["long"]]).run()
    assert not [b for b in at.button if b.key == "runs_resume"]
    store.set_status(ids["seed1"], "interrupted")
    at.multiselect(key="runs_selected").set_value([ids["seed1"]]).run()
    assert_clean(at)
    assert not [b for b in at.button if b.key == "runs_resume"]
    assert any("has no checkpoint" in t.value for t in at.text)
    assert started == []
