"""Time of the Landscape page's computation: the CAGrad / Nash-MTL toy, the papers' setting.

Measures, without the disk cache:
1. per method, microseconds per Adam step for the five paper starts, in one process (median of
   `--rounds` short runs; the step cost does not depend on the run's length);
2. the full set (equal weights, MGDA, PCGrad, CAGrad, Nash-MTL x 5 starts x 35,000 steps at lr 1e-3),
   in one process and split over the worker processes, with the pool cold (forkserver start and
   imports included) and warm;
3. loading that set back from the disk cache.

Target (issue 6): the full set in under 10 s on the 2-core CPU, with a progress bar.

    .venv/bin/python benchmarks/bench_landscape.py [--steps 35000] [--rounds 3] [--skip-inline]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mtlcore import toy  # noqa: E402

METHODS = ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl"]


def per_step_us(method: str, rounds: int, steps: int = 2000) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        toy.simulate([method], steps=steps, imbalance=toy.NASH_IMBALANCE, use_cache=False, workers=1)
        times.append((time.perf_counter() - began) / steps * 1e6)
    return statistics.median(times)


def full_set(steps: int, workers: int) -> float:
    began = time.perf_counter()
    toy.simulate(METHODS, steps=steps, lr=toy.PAPER_LR, imbalance=toy.NASH_IMBALANCE, use_cache=False,
                 workers=workers)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=toy.PAPER_STEPS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-inline", action="store_true", help="skip the one-process full run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")

    print("\nper method, 5 starts, one process (us per Adam step):")
    for method in METHODS:
        print(f"  {method:10s} {per_step_us(method, args.rounds):7.0f}")
    print(f"  (cost model: {toy.COST_US})")

    n = len(METHODS)
    print(f"\nfull set: {n} methods x 5 starts x {args.steps:,} steps")
    if not args.skip_inline:
        print(f"  one process:                 {full_set(args.steps, 1):6.2f} s")
    workers = max(toy.worker_limit(), 2)
    began = time.perf_counter()
    toy.warm_up()
    toy.simulate(["ew", "mgda"], steps=5, use_cache=False, workers=workers)  # waits until both workers exist
    print(f"  starting {workers} workers (cold):    {time.perf_counter() - began:6.2f} s")
    print(f"  {workers} warm worker processes:     {full_set(args.steps, workers):6.2f} s")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["MTL_CACHE"] = cache
        toy.simulate(METHODS, steps=args.steps, imbalance=toy.NASH_IMBALANCE, workers=workers)
        began = time.perf_counter()
        runs = toy.cached_runs(METHODS, steps=args.steps, imbalance=toy.NASH_IMBALANCE)
        assert runs is not None and all(r.cached for r in runs)
        print(f"  from the disk cache:         {1000 * (time.perf_counter() - began):6.1f} ms")


if __name__ == "__main__":
    main()
