"""How the app feels: each page's time to interactive, the time from pressing Train to the first
plotted point, and training speed in the app relative to headless training of the very same config.

Time to interactive: from `goto` until the page's script run has finished and its main control is
visible, for every page of the app (warm loads: each timed load right after an untimed load of the
same page; median of 5), against a minimal Streamlit page (a title and a button) served the same
way, by a second server in the same run, so the ratios say what the app's own work costs on top of
Streamlit's, and against each page's own elements in stock Streamlit (benchmarks/stock_pages.py),
which says what Streamlit alone costs to show them. First loads:
each page on a server started for it, on a new port (a browser's first visit: nothing cached), and
again on one port the browser has visited (a returning browser after a restart). The run store
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
import contextlib
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

from benchmarks import stock_pages
from benchmarks.bench_compare import build_store
from mtlcore.runs import executor, workers
from mtlcore.runs.store import RunStore
from tests.support import browser as e2e

ROOT = Path(__file__).resolve().parent.parent
TTI_ROUNDS = 5
FIRST_ROUNDS = 3
# The app's pages served by plain `streamlit run` (no import warm-up, no root hint in the HTML): what
# dashboard/server.py (the harness's and `make run`'s server) saves is this table against the first.
PLAIN_SCRIPT = "dashboard/streamlit_app.py"
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
# Streamlit's own cost of widgets: the minimal page plus N plain widgets, served the same way. What
# a page with a setup form can reach is bounded by these (each widget ~5 ms of the browser's work here).
WIDGET_PAGES = {
    "+10 buttons": "for i in range(10):\n    st.button(f'Button {i}', key=f'b{i}')\n",
    "+10 select boxes": "for i in range(10):\n    st.selectbox(f'Choice {i}', ['a', 'b', 'c'], key=f's{i}')\n",
    "+20 mixed widgets": ("for i in range(5):\n    st.selectbox(f'Choice {i}', ['a', 'b'], key=f's{i}')\n"
                          "    st.slider(f'Slider {i}', 0, 9, key=f'l{i}')\n"
                          "    st.number_input(f'Number {i}', key=f'n{i}')\n"
                          "    st.multiselect(f'Several {i}', ['a', 'b'], key=f'm{i}')\n"),
}
# The app's own frame (the page config, the navigation with every page, the shared sidebar) around
# the minimal page's content: what any page of the app costs before its own work. A floor of its own:
# Streamlit's navigation and sidebar alone take ~1.5x the minimal page's time here.
FRAME_PAGE = stock_pages.stock_script({})[0]  # the frame around a title and the button


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


# Installed in every document before its own scripts: the browser's main-thread work (long tasks
# over 50 ms, summed) and when Plotly finished drawing each chart (plotly_afterplot), both in ms
# since the navigation started.
BROWSER_PROBE_JS = """(() => {
  const perf = window.__mtlPerf = {longtask_ms: 0, charts: 0, last_chart_ms: 0};
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) perf.longtask_ms += e.duration;
    }).observe({type: 'longtask', buffered: true});
  } catch (e) {}
  const hooked = new WeakSet();
  const hook = () => document.querySelectorAll('.js-plotly-plot').forEach(el => {
    if (hooked.has(el) || typeof el.on !== 'function') return;
    hooked.add(el);
    perf.charts += 1;
    el.on('plotly_afterplot', () => { perf.last_chart_ms = performance.now(); });
  });
  new MutationObserver(hook).observe(document, {childList: true, subtree: true});
})()"""
BROWSER_READ_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const p = window.__mtlPerf || {};
  return {shell_ms: nav ? nav.domContentLoadedEventEnd : 0, longtask_ms: p.longtask_ms || 0,
          charts: p.charts || 0, last_chart_ms: p.last_chart_ms || 0};
}"""


