"""How the app feels: time from pressing Train to the first plotted point, and training speed in
the app relative to headless training of the very same config.

For each data set it starts the real app (`streamlit run`, own run database), opens it in Chromium
with the setup in the URL, waits until the page's warm worker is ready (as a user who takes a few
seconds would), presses Train and times the first loss point appearing in the browser's chart. The
first run then trains to its end with the page open and its charts refreshing; the same stored
config is then trained headless (`python -m mtlcore train`), and both speeds are read the same way:
steps per second on the trainer's own clock, from the run store. Extra Train presses (stopped at
their first point) give more latency samples.

    python benchmarks/bench_app.py            # Multi-Digits and Multi-Fashion (if installed)
    python benchmarks/bench_app.py --quick    # Multi-Digits only, shorter runs

Targets (issue 4): first point within 2 s on Multi-Digits and 4 s on Multi-Fashion with its cache
warm; app throughput at least 0.9x headless. Needs /usr/bin/chromium and python playwright.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import e2e  # noqa: E402
from mtlcore.runs import executor, workers  # noqa: E402
from mtlcore.runs.store import RunStore  # noqa: E402


@dataclass
class Case:
    label: str
    dataset: str  # the catalogue name
    title: str  # the selectbox label (what the URL carries)
    query: dict[str, object]  # the Train page's setup, as URL query parameters
    target_first_s: float


def cases(quick: bool) -> list[Case]:
    out = [Case("Multi-Digits", "multi_digits", "Multi-Digits",
                {"tasks": ["left", "right"], "epochs": 8 if quick else 20, "batch": 128}, 2.0)]
    if not quick:
        out.append(Case("Multi-Fashion", "multi_fashion", "Multi-Fashion",
                        {"tasks": ["left", "right"], "epochs": 0.5, "batch": 256,
                         "a_hps_trunk": "multilenet", "eval_every": 50}, 4.0))
    return out


def steps_per_second(store: RunStore, run_id: str) -> float:
    """Training speed on the trainer's clock (seconds since the run started), first to last step."""
    df = store.metrics(run_id, split="train", name="loss")
    df = df[df["task"] == df["task"].iloc[0]].sort_values("step")
    steps, times = df["step"].to_numpy(), df["time"].to_numpy()
    return float((steps[-1] - steps[0]) / (times[-1] - times[0]))


def warm_cache(dataset: str) -> None:
    """Prepare the data set's tensors once, so every timed run reads the cache."""
    code = ("from mtlcore.data import load_dataset; import sys; load_dataset(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, dataset], cwd=str(ROOT), check=True)


def press_train_and_time(page, store: RunStore, db: str) -> tuple[float, str]:
    e2e.wait_until(lambda: workers.waiting(db), 300, "the warm worker getting ready", poll_s=0.2)
    before = set(store.list_runs()["id"])
    e2e.button(page, "train_button").click()
    t0 = time.perf_counter()
    e2e.wait_until(lambda: e2e.loss_points(page) > 0, 120, "the first loss point")
    first = time.perf_counter() - t0
    rid = (set(store.list_runs()["id"]) - before).pop()
    return first, rid


def bench_case(case: Case, work: Path, extra_latency: int) -> dict[str, object]:
    warm_cache(case.dataset)
    db = str(work / f"{case.dataset}.sqlite")
    store = RunStore(db)
    query = urlencode({"dataset": case.title, **case.query}, doseq=True)
    with e2e.AppServer(db) as server:
        server.wait_ready()
        with e2e.browser() as page:
            e2e.open_app(page, f"{server.url}/?{query}")
            firsts = []
            first, rid = press_train_and_time(page, store, db)
            firsts.append(first)
            e2e.wait_until(lambda: store.get_run(rid)["status"] not in ("queued", "running"), 3600, "the run finishing",
                 poll_s=0.5)
            app_run = store.get_run(rid)
            for _ in range(extra_latency):
                e2e.open_app(page, f"{server.url}/?{query}")  # a fresh page, as after a refresh
                first, extra = press_train_and_time(page, store, db)
                firsts.append(first)
                executor.stop(store, extra, grace_s=10)
    app_speed = steps_per_second(store, rid)
    config_path = work / f"{case.dataset}.json"
    config_path.write_text(json.dumps(app_run["config"]))
    speeds = {}
    for label, threads in (("headless", None), ("headless_same_threads", workers.app_worker_threads())):
        head_db = str(work / f"{case.dataset}-{label}.sqlite")
        env = {k: v for k, v in os.environ.items() if k != "MTL_WORKER_THREADS"}
        if threads:
            env["MTL_WORKER_THREADS"] = str(threads)
        subprocess.run([sys.executable, "-m", "mtlcore", "train", "--config", str(config_path), "--db", head_db,
                        "--quiet"], cwd=str(ROOT), env=env, check=True, stdout=subprocess.DEVNULL)
        head_store = RunStore(head_db)
        speeds[label] = steps_per_second(head_store, head_store.list_runs()["id"].iloc[0])
    return {"case": case, "firsts": firsts, "app": app_speed, **speeds,
            "steps": int(app_run["step"]), "status": app_run["status"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Multi-Digits only, shorter runs")
    parser.add_argument("--latency-samples", type=int, default=2,
                        help="extra Train presses per data set for the first-point time (default 2)")
    args = parser.parse_args()
    why = e2e.chromium_missing()
    if why:
        print(f"cannot benchmark the app: {why}", file=sys.stderr)
        return 2
    from dashboard import catalog

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        for case in cases(args.quick):
            missing = catalog.dataset(case.dataset)["missing"]
            if missing:
                print(f"skipping {case.label}: {missing}")
                continue
            print(f"benchmarking {case.label} ...", flush=True)
            results.append(bench_case(case, Path(tmp), args.latency_samples))
    print()
    threads = workers.app_worker_threads()
    print(f"first point: seconds from pressing Train to the loss chart's first point in Chromium "
          f"(median, all samples). Speeds: training steps/s of one run; the app's workers use "
          f"{threads} torch thread(s), headless uses the core's default (all cores) and, second, the same "
          f"{threads} thread(s).")
    head = (f"{'data set':<14} {'first point (s)':>16} {'target':>6}  {'samples':<22} {'app':>7} "
            f"{'headless':>9} {'ratio':>6} {'same thr.':>9} {'ratio':>6} {'target':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        case: Case = r["case"]  # type: ignore[assignment]
        firsts: list[float] = r["firsts"]  # type: ignore[assignment]
        app, h1, h2 = float(r["app"]), float(r["headless"]), float(r["headless_same_threads"])
        print(f"{case.label:<14} {statistics.median(firsts):>16.2f} {case.target_first_s:>6.1f}  "
              f"{', '.join(f'{f:.2f}' for f in firsts):<22} {app:>7.1f} {h1:>9.1f} {app / h1:>6.2f} "
              f"{h2:>9.1f} {app / h2:>6.2f} {0.9:>6.1f}")
    print(f"\n({os.cpu_count()} CPUs; app runs: "
          f"{', '.join(str(r['steps']) + ' steps, ' + str(r['status']) for r in results)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
