"""Throughput of every weighting method relative to equal weights, measured in one run.

Settings: Multi-Fashion with MultiLeNet (T = 2) and the scale-imbalance toy with T = 2, 5 and 10
(MLP trunk). For each, every registered method trains `--steps` steps after a warm-up, and the
table gives median steps/s and the ratio to equal weights (EW) measured in the same setting. The
baseline row "mgda (Jacobian by T backward passes)" gets the per-task gradients the way most
libraries do (one retained backward per task loss through head and trunk) instead of our path (one
backward through the heads on per-task copies of the representation, then one batched
vector-Jacobian product through the trunk), to show what that path buys.

Targets: every method >= 0.85x EW throughput at T = 2; at most 2x EW step time at T = 10.

Methods are measured interleaved: every method trains a burst of steps in turn, for several
rounds, and each ratio is the median over rounds of EW's step time over the method's in the same
round, so a change in machine load does not favour whichever method ran while it was quiet.

    .venv/bin/python -m benchmarks.bench_weighting [--rounds 5] [--burst 8] [--only mgda,pcgrad] \
        [--settings fashion,toy2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from mtlcore import gradients
from mtlcore.config import RunConfig
from mtlcore.data import load_dataset
from mtlcore.events import Finished, StepMetrics
from mtlcore.trainer import Trainer
from mtlcore.weighting import WEIGHTINGS

WARMUP = 8

SETTINGS: dict[str, dict[str, Any]] = {
    "fashion": {"title": "Multi-Fashion, MultiLeNet, T=2", "data": "multi_fashion", "tasks": ["left", "right"],
                "params": {}, "model": {"trunk": "multilenet"}, "batch": 256},
    "toy2": {"title": "scale-imbalance toy, MLP, T=2", "data": "scale_imbalance", "params": {"n_tasks": 2},
             "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
    "toy5": {"title": "scale-imbalance toy, MLP, T=5", "data": "scale_imbalance", "params": {"n_tasks": 5},
             "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
    "toy10": {"title": "scale-imbalance toy, MLP, T=10", "data": "scale_imbalance", "params": {"n_tasks": 10},
              "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
}


class LoopTrainer(Trainer):
    """The way most libraries get per-task gradients: one retained backward per task loss."""

    def setup(self) -> None:
        super().setup()
        self.split_heads = False

    def _jacobian(self, losses: torch.Tensor, params: list[torch.nn.Parameter], retain_graph: bool) -> torch.Tensor:
        return gradients.jacobian(losses, params, retain_graph=retain_graph, batched=False)


@dataclass
class Job:
    """One method training in the background of the others: advanced a burst at a time."""

    label: str
    mode: str
    trainer: Trainer
    steps: Iterator[Any]
    times: list[float] = field(default_factory=list)  # seconds per step, one per round

    def advance(self, n: int) -> None:
        done = 0
        for event in self.steps:
            if isinstance(event, StepMetrics):
                done += 1
                if done == n:
                    return
            elif isinstance(event, Finished):
                raise RuntimeError(f"{self.label}: {event.reason or event.status}")
        raise RuntimeError(f"{self.label}: the run ended early")


def make_job(setting: dict[str, Any], data, method: str, label: str, mode: str, total_steps: int,
             gradients_mode: str = "auto", trainer: type[Trainer] = Trainer) -> Job:
    cfg = RunConfig.from_dict({
        "data": {"name": setting["data"], "tasks": list(data.tasks), "params": setting["params"]},
        "model": {"architecture": "hps", "params": setting["model"]},
        "weighting": {"method": method, "gradients": gradients_mode},
        "optim": {"batch_size": setting["batch"], "lr": 1e-3, "epochs": 1000, "max_steps": total_steps},
        "eval_every": 10_000_000, "grad_stats_every": 0, "threads": torch.get_num_threads(),
    })
    run = trainer(cfg, data=data)
    return Job(label, mode, run, run.run())


def measure_interleaved(jobs: list[Job], rounds: int, burst: int) -> None:
    """Round-robin bursts: a change in machine load hits every method of a round alike, so the
    per-round ratio to EW stays meaningful on a shared 2-core machine."""
    for job in jobs:
        job.advance(WARMUP)
    for _ in range(rounds):
        for job in jobs:
            t0 = time.perf_counter()
            job.advance(burst)
            job.times.append((time.perf_counter() - t0) / burst)
    for job in jobs:
        job.steps.close()  # type: ignore[attr-defined]


def trunk_backward_share(setting: dict[str, Any], data, repeats: int = 20) -> float:
    """Seconds of one backward pass through the shared trunk alone (forward excluded).

    A method that needs every task's gradient on the shared weights does T of these where EW does
    one, so its best possible throughput is step / (step + (T - 1) * this), whatever its solver.
    """
    job = make_job(setting, data, "ew", "ew", "", WARMUP + 2)
    job.advance(1)  # sets up the trainer inside the generator
    trainer = job.trainer
    x, _ = trainer._input(trainer.data.train, torch.arange(setting["batch"]))
    times = []
    for _ in range(repeats + 3):
        rep = trainer.model.representation(x)
        cot = torch.randn_like(rep)
        t0 = time.perf_counter()
        rep.backward(cot)
        times.append(time.perf_counter() - t0)
    job.steps.close()  # type: ignore[attr-defined]
    return statistics.median(times[3:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--burst", type=int, default=8, help="steps per method per round")
    ap.add_argument("--only", default="", help="comma-separated method names (default: every method)")
    ap.add_argument("--settings", default="fashion,toy2,toy5,toy10")
    args = ap.parse_args()
    torch.set_num_threads(2)
    names = [e.name for e in WEIGHTINGS]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    repr_names = {e.name for e in WEIGHTINGS if e.extra["supports_representation"] and e.extra["needs"] == "gradients"}
    total = WARMUP + args.rounds * args.burst + 1
    summary: list[str] = []
    for key in args.settings.split(","):
        setting = SETTINGS[key]
        data = load_dataset(setting["data"], setting["params"], setting.get("tasks"))
        t = len(data.tasks)
        jobs = [make_job(setting, data, "ew", "ew", "", total),
                make_job(setting, data, "mgda", "mgda (Jacobian by T backward passes)", "loop baseline", total,
                         trainer=LoopTrainer)]
        errors: list[tuple[str, str]] = []
        for name in names:
            if name == "ew":
                continue
            jobs.append(make_job(setting, data, name, name, "", total))
            if name in repr_names:
                jobs.append(make_job(setting, data, name, name, "on representation", total, "representation"))
        runnable = []
        for job in jobs:  # a method that cannot run here is named, not hidden
            try:
                job.advance(1)
                runnable.append(job)
            except Exception as exc:
                errors.append((job.label, str(exc)))
        measure_interleaved(runnable, args.rounds, args.burst)
        ew = runnable[0]
        ew_step = statistics.median(ew.times)
        trunk_b = trunk_backward_share(setting, data)
        bound = ew_step / (ew_step + (t - 1) * trunk_b)
        print(f"\n### {setting['title']} (batch {setting['batch']}, {torch.get_num_threads()} threads, "
              f"{args.rounds} rounds of {args.burst} steps)\n")
        print("| method | mode | steps/s | vs EW throughput | step time vs EW |")
        print("|---|---|---|---|---|")
        misses = []
        for job in runnable:
            ratio = statistics.median(e / j for e, j in zip(ew.times, job.times))
            sps = 1.0 / statistics.median(job.times)
            print(f"| {job.label} | {job.mode or 'default'} | {sps:.1f} | {ratio:.2f}x | {1 / ratio:.2f}x |")
            if job is ew or job.mode == "loop baseline":
                continue
            if (t == 2 and ratio < 0.85) or (t == 10 and 1 / ratio > 2.0):
                misses.append(f"{job.label} {job.mode}".strip())
        for label, why in errors:
            print(f"| {label} | error: {why} | | | |")
        print(f"\nOne backward through the shared trunk takes {trunk_b * 1e3:.1f} ms of EW's {ew_step * 1e3:.1f} ms "
              f"step: a method that needs all {t} task gradients on the shared weights can reach at most "
              f"{bound:.2f}x EW throughput (step time {1 / bound:.2f}x), however fast its solver.")
        target = "throughput >= 0.85x EW" if t == 2 else ("step time <= 2x EW" if t == 10 else "no target")
        summary.append(f"{setting['title']}: target {target}; misses: {', '.join(misses) if misses else 'none'}")
        sys.stdout.flush()
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