@dataclass
class Load:
    """One timed page load and where its time went."""

    tti_s: float
    drawn_s: float = 0.0  # until no element is still a skeleton (its code loading), from goto
    ready_s: float = 0.0  # first loads: from starting the server until it answered its health check
    shell_s: float = 0.0  # the HTML and Streamlit's JavaScript, until DOMContentLoaded
    script_s: float = 0.0  # the server's script run (sidebar and page), from the timing hook
    queries_s: float = 0.0  # run-store calls inside that run
    queries: int = 0
    imports_s: float = 0.0  # imports on the server during the load (first loads only; -X importtime)
    browser_s: float = 0.0  # main-thread long tasks in the browser (drawing, Plotly, Arrow decoding)
    charts: int = 0
    charts_done_s: float = 0.0  # when the last Plotly chart finished drawing, from goto


# The page can be used: its script run has finished (nothing stale, not running) and `control` is
# visible (a box of non-zero size, not hidden: Playwright's own test of visibility).
INTERACTIVE_JS = """(control) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running'
      || document.querySelector('[data-stale="true"]')) return false;
  const el = document.querySelector(control);
  if (!el) return false;
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
}"""


# Every element drawn: no grey skeleton left where Streamlit is still loading an element's code.
DRAWN_JS = """() => !document.querySelector('[data-testid="stSkeleton"]')"""


def time_to_interactive(page, url: str, control: str, timeout_s: float = 120.0,
                        drawn: list[float] | None = None) -> float:
    """Seconds from `goto` until the script run has finished with `control` visible: the moment a
    user can use the page. Checked at every animation frame in the page: Playwright's
    `locator.wait_for` retries at growing intervals (up to 0.5 s apart after the first 0.3 s), which
    added up to half a second to pages that took a little longer, and none to the minimal page."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(INTERACTIVE_JS, arg=control, polling="raf", timeout=timeout_s * 1000)
    tti = time.perf_counter() - t0
    if drawn is not None:  # and until every element is drawn (appended: seconds from goto)
        page.wait_for_function(DRAWN_JS, polling="raf", timeout=timeout_s * 1000)
        drawn.append(time.perf_counter() - t0)
    return tti


def script_records(path: Path, offset: int) -> tuple[list[dict], int]:
    """The timing hook's records written since `offset` (see dashboard/shared/timing.py)."""
    if not path.exists():
        return [], offset
    data = path.read_bytes()
    return [json.loads(line) for line in data[offset:].decode().splitlines() if line.strip()], len(data)


def import_seconds(log: Path, offset: int) -> float:
    """Seconds of top-level imports the server logged (PYTHONPROFILEIMPORTTIME) after `offset`."""
    total = 0.0
    for line in log.read_bytes()[offset:].decode(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|", 2)
            if not name.startswith("  ") and cumulative.strip().isdigit():  # top level: no indent
                total += int(cumulative) / 1e6
    return total


def timed_load(page, url: str, control: str, timing: Path, offset: int) -> tuple[Load, int]:
    # Leave the previous page first, untimed: `goto` from a page includes tearing that page down (its
    # React tree, its socket, its session on the server), which charged a page for its predecessor.
    page.goto("about:blank")
    time.sleep(0.1)
    drawn: list[float] = []
    tti = time_to_interactive(page, url, control, drawn=drawn)
    time.sleep(0.05)  # the hook writes its record as the script run ends
    records, offset = script_records(timing, offset)
    probe = page.evaluate(BROWSER_READ_JS)
    load = Load(tti, drawn_s=drawn[0], shell_s=probe["shell_ms"] / 1000, browser_s=probe["longtask_ms"] / 1000,
                charts=int(probe["charts"]), charts_done_s=probe["last_chart_ms"] / 1000,
                script_s=sum(r["script_s"] for r in records), queries_s=sum(r["queries_s"] for r in records),
                queries=sum(r["queries"] for r in records))
    return load, offset


def page_targets(db: str) -> list[tuple[str, str, str]]:
    """(label, URL path, main control) of every page, plus Compare with three runs selected."""
    three = RunStore(db).list_runs()["id"].tolist()[:3]
    out = [(title, path, control) for title, path, control in PAGES]
    at = [t for t, _, _ in out].index("Compare") + 1
    out.insert(at, ("Compare, 3 runs", f"compare?runs={','.join(three)}", ".st-key-compare_runs"))
    return out


STOCK_PREFIX = "  stock: "


def stock_targets(targets: list[tuple[str, str, str]], kinds: dict[str, dict[str, int]], work: Path,
                  stack: contextlib.ExitStack) -> list[tuple[str, str, str]]:
    """`targets` with, after each app page, a server of its elements in stock Streamlit (see
    benchmarks/stock_pages.py), started and ready."""
    out, servers = [], []
    for label, url, control in targets:
        out.append((label, url, control))
        if label not in kinds:
            continue
        script_text, left_out = stock_pages.stock_script(kinds[label])
        script = work / f"stock_{len(servers)}.py"
        script.write_text(script_text)
        server = stack.enter_context(e2e.AppServer(work / f"stock_{len(servers)}.sqlite", script=script))
        servers.append(server)
        shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds[label].items()))
        print(f"{label}: {shown}" + (f" (no stock element for: {', '.join(left_out)})" if left_out else ""))
        out.append((STOCK_PREFIX + label, f"{server.url}/", MINIMAL_CONTROL))
    for server in servers:
        server.wait_ready()
    return out


