"""The Train page's setup as plain data: widget keys, parsing, checks, and the RunConfig it makes.

The page only draws widgets under the keys defined here and hands `st.session_state` to
`read_setup`; everything that decides what gets trained is a pure function of those values, so the
tests check it without a browser. The widget keys double as URL query parameters (the widgets are
bound to the URL), which is why they are short and stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from dashboard.shared import catalog
from mtlcore import naming
from mtlcore.config import (
    HEAD_MODES,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    WeightingConfig,
    field_spec,
    gradient_problem,
)
from mtlcore.registry import ConfigError

# -- widget keys (also the URL's query parameters) -------------------------------------------------
DATASET = "dataset"
TASKS = "tasks"
METHOD = "method"
GRADIENTS = "gradients"
HEADS = "heads"  # weighting.heads: what gradient methods give the task heads
ARCH = "arch"
OPTIMIZER = "optimizer"
LR = "lr"
BATCH = "batch"
EPOCHS = "epochs"
SEED = "seed"
DEVICE = "device"
EVAL_EVERY = "eval_every"
GRAD_EVERY = "grad_every"
WEIGHT_DECAY = "wd"
AUG_CROP = "aug_crop"  # augmentation: padding of the random crop (pixels)
AUG_FLIP = "aug_flip"
AUG_ROTATION = "aug_rot"  # augmentation: largest turn (degrees)
UNTIL_STOPPED = "until_stop"  # train until the Stop button (epochs ignored): the classroom mode
AUGMENT = "augment"  # problems about augmentation as a whole are shown here
WEIGHTS = "weights"  # the group of weight sliders: problems about all of them are shown here
TRAIN = "train"  # problems that belong to no single widget are shown by the Train button

STATIC = "static"  # the method whose weights are the sliders (and can change while a run trains)

DEFAULTS: dict[str, Any] = {
    DATASET: "multi_digits", METHOD: STATIC, GRADIENTS: "auto", HEADS: "weighted", ARCH: "hps", OPTIMIZER: "adam",
    LR: 2e-3, BATCH: 128, EPOCHS: 3.0, SEED: 0, DEVICE: "auto", EVAL_EVERY: 20, GRAD_EVERY: 5,
    WEIGHT_DECAY: 0.0, AUG_CROP: 0, AUG_FLIP: False, AUG_ROTATION: 0, UNTIL_STOPPED: False,
}
WEIGHT_DECAY_CHOICES = (0.0, 1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2)
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
GRADIENT_MODES = ("auto", "parameters", "representation")
# log-spaced, human-readable steps: weights and learning rates matter by ratios, not differences
WEIGHT_CHOICES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0,
                  10.0, 15.0, 20.0, 30.0, 50.0, 100.0)
LR_CHOICES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)
DEFAULT_WEIGHT = 1.0
# the config field each number widget sets: a widget's value and a URL's obey that field's rule
FIELD_OF = {LR: "optim.lr", BATCH: "optim.batch_size", EPOCHS: "optim.epochs", SEED: "seed",
            EVAL_EVERY: "eval_every", GRAD_EVERY: "grad_stats_every", WEIGHT_DECAY: "optim.weight_decay",
            AUG_CROP: "augment.crop_padding", AUG_ROTATION: "augment.max_rotation"}


def heads_spec() -> dict[str, Any]:
    """The widget spec of weighting.heads, from the config's own field rule (choices, default, help)."""
    return {**field_spec("weighting.heads").to_dict(), "name": "task_heads"}  # labelled "Task heads"


def weight_key(task: str) -> str:
    return f"w_{task}"


def param_key(owner: str, name: str, param: str) -> str:
    """Key of a generated widget: owner is "d" (data set), "m" (method) or "a" (architecture)."""
    return f"{owner}_{name}_{param}"


def default_tasks(dataset: str) -> list[str]:
    """Two tasks when the set has them: the smallest setup where balancing matters."""
    return catalog.task_names(dataset)[:2]


