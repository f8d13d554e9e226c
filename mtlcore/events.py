"""Plain events the trainer yields. The run store persists them; nothing here knows a consumer.

All values are Python floats / lists / dicts so events pickle across processes and map to rows.
No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class Started:
    device: str
    total_steps: int
    steps_per_epoch: int
    n_parameters: int
    n_shared_parameters: int
    tasks: list[str]
    time: float


@dataclass
class StepMetrics:
    """Per-task training loss and the weight each loss had at this step."""

    step: int
    epoch: float
    time: float  # seconds since the run started
    losses: dict[str, float]
    weights: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)  # e.g. total loss, regulariser


@dataclass
class Evaluation:
    """Per-task loss and metrics on a split ("val" or "test")."""

    step: int
    epoch: float
    time: float
    split: str
    losses: dict[str, float]
    metrics: dict[str, dict[str, float]]


@dataclass
class GradientStats:
    """Per-task gradient diagnostics on the shared parameters (or representation)."""

    step: int
    epoch: float
    time: float
    norms: dict[str, float]
    cosine: list[list[float]]  # T x T, rows and columns in task order
    conflict: bool  # any pair with negative cosine
    direction_cosine: dict[str, float]  # cosine of the applied update with each task's gradient
    tasks: list[str]


@dataclass
class WeightsChanged:
    """A live change of static weights took effect at this step."""

    step: int
    weights: dict[str, float]


@dataclass
class Alert:
    """Something a user should see about a run that goes on (a task collapsed to chance level)."""

    step: int
    kind: str  # "collapse"
    task: str
    message: str


@dataclass
class Finished:
    status: str  # "finished" | "stopped" | "failed" | "diverged"
    reason: str
    time: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checkpointed:
    """A resumable checkpoint of the run at `step` was written to `path` (the runner records where)."""

    step: int
    path: str


Event = Union[Started, StepMetrics, Evaluation, GradientStats, WeightsChanged, Alert, Checkpointed, Finished]
