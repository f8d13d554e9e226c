"""Run configuration: plain dataclasses with an exact JSON round trip.

A stored run's config is enough to re-run it, so everything that changes the result lives here
(seed included), and unknown keys are rejected instead of ignored. No torch import.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from mtlcore.registry import ConfigError, Param


@dataclass
class DataConfig:
    name: str = "multi_digits"
    tasks: list[str] = field(default_factory=list)  # empty means every task of the set
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    architecture: str = "hps"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class WeightingConfig:
    method: str = "ew"
    params: dict[str, Any] = field(default_factory=dict)
    # where gradient methods take per-task gradients: "parameters" (shared parameters),
    # "representation" (the shared representation: cheaper, e.g. MGDA-UB) or "auto" (the method's own)
    gradients: str = "auto"
    # what gradient methods give the task heads: "weighted" (each head's gradient times its task's
    # weight, as the Nash-MTL, FairGrad and IMTL reference code) or "unweighted" (each head its own loss)
    heads: str = "weighted"


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    batch_size: int = 128
    epochs: float = 1.0  # fractional epochs allowed for quick demos
    max_steps: int | None = None  # caps the step count when given
    until_stopped: bool = False  # train until a stop is requested (epochs and max_steps ignored)


@dataclass
class AugmentConfig:
    """Random changes to each training image (mtlcore.data.augment); all off by default."""

    crop_padding: int = 0  # pixels of zero padding, then a crop of the original size; 0 = off
    flip: bool = False  # left-right mirror with probability 1/2
    max_rotation: int = 0  # turn by a whole number of degrees in [-max_rotation, max_rotation]; 0 = off

    @property
    def enabled(self) -> bool:
        return bool(self.crop_padding or self.flip or self.max_rotation)

    def validate(self) -> "AugmentConfig":
        """The same field rules as in a whole run config (AUGMENT_FIELDS)."""
        _check_section(self, AUGMENT_FIELDS)
        return self


MAX_CROP_PADDING = 16
MAX_ROTATION = 180


@dataclass
class RunConfig:
    name: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    eval_every: int = 0  # validation every N steps; 0 means once per epoch
    grad_stats_every: int = 25  # gradient diagnostics every N steps; 0 turns them off
    log_every: int = 1  # step metrics every N steps
    threads: int = 0  # torch threads; 0 lets the core choose
    amp: bool = False  # bf16 autocast on CPU / fp16 on CUDA
    # a task's loss (mean of 10 steps) above this multiple of its start ends the run as diverged; 0: off
    diverge_factor: float = 100.0
    # a classification task at chance level for this many validations in a row is flagged; 0: off
    chance_evals: int = 3
    # a checkpoint (model, optimiser, method state, random streams) every N steps, and always at a stop,
    # so the run can be resumed; 0 writes one only at a stop
    checkpoint_every: int = 500

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        return _build(cls, raw, "config")

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json_object(text, "config"))

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_json(read_text(path, "config"))

    def validate(self, preflight: bool = True) -> "RunConfig":
        """Check the whole config before anything is stored; returns it, whole numbers normalised.

        First every field's type and range (`FIELDS`, `OPTIM_FIELDS`: the bounds the dashboard's URL
        values get too), then the method and architecture names and whether they fit together
        (`gradient_problem`), then, with `preflight`, everything a worker would otherwise find only
        after the run row exists (`mtlcore.preflight`: data set, its parameters and tasks, method
        and architecture parameters, the device). The trainer asks with preflight=False so that a
        problem of a set handed to it in memory ends the run as failed, with its reason.
        The registries import PyTorch, on the first call only: the module itself stays light.
        """
        check_fields(self)
        self._check_pairing()
        if preflight:
            from mtlcore.preflight import check_run

            check_run(self)
        return self

    def _check_pairing(self) -> None:
        """Reject a weighting method the architecture cannot serve, before any worker starts (from the
        registries' metadata through mtlcore.catalog, so validating a config never imports torch)."""
        from mtlcore import catalog

        method = catalog.method(self.weighting.method)  # unknown names raise, listing the known ones
        arch = catalog.architecture(self.model.architecture)
        problem = gradient_problem(method, arch, self.weighting.gradients)
        if problem is not None:
            raise ConfigError(problem[1])


# -- field checks: types and ranges --------------------------------------------------------------
# Upper bounds say what a run of this playground can reasonably ask for; beyond them a typo (an
# extra zero, 1e300) would not train for years or exhaust memory (10**9 threads: libgomp asked for
# 216 GB and killed the worker, leaving its run 'running').
SEED_MAX = 2**32 - 1  # numpy's and most tools' seed range
MAX_EPOCHS = 10_000
MAX_STEPS = 10_000_000  # also bounds eval_every, grad_stats_every and log_every
MAX_BATCH = 1_000_000
MAX_THREADS = 256
MAX_LR = 100.0
MAX_WEIGHT_DECAY = 10.0
MAX_NAME = 500  # characters of a run's name
OPTIMIZERS = ("adam", "sgd")
GRADIENT_MODES = ("auto", "parameters", "representation")
HEAD_MODES = ("weighted", "unweighted")  # mtlcore.gradients.HEAD_MODES, kept here so config stays torch-free
HEADS_HELP = ("what a gradient method gives each task's own parameters (its head): weighted = the task's "
              "gradient times the task's weight, as the Nash-MTL, FairGrad and IMTL reference code does; "
              "unweighted = the task's plain gradient. Methods without task weights leave heads unweighted.")
DEVICE_RULE = re.compile(r"auto|cpu|cuda|cuda:\d{1,3}|mps")

FIELDS: dict[str, Param] = {p.name: p for p in (
    Param("seed", "int", 0, "seeds the model's initialisation and the batch order", low=0, high=SEED_MAX),
    Param("eval_every", "int", 0, "validation every N steps; 0 means once per epoch", low=0, high=MAX_STEPS),
    Param("grad_stats_every", "int", 25, "gradient diagnostics every N steps; 0 turns them off",
          low=0, high=MAX_STEPS),
    Param("log_every", "int", 1, "step metrics every N steps", low=1, high=MAX_STEPS),
    Param("threads", "int", 0, "torch threads; 0 lets the core choose", low=0, high=MAX_THREADS),
    Param("amp", "bool", False, "bf16 autocast on CPU / fp16 on CUDA"),
    Param("diverge_factor", "float", 100.0, "a task's loss (mean of 10 steps) above this multiple of its "
          "first-step loss ends the run as diverged; 0 turns this off", low=0.0, high=1e12),
    Param("chance_evals", "int", 3, "a classification task at chance level for this many validations in a "
          "row is flagged; 0 turns this off", low=0, high=MAX_STEPS),
    Param("checkpoint_every", "int", 500, "a resumable checkpoint every N steps (and at a stop); 0 writes "
          "one only at a stop", low=0, high=MAX_STEPS),
)}
OPTIM_FIELDS: dict[str, Param] = {p.name: p for p in (
    Param("optim.optimizer", "choice", "adam", choices=OPTIMIZERS),
    Param("optim.lr", "float", 1e-3, "learning rate (> 0)", low=0.0, high=MAX_LR, log=True),
    Param("optim.weight_decay", "float", 0.0, low=0.0, high=MAX_WEIGHT_DECAY),
    Param("optim.momentum", "float", 0.9, "SGD only", low=0.0, high=1.0),
    Param("optim.batch_size", "int", 128, low=1, high=MAX_BATCH),
    Param("optim.epochs", "float", 1.0, "fractional epochs allowed", low=0.0, high=MAX_EPOCHS),
    Param("optim.max_steps", "int", None, "caps the step count when given", low=1, high=MAX_STEPS),
    Param("optim.until_stopped", "bool", False, "train until a stop is requested (epochs and max_steps ignored)"),
)}
WEIGHTING_FIELDS: dict[str, Param] = {p.name: p for p in (
    Param("weighting.heads", "choice", "weighted", HEADS_HELP, choices=HEAD_MODES),
)}
AUGMENT_FIELDS: dict[str, Param] = {p.name: p for p in (
    Param("augment.crop_padding", "int", 0, "pixels of padding before a random crop; 0 = off",
          low=0, high=MAX_CROP_PADDING),
    Param("augment.flip", "bool", False, "left-right mirror with probability 1/2"),
    Param("augment.max_rotation", "int", 0, "degrees of random rotation; 0 = off", low=0, high=MAX_ROTATION),
)}


def field_spec(path: str) -> Param:
    """The Param of a config field by its dotted path ("seed", "optim.lr"): the one rule for a value
    from a config file, a --set, a page's widget or a URL."""
    spec = FIELDS.get(path) or OPTIM_FIELDS.get(path) or AUGMENT_FIELDS.get(path) or WEIGHTING_FIELDS.get(path)
    if spec is None:
        raise KeyError(path)
    return spec


def _check_section(section: Any, specs: dict[str, Param]) -> None:
    for path, spec in specs.items():
        name = path.rsplit(".", 1)[-1]
        value = getattr(section, name)
        if value is None and spec.default is None:
            continue
        checked = spec.validate(value)
        if spec.kind in ("int", "bool"):
            setattr(section, name, checked)


def check_fields(config: "RunConfig") -> None:
    """Every field's type and range, without the registries; whole numbers given as 64.0 become 64
    and 0/1 flags become booleans, so the stored config is what the trainer reads."""
    for section, specs in ((config, FIELDS), (config.optim, OPTIM_FIELDS), (config.augment, AUGMENT_FIELDS),
                           (config.weighting, WEIGHTING_FIELDS)):
        _check_section(section, specs)
    o = config.optim
    if o.lr == 0:
        raise ConfigError("optim.lr must be > 0")
    if o.epochs == 0 and o.max_steps is None and not o.until_stopped:
        raise ConfigError("optim.epochs must be > 0 (or give optim.max_steps)")
    if 0 < config.diverge_factor <= 1:
        raise ConfigError(f"diverge_factor must be 0 (off) or a number > 1, got {config.diverge_factor!r}")
    if not isinstance(config.name, str) or len(config.name) > MAX_NAME:
        raise ConfigError(f"name must be text of at most {MAX_NAME} characters, got "
                          f"{config.name if not isinstance(config.name, str) else config.name[:40] + '...'!r}")
    if not isinstance(config.device, str) or not DEVICE_RULE.fullmatch(config.device):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {config.device!r}")
    for path, value in (("data.name", config.data.name), ("model.architecture", config.model.architecture),
                        ("weighting.method", config.weighting.method)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path} must be a name, got {value!r}")
    for path, value in (("data.params", config.data.params), ("model.params", config.model.params),
                        ("weighting.params", config.weighting.params)):
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be an object of parameter names and values, got {value!r}")
    tasks = config.data.tasks
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f"data.tasks must be a list of task names, got {tasks!r}")
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"data.tasks has duplicates: {tasks}")
    if config.weighting.gradients not in GRADIENT_MODES:
        raise ConfigError("weighting.gradients must be auto, parameters or representation, "
                          f"got {config.weighting.gradients!r}")


