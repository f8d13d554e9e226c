"""Drive the real app in Chromium: shared by the end-to-end test and benchmarks/bench_app.py.

`AppServer` runs `streamlit run` on a free localhost port against its own run database and always
shuts it down (and any run it left training). `browser()` opens Debian's Chromium through Python
playwright. `chart_points` reads how many points each Plotly chart holds from the browser itself,
which is what a user sees (not what the server meant to send). Lives under tests/: the app never imports it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]  # the project root (this file is tests/support/browser.py)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# title of each chart on screen -> number of points in it, summed over its traces (plotly's decoded
# lengths). Elements Streamlit marks stale (about to be replaced by a rerun) are left out; the theme
# wraps titles in <b>, so tags are stripped.
CHART_POINTS_JS = """() => Object.fromEntries(
  Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(e => !e.closest('[data-stale="true"]'))
    .map(e => [
      ((e.layout && e.layout.title && e.layout.title.text) || '').replace(/<[^>]*>/g, ''),
      (e._fullData || []).reduce((n, t) => n + (t._length || 0), 0)]))"""


def chromium_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return (f"{CHROMIUM} is absent: install Debian's chromium (make test does it as root, "
                "or: sudo apt-get install chromium)")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


APP_SCRIPT = "dashboard/server.py"  # what `make run` serves


class AppServer:
    """`streamlit run dashboard/streamlit_app.py` (or another `script`, e.g. a benchmark's baseline
    page, served the same way) on a free port, with MTL_DB pointing at `db`."""

    def __init__(self, db: str | Path, cache: str | Path | None = None, port: int | None = None,
                 extra_env: dict[str, str] | None = None, script: str | Path = APP_SCRIPT) -> None:
        self.db = str(db)
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        env = dict(os.environ, MTL_DB=self.db, PYTHONUNBUFFERED="1", **(extra_env or {}))
        if cache:
            env["MTL_CACHE"] = str(cache)
        self.log_path = Path(self.db).with_suffix(".server.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script),
             "--server.headless", "true", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=str(ROOT), env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"streamlit did not answer on {self.url} within {timeout_s:.0f} s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server (its whole process group) and kill any run it left training."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._log.close()
        if os.path.exists(self.db):
            from mtlcore.runs import executor
            from mtlcore.runs.store import RunStore

            store = RunStore(self.db)
            for rid in store.list_runs(status=["queued", "running"])["id"]:
                executor.kill(store, rid)

    def __enter__(self) -> "AppServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def browser(viewport: tuple[int, int] = (1500, 1100)) -> Iterator[Any]:
    """A new Chromium page (playwright's sync API); closes the browser afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = b.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            b.close()


@contextmanager
def browsers(n: int, viewport: tuple[int, int] = (1500, 1100)) -> Iterator[list[Any]]:
    """`n` pages in separate browser contexts: `n` people on their own machines (no shared cookies
    or storage) in one Chromium process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield [b.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
                   for _ in range(n)]
        finally:
            b.close()


def open_app(page: Any, url: str, timeout_s: float = 120.0) -> None:
    """Load the app and wait for the Train page's own content (not just Streamlit's shell)."""
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_s * 1000)
    button(page, "train_button").wait_for(timeout=timeout_s * 1000)


def chart_points(page: Any) -> dict[str, int]:
    return page.evaluate(CHART_POINTS_JS)


def loss_points(page: Any) -> int:
    return sum(n for title, n in chart_points(page).items() if title.startswith(("Loss", "Weighted")))


# the chart whose title starts with prefix: the current one, else one marked stale (Streamlit marks the
# elements of a fragment that is rerunning; a chart updated in place is the same element either way)
_CHART_BY_TITLE_JS = """(prefix) => {
  const all = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(e =>
    ((e.layout && e.layout.title && e.layout.title.text) || '').replace(/<[^>]*>/g, '').startsWith(prefix));
  return all.find(e => !e.closest('[data-stale="true"]')) || all[0];
}"""


def zoom_chart(page: Any, title_prefix: str, x_range: tuple[float, float]) -> None:
    """Zoom the chart whose title starts with `title_prefix`, as a drag on its x axis would, and mark
    its element, so `chart_zoom` can tell whether the same drawing survived the next refreshes."""
    page.evaluate("""([prefix, lo, hi]) => {
      const e = (%s)(prefix);
      e.setAttribute('data-zoom-probe', 'yes');
      return window.Plotly.relayout(e, {'xaxis.range': [lo, hi]});
    }""" % _CHART_BY_TITLE_JS, [title_prefix, x_range[0], x_range[1]])


def chart_zoom(page: Any, title_prefix: str) -> tuple[list[float], bool, int]:
    """(x range, whether the element is the one zoom_chart marked, points drawn) of that chart."""
    return page.evaluate("""(prefix) => {
      const e = (%s)(prefix);
      if (!e) return [[], false, 0];
      return [e.layout.xaxis.range || [], e.getAttribute('data-zoom-probe') === 'yes',
              (e._fullData || []).reduce((n, t) => n + (t._length || 0), 0)];
    }""" % _CHART_BY_TITLE_JS, title_prefix)


def keyed(page: Any, key: str) -> Any:
    """The element of the widget with this Streamlit key (Streamlit marks it with class st-key-<key>)."""
    return page.locator(f".st-key-{key}")


def button(page: Any, key: str) -> Any:
    return keyed(page, key).get_by_role("button")


# True once the script has finished its run and nothing on screen is marked stale (about to be
# replaced): reading widgets before that reads the previous run's page.
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') !== 'running'
    && !document.querySelector('[data-stale="true"]');
}"""