def widget_default(spec: dict[str, Any]) -> Any:
    """The value a generated widget starts at; a list parameter is typed as comma-separated text."""
    if spec["kind"] == "floats":
        return "" if spec["default"] is None else ", ".join(f"{v:g}" for v in spec["default"])
    return spec["default"]


def parse_floats(text: str) -> list[float] | None:
    """'1, 0.5 2' -> [1.0, 0.5, 2.0]; empty text -> None (the parameter's default)."""
    parts = [p for p in text.replace(";", ",").replace(",", " ").split() if p]
    if not parts:
        return None
    out = []
    for p in parts:
        try:
            out.append(float(p))
        except ValueError:
            raise ConfigError(f"'{p}' is not a number; type numbers separated by commas") from None
    return out


def parse_number(raw: Any) -> int | float:
    """A number as typed or carried by a URL: "3" -> 3, "2.0" -> 2.0; 400 nines stay an int (the
    field's bounds then refuse it by name) instead of becoming an infinity that crashes int()."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:  # also beyond Python's 4,300 digits: float() makes it inf, refused as not finite
        pass
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{text[:40]!r} is not a number") from None


def field_value(key: str, raw: Any) -> int | float:
    """The value of the number widget `key` (or its URL parameter), checked by the config's rule for
    its field (mtlcore.config.FIELDS): the page and a config file have the same bounds."""
    return field_spec(FIELD_OF[key]).validate(parse_number(raw))


def match_option(raw: str, options: list[Any] | tuple[Any, ...], label: Any) -> Any | None:
    """The option a URL value names: by its label (what Streamlit writes), its name ("uw" as well as
    "Uncertainty weighting") or, for numbers, its value ("2.0" as well as "2"); None if none."""
    for option in options:
        if raw == label(option) or raw == str(option):
            return option
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return next((o for o in options if isinstance(o, (int, float)) and float(o) == number), None)


@dataclass(frozen=True)
class Problem:
    """Something that stops a run from being started, shown next to the widget `key`."""

    key: str
    message: str


@dataclass
class Setup:
    """Everything the Train page lets you choose, parsed and in dataset task order."""

    dataset: str
    tasks: list[str]
    data_params: dict[str, Any]
    method: str
    method_params: dict[str, Any]
    weights: list[float]  # one per task; used when method is static
    gradients: str
    architecture: str
    arch_params: dict[str, Any]
    optimizer: str
    lr: float
    batch_size: int
    epochs: float
    seed: int
    device: str
    eval_every: int
    grad_stats_every: int
    weight_decay: float = 0.0
    heads: str = "weighted"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    until_stopped: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def is_static(self) -> bool:
        return self.method == STATIC


def _known(value: Any, allowed: list[str] | tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def _read_params(values: Mapping[str, Any], owner: str, name: str, specs: list[dict[str, Any]],
                 skip: tuple[str, ...], problems: list[Problem]) -> dict[str, Any]:
    """Generated widgets' values -> a params dict; a bad value becomes a Problem under its widget."""
    out: dict[str, Any] = {}
    for spec in specs:
        if spec["name"] in skip:
            continue
        key = param_key(owner, name, spec["name"])
        raw = values.get(key, widget_default(spec))
        try:
            value = parse_floats(str(raw)) if spec["kind"] == "floats" else raw
            if value is None:
                continue  # empty: the core's default applies
            out[spec["name"]] = catalog.param_spec(spec).validate(value)
        except ConfigError as exc:
            problems.append(Problem(key, str(exc)))
    return out


def _number(values: Mapping[str, Any], key: str, problems: list[Problem]) -> Any:
    raw = values.get(key, DEFAULTS[key])
    try:
        return field_value(key, raw)
    except ConfigError as exc:
        problems.append(Problem(key, str(exc)))
        return DEFAULTS[key]