def bench_pages(work: Path, rounds: int, only: list[str] | None = None,
                stock: bool = True) -> dict[str, list[Load]]:
    """Each page's and the minimal page's load times, in rounds that visit all of them in turn (so
    drift of the machine's load hits every page alike). Each timed load follows an untimed load of
    the same page: every server is its own origin (port), and with some twenty of them the browser
    no longer kept every origin's copy of Streamlit's JavaScript ready; a page visited after other
    origins fetched and compiled it again (0.3-0.5 s more, in some rounds only), which charged the
    minimal page and the '+N' pages, visited once per round, and spared the app's pages, visited
    one after another. `stock`: after each page, its elements in stock Streamlit."""
    db = str(work / "pages.sqlite")
    build_store(db)
    minimal = work / "minimal_page.py"
    minimal.write_text(MINIMAL_PAGE)
    frame_script = work / "frame_page.py"
    frame_script.write_text(FRAME_PAGE)
    timing = work / "timing.jsonl"
    env = {"MTL_PAGE_TIMING": str(timing)}
    with e2e.AppServer(db, extra_env=env) as app, e2e.AppServer(work / "minimal.sqlite", script=minimal) as base, \
            e2e.AppServer(work / "frame.sqlite", script=frame_script) as frame, contextlib.ExitStack() as stack:
        widget_servers = {}
        for i, (label, body) in enumerate(WIDGET_PAGES.items()):
            script = work / f"widgets_{i}.py"
            script.write_text(MINIMAL_PAGE + body)
            widget_servers[label] = stack.enter_context(e2e.AppServer(work / f"widgets_{i}.sqlite", script=script))
        for server in (app, base, frame, *widget_servers.values()):
            server.wait_ready()
        targets = [("minimal page", f"{base.url}/", MINIMAL_CONTROL), ("app frame", f"{frame.url}/", MINIMAL_CONTROL)]
        targets += [(label, f"{server.url}/", MINIMAL_CONTROL) for label, server in widget_servers.items()]
        targets += [(label, f"{app.url}/{path}", control) for label, path, control in page_targets(db)
                    if not only or label in only]
        with e2e.browser() as page:
            page.add_init_script(BROWSER_PROBE_JS)
            kinds = {}
            for label, url, control in targets:  # warm: imports, caches, the Train page's standby worker
                time_to_interactive(page, url, control)
                if url.startswith(app.url):
                    time.sleep(1.0)  # the page's elements as it settles (no skeleton left)
                    kinds[label] = page.evaluate(stock_pages.KINDS_JS)
            if stock:  # each page's elements in stock Streamlit, timed right after the page
                targets = stock_targets(targets, kinds, work, stack)
                for label, url, control in targets:
                    if label.startswith(STOCK_PREFIX):
                        time_to_interactive(page, url, control)
            if any(label == "Train" for label, _, _ in targets):  # the Train page starts the warm worker
                e2e.wait_until(lambda: workers.waiting(db), 300, "the warm worker getting ready", poll_s=0.2)
            loads: dict[str, list[Load]] = {label: [] for label, _, _ in targets}
            offset = script_records(timing, 0)[1]
            for _ in range(rounds):
                for label, url, control in targets:
                    time_to_interactive(page, url, control)  # untimed: warm is right after a load of itself
                    time.sleep(0.05)
                    offset = script_records(timing, offset)[1]
                    load, offset = timed_load(page, url, control, timing, offset)
                    loads[label].append(load)
    return loads


