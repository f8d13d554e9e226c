"""Loss-based weighting: methods that turn the T task losses into one scalar, without task gradients.

Conventions shared by every method here, so their curves can be compared on one page:
- `combine` returns the total to backpropagate and the weights it applied, where a weight is the
  multiplier of each task loss in the gradient, d total / d L_i. That is what the trainer multiplies
  with the task gradients for its statistics, and it is what the tests check against autograd.
- Equal weighting is a *sum* of the losses (every weight 1), and the methods that choose their own
  scale (UW at its start, DWA, RLW) keep their weights summing to about T, so a learning rate tuned
  for EW carries over. GLS and FAMO keep the scale their papers define (their weights sum to about 1).
- Losses that reach zero or below are floored at `LOSS_FLOOR` wherever a method divides by a loss or
  takes its log; a task at the floor stops pulling instead of turning the total into NaN.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, Iterable, Sequence

import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import LossWeighting, register

LOSS_FLOOR = 1e-8  # smallest loss (or loss gap) a method divides by or takes the log of

_FAMILY = "loss-based"


def _checked_numbers(values: Any, n_tasks: int, what: str, non_negative: bool) -> list[float]:
    """One finite number per task, else a ConfigError naming the task (1-based) and the problem."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"{what} must be a list of {n_tasks} numbers, got {values!r}")
    values = list(values)
    if len(values) != n_tasks:
        raise ConfigError(f"{what} must have one value per task ({n_tasks}), got {len(values)}")
    out: list[float] = []
    for i, v in enumerate(values, start=1):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ConfigError(f"{what}: the value of task {i} must be a number, got {v!r}")
        x = float(v)
        if math.isnan(x):
            raise ConfigError(f"{what}: the value of task {i} is NaN")
        if math.isinf(x):
            raise ConfigError(f"{what}: the value of task {i} is infinite")
        if non_negative and x < 0:
            raise ConfigError(f"{what}: the value of task {i} is negative ({x:g}); weights must be >= 0")
        out.append(x)
    return out