def read_setup(values: Mapping[str, Any]) -> Setup:
    """Parse the page's widget values (st.session_state, or any mapping in tests) into a Setup.

    Missing keys take their defaults, so a partial mapping (a preset, a short URL) is complete.
    Problems are collected, never raised: the page shows each next to its widget.
    """
    problems: list[Problem] = []
    ds_names = [d["name"] for d in catalog.datasets()]
    dataset = _known(values.get(DATASET), ds_names, DEFAULTS[DATASET])
    all_tasks = catalog.task_names(dataset)
    chosen = values.get(TASKS, default_tasks(dataset))
    chosen = [chosen] if isinstance(chosen, str) else list(chosen or [])
    tasks = [t for t in all_tasks if t in chosen]  # dataset order: stable colours and weight order
    m_names = [m["name"] for m in catalog.methods()]
    method = _known(values.get(METHOD), m_names, DEFAULTS[METHOD])
    m_spec = catalog.method(method)
    a_names = [a["name"] for a in catalog.architectures()]
    arch = _known(values.get(ARCH), a_names, DEFAULTS[ARCH])

    data_params = _read_params(values, "d", dataset, catalog.dataset(dataset)["params"], (), problems)
    weights: list[float] = []
    for t in tasks:
        raw = values.get(weight_key(t), DEFAULT_WEIGHT)
        try:
            w = float(raw)
            if not math.isfinite(w) or w < 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(weight_key(t), f"weight must be a number >= 0, got {raw!r}"))
            w = DEFAULT_WEIGHT
        weights.append(w)
    skip = ("weights",) if method == STATIC else ()
    method_params = _read_params(values, "m", method, m_spec["params"], skip, problems)
    if method == STATIC:
        method_params["weights"] = list(weights)
    arch_params = _read_params(values, "a", arch, catalog.architecture(arch)["params"], (), problems)
    gradients = _known(values.get(GRADIENTS), GRADIENT_MODES, "auto") if m_spec["kind"] == "gradient" else "auto"
    heads = _known(values.get(HEADS), HEAD_MODES, DEFAULTS[HEADS])

    return Setup(
        dataset=dataset, tasks=tasks, data_params=data_params, method=method,
        method_params=method_params, weights=weights, gradients=gradients, architecture=arch,
        arch_params=arch_params,
        optimizer=_known(values.get(OPTIMIZER), OPTIMIZERS, DEFAULTS[OPTIMIZER]),
        lr=_number(values, LR, problems),
        batch_size=_number(values, BATCH, problems),
        epochs=_number(values, EPOCHS, problems),
        seed=_number(values, SEED, problems),
        device=_known(values.get(DEVICE), DEVICES, DEFAULTS[DEVICE]),
        eval_every=_number(values, EVAL_EVERY, problems),
        grad_stats_every=_number(values, GRAD_EVERY, problems),
        weight_decay=_number(values, WEIGHT_DECAY, problems),
        heads=heads,
        augment=_read_augment(values, problems),
        until_stopped=bool(values.get(UNTIL_STOPPED, False)),
        problems=problems,
    )


def _read_augment(values: Mapping[str, Any], problems: list[Problem]) -> AugmentConfig:
    crop = _number(values, AUG_CROP, problems)
    rotation = _number(values, AUG_ROTATION, problems)
    return AugmentConfig(crop_padding=crop, flip=bool(values.get(AUG_FLIP, False)), max_rotation=rotation)


def augment_problem(dataset: str, tasks: list[str], augment: AugmentConfig) -> Problem | None:
    """Augmentation that cannot apply: the inputs are not images, or a chosen task's target describes
    the image's geometry (the trainer refuses both; this says so before a run starts)."""
    if not augment.enabled:
        return None
    entry = catalog.dataset(dataset)
    if entry.get("input_kind") != "image":
        return Problem(AUGMENT, f"{entry['title']} has no images to augment: turn augmentation off.")
    fixed = [t["name"] for t in entry["tasks"] if t["name"] in tasks and not t.get("augmentable", True)]
    if fixed:
        return Problem(AUGMENT, f"Augmentation would falsify the target of {', '.join(fixed)} (it describes "
                                "the image's geometry): leave that task out or turn augmentation off.")
    return None


