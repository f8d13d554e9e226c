"""`Session`: bring your own PyTorch training loop into the dashboard, and steer it from there.

    with Session(name="seg+depth", tasks={"seg": "classification", "depth": "regression"},
                 method="static", weights={"seg": 1, "depth": 1}, db="runs/mtl.sqlite") as s:
        for step, batch in enumerate(loader):
            losses = {"seg": ..., "depth": ...}
            total = s.combine(losses, shared=model.encoder)
            total.backward(); opt.step(); opt.zero_grad()
            s.log(step, losses, metrics={"seg/miou": ...})
            if s.stop_requested:
                break

The run is stored exactly like one our trainer makes (same tables and events), marked external
with the script and host that write it. Contract:
- `combine` runs the trainer's method object (`mtlcore.weighting.create`) and returns the scalar to
  backpropagate: the weighted sum for loss-based methods; for gradient methods a surrogate whose
  backward puts the aggregated direction on `shared` and each task's gradient (times its weight
  unless heads="unweighted") on its own head
  (see mtlcore.tracking.combine). Static weights follow the dashboard's sliders within 0.1 s.
- `log` keeps values on the device; they reach the store in one transfer per flush (<= 0.25 s).
- Stop on the page sets `stop_requested`; the loop decides when to break.
- Only rank 0 (torch.distributed, else RANK) writes and reads the page's controls; other ranks
  combine with the weights they were given until `sync_ranks()` (collective) hands them rank 0's.
- If the process dies, the run is marked interrupted with every flushed point (the store reaps
  dead pids on this host and stale heartbeats elsewhere).
"""

from __future__ import annotations

import atexit
import os
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Union

import torch

from mtlcore import gradients as grads
from mtlcore.config import HEAD_MODES
from mtlcore.events import Finished, GradientStats, Started, WeightsChanged
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore, event_rows
from mtlcore.tracking import combine as combining
from mtlcore.tracking.origin import current_origin, env_rank, external_config
from mtlcore.tracking.recorder import PendingStep, Recorder, summary
from mtlcore.trainer import POLL_EVERY_S, apply_live_weights
from mtlcore.weighting import GradientWeighting, LossWeighting, Weighting, create

Losses = Union[Mapping[str, Any], Sequence[Any], torch.Tensor]


