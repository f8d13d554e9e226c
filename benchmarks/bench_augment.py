"""What augmentation costs per training step: the trainer with and without it, on Multi-Fashion.

The setting of bench_train (Multi-Fashion 36x36, MultiLeNet HPS, equal weights, batch 256, Adam
lr 1e-3): one trainer per contender over the same tensors, warmed up, then rounds of short bursts
with the contenders in turn, so drift on a shared machine hits all alike. Reports median ms per step
and each contender's extra time over the plain trainer of the same round (median over rounds),
plus the augmentation alone on one batch (steadier than a difference of two noisy step times).
Target: at most 15% for crop + flip + rotation. (Flips are wrong for Multi-Fashion's left / right
labels; the cost is what is measured here.)

    .venv/bin/python -m benchmarks.bench_augment [--steps 20] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlcore.config import AugmentConfig, RunConfig
from mtlcore.data import load_dataset
from mtlcore.data.augment import Augmenter
from mtlcore.trainer import Trainer

WARMUP = 10
BATCH = 256
CONTENDERS: dict[str, AugmentConfig] = {
    "plain": AugmentConfig(),
    "crop 4": AugmentConfig(crop_padding=4),
    "flip": AugmentConfig(flip=True),
    "rotation 10": AugmentConfig(max_rotation=10),
    "crop 4 + flip + rotation 10": AugmentConfig(4, True, 10),
}


def make_trainer(data, augment: AugmentConfig, threads: int) -> Trainer:
    cfg = RunConfig.from_dict({
        "data": {"name": "multi_fashion"}, "model": {"architecture": "hps", "params": {"trunk": "multilenet"}},
        "weighting": {"method": "ew"}, "optim": {"lr": 1e-3, "batch_size": BATCH, "epochs": 100.0},
        "grad_stats_every": 0, "threads": threads, "device": "cpu",
    })
    cfg.augment = augment
    trainer = Trainer(cfg, data)
    trainer.setup()
    return trainer


def burst(trainer: Trainer, steps: int, start: int) -> float:
    """Seconds per step over `steps` training steps (batches taken in order, as the trainer does)."""
    n = len(trainer.data.train)
    t = time.perf_counter()
    for i in range(start, start + steps):
        idx = torch.arange(i * BATCH, (i + 1) * BATCH) % n
        trainer._train_step(trainer.data.train, idx, i, want_stats=False)
    return (time.perf_counter() - t) / steps


def augment_alone(data, config: AugmentConfig, repeats: int = 30) -> float:
    aug = Augmenter(config, seed=0)
    x = data.train.x[:BATCH]
    aug(x)
    t = time.perf_counter()
    for _ in range(repeats):
        aug(x)
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = load_dataset("multi_fashion")
    trainers = {name: make_trainer(data, cfg, args.threads) for name, cfg in CONTENDERS.items()}
    for trainer in trainers.values():
        burst(trainer, WARMUP, 0)
    per_step: dict[str, list[float]] = {name: [] for name in trainers}
    extra: dict[str, list[float]] = {name: [] for name in trainers}
    for r in range(args.rounds):
        for name, trainer in trainers.items():
            per_step[name].append(burst(trainer, args.steps, WARMUP + r * args.steps))
        for name in trainers:
            extra[name].append(per_step[name][-1] / per_step["plain"][-1] - 1.0)
    print(f"Multi-Fashion 36x36, MultiLeNet HPS, EW, batch {BATCH}, {args.threads} threads, "
          f"{args.rounds} rounds of {args.steps} steps (medians)")
    print(f"{'contender':<30} {'ms/step':>8} {'extra vs plain':>15} {'augment alone (ms/batch)':>26} "
          f"{'alone / plain step':>19}")
    plain = statistics.median(per_step["plain"])
    for name, cfg in CONTENDERS.items():
        alone = augment_alone(data, cfg) if cfg.enabled else 0.0
        print(f"{name:<30} {statistics.median(per_step[name]) * 1e3:8.1f} "
              f"{statistics.median(extra[name]) * 100:14.1f}% {alone * 1e3:26.2f} {alone / plain * 100:18.1f}%")
    print("extra vs plain: whole steps, interleaved (noisy on a busy machine); alone / plain step: the "
          "augmentation timed by itself on one batch, over the plain trainer's step")


if __name__ == "__main__":
    main()