def check(setup: Setup) -> list[Problem]:
    """Everything that would make the run impossible, each tied to the widget to fix it at."""
    problems = list(setup.problems)
    missing = catalog.missing_source(setup.dataset, setup.data_params)
    if missing:
        problems.append(Problem(DATASET, missing))
    if not setup.tasks:
        problems.append(Problem(TASKS, "Choose at least one task: there is nothing to train."))
    if setup.is_static and setup.tasks and not any(w > 0 for w in setup.weights):
        problems.append(Problem(WEIGHTS, "All weights are zero, so no task would be learned: "
                                         "raise at least one slider above 0."))
    if setup.lr <= 0:
        problems.append(Problem(LR, "The learning rate must be above 0."))
    if setup.epochs <= 0 and not setup.until_stopped:
        problems.append(Problem(EPOCHS, "Train for more than 0 epochs."))
    conflict = gradient_conflict(setup.method, setup.architecture, setup.gradients)
    if conflict is not None:
        problems.append(conflict)
    augment = augment_problem(setup.dataset, setup.tasks, setup.augment)
    if augment is not None:
        problems.append(augment)
    if problems:
        return problems
    try:
        config = build_config(setup)
        config.validate()  # the whole config, as a worker would set it up (mtlcore/preflight.py)
    except ConfigError as exc:
        problems.append(Problem(TRAIN, str(exc)))
    return problems


def gradient_conflict(method: str, architecture: str, gradients: str = "auto") -> Problem | None:
    """The method cannot take its per-task gradients on this architecture (or where `gradients` asks),
    from the registries' metadata alone: the trainer's message, next to the widget to change
    ("Gradients taken on" when no architecture would do, else the architecture). None when it can."""
    found = gradient_problem(catalog.method(method), catalog.architecture(architecture), gradients)
    if found is None:
        return None
    field, message = found
    return Problem(ARCH if field == "model.architecture" else GRADIENTS, message)


def build_config(setup: Setup, name: str = "") -> RunConfig:
    """The run the Train button starts. Pure: no store, no process."""
    config = RunConfig(
        name=name,
        data=DataConfig(setup.dataset, list(setup.tasks), dict(setup.data_params)),
        model=ModelConfig(setup.architecture, dict(setup.arch_params)),
        weighting=WeightingConfig(setup.method, dict(setup.method_params), setup.gradients, setup.heads),
        optim=OptimConfig(optimizer=setup.optimizer, lr=float(setup.lr), batch_size=int(setup.batch_size),
                          epochs=float(setup.epochs), weight_decay=float(setup.weight_decay),
                          until_stopped=bool(setup.until_stopped)),
        augment=AugmentConfig(setup.augment.crop_padding, setup.augment.flip, setup.augment.max_rotation),
        seed=int(setup.seed), device=setup.device, eval_every=int(setup.eval_every),
        grad_stats_every=int(setup.grad_stats_every),
    )
    if not config.name:
        config.name = naming.run_name(config, dataset_title)
    return config


def dataset_title(dataset: str) -> str:
    """A data set's title for run names (its registry name when this version lacks it)."""
    try:
        return str(catalog.dataset(dataset)["title"])
    except ConfigError:
        return dataset


def run_name(setup: Setup) -> str:
    """The default name, from the core's one naming rule: e.g. 'Multi-Digits left+sum · HPS · static 1/20'."""
    return build_config(setup).name


def config_from_values(values: Mapping[str, Any]) -> tuple[RunConfig | None, list[Problem]]:
    """The page's one call: a config to start, or the problems that prevent it."""
    setup = read_setup(values)
    problems = check(setup)
    return (None if problems else build_config(setup)), problems


def live_weights(values: Mapping[str, Any], tasks: list[str]) -> list[float] | None:
    """The sliders' weights for a running run's tasks, or None when they are not all valid."""
    out = []
    for t in tasks:
        try:
            w = float(values.get(weight_key(t), DEFAULT_WEIGHT))
        except (TypeError, ValueError):
            return None
        if not math.isfinite(w) or w < 0:
            return None
        out.append(w)
    return out if any(w > 0 for w in out) else None
