"""Is a run still learning? Divergence ends a run; collapse to chance is flagged.

Only non-finite losses used to be caught, so Adam at lr 5 on Multi-Digits (losses near 1e9,
accuracy at chance) ended as a green "finished". The watch looks at numbers the trainer already
has (per-step task losses, validation metrics), costs nothing measurable, and says which task,
which step and what to change. No torch import: it sees plain floats.
"""

from __future__ import annotations

from collections import deque
from typing import Mapping, Sequence

from mtlcore.events import Alert

# A task's loss is judged against its loss at the first step (taken before any update: a runaway
# learning rate blows up by the third step), floored so that a task that starts near zero loss is
# not called diverged for a rise that is small in absolute terms.
WINDOW = 10
LOSS_FLOOR = 1e-3
# Accuracy counts as "at chance" up to this far above 1 / classes (absolute), e.g. 0.15 for 10 classes.
CHANCE_MARGIN = 0.05


class TrainingDiverged(Exception):
    """The run's losses blew up; the message names the task, the step and what to change."""


class HealthWatch:
    """Watches one run.

    - Divergence: a task's loss, averaged over the last WINDOW steps, above `diverge_factor` times
      its loss at the first step (0 turns this off).
    - Collapse: a classification task's validation accuracy at chance level (1/classes +
      CHANCE_MARGIN) for `chance_evals` evaluations in a row (0 turns this off). It is flagged once
      per task, not fatal: a task at weight 0, or one a lesson starves on purpose, may sit there.
    """

    def __init__(self, tasks: Sequence[str], classes: Mapping[str, int], diverge_factor: float,
                 chance_evals: int) -> None:
        self.tasks = list(tasks)
        self.classes = dict(classes)  # task -> number of classes, classification tasks only
        self.diverge_factor = float(diverge_factor)
        self.chance_evals = int(chance_evals)
        self._start: list[float | None] = [None for _ in self.tasks]
        self._recent: list[deque[float]] = [deque(maxlen=WINDOW) for _ in self.tasks]
        self._at_chance: dict[str, int] = {t: 0 for t in self.classes}
        self._flagged: set[str] = set()

    def observe_losses(self, step: int, losses: Sequence[float]) -> None:
        """Per-task training losses of `step` (1-based); raises TrainingDiverged."""
        if self.diverge_factor <= 0:
            return
        for i, value in enumerate(losses):
            if self._start[i] is None:
                self._start[i] = max(float(value), LOSS_FLOOR)
            start = self._start[i]
            recent = self._recent[i]
            recent.append(float(value))
            mean = sum(recent) / len(recent)
            if mean > self.diverge_factor * start:
                raise TrainingDiverged(
                    f"the loss of task '{self.tasks[i]}' grew to {mean:.3g} (mean of the last "
                    f"{len(recent)} steps), more than {self.diverge_factor:g}x its start ({start:.3g}), "
                    f"at step {step}: the run diverged. Lower the learning rate (or this task's weight) "
                    "and train again.")

    def observe_evaluation(self, step: int, metrics: Mapping[str, Mapping[str, float]]) -> list[Alert]:
        """A validation evaluation's metrics; returns the alerts raised by it (each task once)."""
        if self.chance_evals <= 0:
            return []
        alerts = []
        for task, n_classes in self.classes.items():
            accuracy = metrics.get(task, {}).get("accuracy")
            if accuracy is None:
                continue
            chance = 1.0 / max(n_classes, 1)
            if accuracy <= chance + CHANCE_MARGIN:
                self._at_chance[task] += 1
            else:
                self._at_chance[task] = 0
            if self._at_chance[task] >= self.chance_evals and task not in self._flagged:
                self._flagged.add(task)
                alerts.append(Alert(step, "collapse", task, (
                    f"task '{task}' has stayed at chance level (validation accuracy {accuracy:.3f}, "
                    f"chance {chance:.3f}) for {self._at_chance[task]} evaluations in a row up to step "
                    f"{step}: it is not learning. If that is not the point of the lesson, lower the "
                    "learning rate or raise this task's weight.")))
        return alerts
