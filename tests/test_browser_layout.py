"""Layout in Chromium at three window sizes: nothing on Train, Runs, Compare and Sweep covers or
clips anything else.

Checked from the drawn page's boxes: no chart legend overlaps its chart's title, no two subplot
titles overlap, no widget label or chart is wider than what holds it (a label wrapped mid-word or
cut to "l..." shows as scrollWidth > clientWidth), the Runs table shows its metric columns. Three
runs (one diverged, one finished with an alert) and a small sweep are written through the store
API first. Screenshots go to the test's temp folder (MTL_LAYOUT_SHOTS names another).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.chunk_preload import element_chunk
from mtlcore.runs.store import RunStore
from mtlcore.sweeps import results as sweep_mod
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.execute import submit
from tests.support import browser as e2e
from tests.support.stored_runs import TASKS, stored_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SIZES = [(1280, 720), (1920, 1080), (800, 900)]

# Every overlap and overflow on the page, as [what, details] pairs (empty: a clean layout).
LAYOUT_FAULTS_JS = """() => {
  const faults = [];
  const box = e => e.getBoundingClientRect();
  const meets = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
                          && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const text = e => (e.textContent || '').trim().slice(0, 60);
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    if (plot.closest('[data-stale="true"]')) continue;
    const title = plot.querySelector('.gtitle');
    const legend = plot.querySelector('.legend');
    const name = title ? text(title) : '(untitled chart)';
    if (title && legend && meets(box(title), box(legend)))
      faults.push(['legend over the title', name]);
    const subtitles = Array.from(plot.querySelectorAll('.annotation-text-g'))
      .filter(a => a.textContent.trim());
    for (let i = 0; i < subtitles.length; i++) {
      for (let j = i + 1; j < subtitles.length; j++)
        if (meets(box(subtitles[i]), box(subtitles[j])))
          faults.push(['annotations overlap', name + ': ' + text(subtitles[i]) + ' / ' + text(subtitles[j])]);
      if (legend && meets(box(subtitles[i]), box(legend)))
        faults.push(['legend over an annotation', name + ': ' + text(subtitles[i])]);
      if (title && meets(box(subtitles[i]), box(title)))
        faults.push(['annotation over the title', name + ': ' + text(subtitles[i])]);
    }
    const bar = plot.querySelector('.modebar');
    if (bar && legend && meets(box(bar), box(legend))) faults.push(['legend under the toolbar', name]);
    const svg = plot.querySelector('.main-svg');
    if (title && svg && box(title).right > box(svg).right + 1) faults.push(['title cut', name]);
    if (box(plot).width > 0 && box(plot).width < 240)
      faults.push(['chart too narrow to read', name + ': ' + Math.round(box(plot).width) + ' px']);
    const holder = plot.closest('[data-testid="stElementContainer"]') || plot.parentElement;
    // the drawing, not only its box: a plot left at an earlier, wider size spills over its neighbours
    const drawn = svg ? Math.max(box(plot).right, box(svg).right) : box(plot).right;
    if (drawn > box(holder).right + 2) faults.push(['chart clipped', name]);
  }
  for (const label of document.querySelectorAll('[data-testid="stWidgetLabel"]')) {
    if (label.closest('[data-stale="true"]')) continue;
    for (const e of [label, ...label.querySelectorAll('p, div, span')]) {
      if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
        { faults.push(['label cut', text(label)]); break; }
      const words = (e.textContent || '').trim().split(/\\s+/);
      const lineHeight = parseFloat(getComputedStyle(e).lineHeight) || 20;
      if (e.tagName === 'P' && words.length === 1 && box(e).height > 1.8 * lineHeight)
        { faults.push(['label wrapped mid-word', text(label)]); break; }
    }
  }
  for (const tag of document.querySelectorAll('[data-baseweb="tag"] span')) {
    if (tag.scrollWidth > tag.clientWidth + 1) faults.push(['chosen option cut', text(tag)]);
  }
  return faults;
}"""


def fill(store: RunStore) -> dict[str, str]:
    ids = {
        "ew": stored_run(store, "ew", steps=400),
        "static": stored_run(store, "static", params={"weights": [1.0, 15.0]}, steps=300, left=0.4, right=0.9,
                             alerts=[{"step": 200, "kind": "collapse", "task": "left",
                                      "message": "left stayed at chance level (accuracy 0.1) for 3 evaluations"}]),
        "diverged": stored_run(store, "uw", lr=5.0, steps=140, left=0.1, right=0.1, status="diverged",
                               error="the loss of left grew past 1000x its start at step 140: lower the lr"),
        "base": stored_run(store, "ew", arch="single_task", steps=300, left=0.95, right=0.9),
    }
    sweep = SweepConfig.from_dict({"name": "", "tasks": TASKS, "grid_points": 3, "corners": True, "methods": ["uw"],
                                   "base": {"data": {"name": "multi_digits", "tasks": TASKS}}})
    group = submit(sweep, store)
    finals = {"static (0, 1)": (0.10, 0.95), "static (0.5, 0.5)": (0.90, 0.90), "static (1, 0)": (0.96, 0.10),
              "uw": (0.85, 0.85)}
    for row in store.list_runs(group_id=group).itertuples():
        left, right = finals[sweep_mod.run_setting(row.config)[1]]
        final = {"left": {"accuracy": left}, "right": {"accuracy": right}}
        store.set_status(row.id, "finished", summary={"val": final, "test": final}, step=10, total_steps=10)
    return ids


# Each chart's first y axis on a log scale: its tick labels and their heights on the page
LOG_TICKS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter(p => p._fullLayout && p._fullLayout.yaxis && p._fullLayout.yaxis.type === 'log')
  .map(p => [...p.querySelectorAll('.yaxislayer-above .ytick text')]
    .map(t => [t.textContent, t.getBoundingClientRect().y]))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    why = e2e.chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("playwright", reason="python playwright is not installed (pip install -r requirements-dev.txt)")
    db = tmp_path_factory.mktemp("layout") / "layout.sqlite"
    ids = fill(RunStore(db))
    srv = e2e.AppServer(db, extra_env={"MTL_STANDBY": "0"})
    try:
        srv.wait_ready()
        yield srv, ids
    finally:
        srv.close()


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("MTL_LAYOUT_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_page(page: Any, url: str, ready: str) -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp']", timeout=120_000)
    page.locator(ready).first.wait_for(timeout=120_000)
    e2e.wait_settled(page, timeout_s=60)
    page.wait_for_timeout(600)  # Plotly lays out its legends after the script has settled


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_pages_lay_out_without_overlaps(server: tuple[e2e.AppServer, dict[str, str]], size: tuple[int, int],
                                        tmp_path: Path) -> None:
    srv, ids = server
    out = shots_dir(tmp_path)
    pages = {
        "train": (f"{srv.url}/?run={ids['static']}", ".js-plotly-plot"),
        "runs": (f"{srv.url}/runs", "[data-testid='stDataFrame']"),
        "compare": (f"{srv.url}/compare?runs={ids['ew']},{ids['static']},{ids['diverged']}", ".js-plotly-plot"),
        "compare-side-by-side": (f"{srv.url}/compare?runs={ids['ew']},{ids['static']},{ids['diverged']}"
                                 "&compare_layout=side%20by%20side", ".js-plotly-plot"),
        "sweep": (f"{srv.url}/sweep", ".js-plotly-plot"),
        "landscape": (f"{srv.url}/landscape", ".js-plotly-plot"),  # its legends wrap at 800 px
        "explorer": (f"{srv.url}/explorer", ".js-plotly-plot"),  # its plane was ~40 px wide at 800 px
        "guide": (f"{srv.url}/guide", ".st-key-guide_search"),  # a filter's label was cut at 800 px
    }
    found: dict[str, list] = {}
    with e2e.browser(viewport=size) as page:
        for name, (url, ready) in pages.items():
            open_page(page, url, ready)
            faults = page.evaluate(LAYOUT_FAULTS_JS)
            # the app scrolls inside its own element: a tall window of the same width shows all of it
            page.set_viewport_size({"width": size[0], "height": 3200})
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / f"{name}-{size[0]}x{size[1]}.png"))
            page.set_viewport_size({"width": size[0], "height": size[1]})
            if faults:
                found[name] = faults
            if name == "runs":  # the grid names only the columns it draws in its header
                headers = page.locator("[data-testid='stDataFrame'] [role=columnheader]").all_text_contents()
                if not any(" · " in h for h in headers):
                    found.setdefault("runs", []).append(["metric columns hidden", headers])
    assert not found, found


def log_ticks_out_of_order(page: Any) -> list:
    """Every log-scale loss axis whose tick labels, read upwards, do not increase (Plotly's own labels
    put a bare "5" for 0.5 under the "1"). Fails too when no chart has a log axis with two ticks."""
    axes = page.evaluate(LOG_TICKS_JS)
    bad = [ticks for ticks in axes
           if [float(t.replace("\u2212", "-")) for t, _ in sorted(ticks, key=lambda t: -t[1])]
           != sorted(float(t.replace("\u2212", "-")) for t, _ in ticks)]
    return bad if any(len(ticks) >= 2 for ticks in axes) else ["no log axis with two ticks", axes]


def test_a_log_loss_axis_reads_upwards(server: tuple[e2e.AppServer, dict[str, str]]) -> None:
    """Losses from 3 down to 0.5 (long runs): on Compare and on Train, 0.5 is written "0.5" below the 1."""
    srv, _ = server
    store = RunStore(srv.db)
    long_runs = [stored_run(store, method, seed=11, steps=10_000) for method in ("ew", "uw")]
    with e2e.browser(viewport=SIZES[0]) as page:
        open_page(page, f"{srv.url}/compare?runs={','.join(long_runs)}", ".js-plotly-plot")
        assert log_ticks_out_of_order(page) == []
        open_page(page, f"{srv.url}/?run={long_runs[0]}", ".js-plotly-plot")
        assert log_ticks_out_of_order(page) == []


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_compare_charts_fit_their_columns_after_switching_to_side_by_side(
        server: tuple[e2e.AppServer, dict[str, str]], size: tuple[int, int]) -> None:
    """Overlay first, then side by side on the same page: each run's chart is drawn at its column's
    width (a chart kept the overlay's width and spilled over the next column). Long runs: with
    their heavier charts the first ones were drawn before the columns had settled."""
    srv, _ = server
    store = RunStore(srv.db)
    long_runs = [stored_run(store, method, seed=7, steps=10_000) for method in ("ew", "uw", "dwa")]
    found = []
    with e2e.browser(viewport=size) as page:
        for _ in range(3):  # a race with the columns' layout: a few tries, each from a fresh page
            page.goto(f"{srv.url}/compare?runs={','.join(long_runs)}")
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            page.get_by_text("side by side", exact=True).click()  # as soon as the overlay is drawn
            page.wait_for_timeout(500)
            e2e.wait_settled(page, timeout_s=60)
            page.wait_for_timeout(1500)
            assert len(page.locator(".js-plotly-plot").all()) >= 6  # a chart per run and task
            found += page.evaluate(LAYOUT_FAULTS_JS)
    assert found == []


def test_compare_fills_in_delta_m_by_itself(server: tuple[e2e.AppServer, dict[str, str]]) -> None:
    """A baseline queued for two shown runs finishes while the page is open: Delta-m appears
    without a reload (the page's own refresh), and the "is training" box goes."""
    srv, _ = server
    store = RunStore(srv.db)
    a, b = stored_run(store, "ew", seed=5), stored_run(store, "uw", seed=5)
    base = stored_run(store, "ew", seed=5, arch="single_task", status="queued")
    store.set_status(base, "queued", pid=os.getpid())  # alive: the page must not reap it
    with e2e.browser(viewport=(1280, 720)) as page:
        open_page(page, f"{srv.url}/compare?runs={a},{b}", "[data-testid='stTable']")
        page.get_by_text("is training").first.wait_for(timeout=30_000)
        final = {"left": {"loss": 0.3, "accuracy": 0.95}, "right": {"loss": 0.3, "accuracy": 0.9}}
        store.set_status(base, "finished", summary={"val": final, "test": final}, step=300)
        finished = time.monotonic()
        e2e.wait_until(lambda: base in page.locator("[data-testid='stTable']").first.inner_text(), 20,
                       "Delta-m against the finished baseline")
        print(f"Delta-m shown {time.monotonic() - finished:.1f} s after the baseline finished")
        e2e.wait_until(lambda: page.get_by_text("is training").count() == 0, 10, "the info box going")


def test_no_page_asks_anything_of_another_host(server: tuple[e2e.AppServer, dict[str, str]]) -> None:
    """Nothing may download at run time: every request of every page goes to this server (the page
    icon was a Material icon that every browser fetched from Google's font CDN on every load)."""
    from urllib.parse import urlparse

    srv, ids = server
    elsewhere: list[str] = []
    with e2e.browser() as page:
        page.on("request", lambda r: elsewhere.append(r.url) if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
                and urlparse(r.url).hostname not in ("localhost", "127.0.0.1") else None)
        for path, ready in [(f"?run={ids['static']}", ".js-plotly-plot"), ("runs", "[data-testid='stDataFrame']"),
                            ("guide", ".st-key-guide_search input"), ("datasets", "[class*='st-key-use_'] button")]:
            open_page(page, f"{srv.url}/{path}", ready)
    assert not elsewhere, elsewhere


PROBES_JS = "() => performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)"


def test_a_page_url_connects_at_the_servers_root_without_probing(server: tuple[e2e.AppServer, dict[str, str]],
                                                                 tmp_path: Path) -> None:
    """Opened at a page's URL, the frontend goes straight to the server's root (dashboard/backend_base.py)
    instead of first asking `/<page>/_stcore/health` and waiting out its retry timer; under a base URL
    path (as behind a proxy) the root is that path, and the page still works. The page's HTML names
    the modules its elements need (dashboard/chunk_preload.py)."""
    srv, _ = server
    with e2e.browser() as page:
        for path, ready in [("runs", "[data-testid='stDataFrame']"), ("guide", ".st-key-guide_search input"),
                            ("", ".st-key-train_button button")]:
            open_page(page, f"{srv.url}/{path}", ready)
            asked = page.evaluate(PROBES_JS)
            assert "/_stcore/host-config" in asked
            assert not [p for p in asked if "/_stcore/" in p and not p.startswith("/_stcore/")], asked
            assert page.evaluate("() => window.__streamlit.BACKEND_BASE_URL") == f"{srv.url}/"
            preloaded = page.evaluate("() => Array.from(document.querySelectorAll('head link[rel=modulepreload]'))"
                                      ".map(l => new URL(l.href).pathname.split('/').pop())")
            assert element_chunk("Selectbox") in preloaded  # the setup's modules load with the HTML
            assert (element_chunk("DataFrame") in preloaded) == (path == "runs")
    db = tmp_path / "prefixed.sqlite"
    RunStore(db)
    with e2e.AppServer(db, extra_env={"MTL_STANDBY": "0", "STREAMLIT_SERVER_BASE_URL_PATH": "mtl"}) as prefixed:
        e2e.wait_until(lambda: _answers(f"{prefixed.url}/mtl/_stcore/health"), 120, "the prefixed server")
        with e2e.browser() as page:
            open_page(page, f"{prefixed.url}/mtl/guide", ".st-key-guide_search input")
            assert page.evaluate("() => window.__streamlit.BACKEND_BASE_URL") == f"{prefixed.url}/mtl"
            asked = page.evaluate(PROBES_JS)
            assert "/mtl/_stcore/host-config" in asked and "/mtl/guide/_stcore/health" not in asked, asked


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False
