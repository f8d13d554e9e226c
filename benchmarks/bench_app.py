"""How the app feels: each page's time to interactive, the time from pressing Train to the first
plotted point, and training speed in the app relative to headless training of the very same config.

Time to interactive: from `goto` until the page's script run has finished and its main control is
visible, for every page of the app (warm loads: one untimed load of each page first; median of 5),
against a minimal Streamlit page (a title and a button) served the same way, by a second server in
the same run, so the ratios say what the app's own work costs on top of Streamlit's. The run store
holds bench_compare's 20 synthetic runs, so the Runs and Compare pages have something to show.

For each data set it starts the real app (`streamlit run`, own run database), opens it in Chromium
with the setup in the URL, waits until the page's warm worker is ready (as a user who takes a few
seconds would), presses Train and times the first loss point appearing in the browser's chart. The
first run then trains to its end with the page open and its charts refreshing; the same stored
config is then trained headless (`python -m mtlcore train`), and both speeds are read the same way:
steps per second on the trainer's own clock, from the run store. App run and headless runs take
turns for `--rounds` rounds (A B C A B C), and the table reports medians and per-round ratios. Extra Train presses
(stopped at
their first point) give more latency samples.

    python -m benchmarks.bench_app            # pages, then Multi-Digits and Multi-Fashion (if installed)
    python -m benchmarks.bench_app --quick    # pages, then Multi-Digits only, shorter runs
    python -m benchmarks.bench_app --pages-only

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

from benchmarks.bench_compare import build_store
from mtlcore.runs import executor, workers
from mtlcore.runs.store import RunStore
from tests.support import browser as e2e

ROOT = Path(__file__).resolve().parent.parent
TTI_ROUNDS = 5
# (page title, URL path, its main control): the control a user reaches for first on the page
PAGES = [
    ("Train", "", ".st-key-train_button button"),
    ("Runs", "runs", ".st-key-runs_search input"),
    ("Compare", "compare", ".st-key-compare_runs"),
    ("Sweep", "sweep", ".st-key-sweep_dataset"),
    ("Landscape", "landscape", ".st-key-toy_methods"),
    ("Conflict explorer", "explorer", ".st-key-cx_tasks"),
    ("Method guide", "guide", ".st-key-guide_search input"),
    ("Data sets", "datasets", "[class*='st-key-use_'] button"),
    ("Your data", "upload", ".st-key-upload_file"),
]
MINIMAL_PAGE = '''import streamlit as st

st.title("A minimal page")
st.button("Press me", key="press")
'''
MINIMAL_CONTROL = ".st-key-press button"


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


HEADLESS = (("headless", None), ("headless_same_threads", workers.app_worker_threads()))


def headless_speed(config_path: Path, db: str, threads: int | None) -> float:
    """Steps/s of the stored config trained by `python -m mtlcore train` (threads None: the core's default)."""
    env = {k: v for k, v in os.environ.items() if k != "MTL_WORKER_THREADS"}
    if threads:
        env["MTL_WORKER_THREADS"] = str(threads)
    subprocess.run([sys.executable, "-m", "mtlcore", "train", "--config", str(config_path), "--db", db,
                    "--quiet"], cwd=str(ROOT), env=env, check=True, stdout=subprocess.DEVNULL)
    head_store = RunStore(db)
    newest = head_store.list_runs().sort_values("created")["id"].iloc[-1]
    return steps_per_second(head_store, newest)


def bench_case(case: Case, work: Path, rounds: int, extra_latency: int) -> dict[str, object]:
    """`rounds` rounds of: the app's run, then the same config headless with all cores and with the
    app's threads (A B C A B C ...), so a load on the shared machine hits all three alike; speeds
    and ratios are kept per round and reported as medians."""
    warm_cache(case.dataset)
    db = str(work / f"{case.dataset}.sqlite")
    store = RunStore(db)
    query = urlencode({"dataset": case.title, **case.query}, doseq=True)
    config_path = work / f"{case.dataset}.json"
    speeds: dict[str, list[float]] = {"app": [], **{label: [] for label, _ in HEADLESS}}
    firsts = []
    with e2e.AppServer(db) as server:
        server.wait_ready()
        with e2e.browser() as page:
            for _ in range(rounds):
                e2e.open_app(page, f"{server.url}/?{query}")  # a fresh page, as after a refresh
                first, rid = press_train_and_time(page, store, db)
                firsts.append(first)
                e2e.wait_until(lambda rid=rid: store.get_run(rid)["status"] not in ("queued", "running"), 3600,
                               "the run finishing", poll_s=0.5)
                app_run = store.get_run(rid)
                speeds["app"].append(steps_per_second(store, rid))
                page.goto("about:blank")  # the browser idles while the headless runs train
                config_path.write_text(json.dumps(app_run["config"]))
                for label, threads in HEADLESS:
                    speeds[label].append(headless_speed(config_path, str(work / f"{case.dataset}-{label}.sqlite"),
                                                        threads))
            for _ in range(extra_latency):
                e2e.open_app(page, f"{server.url}/?{query}")
                first, extra = press_train_and_time(page, store, db)
                firsts.append(first)
                executor.stop(store, extra, grace_s=10)
    ratios = {label: [a / h for a, h in zip(speeds["app"], speeds[label])] for label, _ in HEADLESS}
    return {"case": case, "firsts": firsts, "speeds": speeds, "ratios": ratios,
            "steps": int(app_run["step"]), "status": app_run["status"]}


def time_to_interactive(page, url: str, control: str, timeout_s: float = 120.0) -> float:
    """Seconds from `goto` until the script run has finished (nothing stale, not running) with
    `control` visible: the moment a user can use the page."""
    t0 = time.perf_counter()
    page.goto(url)
    page.locator(control).first.wait_for(state="visible", timeout=timeout_s * 1000)
    page.wait_for_function(e2e.SETTLED_JS, timeout=timeout_s * 1000, polling=10)
    return time.perf_counter() - t0


def bench_pages(work: Path, rounds: int) -> dict[str, list[float]]:
    """Each page's and the minimal page's load times, in rounds that visit all of them in turn (so
    drift of the machine's load hits every page alike), after one untimed load of each."""
    db = str(work / "pages.sqlite")
    build_store(db)
    minimal = work / "minimal_page.py"
    minimal.write_text(MINIMAL_PAGE)
    with e2e.AppServer(db) as app, e2e.AppServer(work / "minimal.sqlite", script=minimal) as base:
        app.wait_ready()
        base.wait_ready()
        targets = [("minimal page", f"{base.url}/", MINIMAL_CONTROL)]
        targets += [(title, f"{app.url}/{path}", control) for title, path, control in PAGES]
        times: dict[str, list[float]] = {label: [] for label, _, _ in targets}
        with e2e.browser() as page:
            for _, url, control in targets:  # warm: imports, caches, the Train page's standby worker
                time_to_interactive(page, url, control)
            e2e.wait_until(lambda: workers.waiting(db), 300, "the warm worker getting ready", poll_s=0.2)
            for _ in range(rounds):
                for label, url, control in targets:
                    times[label].append(time_to_interactive(page, url, control))
    return times


def print_pages(times: dict[str, list[float]]) -> None:
    base = statistics.median(times["minimal page"])
    print(f"time to interactive: seconds from goto until the script run finished and the page's main control "
          f"is visible (warm, median of {len(times['minimal page'])}); ratio to the minimal page (a title and "
          f"a button) served the same way")
    head = f"{'page':<18} {'median (s)':>10} {'ratio':>6}  samples"
    print(head)
    print("-" * len(head))
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"{label:<18} {median:>10.3f} {median / base:>6.2f}  {', '.join(f'{t:.3f}' for t in samples)}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Multi-Digits only, shorter runs")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of app run + headless runs, interleaved (default 3)")
    parser.add_argument("--latency-samples", type=int, default=2,
                        help="extra Train presses per data set for the first-point time (default 2)")
    parser.add_argument("--pages-only", action="store_true", help="only the pages' time to interactive")
    parser.add_argument("--rounds", type=int, default=TTI_ROUNDS,
                        help=f"timed loads of each page (default {TTI_ROUNDS})")
    args = parser.parse_args()
    why = e2e.chromium_missing()
    if why:
        print(f"cannot benchmark the app: {why}", file=sys.stderr)
        return 2
    from dashboard.shared import catalog

    print(f"benchmarking page loads ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        print_pages(bench_pages(Path(tmp), args.rounds))
    if args.pages_only:
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        for case in cases(args.quick):
            missing = catalog.dataset(case.dataset)["missing"]
            if missing:
                print(f"skipping {case.label}: {missing}")
                continue
            print(f"benchmarking {case.label} ...", flush=True)
            results.append(bench_case(case, Path(tmp), args.rounds, args.latency_samples))
    print()
    threads = workers.app_worker_threads()
    print(f"first point: seconds from pressing Train to the loss chart's first point in Chromium "
          f"(median, all samples). Speeds: training steps/s of one run; the app's workers use "
          f"{threads} torch thread(s), headless uses the core's default (all cores) and, second, the same "
          f"{threads} thread(s). Each round trains the app's run, then both headless runs; speeds are "
          f"medians over {args.rounds} round(s), ratios the medians of the ratios within each round.")
    head = (f"{'data set':<14} {'first point (s)':>16} {'target':>6}  {'samples':<22} {'app':>7} "
            f"{'headless':>9} {'ratio':>6} {'same thr.':>9} {'ratio':>6} {'target':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        case: Case = r["case"]  # type: ignore[assignment]
        firsts: list[float] = r["firsts"]  # type: ignore[assignment]
        med = {k: statistics.median(v) for k, v in r["speeds"].items()}  # type: ignore[attr-defined]
        r1, r2 = (statistics.median(r["ratios"][k]) for k in ("headless", "headless_same_threads"))  # type: ignore[index]
        print(f"{case.label:<14} {statistics.median(firsts):>16.2f} {case.target_first_s:>6.1f}  "
              f"{', '.join(f'{f:.2f}' for f in firsts):<22} {med['app']:>7.1f} {med['headless']:>9.1f} {r1:>6.2f} "
              f"{med['headless_same_threads']:>9.1f} {r2:>6.2f} {0.9:>6.1f}")
    print(f"\n({os.cpu_count()} CPUs; app runs: "
          f"{', '.join(str(r['steps']) + ' steps, ' + str(r['status']) for r in results)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