def wait_settled(page: Any, timeout_s: float = 30.0, quiet_s: float = 0.3) -> None:
    """Wait until the app has been settled for `quiet_s` in a row (a click can start a rerun late)."""
    deadline = time.monotonic() + timeout_s
    since: float | None = None
    while time.monotonic() < deadline:
        if page.evaluate(SETTLED_JS):
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet_s:
                return
        else:
            since = None
        time.sleep(0.05)
    raise TimeoutError(f"the app did not settle within {timeout_s:.0f} s")


def choose_in_selectbox(page: Any, key: str, option: str) -> None:
    wait_settled(page)
    keyed(page, key).get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_settled(page)


def selected_tasks(page: Any) -> list[str]:
    ms = keyed(page, "tasks")
    return ms.locator("[data-tag]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")


def set_tasks(page: Any, tasks: list[str], timeout_s: float = 60.0) -> None:
    """Make the Tasks multiselect hold exactly `tasks`, clicking as a user would.

    One click at a time, each after the app has settled and on freshly read state: a rerun started
    by the previous click can replace the widget (and its options) under a stale reading.
    """
    from playwright.sync_api import Error as PlaywrightError

    ms = keyed(page, "tasks")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        wait_settled(page)
        chosen = selected_tasks(page)
        extra = [t for t in chosen if t not in tasks]
        missing = [t for t in tasks if t not in chosen]
        if not extra and not missing:
            return
        try:
            if extra:
                ms.get_by_role("button", name=f"Remove {extra[0]}").click(timeout=5_000)
            else:
                ms.get_by_role("combobox").click(timeout=5_000)
                page.get_by_role("option", name=missing[0], exact=True).click(timeout=5_000)
                page.keyboard.press("Escape")
        except PlaywrightError:
            page.keyboard.press("Escape")  # the widget changed under the click: read it again
    raise TimeoutError(f"the Tasks box did not come to hold {tasks} (it holds {selected_tasks(page)})")


def nudge_slider(page: Any, label: str, steps: int) -> None:
    """Move a slider by keyboard (as a user can): positive steps go right."""
    wait_settled(page)
    thumb = page.get_by_role("slider", name=label)
    thumb.focus()
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")


def wait_until(check: Any, timeout_s: float, what: str, poll_s: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