def _rank(rank: int | None) -> tuple[int, int]:
    if rank is not None:
        return rank, max(rank + 1, env_rank()[1])
    dist = getattr(torch, "distributed", None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return env_rank()


def _overrides(method: Weighting, name: str) -> bool:
    base = LossWeighting if isinstance(method, LossWeighting) else GradientWeighting
    return getattr(type(method), name) is not getattr(base, name)


class Session:
    """One run of the user's own loop: combine losses with a method, log, obey the dashboard.

    name, tasks (names, or name -> kind: classification / regression / reconstruction), method (any
    registered weighting method) with `weights` (static) or `params` (its hyperparameters), db (the
    run store; MTL_DB or runs/mtl.sqlite by default). Optional: grad_stats_every (gradient
    diagnostics every N combines, 0 = never), total_steps (for the progress bar), steps_per_epoch
    (epoch-based methods, the epoch axis), seed (stochastic methods), dataset / model (labels for the
    Runs table), goals ("task/metric" -> "max" | "min": the metric each task plots, main one first),
    hyperparameters (shown in Compare's config diff), device (where learned method weights live),
    rank (else torch.distributed's, else RANK), heads (gradient methods: "weighted" heads get their
    task's weight, as the Nash-MTL, FairGrad and IMTL reference code; "unweighted" their plain gradient).
    """

    def __init__(self, name: str = "", tasks: Sequence[str] | Mapping[str, str] = (), method: str = "static",
                 weights: Mapping[str, float] | Sequence[float] | None = None,
                 db: str | os.PathLike[str] | None = None, *, params: Mapping[str, Any] | None = None,
                 grad_stats_every: int = 0, total_steps: int = 0, steps_per_epoch: int = 0, seed: int = 0,
                 dataset: str = "", model: str = "", goals: Mapping[str, str] | None = None,
                 hyperparameters: Mapping[str, Any] | None = None, device: str | torch.device | None = None,
                 rank: int | None = None, heads: str = "weighted") -> None:
        kinds = {t: "" for t in tasks} if not isinstance(tasks, Mapping) else {str(k): str(v) for k, v in tasks.items()}
        if not kinds:
            raise ConfigError("Session needs tasks=: the task names (or name -> kind: classification, regression)")
        self.tasks = list(kinds)
        params = dict(params or {})
        if weights is not None:
            if method != "static":
                raise ConfigError(f"weights= sets static weights; method '{method}' chooses its own "
                                  "(pass its hyperparameters as params=)")
            params["weights"] = self._ordered(weights)
        self.method: Weighting = create(method, len(self.tasks), **params)
        if heads not in HEAD_MODES:
            raise ConfigError(f"heads must be one of {list(HEAD_MODES)}, got {heads!r}")
        self.heads = heads
        if device is not None:
            self.method = self.method.to(torch.device(device))
        self.method.set_generator(torch.Generator().manual_seed(seed + 1))
        if not isinstance(grad_stats_every, int) or grad_stats_every < 0:
            raise ConfigError(f"grad_stats_every must be a whole number >= 0, got {grad_stats_every!r}")
        self.grad_stats_every = grad_stats_every
        self.total_steps = int(total_steps)
        self.steps_per_epoch = int(steps_per_epoch)
        self.rank, self.world_size = _rank(rank)
        self.run_id: str | None = None
        self.store: RunStore | None = None
        self._recorder: Recorder | None = None
        self._combines = 0
        self._last_logged = 0
        self._stop = False
        self._stop_seen_at: int | None = None
        self._control_version = 0
        self._applied: list[float] | None = None  # the live weights last taken from the store
        self._last_poll = -1.0
        self._last_weights: torch.Tensor | None = None  # what the last combine applied, for log()
        self._given: tuple[Any, torch.Tensor] | None = None
        self._last_losses: torch.Tensor | None = None
        self._losses_after: torch.Tensor | None = None
        self._stats: dict[str, object] | None = None
        self._epoch_sum: torch.Tensor | None = None
        self._epoch_n = 0
        self._wants_epochs = _overrides(self.method, "end_of_epoch")
        # a loss-based method with nothing around its weighted sum (no diagnostics, no clipping, no
        # loss-after-step or epoch hooks): combine() goes straight to it, since a user's loop may take
        # well under a millisecond a step and every microsecond of ours is then a share of it
        self._lean = (isinstance(self.method, LossWeighting) and not grad_stats_every
                      and not self.method.wants_losses_after_step and not self._wants_epochs
                      and not self.method.shared_max_norm() > 0)
        self._started = False
        self._closed = False
        self._t0 = time.perf_counter()
        if self.rank != 0:
            return  # other ranks apply the weights and write nothing
        gradients = "auto" if isinstance(self.method, LossWeighting) else (
            "representation" if self.method.needs == "representation" else "parameters")
        origin = current_origin(self.rank, self.world_size)
        config = external_config(name, kinds, method, self.method.hp, gradients, origin, heads=heads, dataset=dataset,
                                 model=model, seed=seed, grad_stats_every=grad_stats_every, goals=goals,
                                 hyperparameters=hyperparameters)
        self.store = RunStore(db)
        self.run_id = self.store.create_run(config, status="running", name=name)
        now, self._t0 = time.time(), time.perf_counter()  # a point's wall time is started + its time
        self.store.set_status(self.run_id, "running", pid=origin.pid, host=self.store.host, started=now,
                              heartbeat=now, total_steps=self.total_steps)
        self._recorder = Recorder(self.store, self.run_id)
        atexit.register(_flush_at_exit, weakref.ref(self))

    # -- what the loop calls ----------------------------------------------------------------------
    def combine(self, losses: Losses, shared: combining.Shared = None) -> torch.Tensor:
        """The scalar to backpropagate for this step's task losses, with the run's current method.

        `shared`: the shared module or its parameters (gradient methods combine per-task gradients
        on them), or the shared representation tensor (the trunk's output; cheaper). Loss-based
        methods only use it for the gradient diagnostics.
        """
        vec = self._stack(losses)
        self._poll()
        self._given = (losses, vec)  # log() of the same losses reuses the stacked vector
        if self._lean and self._started:
            total, self._last_weights = combining.loss_total(self.method, vec)  # type: ignore[arg-type]
            self._combines += 1
            return total
        tensors, representation = combining.shared_tensors(shared)
        if not self._started:
            self._start(vec, tensors, representation)
            if isinstance(self.method, GradientWeighting) and tensors and not representation:
                # the layers of the shared part, for methods that work per layer (GradVac)
                self.method.set_blocks(grads.layer_blocks(
                    tensors, shared if isinstance(shared, torch.nn.Module) else None))
        method = self.method
        if method.wants_losses_after_step and self._last_losses is not None:
            # the loss after the previous step: given exactly through after_step(), or else this batch's
            after = self._losses_after if self._losses_after is not None else vec.detach()
            method.after_step(self._last_losses, after)
        self._losses_after = None
        want_stats = bool(self.grad_stats_every) and bool(tensors) and self._combines % self.grad_stats_every == 0
        out = combining.apply(method, vec, tensors, representation, want_stats, self.heads)
        self._combines += 1
        self._last_weights = out.weights
        if method.wants_losses_after_step:
            self._last_losses = vec.detach()
        if out.stats is not None:
            self._stats = out.stats
        if self._wants_epochs:
            self._epoch_sum = vec.detach() if self._epoch_sum is None else self._epoch_sum + vec.detach()
            self._epoch_n += 1
            if self.steps_per_epoch and self._epoch_n >= self.steps_per_epoch:
                self.end_epoch()
        return out.total

    def log(self, step: int | None = None, losses: Losses | None = None,
            metrics: Mapping[str, Any] | None = None, split: str = "train", epoch: float | None = None) -> None:
        """Record a step: per-task losses (tensors stay on the device until the flush) and metrics
        named "task/metric" (or "metric" for the run as a whole). split "val" / "test" records an
        evaluation; the last one of each becomes the run's final metrics on the Runs page."""
        given, self._given = self._given, None  # hold no graph past the step
        if self._recorder is None:
            return
        step = self._combines if step is None else int(step)
        vec = None
        if losses is not None:
            vec = (given[1] if given is not None and given[0] is losses else self._stack(losses)).detach()
            if not self._started:
                self._start(vec, [], False)
        weights = self._last_weights if split == "train" else None
        named = {}
        if metrics:
            for key, value in metrics.items():
                task, _, name = key.rpartition("/")
                named[(task, name)] = value.detach() if isinstance(value, torch.Tensor) else value
        if epoch is None:
            epoch = step / self.steps_per_epoch if self.steps_per_epoch else 0.0
        t = time.perf_counter() - self._t0
        rec = self._recorder
        rec.pending.append(PendingStep(step, float(epoch), t, split, self.tasks, vec, weights, named))
        if self._stats is not None:
            s: dict[str, Any] = self._stats
            rec.events.append(GradientStats(step, float(epoch), t, dict(zip(self.tasks, s["norms"])), s["cosine"],
                                            s["conflict"], dict(zip(self.tasks, s.get("direction_cosine", []))),
                                            self.tasks))
            self._stats = None
        if split == "train":
            self._last_logged = step
        if split != "train" or rec.due():
            rec.flush()
        self._poll()

    @property
    def stop_requested(self) -> bool:
        """True once Stop was pressed on the page for this run (read at most every 0.1 s)."""
        self._poll()
        return self._stop

    @property
    def weights(self) -> dict[str, float] | None:
        """The weights the next step applies (static weights: the sliders' latest values)."""
        current = self.method.current_weights()
        return None if current is None else dict(zip(self.tasks, current))

    def parameters(self) -> list[torch.Tensor]:
        """Learned tensors of the method (UW's log-variances): add them to your optimiser."""
        return self.method.parameters()

    def after_step(self, losses_after: Losses) -> None:
        """For methods that look at the loss after the optimiser step (FAMO): the same batch's losses
        after `opt.step()`. Without this call the next batch's losses stand in for them."""
        self._losses_after = self._stack(losses_after).detach()

    def end_epoch(self) -> None:
        """Tell epoch-based methods (DWA) an epoch ended; automatic when steps_per_epoch was given."""
        if self._epoch_sum is not None and self._epoch_n:
            self.method.end_of_epoch((self._epoch_sum / self._epoch_n).float())
        self._epoch_sum, self._epoch_n = None, 0

    def sync_ranks(self) -> None:
        """Give every rank rank 0's Stop and live weights. Collective (torch.distributed): call it on
        every rank at the same step, e.g. every 50 steps, then break together on `stop_requested`.
        A no-op when torch.distributed is not initialised."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return
        self._poll()
        current = self.method.current_weights() if hasattr(self.method, "set_weights") else None
        state = [float(self._stop), *(current or [0.0] * len(self.tasks))]
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
        shared = torch.tensor(state, dtype=torch.float64, device=device)
        dist.broadcast(shared, src=0)
        if self.rank == 0:
            return
        values = shared.tolist()
        self._stop = self._stop or bool(values[0])
        if current is not None and values[1:] != current:
            apply_live_weights(self.method, self.tasks, values[1:], self._last_logged)

    def flush(self) -> None:
        if self._recorder is not None:
            self._recorder.flush()

    def close(self, status: str | None = None, reason: str = "") -> None:
        """Flush and mark the run ended: stopped when Stop was obeyed, else finished (or `status`)."""
        if self._closed:
            return
        self._closed = True
        if self._recorder is None or self.store is None or self.run_id is None:
            return
        self._recorder.close()
        if self._recorder.error is not None:
            warnings.warn(f"some points of run {self.run_id} could not be written to {self.store.path}: "
                          f"{self._recorder.error}", RuntimeWarning, stacklevel=2)
        if status is None:
            status = "stopped" if self._stop else "finished"
        if status == "stopped" and not reason and self._stop_seen_at is not None:
            reason = f"stopped by request at step {self._stop_seen_at}"
        done = summary(self._recorder.step, self._recorder.last_evaluations)
        _, finished = event_rows(Finished(status, reason, time.time(), done))  # the trainer's last event
        self.store.write_rows(self.run_id, [], finished)
        self.store.set_status(self.run_id, status, error=reason if status == "failed" else "", summary=done)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, KeyboardInterrupt):
            self.close("stopped", "interrupted from the keyboard (Ctrl-C)")
        else:
            self.close("failed", f"{type(exc).__name__}: {exc}")

    # -- internals --------------------------------------------------------------------------------
    def _ordered(self, values: Mapping[str, float] | Sequence[float]) -> list[float]:
        if isinstance(values, Mapping):
            missing = [t for t in self.tasks if t not in values]
            extra = [k for k in values if k not in self.tasks]
            if missing or extra:
                raise ConfigError(f"weights must name every task once: missing {missing}, unknown {extra}")
            return [float(values[t]) for t in self.tasks]
        return [float(v) for v in values]

    def _stack(self, losses: Losses) -> torch.Tensor:
        """(T,) losses in task order from a dict, a sequence or a tensor."""
        if type(losses) is dict and len(losses) == len(self.tasks):  # the usual case, checked by its result
            try:
                vec = torch.stack([losses[t] for t in self.tasks])
            except (KeyError, TypeError, RuntimeError):
                pass  # a missing name, a number among tensors, mixed devices: the checked path below says
            else:
                if vec.dim() == 1:
                    return vec
        if isinstance(losses, torch.Tensor):
            vec = losses.reshape(-1)
        else:
            if isinstance(losses, Mapping):
                if len(losses) != len(self.tasks) or any(t not in losses for t in self.tasks):
                    raise ConfigError(f"losses must have one entry per task {self.tasks}, got {list(losses)}")
                items = [losses[t] for t in self.tasks]
            else:
                items = list(losses)
            vec = torch.stack([x if isinstance(x, torch.Tensor) else torch.tensor(float(x)) for x in items])
        if vec.shape != (len(self.tasks),):
            raise ConfigError(f"expected {len(self.tasks)} task losses {self.tasks}, got shape {tuple(vec.shape)}")
        return vec

    def _start(self, vec: torch.Tensor, shared: list[torch.Tensor], representation: bool) -> None:
        self._started = True
        if self.method.parameters() and any(p.device != vec.device for p in self.method.parameters()):
            raise ConfigError(f"method '{self.method.name}' learns weights on {self.method.parameters()[0].device} "
                              f"but the losses are on {vec.device}: pass device='{vec.device}' to Session "
                              "(before building the optimiser with session.parameters())")
        if self._recorder is None or self.store is None or self.run_id is None:
            return
        n_shared = 0 if representation else sum(p.numel() for p in shared)
        self._recorder.events.append(Started(str(vec.device), self.total_steps, self.steps_per_epoch, n_shared,
                                             n_shared, list(self.tasks), time.time()))
        self.store.set_status(self.run_id, "running", device=str(vec.device))

    def _poll(self) -> None:
        """Read Stop and live weights from the store, at most every POLL_EVERY_S (as the trainer)."""
        if self.store is None or self.run_id is None or self._closed:
            return
        now = time.perf_counter() - self._t0
        if now - self._last_poll < POLL_EVERY_S:
            return
        self._last_poll = now
        stop, weights, version = self.store.read_control(self.run_id)
        if stop and not self._stop:
            self._stop = True
            self._stop_seen_at = self._last_logged
        if version != self._control_version:
            self._control_version = version
            # the version also moves on Stop: only a new set of weights is a change
            if weights is not None and len(weights) == len(self.tasks) and weights != self._applied:
                self._applied = list(weights)
                changed: WeightsChanged | None = apply_live_weights(self.method, self.tasks, weights,
                                                                    self._last_logged)
                if changed is not None and self._recorder is not None:
                    self._recorder.events.append(changed)


def _flush_at_exit(ref: "weakref.ReferenceType[Session]") -> None:
    """A script that ends without close(): keep its points; the status is left for the reaper to
    set (interrupted), since a normal end and a crash look alike from here."""
    session = ref()
    if session is not None and not session._closed and session._recorder is not None:
        try:
            session._recorder.close()
        except Exception:  # noqa: BLE001  the interpreter is going down; nothing to report to
            pass
