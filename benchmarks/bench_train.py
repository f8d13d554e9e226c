"""Training throughput: the MTL Playground trainer against a hand-written PyTorch loop.

Multi-Fashion, MultiLeNet, equal weights, batch 256, Adam lr 1e-3, the same model class and the same
tensors. Rounds are interleaved so drift on a shared machine hits every contender alike; the table
reports median steps/s after warm-up and each ratio to the hand-written loop of the same round.

    .venv/bin/python -m benchmarks.bench_train [--steps 120] [--rounds 2] [--amp] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from mtlcore.config import RunConfig
from mtlcore.data import load_dataset
from mtlcore.events import StepMetrics
from mtlcore.models import build_model
from mtlcore.trainer import Trainer

WARMUP = 10
BATCH = 256


def hand_written(data, steps: int, channels_last: bool = False, amp: bool = False,
                 compile_model: bool = False) -> float:
    """The loop most people write: index a float32 tensor, sum the losses, Adam."""
    torch.manual_seed(0)
    model = build_model("hps", data.input_shape, data.tasks, {"trunk": "multilenet"})
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_model else model
    x_all = data.train.x.float().div(255.0)
    ys_all = data.train.targets
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x_all), generator=g)
    times = []
    for i in range(steps + WARMUP):
        idx = perm[(i * BATCH) % (len(perm) - BATCH):][:BATCH]
        t = time.perf_counter()
        x = x_all[idx]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = fwd(x)
        loss = sum(F.cross_entropy(out[k].float(), ys_all[k][idx]) for k in out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times[WARMUP:])


def ours(steps: int, amp: bool = False, grad_stats_every: int = 0) -> float:
    cfg = RunConfig.from_dict({
        "data": {"name": "multi_fashion", "tasks": ["left", "right"]},
        "model": {"architecture": "hps", "params": {"trunk": "multilenet"}},
        "weighting": {"method": "ew"},
        "optim": {"batch_size": BATCH, "lr": 1e-3, "epochs": 100, "max_steps": steps + WARMUP},
        "eval_every": 10**9, "grad_stats_every": grad_stats_every, "amp": amp,
        "threads": torch.get_num_threads(),
    })
    stamps = [e.time for e in Trainer(cfg).run() if isinstance(e, StepMetrics)]
    return 1.0 / statistics.median([b - a for a, b in zip(stamps[WARMUP:], stamps[WARMUP + 1:])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--amp", action="store_true", help="also measure bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("multi_fashion", {}, ["left", "right"])
    contenders = {
        "hand-written loop (float32, NCHW)": lambda: hand_written(data, args.steps),
        "hand-written loop + channels_last": lambda: hand_written(data, args.steps, channels_last=True),
        "MTL Playground trainer, EW": lambda: ours(args.steps),
        "MTL Playground trainer, EW + grad stats every 25": lambda: ours(args.steps, grad_stats_every=25),
    }
    if args.amp:
        contenders["hand-written loop + bf16 autocast"] = lambda: hand_written(data, args.steps, amp=True)
        contenders["MTL Playground trainer, EW, bf16 autocast"] = lambda: ours(args.steps, amp=True)
    if args.compile:
        contenders["hand-written loop + torch.compile"] = lambda: hand_written(data, args.steps, compile_model=True)
    hand_written(data, 20)  # warm the allocator and oneDNN's kernel cache before anything is timed
    results: dict[str, list[float]] = {k: [] for k in contenders}
    ratios: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(args.rounds):
        base = None
        for name, fn in contenders.items():
            sps = fn()
            results[name].append(sps)
            base = base or sps
            ratios[name].append(sps / base)
            print(f"round {r + 1}: {name}: {sps:.1f} steps/s", file=sys.stderr, flush=True)
    print(f"\nMulti-Fashion, MultiLeNet, batch {BATCH}, Adam, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}\n")
    print("| loop | steps/s (per round) | ratio to hand-written loop |")
    print("|---|---|---|")
    for name in contenders:
        sps = " / ".join(f"{v:.1f}" for v in results[name])
        rat = " / ".join(f"{v:.2f}" for v in ratios[name])
        print(f"| {name} | {sps} | {rat} |")
    ours_ratio = min(ratios["MTL Playground trainer, EW"])
    print(f"\ntrainer / hand-written loop: {ours_ratio:.2f}x (target >= 1.5x): "
          f"{'met' if ours_ratio >= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
