"""Time of the Landscape page's computation: the CAGrad / Nash-MTL toy, the papers' setting.

Measures, without the disk cache:
1. per method, microseconds per Adam step for the five paper starts, in one process (median of
   `--rounds`; the marginal cost of a step, without the recording of positions, as in long runs);
2. the full set (equal weights, MGDA, PCGrad, CAGrad, Nash-MTL x 5 starts x 35,000 steps at lr 1e-3),
   in one process and split over the worker processes, with the pool cold (forkserver start and
   imports included) and warm (median of `--rounds`);
3. loading that set back from the disk cache.

With `--baseline FILE` (a single-file version of the toy, e.g. `git show 30d2f54:mtlcore/toy.py >
/tmp/toy_head.py`), every timing of 1 and 2 is also taken for that version, interleaved with the
current one, so both are measured under the same load (the 2-core target is often shared), and the
ratio shown is the median of the ratios within each round. Both
versions must give the same trajectories; the bench checks it on the full set.

Target (issue 6): the full set in under 10 s on the 2-core CPU, with a progress bar.

`--increment`: what a student waits for after adding a start point to the shown set (five methods,
the papers' starts cached): the page's own call (plan, then compute only the new trajectories in the
warm worker processes), in this process without torch, as in the server; a new start each round.
Target (issue 15): within 1.5 s.

`--pages`: the Landscape and Conflict explorer pages' time to interactive in Chromium against the
minimal Streamlit page (benchmarks/bench_app.py's measure), with the Landscape's default set in a
fresh cache, and the bytes the server sends per load (websocket frames). Run it from another
checkout (e.g. `git archive <commit> | tar -x -C /tmp/before`, then this file copied in) to compare.

    .venv/bin/python -m benchmarks.bench_landscape [--steps 35000] [--rounds 3] [--skip-inline]
                                                   [--baseline /tmp/toy_head.py]
    .venv/bin/python -m benchmarks.bench_landscape --increment [--rounds 5]
    .venv/bin/python -m benchmarks.bench_landscape --pages [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from mtlcore import teaching as toy

METHODS = ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl"]


def load_baseline(path: str) -> ModuleType:
    """Import another version of the toy module under its file's name (importable by the workers too)."""
    file = Path(path).resolve()
    sys.path.insert(0, str(file.parent))  # before the forkserver starts: workers unpickle by module name
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    return module


def per_step_us(module: ModuleType, method: str, short: int = 1000, long: int = 5000) -> float:
    """Marginal cost of a step: both runs record the same 1,001 positions (and set up the same), so the
    difference of their times is that of `long - short` unrecorded steps, as nearly all of a long run's."""
    seconds = []
    for steps in (short, long):
        began = time.perf_counter()
        module.simulate([method], steps=steps, imbalance=module.NASH_IMBALANCE, use_cache=False, workers=1)
        seconds.append(time.perf_counter() - began)
    return (seconds[1] - seconds[0]) / (long - short) * 1e6


def full_set(module: ModuleType, steps: int, workers: int) -> tuple[float, list]:
    began = time.perf_counter()
    runs = module.simulate(METHODS, steps=steps, lr=module.PAPER_LR, imbalance=module.NASH_IMBALANCE,
                           use_cache=False, workers=workers)
    return time.perf_counter() - began, runs


