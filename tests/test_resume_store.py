"""Resuming a stored run: the store records the checkpoint, `mtl resume` continues the same run id, the
curve in the store goes on without gaps or duplicates and matches an uninterrupted run of the same seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlcore import trainer as trainer_module
from mtlcore.cli import main
from mtlcore.config import RunConfig
from mtlcore.events import Event, StepMetrics
from mtlcore.runs.runner import execute
from mtlcore.runs.states import resume_problem
from mtlcore.runs.store import RunStore

STOP_AFTER = 12
STEPS = 24


def config(method: str) -> RunConfig:
    return RunConfig.from_dict({
        "name": "resume", "seed": 1,
        "data": {"name": "multi_digits", "tasks": ["left", "right"]},
        "model": {"architecture": "hps"},
        "weighting": {"method": method},
        "optim": {"lr": 3e-3, "batch_size": 128, "epochs": 100.0, "max_steps": STEPS},
        "eval_every": 10, "grad_stats_every": 0, "threads": 1, "checkpoint_every": 5,
    })


def train_loss(store: RunStore, run_id: str) -> dict[tuple[int, str], float]:
    rows = store.metrics(run_id, split="train", name="loss")
    return {(int(r.step), r.task): float(r.value) for r in rows.itertuples()}


def stopped_run(store: RunStore, method: str) -> str:
    """A run whose stop is requested from inside the loop right after step STOP_AFTER is stored."""
    box: dict[str, str] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, StepMetrics) and event.step == STOP_AFTER:
            store.request_stop(box["id"])

    box["id"] = store.create_run(config(method).to_dict(), status="queued")
    execute(config(method), store, box["id"], on_event=on_event)
    return box["id"]


@pytest.fixture
def poll_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer_module, "POLL_EVERY_S", 0.0)


@pytest.mark.parametrize("method", ["famo", "db_mtl"])
def test_cli_resume_continues_the_same_run(method: str, tmp_path: Path, poll_every_step: None,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = RunStore(str(tmp_path / "runs.sqlite"))
    whole = execute(config(method), store)
    run_id = stopped_run(store, method)
    run = store.get_run(run_id)
    assert run["status"] == "stopped" and run["checkpoint_step"] == STOP_AFTER
    assert Path(run["checkpoint"]) == tmp_path / "checkpoints" / f"{run_id}.pt" and Path(run["checkpoint"]).is_file()

    assert main(["resume", run_id, "--db", store.path, "--quiet"]) == 0
    assert f"resuming from step {STOP_AFTER}" in capsys.readouterr().err
    done = store.get_run(run_id)
    assert done["status"] == "finished" and done["summary"]["steps"] == STEPS
    assert done["checkpoint"] == "" and not (tmp_path / "checkpoints" / f"{run_id}.pt").exists()  # disk freed
    expected, got = train_loss(store, whole), train_loss(store, run_id)
    assert sorted(got) == sorted(expected)  # every step once: no gap, no duplicate
    assert max(abs(expected[k] - got[k]) for k in expected) <= 1e-6
    assert len(store.metrics(run_id, split="train", name="loss")) == 2 * STEPS
    kinds = store.events(run_id)["kind"].tolist()
    assert kinds.count("finished") == 1  # the stop's end was replaced by the real one


def test_an_interrupted_run_resumes_from_its_last_periodic_checkpoint(tmp_path: Path) -> None:
    """A process killed at step 12 (checkpoints every 5): the points after step 10 are dropped and
    written again by the resumed run."""
    store = RunStore(str(tmp_path / "runs.sqlite"))
    whole = execute(config("uw"), store)

    def crash(event: Event) -> None:
        if isinstance(event, StepMetrics) and event.step == STOP_AFTER:
            raise KeyboardInterrupt("killed")

    run_id = store.create_run(config("uw").to_dict(), status="queued")
    with pytest.raises(KeyboardInterrupt):
        execute(config("uw"), store, run_id, on_event=crash)
    store.set_status(run_id, "interrupted")
    assert store.get_run(run_id)["checkpoint_step"] == 10
    assert max(step for step, _ in train_loss(store, run_id)) == STOP_AFTER
    assert main(["resume", run_id, "--db", store.path, "--quiet"]) == 0
    expected, got = train_loss(store, whole), train_loss(store, run_id)
    assert sorted(got) == sorted(expected)
    assert max(abs(expected[k] - got[k]) for k in expected) <= 1e-6


def test_only_stopped_or_interrupted_runs_with_a_checkpoint_resume(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = RunStore(str(tmp_path / "runs.sqlite"))
    cfg = config("ew")
    cfg.optim.max_steps, cfg.checkpoint_every = 3, 0
    finished = execute(cfg, store)
    assert "finished" in resume_problem(store.get_run(finished))
    assert main(["resume", finished, "--db", store.path]) == 2
    assert "only a stopped or interrupted run" in capsys.readouterr().err
    assert main(["resume", "nope", "--db", store.path]) == 2
    stopped = store.create_run(cfg.to_dict(), status="stopped")
    assert "no checkpoint" in resume_problem(store.get_run(stopped))
    store.set_checkpoint(stopped, str(tmp_path / "gone.pt"), 2)
    assert "missing" in resume_problem(store.get_run(stopped))
    with pytest.raises(ValueError, match="missing"):
        store.prepare_resume(stopped)


def test_deleting_a_run_deletes_its_checkpoint(tmp_path: Path, poll_every_step: None) -> None:
    store = RunStore(str(tmp_path / "runs.sqlite"))
    run_id = stopped_run(store, "ew")
    path = Path(store.get_run(run_id)["checkpoint"])
    assert path.is_file()
    store.delete_run(run_id)
    assert not path.exists()
