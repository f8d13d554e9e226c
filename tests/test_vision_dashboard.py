"""The Train page's vision options as plain data: the tutorial preset, augmentation and weight decay."""

from __future__ import annotations

import pytest

from dashboard.train import forms, presets
from mtlcore.config import AugmentConfig


def test_tutorial_preset_uses_cifar10_when_present(monkeypatch) -> None:
    monkeypatch.setattr(presets.catalog, "missing_source", lambda name, params: None)
    preset = presets.tutorial_preset()
    assert preset.values[forms.DATASET] == "cifar10" and preset.values[forms.TASKS] == ["class", "angle"]
    assert preset.values[forms.ARCH] == "tutorial_cnn" and "CIFAR-10" in preset.explanation
    setup = forms.read_setup(presets.preset_state(preset))
    assert setup.tasks == ["class", "angle"] and setup.architecture == "tutorial_cnn"


def test_tutorial_preset_says_it_falls_back(monkeypatch) -> None:
    real = presets.catalog.missing_source
    monkeypatch.setattr(presets.catalog, "missing_source",
                        lambda name, params: "not here" if name == "cifar10" else real(name, params))
    preset = presets.tutorial_preset()
    assert preset.values[forms.DATASET] == "fashion_attributes"
    assert "not on this machine" in preset.explanation and "Fashion attributes" in preset.explanation
    config, problems = forms.config_from_values(presets.preset_state(preset))
    assert problems == [] and config is not None
    assert config.data.tasks == ["category", "ink"] and config.model.architecture == "tutorial_cnn"
    assert presets.get("tutorial").key == "tutorial"


def test_augmentation_and_weight_decay_widgets_reach_the_config() -> None:
    values = {forms.DATASET: "multi_fashion", forms.AUG_CROP: 4, forms.AUG_FLIP: True, forms.AUG_ROTATION: 10,
              forms.WEIGHT_DECAY: 1e-4}
    config, problems = forms.config_from_values(values)
    assert problems == []
    assert config.augment == AugmentConfig(4, True, 10) and config.optim.weight_decay == 1e-4
    plain, _ = forms.config_from_values({forms.DATASET: "multi_fashion"})
    assert not plain.augment.enabled and plain.optim.weight_decay == 0.0


@pytest.mark.parametrize("values,key,words", [
    ({forms.DATASET: "scale_imbalance", forms.AUG_FLIP: True}, forms.AUGMENT, None),
    ({forms.DATASET: "fashion_attributes", forms.TASKS: ["category", "rotation"], forms.AUG_ROTATION: 5},
     forms.AUGMENT, "rotation"),
    ({forms.DATASET: "multi_fashion", forms.AUG_CROP: 40}, forms.AUG_CROP, "must be <= 16"),
    ({forms.DATASET: "multi_fashion", forms.AUG_ROTATION: -3}, forms.AUG_ROTATION, ">= 0"),
    ({forms.DATASET: "multi_fashion", forms.WEIGHT_DECAY: "x"}, forms.WEIGHT_DECAY, "number"),
])
def test_impossible_augmentation_is_explained_at_its_widget(values: dict, key: str, words: str | None) -> None:
    config, problems = forms.config_from_values(values)
    assert config is None
    found = [p for p in problems if p.key == key]
    assert found, problems
    if words:
        assert words in found[0].message


def test_metric_chart_draws_recall_and_f1_beside_accuracy() -> None:
    import numpy as np
    import plotly.graph_objects as go

    from dashboard.shared import charts

    s = np.arange(1, 30, 10, dtype=np.float32)
    view = charts.RunView(
        tasks=["class", "angle"], all_tasks=["class", "angle"], total_steps=30, key="k",
        metric={"class": ("accuracy", True), "angle": ("mae", False)},
        series={("val", "accuracy", "class"): (s, s / 40), ("val", "recall", "class"): (s, s / 50),
                ("val", "f1", "class"): (s, s / 60), ("val", "mae", "angle"): (s, 10 / s)})
    fig = charts.metric_figure(view)
    go.Figure(fig.to_dict())
    names = sorted(t.name for t in fig.data)
    assert names == ["angle mae", "class accuracy", "class f1", "class recall"]
    assert any("recall dash, f1 dot" in a.text for a in fig.layout.annotations)