def bench_first_loads(work: Path, rounds: int, only: list[str] | None = None,
                      app_script: str = e2e.APP_SCRIPT, import_log: bool = True,
                      same_port: bool = False) -> dict[str, list[Load]]:
    """The first load of each page after its server started (a fresh server per load, its imports
    logged by -X importtime), against the minimal page's first load on a fresh server. Each server
    on a new port, by default: a new origin, so the browser has none of Streamlit's files cached (a
    browser's first visit). `same_port`: every server on one port, as `make run` restarts on 8501,
    so the browser has them from earlier loads (a returning browser after a restart)."""
    # byte-compiled as `make run` does before it serves (see the Makefile)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "dashboard", "mtlcore"], cwd=ROOT, check=True)
    db = str(work / "pages.sqlite")  # bench_pages' store when it ran first
    if not Path(db).exists():
        build_store(db)
    minimal = work / "minimal_page.py"
    minimal.write_text(MINIMAL_PAGE)
    frame_script = work / "frame_page.py"
    frame_script.write_text(FRAME_PAGE)
    targets = [("minimal page", "", MINIMAL_CONTROL, minimal), ("app frame", "", MINIMAL_CONTROL, frame_script)]
    targets += [(label, path, control, Path(app_script)) for label, path, control in page_targets(db)
                if not only or label in only]
    loads: dict[str, list[Load]] = {label: [] for label, _, _, _ in targets}
    port = e2e.free_port() if same_port else None
    with e2e.browser() as page:
        page.add_init_script(BROWSER_PROBE_JS)
        for r in range(rounds + same_port):  # same port: a first round untimed, the browser's visits
            for label, path, control, script in targets:
                timing = work / "first-timing.jsonl"
                timing.unlink(missing_ok=True)
                env = {"MTL_PAGE_TIMING": str(timing), "MTL_STANDBY": "0"}
                if import_log:  # the imports column; the log slows every import (and server.py's warm-up)
                    env["PYTHONPROFILEIMPORTTIME"] = "1"
                own = {minimal: work / "minimal.sqlite", frame_script: work / "frame.sqlite"}
                run_db = str(own.get(script, db))
                started = time.perf_counter()
                with e2e.AppServer(run_db, extra_env=env, script=script, port=port) as server:
                    server.wait_ready()
                    ready_s = time.perf_counter() - started
                    log_offset = server.log_path.stat().st_size
                    load, _ = timed_load(page, f"{server.url}/{path}", control, timing, 0)
                    load.imports_s = import_seconds(server.log_path, log_offset)
                    load.ready_s = ready_s
                    if r >= same_port:
                        loads[label].append(load)
                page.goto("about:blank")
    return loads