def interleaved(rounds: int, versions: dict[str, ModuleType], measure) -> dict[str, list[float]]:
    """Each version's time in every round, the versions taking turns within each round (A B A B ...),
    so a load that comes and goes on the shared machine hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in versions}
    for _ in range(rounds):
        for name, module in versions.items():
            times[name].append(measure(module))
    return times


def show(label: str, times: dict[str, list[float]], unit: str, fmt: str) -> None:
    """Medians over rounds; with a baseline, the median of the ratios taken within each round."""
    cells = "   ".join(f"{name} {fmt.format(statistics.median(t))} {unit}" for name, t in times.items())
    ratio = ""
    if len(times) == 2:
        ratios = [before / now for now, before in zip(times["current"], times["baseline"]) if now > 0]
        ratio = f"   ({statistics.median(ratios):.2f}x)" if ratios else ""
    print(f"  {label:28s} {cells}{ratio}")


def same_runs(a: list, b: list) -> bool:
    return all(x.method == y.method and np.array_equal(x.points, y.points) and np.array_equal(x.losses, y.losses)
               for x, y in zip(a, b))


def bench_increment(rounds: int) -> None:
    """Seconds from asking for the shown set plus one new start to having all of it (page's path)."""
    assert "torch" not in sys.modules, "measure as the server does: without torch in this process"
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MTL_CACHE"] = cache
        toy.warm_up()
        began = time.perf_counter()
        toy.simulate(METHODS, steps=toy.PAPER_STEPS, imbalance=toy.NASH_IMBALANCE)
        print(f"the shown set (5 methods x 5 starts x 35,000 steps), computed first: "
              f"{time.perf_counter() - began:.1f} s")
        times = []
        for k in range(rounds):
            new = (-6.0 + 2.5 * k, 4.0 - 1.5 * k)
            starts = [*toy.PAPER_STARTS, new]
            began = time.perf_counter()
            request = toy.plan(METHODS, starts, toy.PAPER_STEPS, toy.PAPER_LR, toy.NASH_IMBALANCE)
            jobs = request.missing()
            runs = toy.complete(request)
            times.append(time.perf_counter() - began)
            assert [len(j.slots) for j in jobs] == [1] * len(METHODS) and runs[0].points.shape[0] == 6
        print(f"one new start, 5 methods: median {statistics.median(times):.2f} s "
              f"({', '.join(f'{t:.2f}' for t in times)}); load average now {os.getloadavg()[0]:.2f}; "
              f"target 1.5 s")


def bench_pages(rounds: int) -> None:
    """Time to interactive and bytes per load of the two teaching pages, against the minimal page."""
    from benchmarks.bench_app import MINIMAL_CONTROL, MINIMAL_PAGE, time_to_interactive
    from tests.support import browser as e2e

    pages = [("minimal page", None, MINIMAL_CONTROL), ("Landscape", "landscape", ".st-key-toy_methods"),
             ("Conflict explorer", "explorer", ".st-key-cx_tasks")]
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        env = dict(os.environ, MTL_CACHE=str(cache))
        import subprocess

        subprocess.run([sys.executable, "-m", "mtlcore", "toy", "--quiet"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # the page's default set, as a visitor finds it
        (work / "minimal.py").write_text(MINIMAL_PAGE)
        received = [0]
        with e2e.AppServer(work / "app.sqlite", cache=cache) as app, \
                e2e.AppServer(work / "minimal.sqlite", cache=cache, script=work / "minimal.py") as base:
            app.wait_ready()
            base.wait_ready()
            urls = {label: (f"{base.url}/" if path is None else f"{app.url}/{path}") for label, path, _ in pages}
            times: dict[str, list[float]] = {label: [] for label, _, _ in pages}
            sent: dict[str, list[int]] = {label: [] for label, _, _ in pages}
            with e2e.browser() as page:
                page.on("websocket", lambda ws: ws.on(
                    "framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))))
                for label, _, control in pages:  # warm: imports, worker pool, caches
                    time_to_interactive(page, urls[label], control, timeout_s=300)
                for _ in range(rounds):
                    for label, _, control in pages:
                        received[0] = 0
                        times[label].append(time_to_interactive(page, urls[label], control))
                        sent[label].append(received[0])
    floor = statistics.median(times["minimal page"])
    print(f"time to interactive (warm, median of {rounds}), ratio to the minimal page, kB received per load")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"  {label:<18} {median:6.2f} s  {median / floor:5.2f}x  {statistics.median(sent[label]) / 1e3:7.0f} kB"
              f"   ({', '.join(f'{t:.2f}' for t in samples)})")
    print(f"load average now {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=toy.PAPER_STEPS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-inline", action="store_true", help="skip the one-process full run")
    parser.add_argument("--baseline", help="a single-file version of the toy (the former mtlcore/toy.py) "
                                           "to time alongside")
    parser.add_argument("--increment", action="store_true", help="time adding one start to the shown set")
    parser.add_argument("--pages", action="store_true", help="time the teaching pages in Chromium")
    args = parser.parse_args()
    if args.increment:
        return bench_increment(args.rounds)
    if args.pages:
        return bench_pages(args.rounds)
    import torch

    torch.set_num_threads(1)
    versions: dict[str, ModuleType] = {"current": toy}
    if args.baseline:
        versions["baseline"] = load_baseline(args.baseline)
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")

    for module in versions.values():  # imports and first calls out of the timings
        module.simulate(METHODS, steps=20, use_cache=False, workers=1)
    print(f"\nper method, 5 starts, one process (us per Adam step, median of {args.rounds}):")
    for method in METHODS:
        timings = interleaved(args.rounds, versions, lambda m, method=method: per_step_us(m, method))
        show(method, timings, "us", "{:7.0f}")
    from mtlcore.teaching.simulator import _Spec

    print("  (the page's estimate, probed: " + ", ".join(
        f"{m} {toy.step_cost_us([_Spec(m)], 5):.0f}" for m in METHODS) + " us)")

    n = len(METHODS)
    print(f"\nfull set: {n} methods x 5 starts x {args.steps:,} steps (median of {args.rounds})")
    results: dict[str, list] = {}

    def timed(workers: int):
        def measure(module: ModuleType) -> float:
            seconds, runs = full_set(module, args.steps, workers)
            results[module.__name__] = runs
            return seconds
        return measure

    if not args.skip_inline:
        show("one process:", interleaved(args.rounds, versions, timed(1)), "s", "{:6.2f}")
    workers = max(toy.worker_limit(), 2)
    began = time.perf_counter()
    for module in versions.values():
        module.warm_up()
        module.simulate(["ew", "mgda"], steps=5, use_cache=False, workers=workers)  # waits for every worker
    print(f"  starting {workers} workers (cold):  {time.perf_counter() - began:6.2f} s")
    show(f"{workers} warm worker processes:", interleaved(args.rounds, versions, timed(workers)), "s", "{:6.2f}")
    if len(versions) == 2:
        a, b = (results[m.__name__] for m in versions.values())
        print(f"  same trajectories in both versions: {same_runs(a, b)}")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["MTL_CACHE"] = cache
        toy.simulate(METHODS, steps=args.steps, imbalance=toy.NASH_IMBALANCE, workers=workers)
        began = time.perf_counter()
        runs = toy.cached_runs(METHODS, steps=args.steps, imbalance=toy.NASH_IMBALANCE)
        assert runs is not None and all(r.cached for r in runs)
        print(f"  from the disk cache:         {1000 * (time.perf_counter() - began):6.1f} ms")


if __name__ == "__main__":
    main()
