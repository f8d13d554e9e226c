"""A stored RunConfig back into Train page widget values: the inverse of forms.build_config.

`?run=ID` shows a run's charts; its "Load this run's setup" button fills every widget from the run's
config through `widget_values`, so `build_config(read_setup(widget_values(c)))` is `c` again for every
config the page can make (tests/test_train_url_roundtrip.py checks it as a property). A stored config
may hold what no widget can (a learning rate off the slider's steps, max_steps, a config file's
divergence factor): `unheld` names those fields, so the page says which part of the run it cannot show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboard.shared import catalog
from dashboard.train import forms
from mtlcore.config import OptimConfig, RunConfig


@dataclass
class Restored:
    """Widget values for a config, and the config fields they could not hold."""

    values: dict[str, Any]
    unheld: list[str] = field(default_factory=list)


def _param_values(owner: str, name: str, specs: list[dict[str, Any]], given: dict[str, Any],
                  skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every generated widget of this owner: the config's value where given, else the widget's default
    (so a value left over from another setup never stays behind)."""
    out: dict[str, Any] = {}
    for spec in specs:
        if spec["name"] in skip:
            continue
        key = forms.param_key(owner, name, spec["name"])
        if spec["name"] not in given:
            out[key] = forms.widget_default(spec)
        elif spec["kind"] == "floats":
            value = given[spec["name"]]
            out[key] = "" if value is None else ", ".join(f"{float(v):g}" for v in value)
        else:
            out[key] = given[spec["name"]]
    return out


def _choice(value: Any, choices: tuple[Any, ...], what: str, unheld: list[str]) -> Any | None:
    """The slider step equal to `value`, or None (and `what` noted) when the slider has no such step."""
    for c in choices:
        if float(c) == float(value):
            return c
    unheld.append(what)
    return None


def widget_values(config: RunConfig) -> Restored:
    """Every Train page widget value that makes `config` (its name aside), complete: all weight sliders
    of the data set and all generated widgets of its data set, method and architecture are set."""
    unheld: list[str] = []
    dataset, method, arch = config.data.name, config.weighting.method, config.model.architecture
    all_tasks = catalog.task_names(dataset)
    tasks = [t for t in all_tasks if t in (config.data.tasks or all_tasks)]
    values: dict[str, Any] = {forms.DATASET: dataset, forms.TASKS: tasks, forms.METHOD: method,
                              forms.ARCH: arch, forms.GRADIENTS: config.weighting.gradients}
    for t in all_tasks:
        values[forms.weight_key(t)] = forms.DEFAULT_WEIGHT
    values.update(_param_values("d", dataset, catalog.dataset(dataset)["params"], config.data.params))
    skip: tuple[str, ...] = ()
    if method == forms.STATIC:
        skip = ("weights",)
        given = config.weighting.params.get("weights") or [forms.DEFAULT_WEIGHT] * len(tasks)
        for t, w in zip(tasks, given):
            step = _choice(w, forms.WEIGHT_CHOICES, f"weight of {t} ({w:g})", unheld)
            if step is not None:
                values[forms.weight_key(t)] = step
    values.update(_param_values("m", method, catalog.method(method)["params"], config.weighting.params, skip))
    values.update(_param_values("a", arch, catalog.architecture(arch)["params"], config.model.params))

    o = config.optim
    values[forms.OPTIMIZER] = o.optimizer
    for key, value, choices, what in ((forms.LR, o.lr, forms.LR_CHOICES, "learning rate"),
                                      (forms.BATCH, o.batch_size, forms.BATCH_CHOICES, "batch size"),
                                      (forms.WEIGHT_DECAY, o.weight_decay, forms.WEIGHT_DECAY_CHOICES,
                                       "weight decay")):
        step = _choice(value, choices, f"{what} ({value:g})", unheld)
        values[key] = forms.DEFAULTS[key] if step is None else step
    values[forms.EPOCHS] = float(o.epochs)
    values[forms.UNTIL_STOPPED] = bool(o.until_stopped)
    values[forms.SEED] = int(config.seed)
    values[forms.DEVICE] = config.device if config.device in forms.DEVICES else forms.DEFAULTS[forms.DEVICE]
    values[forms.EVAL_EVERY] = int(config.eval_every)
    values[forms.GRAD_EVERY] = int(config.grad_stats_every)
    values[forms.AUG_CROP] = int(config.augment.crop_padding)
    values[forms.AUG_FLIP] = bool(config.augment.flip)
    values[forms.AUG_ROTATION] = int(config.augment.max_rotation)
    unheld.extend(_fields_without_widgets(config))
    return Restored(values, unheld)


def _fields_without_widgets(config: RunConfig) -> list[str]:
    """Config fields the page has no widget for, where the run did not keep their defaults."""
    default, out = RunConfig(), []
    if config.device not in forms.DEVICES:
        out.append(f"device {config.device}")
    if config.optim.optimizer == "sgd" and config.optim.momentum != OptimConfig().momentum:
        out.append(f"momentum {config.optim.momentum:g}")
    if config.optim.max_steps is not None:
        out.append(f"max_steps {config.optim.max_steps}")
    for name in ("log_every", "threads", "amp", "diverge_factor", "chance_evals"):
        if getattr(config, name) != getattr(default, name):
            out.append(f"{name} {getattr(config, name)}")
    return out