def print_pages(loads: dict[str, list[Load]], what: str) -> None:
    """The table: median time to interactive, its ratio to the minimal page, and where it went
    (medians of each part over the same loads)."""
    def med(label: str, field: str) -> float:
        return statistics.median(getattr(x, field) for x in loads[label])

    def round_ratio(label: str, other: str) -> float:  # load i of each was taken in the same round
        return statistics.median(a.tti_s / b.tti_s for a, b in zip(loads[label], loads[other]))

    base = med("minimal page", "tti_s")
    frame = med("app frame", "tti_s") if "app frame" in loads else float("nan")
    n = len(loads["minimal page"])
    print(f"time to interactive, {what}: seconds from goto until the script run finished and the page's main "
          f"control is visible (median of {n}); ratio to the minimal page (a title and a button) served the same "
          f"way (ratio of the medians; rnd: the median of the ratios within each round, which the machine's "
          f"drift between rounds does not move), and /frame: to the app's frame (navigation and sidebar) around "
          f"that same minimal content; '+N ...' pages are the minimal page with N plain widgets more; "
          f"'stock: ' pages are the app's frame holding as many stock Streamlit elements of each kind as the "
          f"page above shows (benchmarks/stock_pages.py), and /stock the page against them (per round). "
          f"drawn = until no element is still loading its code (a grey skeleton), from goto. "
          f"Where it went (medians): shell = HTML and JavaScript until DOMContentLoaded; script = the "
          f"server's script run (sidebar + page) with its run-store calls (queries); imports = server imports "
          f"during the load; browser = main-thread long tasks; charts = Plotly charts and when the last "
          f"finished drawing (from goto); ready = first loads: from starting the server until it answered")
    head = (f"{'page':<26} {'median (s)':>10} {'ratio':>6} {'rnd':>5} {'/frame':>6} {'/stock':>6} {'drawn':>6} "
            f"{'ready':>6} {'shell':>6} {'script':>7} "
            f"{'queries':>12} {'imports':>8} {'browser':>8} {'charts':>12}  samples")
    print(head)
    print("-" * len(head))
    for label, samples in loads.items():
        tti = med(label, "tti_s")
        queries = f"{med(label, 'queries_s'):.3f} ({med(label, 'queries'):.0f})"
        charts = f"{med(label, 'charts'):.0f} @ {med(label, 'charts_done_s'):.2f}"
        stock = STOCK_PREFIX + label
        per_stock = f"{round_ratio(label, stock):.2f}" if stock in loads else ""
        print(f"{label:<26} {tti:>10.3f} {tti / base:>6.2f} {round_ratio(label, 'minimal page'):>5.2f} "
              f"{tti / frame:>6.2f} {per_stock:>6} {med(label, 'drawn_s'):>6.2f} "
              f"{med(label, 'ready_s'):>6.2f} {med(label, 'shell_s'):>6.2f} "
              f"{med(label, 'script_s'):>7.3f} {queries:>12} {med(label, 'imports_s'):>8.2f} "
              f"{med(label, 'browser_s'):>8.2f} {charts:>12}  {', '.join(f'{x.tti_s:.3f}' for x in samples)}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Multi-Digits only, shorter runs")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of app run + headless runs, interleaved (default 3)")
    parser.add_argument("--latency-samples", type=int, default=2,
                        help="extra Train presses per data set for the first-point time (default 2)")
    parser.add_argument("--pages-only", action="store_true", help="only the pages' time to interactive")
    parser.add_argument("--page-rounds", type=int, default=TTI_ROUNDS,
                        help=f"timed warm loads of each page (default {TTI_ROUNDS})")
    parser.add_argument("--first-rounds", type=int, default=FIRST_ROUNDS,
                        help=f"first loads of each page, each on a fresh server (default {FIRST_ROUNDS}; 0: skip)")
    parser.add_argument("--only", nargs="*", default=None, help="page labels to time (default: all)")
    args = parser.parse_args()
    why = e2e.chromium_missing()
    if why:
        print(f"cannot benchmark the app: {why}", file=sys.stderr)
        return 2
    from dashboard.shared import catalog

    print(f"benchmarking page loads ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        print_pages(bench_pages(Path(tmp), args.page_rounds, args.only), "warm")
        if args.first_rounds:
            print_pages(bench_first_loads(Path(tmp), args.first_rounds, args.only),
                        "first load after the server started")
            print_pages(bench_first_loads(Path(tmp), args.first_rounds, args.only, PLAIN_SCRIPT),
                        f"first load after the server started, served by plain `streamlit run {PLAIN_SCRIPT}`")
            print_pages(bench_first_loads(Path(tmp), args.first_rounds, args.only, import_log=False),
                        "first load after the server started, without the import log (imports not counted: "
                        "Python's -X importtime slows every import, the warm-up thread's too)")
            print_pages(bench_first_loads(Path(tmp), args.first_rounds, args.only, import_log=False, same_port=True),
                        "first load after the server restarted on the port the browser visited before (as "
                        "`make run` on 8501): Streamlit's files in the browser's cache; without the import log")
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
