"""Divergence ends a run as "diverged"; a task stuck at chance is flagged; runs can go on until stopped."""

from __future__ import annotations

import pytest

from mtlcore.config import RunConfig
from mtlcore.events import Alert, Evaluation, Finished, Started, StepMetrics
from mtlcore.health import WINDOW, HealthWatch, TrainingDiverged
from mtlcore.registry import ConfigError
from mtlcore.runs.runner import execute
from mtlcore.runs.store import RunStore
from mtlcore.trainer import LocalControl, Trainer, train
from tests.test_trainer import digits_config


def test_loss_growth_past_the_factor_is_divergence_naming_task_and_step() -> None:
    watch = HealthWatch(["a", "b"], {}, diverge_factor=100.0, chance_evals=0)
    for step in range(1, WINDOW + 1):
        watch.observe_losses(step, [2.0, 1.0])
    watch.observe_losses(11, [2.0, 500.0])  # one spike of 500x in a window of 10: a mean of ~51x
    with pytest.raises(TrainingDiverged, match=r"task 'b'.*step 12.*Lower the learning rate"):
        watch.observe_losses(12, [2.0, 1e4])


def test_ordinary_noise_and_a_task_near_zero_are_not_divergence() -> None:
    watch = HealthWatch(["a", "b"], {}, diverge_factor=100.0, chance_evals=0)
    for step in range(1, 200):
        watch.observe_losses(step, [2.0 + (step % 7) * 0.5, 1e-6 * step])  # b rises, but stays tiny
    rising = HealthWatch(["c"], {}, diverge_factor=100.0, chance_evals=0)
    for step in range(1, 200):
        rising.observe_losses(step, [1.0 + step / 10])  # a starved task drifting up 20x is not a blow-up
    off = HealthWatch(["a"], {}, diverge_factor=0.0, chance_evals=0)
    for step in range(1, 50):
        off.observe_losses(step, [10.0 ** step])


def test_chance_level_is_flagged_once_after_the_stated_number_of_evaluations() -> None:
    watch = HealthWatch(["left", "sum"], {"left": 10}, diverge_factor=0.0, chance_evals=3)
    assert watch.observe_evaluation(10, {"left": {"accuracy": 0.11}}) == []
    assert watch.observe_evaluation(20, {"left": {"accuracy": 0.40}}) == []  # learning: the count restarts
    assert watch.observe_evaluation(30, {"left": {"accuracy": 0.12}}) == []
    assert watch.observe_evaluation(40, {"left": {"accuracy": 0.09}}) == []
    alerts = watch.observe_evaluation(50, {"left": {"accuracy": 0.14}})
    assert len(alerts) == 1 and alerts[0].task == "left" and alerts[0].step == 50
    assert "chance level" in alerts[0].message and "3 evaluations" in alerts[0].message
    assert watch.observe_evaluation(60, {"left": {"accuracy": 0.10}}) == []  # said once


def test_runaway_learning_rate_ends_as_diverged_not_finished(tmp_path) -> None:
    """The issue's case: Adam at lr 5 on Multi-Digits used to end as a green "Finished"."""
    cfg = digits_config(optim__lr=5.0, data__tasks=["left", "sum"], optim__max_steps=150)
    store = RunStore(str(tmp_path / "mtl.sqlite"))
    rid = execute(cfg, store)
    run = store.get_run(rid)
    assert run["status"] == "diverged", run
    assert "task '" in run["error"] and "at step" in run["error"] and "learning rate" in run["error"]
    assert run["step"] < 150


def test_nan_is_divergence_too() -> None:
    events = train(digits_config(optim__lr=100.0, optim__optimizer="sgd", data__tasks=["left", "sum"],
                                 optim__max_steps=200))
    assert events[-1].status == "diverged"


def test_a_task_at_weight_zero_is_flagged_and_stored(tmp_path) -> None:
    cfg = digits_config(weighting__method="static", weighting__params={"weights": [0.0, 1.0]},
                        optim__max_steps=80, eval_every=10)
    store = RunStore(str(tmp_path / "mtl.sqlite"))
    rid = execute(cfg, store)
    run = store.get_run(rid)
    assert run["status"] == "finished"
    alerts = run["summary"].get("alerts")
    assert alerts and alerts[0]["task"] == "left" and alerts[0]["kind"] == "collapse"
    stored = store.events(rid, "alert")
    assert len(stored) == 1 and stored["payload"].iloc[0]["task"] == "left"


def test_until_stopped_runs_past_its_epochs_until_the_stop() -> None:
    control = LocalControl()
    cfg = digits_config(optim__epochs=0.01, optim__max_steps=None, optim__until_stopped=True, eval_every=0)
    events = []
    for event in Trainer(cfg, control=control).run():
        events.append(event)
        if isinstance(event, StepMetrics) and event.step == 70:
            control.stop()
    assert isinstance(events[0], Started) and events[0].total_steps == 0
    assert events[-1].status == "stopped"
    assert max(e.step for e in events if isinstance(e, StepMetrics)) >= 70  # well past 0.01 epochs


@pytest.mark.parametrize("over, match", [
    ({"diverge_factor": 1.0}, "diverge_factor"), ({"diverge_factor": float("nan")}, "diverge_factor"),
    ({"diverge_factor": True}, "diverge_factor"), ({"chance_evals": -1}, "chance_evals"),
    ({"optim": {"until_stopped": "yes"}}, "until_stopped"),
])
def test_health_settings_are_validated(over, match) -> None:
    raw = RunConfig().to_dict()
    for k, v in over.items():
        if isinstance(v, dict):
            raw[k].update(v)
        else:
            raw[k] = v
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(raw).validate()


def test_old_configs_without_the_new_fields_still_load() -> None:
    raw = RunConfig().to_dict()
    for key in ("diverge_factor", "chance_evals"):
        raw.pop(key)
    raw["optim"].pop("until_stopped")
    cfg = RunConfig.from_dict(raw).validate()
    assert cfg.diverge_factor == 100.0 and cfg.chance_evals == 3 and cfg.optim.until_stopped is False


def test_alert_and_evaluation_types_are_plain() -> None:
    assert Alert(1, "collapse", "t", "m") == Alert(1, "collapse", "t", "m")
    assert Evaluation and Finished