def gradient_problem(method: Mapping[str, Any], architecture: Mapping[str, Any],
                     gradients: str = "auto") -> tuple[str, str] | None:
    """Why this weighting method cannot take its per-task gradients on this architecture, or None.

    `method` and `architecture` are registry descriptions (`mtlcore.weighting.describe()`,
    `mtlcore.models.describe()`: "name", "kind", "needs", "supports_representation";
    "name", "shares_parameters", "has_representation"), so pages answer without building anything.
    Returns (the config field to change, the message the trainer would fail with): the field is
    "weighting.gradients" when the method cannot work where it is asked to on any architecture,
    "model.architecture" when this architecture lacks what the method needs.
    """
    if method.get("kind") != "gradient":
        return None  # loss-based methods need only the task losses
    name, arch = method["name"], architecture["name"]
    if gradients == "auto":
        gradients = "representation" if method["needs"] == "representation" else "parameters"
    if gradients == "representation":
        if not (method["needs"] == "representation" or method["supports_representation"]):
            return ("weighting.gradients", f"method '{name}' does not work on the shared representation; "
                                           "use weighting.gradients = 'parameters'")
        if not architecture["has_representation"]:
            return ("model.architecture", f"method '{name}' needs a shared representation, which "
                                          f"architecture '{arch}' does not have; use 'hps'")
    elif not architecture["shares_parameters"]:
        return ("model.architecture", f"method '{name}' combines gradients on shared parameters, and "
                                      f"architecture '{arch}' shares none; use a loss-based method or 'hps'")
    return None


def json_object(text: str, what: str) -> dict[str, Any]:
    """Parsed JSON text that must be an object; a ConfigError naming `what` otherwise."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int of > 4,300 digits, deep nesting
        raise ConfigError(f"{what} is not valid JSON: {str(exc)[:200] or type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return raw


def read_text(path: str | Path, what: str) -> str:
    """The file's text; a ConfigError (not a UnicodeDecodeError or OSError traceback) when it
    cannot be read as UTF-8 text."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} file {p} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                          f"position {exc.start}); save it as UTF-8 JSON") from None
    except OSError as exc:
        raise ConfigError(f"{what} file {p} cannot be read: {exc.strerror or exc}") from None


_NESTED = {"data": DataConfig, "model": ModelConfig, "weighting": WeightingConfig, "optim": OptimConfig,
           "augment": AugmentConfig}


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object, got {raw!r}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if cls is RunConfig and key in _NESTED:
            kwargs[key] = _build(_NESTED[key], value, f"{where}.{key}")
        else:
            kwargs[key] = value
    return cls(**kwargs)