class _RecordedWeighting(LossWeighting):
    """Remembers the weights last applied so `current_weights` can show them between steps."""

    _last: torch.Tensor | None = None

    def reset(self) -> None:
        self._last = None

    def current_weights(self) -> list[float] | None:
        weights = self._last if self._last is not None else self._planned_weights()
        return None if weights is None else [float(w) for w in weights.detach().cpu()]

    def _planned_weights(self) -> torch.Tensor | None:
        """Weights the next step will apply when they do not depend on that step's losses."""
        return None

    def _record(self, weights: torch.Tensor) -> torch.Tensor:
        self._last = weights.detach()
        return self._last

    def _check_losses(self, losses: torch.Tensor) -> None:
        if losses.shape != (self.n_tasks,):
            raise ConfigError(f"weighting method '{self.name}' was built for {self.n_tasks} task(s) but got "
                              f"losses of shape {tuple(losses.shape)}")

    def _weighted_sum(self, losses: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Total = sum w_i L_i with constant weights, so d total / d L_i is exactly w_i."""
        weights = weights.detach().to(device=losses.device, dtype=losses.dtype)
        return (weights * losses).sum(), self._record(weights)


@register
class StaticWeighting(_RecordedWeighting):
    """The user's own weights (the sliders); the baseline that tuned methods must beat.

    Weights are used as given, not normalised: doubling every slider doubles the step size, exactly
    as it would in a hand-written `w1 * L1 + w2 * L2`.
    """

    name: ClassVar[str] = "static"
    title: ClassVar[str] = "Static weights"
    summary: ClassVar[str] = "Fixed per-task weights chosen by you; they can be changed while a run trains."
    paper: ClassVar[str] = ("Linear scalarisation; on how well tuned static weights do: Xin, Ghorbani, Gilmer, "
                            "Garg, Firat. Do Current Multi-Task Optimization Methods in Deep Learning Even "
                            "Help? NeurIPS 2022")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = r"\mathcal{L} = \sum_{i=1}^{T} w_i\, L_i, \qquad w_i \ge 0 \text{ set by the user}"
    cost: ClassVar[str] = "one backward pass"
    params: ClassVar[tuple[Param, ...]] = (
        Param("weights", "floats", None, help="one weight >= 0 per task, in task order; empty means all 1",
              low=0.0),
    )

    def reset(self) -> None:
        super().reset()
        given = self.hp["weights"]
        values = [1.0] * self.n_tasks if given is None else self._validated(given)
        self._weights = torch.tensor(values, dtype=torch.float32)

    def _validated(self, weights: Any) -> list[float]:
        values = _checked_numbers(weights, self.n_tasks, "static weights", non_negative=True)
        if not any(v > 0 for v in values):
            raise ConfigError("static weights: at least one weight must be above 0 (all are zero, nothing would train)")
        return values

    def set_weights(self, weights: Sequence[float]) -> None:
        """Live slider change: validated first, so a bad value raises and leaves the old weights in place."""
        values = self._validated(weights)
        self._weights = torch.tensor(values, dtype=torch.float32)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        return self._weighted_sum(losses, self._weights)

    def current_weights(self) -> list[float] | None:
        # The sliders may have moved since the last step; show what the next step will use.
        return [float(w) for w in self._weights]


@register
class EqualWeighting(_RecordedWeighting):
    """Every task weight 1: the plain sum of the losses (a mean would only divide the learning rate by T)."""

    name: ClassVar[str] = "ew"
    title: ClassVar[str] = "Equal weighting"
    summary: ClassVar[str] = "Sum of the task losses, every weight 1: the baseline every method is compared with."
    paper: ClassVar[str] = ("Kurin, De Palma, Kostrikov, Whiteson, Kumar. In Defense of the Unitary "
                            "Scalarization for Deep Multi-Task Learning. NeurIPS 2022")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = r"\mathcal{L} = \sum_{i=1}^{T} L_i"
    cost: ClassVar[str] = "one backward pass"

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        return self._weighted_sum(losses, torch.ones(self.n_tasks))

    def _planned_weights(self) -> torch.Tensor | None:
        return torch.ones(self.n_tasks)


@register
class UncertaintyWeighting(_RecordedWeighting):
    """Learned per-task log-variances s_i: total = sum(exp(-s_i) L_i + s_i), weight exp(-s_i).

    This is twice Kendall et al.'s regression form (L / 2 sigma^2 + log sigma) and equal to their
    classification approximation. The factor 2 makes UW start at weight 1, identical to EW, instead of
    1/2; the optimum is the same (exp(s_i) = L_i, so each weight tends to 1 / L_i). The s_i are handed
    to the model's optimiser through `parameters()`, as in the paper.
    """

    name: ClassVar[str] = "uw"
    title: ClassVar[str] = "Uncertainty weighting"
    summary: ClassVar[str] = ("Learns one log-variance per task; each weight tends to 1 / loss, so tasks on "
                              "larger scales are damped.")
    paper: ClassVar[str] = ("Kendall, Gal, Cipolla. Multi-Task Learning Using Uncertainty to Weigh Losses for "
                            "Scene Geometry and Semantics. CVPR 2018")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = (r"\mathcal{L} = \sum_{i=1}^{T} \left( e^{-s_i} L_i + s_i \right), \quad "
                              r"s_i = \log \sigma_i^2 \text{ learned}, \quad w_i = e^{-s_i}")
    cost: ClassVar[str] = "one backward pass (T extra learned scalars)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("init", "float", 0.0, help="starting log-variance s of every task (0 means weight 1)",
              low=-10.0, high=10.0),
    )

    _device: torch.device = torch.device("cpu")
    log_variance: torch.Tensor

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "log_variance"):
            # Refill in place: an optimiser built on parameters() keeps pointing at this tensor.
            with torch.no_grad():
                self.log_variance.fill_(float(self.hp["init"]))
            self.log_variance.grad = None
        else:
            self.log_variance = torch.full((self.n_tasks,), float(self.hp["init"]), device=self._device,
                                           requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.log_variance]

    def to(self, device: torch.device | str) -> "UncertaintyWeighting":
        """Move s before the optimiser is built (the trainer calls this right after `create`)."""
        self._device = torch.device(device)
        self.log_variance = self.log_variance.detach().to(self._device).requires_grad_(True)
        return self

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        s = self.log_variance.to(losses.device)
        weights = torch.exp(-s)
        total = (weights * losses).sum() + s.sum()
        return total, self._record(weights)

    def _planned_weights(self) -> torch.Tensor | None:
        return torch.exp(-self.log_variance.detach())


@register
class DynamicWeightAverage(_RecordedWeighting):
    """Weights T * softmax(r / temperature), r_i the ratio of task i's last two mean losses.

    A task whose loss fell least (ratio near or above 1) gets the most weight. The means come from
    epochs, as in the paper, or, with `window` > 0, from consecutive windows of that many steps,
    so short runs (a few epochs) still adapt. Until two means exist, every weight is 1.
    """

    name: ClassVar[str] = "dwa"
    title: ClassVar[str] = "Dynamic Weight Average"
    summary: ClassVar[str] = ("Weights tasks by how slowly their loss is falling (ratio of the last two epoch "
                              "or window means).")
    paper: ClassVar[str] = "Liu, Johns, Davison. End-to-End Multi-Task Learning with Attention. CVPR 2019"
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = (r"w_i = T\,\frac{\exp(r_i/\tau)}{\sum_{j} \exp(r_j/\tau)}, \quad "
                              r"r_i = \frac{\bar L_i(t-1)}{\bar L_i(t-2)}, \quad w_i = 1 \text{ for } t \le 2")
    cost: ClassVar[str] = "one backward pass"
    params: ClassVar[tuple[Param, ...]] = (
        Param("temperature", "float", 2.0, help="softmax temperature; larger keeps the weights closer to 1",
              low=0.01, high=100.0, log=True),
        Param("window", "int", 0, help="steps per averaging window; 0 averages over epochs (the paper)",
              low=0, high=1_000_000),
    )

    def reset(self) -> None:
        super().reset()
        self._means: list[torch.Tensor] = []  # the last two mean losses (CPU, float64)
        self._window_sum: torch.Tensor | None = None
        self._window_count = 0
        self._weights = torch.ones(self.n_tasks)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        result = self._weighted_sum(losses, self._weights)  # weights from completed periods only
        window = int(self.hp["window"])
        if window > 0:
            step = losses.detach().float()
            self._window_sum = step if self._window_sum is None else self._window_sum + step
            self._window_count += 1
            if self._window_count == window:
                self._push_mean(self._window_sum / window)
                self._window_sum, self._window_count = None, 0
        return result

    def end_of_epoch(self, mean_losses: torch.Tensor) -> None:
        if int(self.hp["window"]) == 0:
            self._push_mean(mean_losses)

    def _push_mean(self, mean: torch.Tensor) -> None:
        mean = mean.detach().to("cpu", torch.float64).reshape(-1)
        if mean.numel() != self.n_tasks:
            raise ConfigError(f"dwa: expected {self.n_tasks} mean losses, got {mean.numel()}")
        self._means = (self._means + [mean])[-2:]
        if len(self._means) == 2:
            older, newer = (m.clamp_min(LOSS_FLOOR) for m in self._means)
            ratio = newer / older  # float64: finite for any finite float32 losses
            self._weights = (self.n_tasks * torch.softmax(ratio / float(self.hp["temperature"]), 0)).float()

    def _planned_weights(self) -> torch.Tensor | None:
        return self._weights


@register
class RandomLossWeighting(_RecordedWeighting):
    """Fresh random weights every step: T * softmax(eps), eps ~ N(0, I).

    The paper (and LibMTL) use softmax(eps), summing to 1; the factor T here makes the expected
    weight of every task exactly 1, so RLW is EW plus noise and shares its learning rate.
    """

    name: ClassVar[str] = "rlw"
    title: ClassVar[str] = "Random loss weighting"
    summary: ClassVar[str] = ("Draws new random weights every step (softmax of a normal draw, times T); a "
                              "litmus test for tuned methods.")
    paper: ClassVar[str] = ("Lin, Ye, Zhang, Tsang. Reasonable Effectiveness of Random Weighting: A Litmus Test "
                            "for Multi-Task Learning. TMLR 2022")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = (r"w = T\,\operatorname{softmax}(\epsilon), \quad \epsilon \sim \mathcal{N}(0, I_T) "
                              r"\text{ drawn every step}, \quad \mathcal{L} = \sum_{i} w_i L_i")
    cost: ClassVar[str] = "one backward pass"
    stochastic: ClassVar[bool] = True

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        # Drawn on the CPU with the run's generator (None falls back to torch's global one).
        draw = torch.randn(self.n_tasks, generator=self.generator)
        return self._weighted_sum(losses, self.n_tasks * torch.softmax(draw, 0))


@register
class GeometricLossStrategy(_RecordedWeighting):
    """Total = geometric mean of the losses, computed as exp(mean log L) so it never under/overflows.

    Its gradient weights each task by total / (T L_i): small losses get large weights. A loss at or
    below LOSS_FLOOR is held at the floor and gets weight 0 (a zero loss would zero the product).
    """

    name: ClassVar[str] = "gls"
    title: ClassVar[str] = "Geometric loss strategy"
    summary: ClassVar[str] = "Minimises the geometric mean of the losses; each task's weight is inverse to its loss."
    paper: ClassVar[str] = ("Chennupati, Sistu, Yogamani, Rawashdeh. MultiNet++: Multi-Stream Feature "
                            "Aggregation and Geometric Loss Strategy for Multi-Task Learning. CVPR Workshops 2019")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = (r"\mathcal{L} = \Big( \prod_{i=1}^{T} L_i \Big)^{1/T}, \quad "
                              r"w_i = \frac{\partial \mathcal{L}}{\partial L_i} = \frac{\mathcal{L}}{T\, L_i}")
    cost: ClassVar[str] = "one backward pass"

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        above = losses.detach() > LOSS_FLOOR
        floored = torch.where(above, losses, torch.full_like(losses, LOSS_FLOOR))
        total = floored.log().mean().exp()
        weights = torch.where(above, total.detach() / (self.n_tasks * floored.detach()),
                              torch.zeros_like(floored))
        return total, self._record(weights)


@register
class FAMO(_RecordedWeighting):
    """Fast Adaptive Multitask Optimization: balance the *rate* at which the log-losses fall.

    Keeps logits xi (z = softmax(xi)) and weights each loss by c z_i / (L_i - L*_i + eps), with c
    normalising the weights to sum 1: the gradient is that of sum z_i log(L_i - L*_i) up to the
    scale c. After the model step the trainer re-evaluates the same batch; xi then takes one Adam
    step (weight decay gamma) on the gradient of z . delta, delta_i the fall of log(L_i - L*_i), which
    raises the weight of the tasks that improved least. The logits have their own optimiser, not the
    model's, so `parameters()` is empty.
    """

    name: ClassVar[str] = "famo"
    title: ClassVar[str] = "FAMO"
    summary: ClassVar[str] = ("Adapts weights so every task's log-loss falls at the same rate, at the cost of one "
                              "extra forward pass.")
    paper: ClassVar[str] = ("Liu, Feng, Stone, Liu. FAMO: Fast Adaptive Multitask Optimization. NeurIPS 2023")
    family: ClassVar[str] = _FAMILY
    formula: ClassVar[str] = (r"z = \operatorname{softmax}(\xi), \quad "
                              r"w_i = \frac{z_i / (L_i - L_i^* + \epsilon)}{\sum_j z_j / (L_j - L_j^* + \epsilon)}; "
                              r"\quad \xi \leftarrow \operatorname{Adam}\big(\nabla_\xi\, z^\top \delta + \gamma\,\xi\big), "
                              r"\quad \delta_i = \log\frac{L_i^{\mathrm{before}} - L_i^*}{L_i^{\mathrm{after}} - L_i^*}")
    cost: ClassVar[str] = "one backward pass plus one extra forward pass (no gradient) on the same batch"
    params: ClassVar[tuple[Param, ...]] = (
        Param("lr", "float", 0.025, help="learning rate of the task logits (their own Adam, not the model's)",
              low=1e-5, high=1.0, log=True),
        Param("gamma", "float", 1e-3, help="weight decay on the logits; pulls the weights back toward equal",
              low=0.0, high=1.0),
        Param("min_losses", "floats", None, help="lowest reachable loss L* of each task; empty means all 0"),
    )
    wants_losses_after_step: ClassVar[bool] = True

    _device: torch.device = torch.device("cpu")

    def reset(self) -> None:
        super().reset()
        given = self.hp["min_losses"]
        minima = [0.0] * self.n_tasks if given is None else _checked_numbers(
            given, self.n_tasks, "famo min_losses", non_negative=False)
        self._min_losses = torch.tensor(minima, dtype=torch.float32, device=self._device)
        self.logits = torch.zeros(self.n_tasks, device=self._device, requires_grad=True)
        self._optimizer = self._new_optimizer()

    def _new_optimizer(self) -> torch.optim.Adam:
        return torch.optim.Adam([self.logits], lr=float(self.hp["lr"]), weight_decay=float(self.hp["gamma"]))

    def to(self, device: torch.device | str) -> "FAMO":
        self._device = torch.device(device)
        state = self._optimizer.state_dict()
        self.logits = self.logits.detach().to(self._device).requires_grad_(True)
        self._min_losses = self._min_losses.to(self._device)
        self._optimizer = self._new_optimizer()
        self._optimizer.load_state_dict(state)  # moves Adam's moments next to the logits
        return self

    def _gaps(self, losses: torch.Tensor) -> torch.Tensor:
        """L - L* + eps, with L below L* treated as L* (the paper assumes L >= L*)."""
        losses = losses.detach().to(self._device, torch.float32)
        return (losses - self._min_losses).clamp_min(0.0) + LOSS_FLOOR

    def task_probabilities(self) -> torch.Tensor:
        """z = softmax(logits): the weights FAMO would apply if every loss gap were equal."""
        return torch.softmax(self.logits.detach(), 0)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        scaled = self.task_probabilities() / self._gaps(losses)
        return self._weighted_sum(losses, scaled / scaled.sum())

    def after_step(self, losses_before: torch.Tensor, losses_after: torch.Tensor) -> None:
        """One Adam step on the logits from the fall of each log-loss over the model's step."""
        delta = self._gaps(losses_before).log() - self._gaps(losses_after).log()
        if not bool(torch.isfinite(delta).all()):
            return  # a diverged re-evaluation; the trainer fails the run on the next step's losses
        z = self.task_probabilities()
        # d(z . delta)/d logits = J_softmax^T delta = z * (delta - z . delta)
        self.logits.grad = z * (delta - (z * delta).sum())
        self._optimizer.step()
        self.logits.grad = None
