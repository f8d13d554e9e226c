"""Training throughput: the MTL Playground trainer against hand-written PyTorch loops.

Multi-Fashion, MultiLeNet, equal weights, batch 256, Adam lr 1e-3, the same model class and the same
tensors. The anchor is a *tuned* hand-written loop (channels_last and fused Adam, what any careful
loop can have); the plain loop most people write stays as a row, so the table shows how much of the
trainer's lead over it is tuning that any loop gets.

Every contender keeps its model and optimiser between bursts. After a warm-up, each round runs a
short burst of every contender in turn (A B C A B C ...), so a process waking up on the shared
machine slows every contender alike instead of deciding one contender's number; each ratio is to
the anchor's burst of the same round, and the table reports medians over rounds.

    .venv/bin/python -m benchmarks.bench_train [--rounds 5] [--burst 20] [--amp] [--compile]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from mtlcore.config import RunConfig
from mtlcore.data import PreparedData, load_dataset
from mtlcore.events import StepMetrics
from mtlcore.models import build_model
from mtlcore.trainer import Trainer

WARMUP = 10
BATCH = 256
ANCHOR = "tuned hand-written loop (channels_last + fused Adam)"
PLAIN = "plain hand-written loop (float32, NCHW)"
TRAINER = "MTL Playground trainer, EW"

Steps = Iterator[None]  # one item per finished training step


def hand_written(data: PreparedData, tuned: bool = False, amp: bool = False, compile_model: bool = False) -> Steps:
    """The loop most people write (index a float32 tensor, sum the losses, Adam), or with `tuned`
    the same loop with channels_last inputs and model and fused Adam."""
    torch.manual_seed(0)
    model = build_model("hps", data.input_shape, data.tasks, {"trunk": "multilenet"})
    if tuned:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_model else model
    x_all = data.train.x.float().div(255.0)
    ys_all = data.train.targets
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if tuned else None)
    perm = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(0))
    i = 0
    while True:
        idx = perm[(i * BATCH) % (len(perm) - BATCH):][:BATCH]
        x = x_all[idx]
        if tuned:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = fwd(x)
        loss = sum(F.cross_entropy(out[k].float(), ys_all[k][idx]) for k in out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        i += 1
        yield


AUGMENTED = "MTL Playground trainer, EW + augmentation (crop 4, flip, rotation 10)"


def trainer(total_steps: int, amp: bool = False, grad_stats_every: int = 0, augment: bool = False) -> Steps:
    """The project's trainer, one item per step it reports (log_every 1, no evaluation)."""
    cfg = RunConfig.from_dict({
        "data": {"name": "multi_fashion", "tasks": ["left", "right"]},
        "model": {"architecture": "hps", "params": {"trunk": "multilenet"}},
        "weighting": {"method": "ew"},
        "optim": {"batch_size": BATCH, "lr": 1e-3, "epochs": 100, "max_steps": total_steps},
        "eval_every": 10_000_000, "grad_stats_every": grad_stats_every, "amp": amp,
        "threads": torch.get_num_threads(),
        "augment": {"crop_padding": 4, "flip": True, "max_rotation": 10} if augment else {},
    })
    for event in Trainer(cfg).run():
        if isinstance(event, StepMetrics):
            yield


def burst(steps: Steps, n: int) -> float:
    """Steps per second over the next `n` steps of a contender."""
    t = time.perf_counter()
    for _ in range(n):
        next(steps)
    return n / (time.perf_counter() - t)


def contenders(data: PreparedData, total: int, amp: bool, compile_model: bool) -> dict[str, Callable[[], Steps]]:
    out: dict[str, Callable[[], Steps]] = {
        PLAIN: functools.partial(hand_written, data),
        ANCHOR: functools.partial(hand_written, data, tuned=True),
        TRAINER: functools.partial(trainer, total),
        "MTL Playground trainer, EW + grad stats every 25": functools.partial(trainer, total, grad_stats_every=25),
        AUGMENTED: functools.partial(trainer, total, augment=True),
    }
    if amp:
        out["tuned hand-written loop + bf16 autocast"] = functools.partial(hand_written, data, tuned=True, amp=True)
        out["MTL Playground trainer, EW, bf16 autocast"] = functools.partial(trainer, total, amp=True)
    if compile_model:
        out["tuned hand-written loop + torch.compile"] = functools.partial(hand_written, data, tuned=True,
                                                                          compile_model=True)
    return out


def machine_state() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{torch.get_num_threads()} threads, torch {torch.__version__}, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores, load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of one burst per contender (default 5)")
    ap.add_argument("--burst", type=int, default=20, help="steps per burst (default 20)")
    ap.add_argument("--amp", action="store_true", help="also measure bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("multi_fashion", {}, ["left", "right"])
    total = WARMUP + args.rounds * args.burst
    running = {name: make() for name, make in contenders(data, total, args.amp, args.compile).items()}
    for steps in running.values():  # allocator, oneDNN's kernel cache, the trainer's set-up
        burst(steps, WARMUP)
    speed: dict[str, list[float]] = {name: [] for name in running}
    for r in range(args.rounds):
        for name, steps in running.items():
            speed[name].append(burst(steps, args.burst))
        print(f"round {r + 1}: " + ", ".join(f"{n.split(' (')[0]} {s[-1]:.1f}" for n, s in speed.items()),
              file=sys.stderr, flush=True)
    to_anchor = {n: [a / b for a, b in zip(s, speed[ANCHOR])] for n, s in speed.items()}
    to_plain = {n: [a / b for a, b in zip(s, speed[PLAIN])] for n, s in speed.items()}
    print(f"\nMulti-Fashion, MultiLeNet, batch {BATCH}, Adam; {args.rounds} rounds of {args.burst}-step "
          f"bursts after {WARMUP} warm-up steps; medians over rounds, ratios within each round.\n"
          f"{machine_state()}\n")
    print("| loop | steps/s (median; min-max) | ratio to tuned loop | ratio to plain loop |")
    print("|---|---|---|---|")
    for name, s in speed.items():
        print(f"| {name} | {statistics.median(s):.1f} ({min(s):.1f}-{max(s):.1f}) | "
              f"{statistics.median(to_anchor[name]):.2f} | {statistics.median(to_plain[name]):.2f} |")
    print(f"\ntrainer / plain hand-written loop: {statistics.median(to_plain[TRAINER]):.2f}x")
    cost = [t / a - 1 for t, a in zip(speed[TRAINER], speed[AUGMENTED])]  # extra time per step, per round
    print(f"augmentation's cost per step (crop + flip + rotation, target <= 15%): {100 * statistics.median(cost):.1f}%")
    print(f"trainer / tuned hand-written loop: {statistics.median(to_anchor[TRAINER]):.2f}x")


if __name__ == "__main__":
    main()
