"""How long the Compare page takes to read and draw runs with long curves.

Setting: a fresh run store holding 20 finished two-task runs, each with 10,000 points in every curve
the page draws (training and validation loss, validation accuracy and weight per task, gradient
cosine of the pair; plus gradient norms and the conflict flag, stored but not drawn, as a real run
has them). Measured, cold (a fresh store connection each round) and in one process:

- queries: reading the selected runs and every curve (dashboard.compare.data.load_compare);
- figures: building every figure of the page (overlay per task with EMA smoothing on, which doubles
  the traces; weights and cosine per run; side by side: one column per run, shared y-ranges; config
  difference and final-metrics tables) and serialising them to JSON as Streamlit does.

The page lets you select up to 8 runs; 20 at once is timed too, to show how it scales. Target: at
most 2 s in all for a page view. Usage: `python -m benchmarks.bench_compare [--rounds N] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.io as pio

from dashboard.compare import charts as cc
from dashboard.compare.data import load_compare
from dashboard.shared import catalog
from mtlcore.config import RunConfig
from mtlcore.runs.store import RunStore

RUNS = 20
POINTS = 10_000
TASKS = ("left", "right")
TARGET_S = 2.0



def build_store(path: str) -> list[str]:
    """20 runs of synthetic but realistic curves (noisy decays), written through the store's API."""
    store = RunStore(path)
    rng = np.random.default_rng(0)
    steps = np.arange(1, POINTS + 1)
    epoch = (steps / 100).tolist()
    clock = (steps * 0.03).tolist()
    step_l = steps.tolist()
    ids = []
    for r in range(RUNS):
        cfg = RunConfig.from_dict({
            "name": f"bench run {r}", "seed": r % 3,
            "data": {"name": "multi_digits", "tasks": list(TASKS)},
            "weighting": {"method": ["ew", "uw", "dwa", "rlw"][r % 4]},
            "optim": {"lr": [1e-3, 2e-3][r % 2], "max_steps": POINTS}}).to_dict()
        rid = store.create_run(cfg, status="running")
        rows: list[tuple] = []

        def add(split: str, task: str, name: str, values: np.ndarray, rows: list[tuple] = rows) -> None:
            rows.extend(zip(step_l, epoch, clock, [split] * POINTS, [task] * POINTS, [name] * POINTS,
                            values.tolist()))

        for task in TASKS:
            loss = 2.3 * np.exp(-steps / (2000 + 300 * r)) * (1 + 0.15 * rng.standard_normal(POINTS)) + 0.05
            add("train", task, "loss", loss)
            add("train", task, "weight", 1 + 0.2 * np.sin(steps / 500 + r))
            add("val", task, "loss", loss * 1.1)
            add("val", task, "accuracy", 1 - loss / 2.5)
            add("grad", task, "grad_norm", np.abs(rng.standard_normal(POINTS)))
        add("grad", "left|right", "cosine", np.clip(0.2 + 0.3 * rng.standard_normal(POINTS), -1, 1))
        add("grad", "", "conflict", (rng.random(POINTS) < 0.3).astype(float))
        started = ('{"steps_per_epoch": 100, "total_steps": %d}' % POINTS)
        store.write_rows(rid, rows, [(0, time.time(), "started", started)], step=POINTS)
        final = {t: {"loss": 0.1, "accuracy": 0.9 + 0.004 * r} for t in TASKS}
        store.set_status(rid, "finished", summary={"steps": POINTS, "val": final, "test": final},
                         total_steps=POINTS)
        ids.append(rid)
    store.close()
    return ids


def page_view(path: str, run_ids: list[str], side_by_side: bool,
              x_axis: str = "step") -> tuple[float, float, float, int, int]:
    """One cold page view: (query s, figure s, CPU s of both, points read, points drawn)."""
    store = RunStore(path)
    c0 = time.process_time()
    t0 = time.perf_counter()
    data = load_compare(store, run_ids, with_clock=(x_axis == "time"))
    t1 = time.perf_counter()
    figs = []
    for task in data.tasks:  # as the page draws them: one overlay per task, or a column per run
        if side_by_side:
            ranges = cc.shared_ranges(data, task, log_y=True)
            figs += [cc.task_figure(data, task, [run], x_axis, 0.6, True, y_ranges=ranges, key=f"sbs-{run.id}")
                     for run in data.runs]
        else:
            figs.append(cc.task_figure(data, task, x_axis=x_axis, smoothing=0.6, log_y=True))
    figs.append(cc.weights_figure(data, x_axis=x_axis))
    figs.append(cc.cosine_figure(data, x_axis=x_axis, smoothing=0.6))
    cc.config_diff({r.label: r.row["config"] for r in data.runs})
    cc.final_table(data.runs, "test")
    drawn = 0
    for fig in figs:
        pio.to_json(fig, validate=False)
        drawn += sum(len(t.x) for t in fig.data if t.x is not None)
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    store.close()
    return t1 - t0, t2 - t1, cpu, data.points_read(), drawn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", help="build the store in this folder (reused if it exists)")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        return run(Path(args.keep), args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:  # its ~430 MB store goes with it
        return run(Path(tmp), args.rounds)


def run(folder: Path, rounds: int) -> int:
    path = str(folder / "bench.sqlite")
    t = time.perf_counter()
    if Path(path).exists():
        ids = RunStore(path).list_runs().sort_values("created")["id"].tolist()
    else:
        ids = build_store(path)
    print(f"store: {len(ids)} runs x {POINTS:,} points per curve in {path} "
          f"({Path(path).stat().st_size / 1e6:.0f} MB, ready in {time.perf_counter() - t:.1f} s)\n")
    cases = [("8 runs (page maximum), overlay", ids[:8], False, "step"),
             ("8 runs, overlay, x = wall time", ids[:8], False, "time"),
             ("8 runs, side by side", ids[:8], True, "step"),
             ("20 runs, overlay", ids, False, "step"),
             ("20 runs, side by side", ids, True, "step")]
    catalog.datasets()  # the registries load once per server process, not per page view
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (wall times grow with the load; "
          "the CPU column is what the view itself costs)\n")
    header = (f"{'view':<34} {'queries s':>10} {'figures s':>10} {'total s':>8} {'CPU s':>7} "
              f"{'points read':>12} {'drawn':>9}  target")
    print(header)
    print("-" * len(header))
    worst_page = 0.0
    for label, run_ids, sbs, x_axis in cases:
        results = [page_view(path, run_ids, sbs, x_axis) for _ in range(rounds)]
        q = statistics.median(r[0] for r in results)
        f = statistics.median(r[1] for r in results)
        total = statistics.median(r[0] + r[1] for r in results)
        cpu = statistics.median(r[2] for r in results)
        if len(run_ids) <= 8:
            worst_page = max(worst_page, total)
        verdict = ("ok" if total <= TARGET_S else "OVER") if len(run_ids) <= 8 else "(info)"
        print(f"{label:<34} {q:>10.3f} {f:>10.3f} {total:>8.3f} {cpu:>7.3f} {results[0][3]:>12,} "
              f"{results[0][4]:>9,}  {verdict}")
    print(f"\nmedian of {rounds} cold rounds each (a fresh store connection, no cache); slowest page view "
          f"with up to 8 runs: {worst_page:.2f} s (target {TARGET_S:.0f} s)")
    return 0 if worst_page <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
