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
    # False when the target describes the image's geometry (its rotation, the image itself), so a
    # random crop, flip or turn of the input would make the target wrong: augmentation is refused
    augmentable: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "reconstruction":
            object.__setattr__(self, "augmentable", False)
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
            "description": self.description, "augmentable": self.augmentable,
            "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better} for m in self.metrics],
        }


DEFAULT_METRICS: dict[str, tuple[Metric, ...]] = {
    "classification": (Metric("accuracy", True), Metric("recall", True), Metric("f1", True)),
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
        guess = pred.argmax(dim=1)
        return {"loss": float(loss), "accuracy": float((guess == target).sum()),
                **class_counts(guess, target, pred.shape[1])}
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


def class_counts(guess: torch.Tensor, target: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Per-class counts that add up over batches: true positives, true and predicted totals, under
    private keys `finish_metrics` turns into macro recall and F1 (and then drops)."""
    import torch

    tp = torch.bincount(target[guess == target], minlength=n_classes)
    true = torch.bincount(target, minlength=n_classes)
    pred = torch.bincount(guess, minlength=n_classes)
    out: dict[str, float] = {}
    for name, counts in (("tp", tp), ("true", true), ("pred", pred)):
        for c, v in enumerate(counts.tolist()):
            if v:
                out[f"{_COUNT}{name}:{c}"] = float(v)
    return out


_COUNT = "_count:"


def macro_recall_f1(sums: dict[str, float]) -> tuple[float, float]:
    """Macro recall and F1 from `class_counts`, as sklearn defines them: the mean over the classes
    that occur in the targets or the predictions; a class never seen in the targets has recall 0."""
    counts: dict[str, dict[int, float]] = {"tp": {}, "true": {}, "pred": {}}
    for key, v in sums.items():
        if key.startswith(_COUNT):
            name, c = key[len(_COUNT):].split(":")
            counts[name][int(c)] = v
    labels = sorted(set(counts["true"]) | set(counts["pred"]))
    if not labels:
        return 0.0, 0.0
    recall = f1 = 0.0
    for c in labels:
        tp, true, pred = counts["tp"].get(c, 0.0), counts["true"].get(c, 0.0), counts["pred"].get(c, 0.0)
        recall += tp / true if true else 0.0
        f1 += 2 * tp / (true + pred)
    return recall / len(labels), f1 / len(labels)


def finish_metrics(spec: TaskSpec, sums: dict[str, float], n: int) -> dict[str, float]:
    """Turn accumulated sums into means (RMSE takes its root after averaging; recall and F1 come
    from the per-class counts)."""
    out = {k: v / max(n, 1) for k, v in sums.items() if not k.startswith(_COUNT)}
    if "rmse" in out:
        out["rmse"] = out["rmse"] ** 0.5
    if spec.kind == "classification":
        out["recall"], out["f1"] = macro_recall_f1(sums)
    return out
