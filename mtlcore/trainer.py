"""The training loop: a generator of plain events.

It knows nothing of SQLite or Streamlit: `Trainer.run()` yields events (started, step metrics,
evaluations, gradient statistics, weight changes, finished) and polls a `Control` for a stop or live
weights. The runner persists the events; pages read them from the store.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import torch

from mtlcore import checkpoint as ckpt
from mtlcore import gradients as grads
from mtlcore.config import OptimConfig, RunConfig, gradient_problem
from mtlcore.data.augment import Augmenter
from mtlcore.data.base import PreparedData, Split, load_dataset
from mtlcore.device import choose_threads, pick_device
from mtlcore.events import (
    Alert,
    Checkpointed,
    Evaluation,
    Event,
    Finished,
    GradientStats,
    Started,
    StepMetrics,
    WeightsChanged,
)
from mtlcore.health import HealthWatch, TrainingDiverged
from mtlcore.models.base import MTLModel, build_model
from mtlcore.registry import ConfigError
from mtlcore.tasks import finish_metrics, task_loss, task_metric_sums
from mtlcore.weighting import GradientWeighting, LossWeighting, Weighting, create


@dataclass
class ControlState:
    stop: bool = False
    weights: list[float] | None = None
    version: int = 0


class Control(Protocol):
    def poll(self) -> ControlState: ...


class NoControl:
    def poll(self) -> ControlState:
        return ControlState()


class LocalControl:
    """In-process control (tests, notebooks): call stop() or set_weights() from anywhere."""

    def __init__(self) -> None:
        self.state = ControlState()

    def stop(self) -> None:
        self.state = ControlState(True, self.state.weights, self.state.version + 1)

    def set_weights(self, weights: list[float]) -> None:
        self.state = ControlState(self.state.stop, list(weights), self.state.version + 1)

    def poll(self) -> ControlState:
        return self.state


def apply_live_weights(method: Weighting, tasks: list[str], weights: list[float],
                       step: int) -> WeightsChanged | None:
    """Give a method the dashboard's live weights; the event to record, or None when nothing changed.

    Shared by this trainer and `mtlcore.tracking.Session`, so a slider steers both alike.
    """
    setter = getattr(method, "set_weights", None)
    if setter is None:
        return None  # live weights only apply to static weighting
    try:
        setter(list(weights))
    except ConfigError:
        return None  # an invalid live value keeps the old weights; the page validates first
    return WeightsChanged(step, dict(zip(tasks, [float(w) for w in weights])))


class TrainingFailed(Exception):
    """A run cannot go on (non-finite loss, diverged); the message names the task and step."""


EVAL_BATCH = 2048
POLL_EVERY_S = 0.1
# "Train until I press Stop" still ends somewhere: hours on this machine, and a bounded database.
UNTIL_STOPPED_MAX_STEPS = 1_000_000


def gradient_mode(config: RunConfig, method: Weighting, model: MTLModel) -> str | None:
    """Where per-task gradients are taken for this run, or None for loss-only methods.

    `RunConfig.validate` has asked the same question of the registry; this asks it of the built
    model, with the same rule (`gradient_problem`), so a registry flag that drifted still fails clearly.
    """
    if isinstance(method, LossWeighting):
        return None
    asked = config.weighting.gradients
    if asked == "auto":
        asked = "representation" if method.needs == "representation" else "parameters"
    problem = gradient_problem(
        {"name": method.name, "kind": "gradient", "needs": method.needs,
         "supports_representation": method.supports_representation},
        {"name": config.model.architecture, "shares_parameters": bool(model.shared_parameters()),
         "has_representation": model.has_representation},
        asked)
    if problem:
        raise ConfigError(problem[1])
    return asked


def make_optimizer(o: OptimConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Fused kernels where this torch has them (CPU included): Adam's update over ~20 small
    tensors costs 4 ms per step single-tensor on 2 cores and 1.1 ms fused."""
    if o.optimizer == "adam":
        build = functools.partial(torch.optim.Adam, params, lr=o.lr, weight_decay=o.weight_decay)
    else:
        build = functools.partial(torch.optim.SGD, params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    try:
        return build(fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return build()


def make_augmenter(config: RunConfig, data: PreparedData) -> Augmenter | None:
    """The run's augmentation, or None; refused for vectors and for tasks whose target a crop, flip or
    turn of the input would falsify (a rotation label, the image itself)."""
    if not config.augment.enabled:
        return None
    if not data.is_image:
        raise ConfigError(f"augmentation needs images; data set '{data.name}' has inputs of shape "
                          f"{data.input_shape}")
    fixed = [t for t, spec in data.tasks.items() if not spec.augmentable]
    if fixed:
        raise ConfigError(f"augmentation would falsify the target of task(s) {fixed} (it describes the "
                          "image's geometry); leave those tasks out or turn augmentation off")
    return Augmenter(config.augment, seed=config.seed + 2)


class Trainer:
    """One run. Construct, then iterate `run()`; the last event is always `Finished`.

    With `checkpoint` (a file path) the loop saves resumable checkpoints there every
    `config.checkpoint_every` steps and at a stop; with `resume` it first continues from that file.
    """

    def __init__(self, config: RunConfig, data: PreparedData | None = None,
                 control: Control | None = None, checkpoint: str | os.PathLike[str] | None = None,
                 resume: bool = False) -> None:
        self.config = config.validate(preflight=False)  # set-up problems end the run as failed
        self.control = control or NoControl()
        self.checkpoint = checkpoint
        if resume and checkpoint is None:
            raise ValueError("resume needs the checkpoint file to resume from")
        self.resume = resume
        self._data = data
        self._control_version = 0
        self.model: MTLModel | None = None
        self.method: Weighting | None = None

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.config
        torch.set_num_threads(choose_threads(cfg.threads))
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        data = self._data or load_dataset(cfg.data.name, cfg.data.params, cfg.data.tasks or None)
        if cfg.data.tasks:
            data = data.select(cfg.data.tasks)
        self.data = data.to(self.device)
        self.tasks = list(self.data.tasks)
        self.specs = [self.data.tasks[t] for t in self.tasks]
        torch.manual_seed(cfg.seed)  # the model's init must not depend on what loading consumed
        self.model = build_model(cfg.model.architecture, self.data.input_shape, self.data.tasks,
                                 cfg.model.params).to(self.device)
        self.channels_last = self.data.is_image and self.device.type == "cpu"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.method = create(cfg.weighting.method, len(self.tasks), **cfg.weighting.params).to(self.device)
        self.method.set_generator(torch.Generator().manual_seed(cfg.seed + 1))
        self.mode = gradient_mode(cfg, self.method, self.model)
        if self.mode == "representation" and self.method.batches_per_step > 1:
            raise ConfigError(f"method '{self.method.name}' compares gradients of different batches, which only "
                              "the shared parameters have in common; use weighting.gradients = 'parameters'")
        # per-task gradients through each head once, then a T-fold vjp through the trunk only
        self.split_heads = self.model.has_representation
        # the T vector-Jacobian products in one vmapped backward pay off on dense layers (20-25%
        # faster than a loop at T = 2..10 here); vmapped convolution backward is ~7% slower than the loop
        self.batched_vjp = not any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in self.model.modules())
        self.shared = list(self.model.shared_parameters())
        shared_ids = {id(p) for p in self.shared}
        self.specific = [p for p in self.model.parameters() if id(p) not in shared_ids]
        if self.mode == "parameters":
            assert isinstance(self.method, GradientWeighting)
            self.method.set_blocks(grads.layer_blocks(self.shared, self.model))  # per-layer methods (GradVac)
        params = list(self.model.parameters()) + list(self.method.parameters())
        o = cfg.optim
        self.optimizer = make_optimizer(o, params)
        n = len(self.data.train)
        self.batch_size = min(o.batch_size, n)
        self.steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = math.ceil(o.epochs * self.steps_per_epoch) if o.epochs > 0 else 0
        self.total_steps = min(total, o.max_steps) if (o.max_steps and total) else (o.max_steps or total)
        if o.until_stopped:
            self.total_steps = UNTIL_STOPPED_MAX_STEPS
        classes = {t: s.out_dim for t, s in zip(self.tasks, self.specs) if s.kind == "classification"}
        self.health = HealthWatch(self.tasks, classes, cfg.diverge_factor, cfg.chance_evals)
        self.eval_every = cfg.eval_every or self.steps_per_epoch
        self.batch_gen = torch.Generator().manual_seed(cfg.seed)
        # the extra independent batches of methods with batches_per_step > 1 (MoDo, SDMGrad): their own
        # stream, so the epoch's batches stay those of every other method with the same seed
        self.extra_batch_gen = torch.Generator().manual_seed(cfg.seed + 2)
        self.amp_dtype = torch.bfloat16 if cfg.amp else None
        self.augmenter = make_augmenter(cfg, self.data)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        t0 = time.perf_counter()
        elapsed: Callable[[], float] = lambda: time.perf_counter() - t0  # noqa: E731
        step = 0
        try:
            self.setup()
            assert self.model is not None and self.method is not None
            epoch_sum = torch.zeros(len(self.tasks), dtype=torch.float64)
            epoch_n = 0
            perm = torch.empty(0, dtype=torch.long)
            if self.resume:
                assert self.checkpoint is not None
                at = ckpt.restore(self, ckpt.read(self.checkpoint))
                step, epoch_sum, epoch_n, perm = at.step, at.epoch_sum, at.epoch_n, at.perm
                self._control_version = at.control_version
                t0 -= at.elapsed  # the time axis goes on from where the run stopped

            def position() -> ckpt.LoopPosition:
                return ckpt.LoopPosition(step, elapsed(), epoch_sum, epoch_n, perm, self._control_version)
            # total_steps 0 tells the pages that this run goes on until it is stopped
            yield Started(str(self.device), 0 if self.config.optim.until_stopped else self.total_steps,
                          self.steps_per_epoch,
                          sum(p.numel() for p in self.model.parameters()),
                          sum(p.numel() for p in self.shared), self.tasks, time.time())
            last_poll = -1.0
            while step < self.total_steps:
                pos = step % self.steps_per_epoch
                now = elapsed()
                if now - last_poll >= POLL_EVERY_S:  # before the epoch's draw: a stop here saves the
                    last_poll = now                   # batch stream as it stands between two steps
                    state = self.control.poll()
                    if state.stop:
                        yield from self._validation(step, elapsed())
                        yield from self._save_checkpoint(position())
                        yield Finished("stopped", f"stopped by request at step {step}", time.time(),
                                       {"steps": step})
                        return
                    if state.version != self._control_version:
                        self._control_version = state.version
                        if state.weights is not None:
                            changed = self._apply_weights(state.weights, step)
                            if changed:
                                yield changed
                if pos == 0:
                    perm = torch.randperm(len(self.data.train), generator=self.batch_gen).to(self.device)
                idx = perm[pos * self.batch_size:(pos + 1) * self.batch_size]
                want_stats = bool(self.config.grad_stats_every) and len(self.shared) > 0 and (
                    step % self.config.grad_stats_every == 0)
                losses, weights, stats = self._train_step(self.data.train, idx, step, want_stats)
                step += 1
                self.health.observe_losses(step, losses.tolist())
                epoch_sum += losses.double()
                epoch_n += 1
                epoch = step / self.steps_per_epoch
                if step % self.config.log_every == 0 or step == self.total_steps:
                    yield StepMetrics(step, epoch, elapsed(), dict(zip(self.tasks, losses.tolist())),
                                      dict(zip(self.tasks, weights.tolist())) if weights is not None else {})
                if stats is not None:
                    yield GradientStats(step, epoch, elapsed(),
                                        dict(zip(self.tasks, stats["norms"])), stats["cosine"],
                                        stats["conflict"], dict(zip(self.tasks, stats["direction_cosine"])),
                                        self.tasks)
                if step % self.steps_per_epoch == 0:
                    self.method.end_of_epoch((epoch_sum / max(epoch_n, 1)).float())
                    epoch_sum.zero_()
                    epoch_n = 0
                if step % self.eval_every == 0 and step < self.total_steps:
                    yield from self._validation(step, elapsed())
                every = self.config.checkpoint_every
                if every and step % every == 0 and step < self.total_steps:
                    yield from self._save_checkpoint(position())
            yield from self._validation(step, elapsed())
            test = self._evaluate(self.data.test, "test", step, elapsed())
            yield test
            yield Finished("finished", "", time.time(), {"steps": step, "test": test.metrics,
                                                         "test_loss": test.losses})
        except TrainingDiverged as exc:
            yield Finished("diverged", str(exc), time.time(), {"steps": step})
        except (TrainingFailed, ConfigError) as exc:
            yield Finished("failed", str(exc), time.time(), {"steps": step})
        except Exception as exc:  # a bug or an environment fault: fail the run, keep the message
            yield Finished("failed", f"{type(exc).__name__} at step {step}: {exc}", time.time(), {"steps": step})

    def _validation(self, step: int, t: float) -> Iterator[Event]:
        """A validation evaluation, then any alert it raises (a task stuck at chance level)."""
        evaluation = self._evaluate(self.data.val, "val", step, t)
        yield evaluation
        yield from self.health.observe_evaluation(step, evaluation.metrics)

    def _save_checkpoint(self, at: ckpt.LoopPosition) -> Iterator[Event]:
        """Write the checkpoint, if this run keeps one; a failed write is an alert, not a failed run."""
        if self.checkpoint is None:
            return
        try:
            path = ckpt.write(self.checkpoint, ckpt.capture(self, at))
        except (OSError, RuntimeError) as exc:
            yield Alert(at.step, "checkpoint", "", f"could not save a checkpoint at step {at.step}: {exc}")
            return
        yield Checkpointed(at.step, str(path))

    def _apply_weights(self, weights: list[float], step: int) -> WeightsChanged | None:
        assert self.method is not None
        return apply_live_weights(self.method, self.tasks, weights, step)

    # -- one step -------------------------------------------------------------------------------
    def _forward_losses(self, x: torch.Tensor | list[torch.Tensor], ys: dict[str, torch.Tensor],
                        rep_input: bool = False) -> tuple[torch.Tensor, object]:
        assert self.model is not None
        ctx = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype
               else torch.autocast(self.device.type, enabled=False))
        with ctx:
            if rep_input:
                out = self.model.heads_forward_each(x)
            else:
                out = self.model(x)
        return torch.stack([task_loss(s, out[t], ys[t]) for t, s in zip(self.tasks, self.specs)]), out

    def _input(self, split: Split, idx: torch.Tensor,
               augment: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, ys = split.batch(idx, self.augmenter if augment else None)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, ys

    def _check_finite(self, losses: torch.Tensor, step: int) -> None:
        if not bool(torch.isfinite(losses).all()):
            bad = [t for t, v in zip(self.tasks, losses.tolist()) if not math.isfinite(v)]
            what = "NaN" if any(math.isnan(v) for v in losses.tolist()) else "infinite"
            raise TrainingDiverged(f"the loss of task '{bad[0]}' became {what} at step {step + 1} "
                                   "(diverged: lower the learning rate or the weights)")

    def _jacobian(self, losses: torch.Tensor, params: list[torch.nn.Parameter], retain_graph: bool) -> torch.Tensor:
        return grads.jacobian(losses, params, retain_graph=retain_graph, batched=self.batched_vjp)

    def _representation_gradients(self, x: torch.Tensor, ys: dict[str, torch.Tensor],
                                  step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Trunk once, then each head on its own leaf copy of the representation: one ordinary
        backward gives every task's gradient on the representation (T, *rep.shape). With unweighted
        heads the same backward fills the heads' .grad; with weighted heads the heads' graph is kept
        for `_head_backward` once the weights are known. Vmapping over T unit cotangents instead
        would also run every head T times."""
        assert self.model is not None
        rep = self.model.representation(x)
        leaves = [rep.detach().requires_grad_(True) for _ in self.tasks]
        losses, _ = self._forward_losses(leaves, ys, rep_input=True)
        self._check_finite(losses, step)
        if self.config.weighting.heads == "unweighted":
            losses.sum().backward()
            found = [leaf.grad for leaf in leaves]
        else:
            found = list(torch.autograd.grad(losses.sum(), leaves, retain_graph=True, allow_unused=True))
        rep_grads = torch.stack([g if g is not None else torch.zeros_like(leaf) for g, leaf in zip(found, leaves)])
        return rep, losses, rep_grads.to(rep.dtype)

    def _independent_batch_jacobian(self, split: Split, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Jacobian (T, n) on the shared parameters and losses of a fresh random batch, drawn independently
        of the step's own (methods whose weights need unbiased products of gradients). No .grad is touched;
        with a shared representation the heads run once and the trunk takes the T-fold vjp, as in the step."""
        idx = torch.randperm(len(split), generator=self.extra_batch_gen)[:self.batch_size].to(self.device)
        x, ys = self._input(split, idx)
        if not self.split_heads:
            losses, _ = self._forward_losses(x, ys)
            self._check_finite(losses, step)
            return self._jacobian(losses, self.shared, retain_graph=False), losses.detach()
        assert self.model is not None
        rep = self.model.representation(x)
        leaves = [rep.detach().requires_grad_(True) for _ in self.tasks]
        losses, _ = self._forward_losses(leaves, ys, rep_input=True)
        self._check_finite(losses, step)
        found = torch.autograd.grad(losses.sum(), leaves, allow_unused=True)
        rep_grads = torch.stack([g if g is not None else torch.zeros_like(leaf) for g, leaf in zip(found, leaves)])
        jac = grads.vjp_rows(rep, self.shared, rep_grads.to(rep.dtype), retain_graph=False, batched=self.batched_vjp)
        return jac, losses.detach()

    def _train_step(self, split: Split, idx: torch.Tensor, step: int,
                    want_stats: bool) -> tuple[torch.Tensor, torch.Tensor | None, dict | None]:
        assert self.model is not None and self.method is not None
        self.model.train()
        x, ys = self._input(split, idx, augment=True)
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        stats = None
        if self.mode is not None:
            assert isinstance(self.method, GradientWeighting)
            reg = self.model.regularization()
            if self.split_heads or self.mode == "representation":
                rep, losses, rep_grads = self._representation_gradients(x, ys, step)
                if self.mode == "representation":
                    jac = rep_grads.reshape(rep_grads.shape[0], -1)
                else:
                    jac = grads.vjp_rows(rep, self.shared, rep_grads, retain_graph=reg is not None,
                                         batched=self.batched_vjp)
            else:  # no single representation: the Jacobian on every parameter, heads included
                losses, _ = self._forward_losses(x, ys)
                self._check_finite(losses, step)
                params = self.shared + self.specific
                full = self._jacobian(losses, params, retain_graph=reg is not None)
                n_sh = sum(p.numel() for p in self.shared)
                jac = full[:, :n_sh]
            if self.method.batches_per_step > 1:
                extra = [self._independent_batch_jacobian(split, step)
                         for _ in range(self.method.batches_per_step - 1)]
                agg = self.method.aggregate_batches([jac] + [j for j, _ in extra],
                                                    [losses.detach()] + [batch_losses for _, batch_losses in extra])
            else:
                agg = self.method.aggregate(jac, losses.detach())
            if not bool(torch.isfinite(agg.direction).all()):
                raise TrainingFailed(f"method '{self.method.name}' produced a non-finite update at step {step + 1}")
            heads = grads.head_coefficients(self.config.weighting.heads, agg.weights, losses)
            if self.split_heads or self.mode == "representation":
                if self.config.weighting.heads != "unweighted":
                    losses.backward(heads)  # the heads' graph only: the leaves are detached from the trunk
            else:
                grads.write_gradient(self.specific, heads.to(full.dtype) @ full[:, n_sh:])
            if want_stats:
                stats = grads.gradient_statistics(jac, agg.direction)
            if self.mode == "representation":
                rep.backward(agg.direction.view_as(rep).to(rep.dtype), retain_graph=reg is not None)
            else:
                grads.write_gradient(self.shared, agg.direction)
            if reg is not None:
                reg.backward()
            weights = agg.weights
        else:
            losses, _ = self._forward_losses(x, ys)
            self._check_finite(losses, step)
            assert isinstance(self.method, LossWeighting)
            total, weights = self.method.combine(losses)
            reg = self.model.regularization()
            if reg is not None:
                total = total + reg
            if want_stats:
                jac = grads.jacobian(losses, self.shared, retain_graph=True)
                w = weights.detach().to(jac.dtype)
                stats = grads.gradient_statistics(jac, w @ jac)
            total.backward()
            max_norm = self.method.shared_max_norm()
            if max_norm > 0 and self.shared:
                torch.nn.utils.clip_grad_norm_(self.shared, max_norm)
        opt.step()
        if self.method.wants_losses_after_step:
            with torch.no_grad():
                after, _ = self._forward_losses(x, ys)
            self.method.after_step(losses.detach(), after.detach())
        return losses.detach().float().cpu(), (weights.detach().float().cpu() if weights is not None else None), stats

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, split: Split, name: str, step: int, t: float) -> Evaluation:
        assert self.model is not None
        self.model.eval()
        sums: dict[str, dict[str, float]] = {task: {} for task in self.tasks}
        n = len(split)
        for start in range(0, n, EVAL_BATCH):
            x, ys = self._input(split, slice(start, start + EVAL_BATCH))  # type: ignore[arg-type]
            _, out = self._forward_losses(x, ys)
            for task, spec in zip(self.tasks, self.specs):
                for k, v in task_metric_sums(spec, out[task], ys[task]).items():  # type: ignore[index]
                    sums[task][k] = sums[task].get(k, 0.0) + v
        metrics = {task: finish_metrics(spec, sums[task], n) for task, spec in zip(self.tasks, self.specs)}
        losses = {task: m["loss"] for task, m in metrics.items()}
        return Evaluation(step, step / self.steps_per_epoch, t, name, losses, metrics)


def train(config: RunConfig, data: PreparedData | None = None, control: Control | None = None) -> list[Event]:
    """Run to the end and return every event (the simplest Python API)."""
    return list(Trainer(config, data, control).run())
