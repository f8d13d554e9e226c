"""Macro recall and F1 streamed over batches agree with sklearn.metrics; Delta-m's metric choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, recall_score

from mtlcore.registry import ConfigError
from mtlcore.sweeps.delta_m import metric_directions
from mtlcore.tasks import TaskSpec, finish_metrics, task_metric_sums


def streamed(spec: TaskSpec, logits: torch.Tensor, target: torch.Tensor, batch: int) -> dict[str, float]:
    sums: dict[str, float] = {}
    for start in range(0, len(target), batch):
        part = task_metric_sums(spec, logits[start:start + batch], target[start:start + batch])
        for k, v in part.items():
            sums[k] = sums.get(k, 0.0) + v
    return finish_metrics(spec, sums, len(target))


@pytest.mark.parametrize("seed,classes,n,batch", [(0, 10, 500, 64), (1, 2, 97, 10), (2, 7, 40, 3), (3, 5, 30, 30)])
def test_recall_and_f1_match_sklearn(seed: int, classes: int, n: int, batch: int) -> None:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, classes - 1, (n,), generator=g)  # the last class never occurs in the targets
    logits = torch.randn(n, classes, generator=g)
    logits[torch.arange(n), target] += 1.0  # better than chance, not perfect
    spec = TaskSpec("t", "classification", classes)
    got = streamed(spec, logits, target, batch)
    y, p = target.numpy(), logits.argmax(1).numpy()
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["recall"] == pytest.approx(recall_score(y, p, average="macro", zero_division=0))
    assert got["f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert not any(k.startswith("_") for k in got)
    assert [m.name for m in spec.metrics] == ["accuracy", "recall", "f1"]


def test_imbalanced_predictions_separate_recall_from_accuracy() -> None:
    target = torch.tensor([0] * 9 + [1])
    logits = torch.zeros(10, 2)
    logits[:, 0] = 1.0  # always predicts the common class
    got = finish_metrics(TaskSpec("t", "classification", 2),
                         task_metric_sums(TaskSpec("t", "classification", 2), logits, target), 10)
    assert got["accuracy"] == pytest.approx(0.9)
    assert got["recall"] == pytest.approx(0.5)
    assert got["f1"] == pytest.approx(f1_score(target.numpy(), np.zeros(10, int), average="macro"))


def test_delta_m_counts_classification_by_the_chosen_metric() -> None:
    assert metric_directions("multi_digits", ["left"]) == {"left": {"accuracy": True}}
    assert metric_directions("multi_digits", ["left", "sum"], "f1") == {
        "left": {"f1": True}, "sum": {"mae": False, "rmse": False}}
    with pytest.raises(ConfigError, match="classification metric"):
        metric_directions("multi_digits", None, "precision")
