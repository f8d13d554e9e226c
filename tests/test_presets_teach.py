"""Each classroom preset shows its point, measured with the preset's own config (issue 13, item 3).

The Scale imbalance demo used to rise from 0.15 to 0.3 by step 80 even at weight 15 and ended after
13 s: its stated effect was not visible. Here each preset's RunConfig is built through the Train
page's forms (what its button sets) and trained in process; a LocalControl moves the slider and
presses Stop, as a teacher would. The numbers each test checks, with a margin, are the ones the
preset states on the page (dashboard/train/presets.py, `observation`).
"""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.train import forms, presets
from mtlcore.config import RunConfig
from mtlcore.events import Evaluation, Finished, GradientStats, StepMetrics
from mtlcore.trainer import LocalControl, Trainer


def preset_config(key: str, **changed: Any) -> RunConfig:
    """The config the preset's button and then Train would start (with `changed` widget values)."""
    values = presets.preset_state(presets.get(key))
    values.update(changed)
    setup = forms.read_setup(values)
    assert not forms.check(setup), forms.check(setup)
    return forms.build_config(setup)


def train(config: RunConfig, stop_at: int | None = None,
          weights_at: tuple[int, list[float]] | None = None) -> dict[str, Any]:
    """Train in process; set the sliders at a step and press Stop at a step, as on the page."""
    control = LocalControl()
    val: dict[int, dict[str, dict[str, float]]] = {}
    cosines: list[float] = []
    finished = None
    for event in Trainer(config, control=control).run():
        if isinstance(event, StepMetrics):
            if weights_at and event.step == weights_at[0]:
                control.set_weights(weights_at[1])
            if stop_at is not None and event.step >= stop_at:
                control.stop()
        elif isinstance(event, Evaluation) and event.split == "val":
            val[event.step] = event.metrics
        elif isinstance(event, GradientStats):
            cosines.append(event.cosine[0][1])
        elif isinstance(event, Finished):
            finished = event
    assert finished is not None and finished.status in ("finished", "stopped"), finished
    return {"val": val, "cosines": cosines, "status": finished.status}


def accuracy(run: dict[str, Any], task: str, step: int) -> float:
    return run["val"][step][task]["accuracy"]


@pytest.mark.slow
def test_scale_imbalance_stalls_left_and_the_slider_frees_it() -> None:
    config = preset_config("scale")
    assert config.optim.until_stopped  # a teacher talks while it trains; Stop ends it
    assert config.weighting.params["weights"] == [1.0, presets.SCALE_WEIGHT]
    drowned = train(config, stop_at=300)
    assert drowned["status"] == "stopped"  # it would have gone on
    dropped = train(config, stop_at=300, weights_at=(100, [1.0, 1.0]))
    balanced = train(preset_config("scale", **{forms.weight_key("sum"): 1.0}), stop_at=100)
    # measured here: 0.35 at weight 30 against 0.84 at weight 1, at step 100
    assert accuracy(drowned, "left", 100) < accuracy(balanced, "left", 100) - 0.3
    # measured: sum dropped to 1 at step 100 -> 0.80-0.84 at step 300; staying at 30 -> 0.67
    assert accuracy(dropped, "left", 300) > accuracy(dropped, "left", 100) + 0.3
    assert accuracy(dropped, "left", 300) > accuracy(drowned, "left", 300) + 0.06


@pytest.mark.slow
def test_conflicting_tasks_show_negative_cosines_on_about_half_the_measurements() -> None:
    config = preset_config("conflict")
    assert config.optim.until_stopped and config.grad_stats_every > 0
    run = train(config, stop_at=211)  # one epoch, as measured for the page: 21 of 43 below 0
    cosines = run["cosines"]
    assert len(cosines) >= 40
    share = sum(c < 0 for c in cosines) / len(cosines)
    assert 0.3 <= share <= 0.7, share
    last = max(run["val"])
    assert min(accuracy(run, "left", last), accuracy(run, "right", last)) > 0.6  # both still learn


@pytest.mark.slow
def test_the_auxiliary_task_changes_left_as_the_page_says() -> None:
    with_helper = train(preset_config("auxiliary"))
    alone = train(preset_config("auxiliary", **{forms.weight_key("right"): 0.0}))
    steps = sorted(with_helper["val"])
    assert steps == sorted(alone["val"]) and steps[-1] == 150
    differences = [accuracy(with_helper, "left", s) - accuracy(alone, "left", s) for s in steps]
    # measured: right at 0.5 leaves left below right at 0 at every validation (0.86 vs 0.89 at the end)
    assert differences[-1] < -0.01, differences
    assert sum(differences) / len(differences) < -0.02, differences
