"""Resumable training state on disk: what a stopped run needs to go on exactly as if never stopped.

A checkpoint holds the model, the optimiser, the weighting method's state dict (its generator
included), every random stream the loop draws from (torch's global one, the batch order, the extra
batches, augmentation), the step, the epoch's running loss sums, the epoch's permutation and the
health watch. It is written atomically (a temporary file, then a rename) beside the run database,
in `checkpoints/<run_id>.pt`, and read with `torch.load(weights_only=True)`: no pickled classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mtlcore.weighting.state import decode, encode

if TYPE_CHECKING:
    from mtlcore.trainer import Trainer

FORMAT = 1
CHECKPOINT_DIR = "checkpoints"


def checkpoint_path(db_path: str | os.PathLike[str], run_id: str) -> Path:
    """Where the run's checkpoint lives: a folder beside the run database."""
    return Path(db_path).parent / CHECKPOINT_DIR / f"{run_id}.pt"


@dataclass
class LoopPosition:
    """Where the training loop stands between two steps."""

    step: int
    elapsed: float  # seconds trained so far (the time axis continues from here)
    epoch_sum: torch.Tensor  # (T,) float64 sum of this epoch's training losses so far
    epoch_n: int
    perm: torch.Tensor  # this epoch's order of the training examples
    control_version: int


def capture(trainer: "Trainer", position: LoopPosition) -> dict[str, Any]:
    """Everything the loop's future depends on, as tensors and primitives."""
    assert trainer.model is not None and trainer.method is not None
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {
        "format": FORMAT,
        "method_name": trainer.method.name,
        "tasks": list(trainer.tasks),
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "method": trainer.method.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "cuda": cuda,
                "batches": trainer.batch_gen.get_state(), "extra_batches": trainer.extra_batch_gen.get_state(),
                "augment": None if trainer.augmenter is None else trainer.augmenter.generator.get_state()},
        "health": encode(vars(trainer.health)),
        "loop": {"step": position.step, "elapsed": position.elapsed, "epoch_sum": position.epoch_sum.clone(),
                 "epoch_n": position.epoch_n, "perm": position.perm.cpu(),
                 "control_version": position.control_version},
    }


def restore(trainer: "Trainer", state: dict[str, Any]) -> LoopPosition:
    """Load a checkpoint into a trainer that has run `setup()` with the run's config."""
    assert trainer.model is not None and trainer.method is not None
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {state.get('format')!r} is not {FORMAT}")
    if state["method_name"] != trainer.method.name or list(state["tasks"]) != list(trainer.tasks):
        raise ValueError(f"the checkpoint is of method '{state['method_name']}' on tasks {state['tasks']}, "
                         f"the run is '{trainer.method.name}' on {trainer.tasks}")
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.method.load_state_dict(state["method"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    trainer.batch_gen.set_state(rng["batches"])
    trainer.extra_batch_gen.set_state(rng["extra_batches"])
    if trainer.augmenter is not None and rng["augment"] is not None:
        trainer.augmenter.generator.set_state(rng["augment"])
    for name, value in decode(state["health"]).items():
        setattr(trainer.health, name, value)
    loop = state["loop"]
    return LoopPosition(int(loop["step"]), float(loop["elapsed"]), loop["epoch_sum"].to(torch.float64),
                        int(loop["epoch_n"]), loop["perm"].to(trainer.device), int(loop["control_version"]))


def write(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Save atomically: a reader (or a crash mid-write) never sees half a checkpoint."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        torch.save(state, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint written by `write`, tensors on the devices they were saved from."""
    return torch.load(Path(path), weights_only=True)
