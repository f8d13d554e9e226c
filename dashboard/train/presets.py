"""Classroom presets: one click sets the whole Train page to a setup that shows one idea.

A preset is a partial set of widget values (dashboard.train.forms keys); `preset_state` completes it with
the defaults, so applying a preset never leaves a stale value from the previous setup behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.shared import catalog
from dashboard.train import forms


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    icon: str
    explanation: str  # one line, shown under the button
    values: dict[str, Any]
    # what a class should see, with the numbers measured on the 2-core target by tests/test_presets_teach.py
    observation: str = ""


SCALE_WEIGHT = 30.0  # sum's weight in the Scale imbalance preset (why 30: its explanation)

PRESETS: tuple[Preset, ...] = (
    Preset(
        "scale", "Scale imbalance", ":material/balance:",
        "The digit sum's regression loss at ×30 (its squared error in raw digits is about 16× the "
        "standardised one; ×30 makes the stall plain within 100 steps) drowns the left digit's "
        "classification: watch left's accuracy stall, then drag sum's slider down to 1. Trains until "
        "you press Stop.",
        {forms.DATASET: "multi_digits", forms.TASKS: ["left", "sum"], forms.METHOD: forms.STATIC,
         forms.weight_key("left"): 1.0, forms.weight_key("sum"): SCALE_WEIGHT, forms.LR: 2e-3,
         forms.EPOCHS: 4.0, forms.BATCH: 128, forms.UNTIL_STOPPED: True},
        "Measured: left's accuracy 0.35 at step 100 (0.84 with sum at 1); sum dropped to 1 there, "
        "left reaches about 0.8 by step 300 (0.67 if it stays at 30).",
    ),
    Preset(
        "conflict", "Conflicting tasks", ":material/swords:",
        "Two overlapping clothes items compete for one small network: the gradient cosine chart "
        "dips below zero whenever a step that helps one task hurts the other. Trains until you press Stop.",
        {forms.DATASET: "multi_fashion", forms.TASKS: ["left", "right"], forms.METHOD: forms.STATIC,
         forms.weight_key("left"): 1.0, forms.weight_key("right"): 1.0, forms.LR: 1e-3,
         forms.EPOCHS: 1.0, forms.BATCH: 256, forms.EVAL_EVERY: 40, forms.UNTIL_STOPPED: True,
         forms.param_key("a", "hps", "trunk"): "multilenet"},
        "Measured: the cosine is below 0 at about half of the measurements (21 of 43 in the first "
        "211 steps), and left and right reach about 0.7 validation accuracy each.",
    ),
    Preset(
        "auxiliary", "Auxiliary task: help or harm?", ":material/handshake:",
        "The left digit is the goal, with only 300 training pairs; the right digit rides along at "
        "weight 0.5. Run again with right's slider at 0 and compare left's accuracy.",
        {forms.DATASET: "multi_digits", forms.TASKS: ["left", "right"], forms.METHOD: forms.STATIC,
         forms.weight_key("left"): 1.0, forms.weight_key("right"): 0.5, forms.LR: 2e-3,
         forms.EPOCHS: 30.0, forms.BATCH: 64,
         forms.param_key("d", "multi_digits", "n_train"): 300},
        "Measured: here the helper hurts a little: left ends at 0.86 validation accuracy with right "
        "at 0.5, 0.89 with right at 0 (below it at every validation of the 150 steps).",
    ),
)

def tutorial_preset() -> Preset:
    """The tutorial's classification + regression with its CNN: on CIFAR-10 where the batches are in
    the default place, else on Fashion attributes (1-channel clothes), and the explanation says which."""
    common = {forms.METHOD: forms.STATIC, forms.ARCH: "tutorial_cnn", forms.LR: 1e-3, forms.BATCH: 128,
              forms.EPOCHS: 1.0, forms.EVAL_EVERY: 100}
    missing = catalog.missing_source("cifar10", {})
    if missing is None:
        return Preset("tutorial", "CIFAR-10 tutorial", ":material/school:",
                      "The tutorial's CNN on CIFAR-10: a 10-way class head and a regression head for the "
                      "angle each photo was turned by, trained together; watch accuracy, recall and F1 "
                      "beside the angle's error in degrees.",
                      {**common, forms.DATASET: "cifar10", forms.TASKS: ["class", "angle"]})
    return Preset("tutorial", "CIFAR-10 tutorial", ":material/school:",
                  "CIFAR-10 is not on this machine (put cifar-10-batches-py/ in ./data, or name its folder "
                  "in the data set's options), so this trains the tutorial's CNN on Fashion attributes "
                  "instead: the 10-way clothing category and the ink fraction (upright images) as the regression.",
                  {**common, forms.DATASET: "fashion_attributes", forms.TASKS: ["category", "ink"],
                   forms.param_key("d", "fashion_attributes", "rotate"): False})


def all_presets() -> tuple[Preset, ...]:
    """The presets the page shows, the tutorial's last (its data depends on what is installed)."""
    return PRESETS + (tutorial_preset(),)


def get(key: str) -> Preset:
    for p in all_presets():
        if p.key == key:
            return p
    raise KeyError(key)


def preset_state(preset: Preset) -> dict[str, Any]:
    """Every widget value the preset decides: defaults for the chosen data set, method and
    architecture, every weight slider of the set, then the preset's own values on top."""
    values = dict(forms.DEFAULTS)
    values.update({k: v for k, v in preset.values.items()
                   if k in (forms.DATASET, forms.METHOD, forms.ARCH)})
    dataset = values[forms.DATASET]
    values[forms.TASKS] = forms.default_tasks(dataset)
    for t in catalog.task_names(dataset):
        values[forms.weight_key(t)] = forms.DEFAULT_WEIGHT
    for owner, name, specs in (
        ("d", dataset, catalog.dataset(dataset)["params"]),
        ("m", values[forms.METHOD], catalog.method(values[forms.METHOD])["params"]),
        ("a", values[forms.ARCH], catalog.architecture(values[forms.ARCH])["params"]),
    ):
        for spec in specs:
            values[forms.param_key(owner, name, spec["name"])] = forms.widget_default(spec)
    values.update(preset.values)
    return values
