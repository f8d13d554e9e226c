"""Run configuration: plain dataclasses with an exact JSON round trip.

A stored run's config is enough to re-run it, so everything that changes the result lives here
(seed included), and unknown keys are rejected instead of ignored. No torch import.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from mtlcore.registry import ConfigError


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


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    batch_size: int = 128
    epochs: float = 1.0  # fractional epochs allowed for quick demos
    max_steps: int | None = None  # caps the step count when given


@dataclass
class RunConfig:
    name: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    eval_every: int = 0  # validation every N steps; 0 means once per epoch
    grad_stats_every: int = 25  # gradient diagnostics every N steps; 0 turns them off
    log_every: int = 1  # step metrics every N steps
    threads: int = 0  # torch threads; 0 lets the core choose
    amp: bool = False  # bf16 autocast on CPU / fp16 on CUDA

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

    def validate(self) -> "RunConfig":
        """Numbers in range, then the method and architecture names against their registries and
        whether they fit together (`gradient_problem`). Parameters are checked where they are used.

        The registries import PyTorch, on the first call only: the module itself stays light.
        """
        o = self.optim
        if o.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer must be 'adam' or 'sgd', got {o.optimizer!r}")
        for name, value, low in (("lr", o.lr, 0.0), ("weight_decay", o.weight_decay, 0.0),
                                 ("epochs", o.epochs, 0.0)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
                raise ConfigError(f"optim.{name} must be a finite number >= {low}, got {value!r}")
        if o.lr == 0:
            raise ConfigError("optim.lr must be > 0")
        if not isinstance(o.batch_size, int) or o.batch_size < 1:
            raise ConfigError(f"optim.batch_size must be a whole number >= 1, got {o.batch_size!r}")
        if o.max_steps is not None and (not isinstance(o.max_steps, int) or o.max_steps < 1):
            raise ConfigError(f"optim.max_steps must be a whole number >= 1, got {o.max_steps!r}")
        if o.epochs == 0 and o.max_steps is None:
            raise ConfigError("optim.epochs must be > 0 (or give optim.max_steps)")
        for name in ("eval_every", "grad_stats_every", "log_every", "threads", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be a whole number >= 0, got {v!r}")
        if self.log_every == 0:
            raise ConfigError("log_every must be >= 1")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {dev!r}")
        if not isinstance(self.data.tasks, list) or not all(isinstance(t, str) for t in self.data.tasks):
            raise ConfigError("data.tasks must be a list of task names")
        if self.weighting.gradients not in ("auto", "parameters", "representation"):
            raise ConfigError("weighting.gradients must be auto, parameters or representation, "
                              f"got {self.weighting.gradients!r}")
        if len(set(self.data.tasks)) != len(self.data.tasks):
            raise ConfigError(f"data.tasks has duplicates: {self.data.tasks}")
        self._check_pairing()
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
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return raw


def read_text(path: str | Path, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    return p.read_text(encoding="utf-8")


_NESTED = {"data": DataConfig, "model": ModelConfig, "weighting": WeightingConfig, "optim": OptimConfig}


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
