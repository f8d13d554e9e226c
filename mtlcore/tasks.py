"""What a task is: its kind, loss and metrics, and how to compute them on a batch.

A data set declares its tasks with TaskSpec; the trainer and the evaluation only ever go through
`task_loss` and `task_metrics`, so a new task kind is added here once. torch is imported inside the
two functions that compute on tensors, so data sets can describe their tasks to the pages without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

KINDS = ("classification", "regression", "reconstruction")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool


@dataclass(frozen=True)
class TaskSpec:
    """A task of a data set.

    `out_dim` is the number of classes (classification), 1 (scalar regression) or the flattened
    output size (reconstruction, reshaped to `out_shape`). `target_scale`/`target_shift` map a
    standardised regression target back to its original units for metrics.
    """

    name: str
    kind: str
    out_dim: int
    description: str = ""
    out_shape: tuple[int, ...] = ()
    target_scale: float = 1.0
    target_shift: float = 0.0
    metrics: tuple[Metric, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task kind must be one of {KINDS}, got {self.kind!r}")
        if not self.metrics:
            object.__setattr__(self, "metrics", DEFAULT_METRICS[self.kind])

    @property
    def loss_name(self) -> str:
        return "cross_entropy" if self.kind == "classification" else "mse"

    @property
    def main_metric(self) -> Metric:
        return self.metrics[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "loss": self.loss_name, "out_dim": self.out_dim,
            "description": self.description,
            "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better} for m in self.metrics],
        }


DEFAULT_METRICS: dict[str, tuple[Metric, ...]] = {
    "classification": (Metric("accuracy", True),),
    "regression": (Metric("mae", False), Metric("rmse", False)),
    "reconstruction": (Metric("mse", False), Metric("psnr", True)),
}


def task_loss(spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss over the batch, in the task's training units (standardised for regression)."""
    import torch.nn.functional as F

    if spec.kind == "classification":
        return F.cross_entropy(pred.float(), target)
    return F.mse_loss(pred.float().reshape(target.shape), target.float())


def task_metric_sums(spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Sums over the batch (so evaluation can accumulate over batches and divide once)."""
    import torch

    with torch.no_grad():
        return _metric_sums(spec, pred, target)


def _metric_sums(spec: TaskSpec, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    pred = pred.float()
    n = target.shape[0]
    if spec.kind == "classification":
        loss = F.cross_entropy(pred, target, reduction="sum")
        correct = (pred.argmax(dim=1) == target).sum()
        return {"loss": float(loss), "accuracy": float(correct)}
    p = pred.reshape(target.shape)
    t = target.float()
    if spec.kind == "regression":
        se = ((p - t) ** 2).reshape(n, -1).mean(dim=1)
        err = (p - t).abs().reshape(n, -1).mean(dim=1) * spec.target_scale
        return {"loss": float(se.sum()), "mae": float(err.sum()),
                "rmse": float((se * spec.target_scale**2).sum())}
    se = ((p - t) ** 2).reshape(n, -1).mean(dim=1)
    psnr = -10.0 * torch.log10(se.clamp_min(1e-10))  # images live in [0, 1]
    return {"loss": float(se.sum()), "mse": float(se.sum()), "psnr": float(psnr.sum())}


def finish_metrics(spec: TaskSpec, sums: dict[str, float], n: int) -> dict[str, float]:
    """Turn accumulated sums into means (RMSE takes its root after averaging)."""
    out = {k: v / max(n, 1) for k, v in sums.items()}
    if "rmse" in out:
        out["rmse"] = out["rmse"] ** 0.5
    return out
