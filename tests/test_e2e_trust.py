"""End to end, issue 12 items 2 and 3: two people in two Chromium contexts (no shared cookies) on one
server; and hostile column and run names in the real page's DOM.

A starts a run; B opens A's link (`?run=<id>`): B sees it, but its sliders and Stop are disabled and
the Runs page will not delete it; A, even after a refresh (the owner cookie survives it), stops and
deletes it. Hostile names reach the DOM as text: no <img>, no link, no alert.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.runs.store import RunStore
from tests.support import browser as e2e

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = ["<img src=x onerror=alert(1)>", "**bold**", "$x$", "[link](http://evil)", "`code`", "=cmd",
           "Größe 🚀 名前"]
SHOTS = Path(os.environ.get("MTL_E2E_SHOTS", "")) if os.environ.get("MTL_E2E_SHOTS") else None


@pytest.fixture
def server(tmp_path: Path):
    why = e2e.chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("playwright", reason="python playwright is not installed (pip install -r requirements-dev.txt)")
    tables = tmp_path / "tables"
    os.environ["MTL_DATA_DIR"] = str(tables)  # for this process's saves; the server gets it below
    srv = e2e.AppServer(tmp_path / "e2e.sqlite", extra_env={"MTL_DATA_DIR": str(tables), "MTL_STANDBY": "0"})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.close()
        os.environ.pop("MTL_DATA_DIR", None)


def shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def href(page: Any) -> str:
    """The address bar now (page.url is only refreshed while playwright handles events)."""
    return str(page.evaluate("() => location.href"))


def disabled(locator: Any) -> bool:
    return bool(locator.is_disabled() or locator.get_attribute("aria-disabled") == "true")


def choose_run_on_runs_page(page: Any, url: str, label: str) -> None:
    page.goto(f"{url}/runs")
    e2e.keyed(page, "runs_selected").wait_for(timeout=60_000)
    e2e.wait_settled(page)
    e2e.keyed(page, "runs_selected").get_by_role("combobox").click()
    page.get_by_role("option", name=label).click()
    page.keyboard.press("Escape")
    e2e.wait_settled(page)


def test_a_run_is_steered_stopped_and_deleted_only_by_its_browser(server: e2e.AppServer) -> None:
    store = RunStore(server.db)
    with e2e.browsers(2) as (a, b):
        e2e.open_app(a, f"{server.url}/?epochs=50")
        e2e.button(a, "train_button").click()
        run = e2e.wait_until(lambda: next(iter(store.list_runs(status=["running"]).to_dict("records")), None),
                             120, "A's run training")
        rid = run["id"]
        e2e.wait_until(lambda: f"run={rid}" in href(a), 30, "A's URL naming its run")
        assert [c["name"] for c in a.context.cookies() if c["name"] == "mtl_owner"]
        assert "mtl_owner" not in href(a)

        e2e.open_app(b, f"{server.url}/?run={rid}")
        b.get_by_text("You are watching a run started in another browser").first.wait_for(timeout=30_000)
        e2e.wait_settled(b)
        shot(b, "watcher")
        assert disabled(e2e.button(b, "stop_button"))
        assert disabled(b.get_by_role("slider", name="Weight of left"))
        before = store.read_control(rid)
        b.get_by_role("slider", name="Weight of right").focus()
        b.keyboard.press("ArrowRight")
        e2e.wait_settled(b)
        assert store.read_control(rid)[:2] == before[:2]  # nothing reached A's run

        fresh = b.context.new_page()  # B's second tab without a link: shows no one's run
        e2e.open_app(fresh, server.url)
        e2e.wait_settled(fresh)
        assert e2e.button(fresh, "stop_button").count() == 0
        fresh.get_by_text("No run yet").first.wait_for(timeout=30_000)
        fresh.close()

        choose_run_on_runs_page(b, server.url, naming.display_name(run["name"], rid))
        assert disabled(e2e.button(b, "runs_delete"))
        b.get_by_text("started in another browser").first.wait_for(timeout=10_000)
        shot(b, "watcher-runs")

        a.reload()  # a refresh keeps ownership (the cookie), the run comes back from the URL
        e2e.button(a, "stop_button").wait_for(timeout=60_000)
        e2e.wait_settled(a)
        assert not disabled(e2e.button(a, "stop_button"))
        e2e.button(a, "stop_button").click()
        e2e.wait_until(lambda: store.get_run(rid)["status"] == "stopped", 30, "A's run stopping")
        choose_run_on_runs_page(a, server.url, naming.display_name(run["name"], rid))
        assert not disabled(e2e.button(a, "runs_delete"))
        e2e.button(a, "runs_delete").click()
        e2e.button(a, "runs_delete_confirm").click()
        e2e.wait_until(lambda: store.get_run(rid) is None, 15, "A's run deleted")


def hostile_table() -> str:
    from mtlcore.data import tabular

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), **{h: rng.integers(0, 2, 120) for h in HOSTILE}})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    table = tabular.read_table(buffer.getvalue().encode(), "hostile.csv")
    return tabular.save_table(table, "hostile <b>names</b>", ["x"], HOSTILE).name


def shown(page: Any, text: str) -> Any:
    """The first Markdown element whose visible text contains `text` (formatting would split or drop it)."""
    return page.locator("[data-testid='stMarkdownContainer']", has_text=text).first


def assert_inert(page: Any) -> None:
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("[href*='evil'], [*|href*='evil']").count() == 0  # HTML links and Plotly's SVG ones
    assert page.locator(".katex").count() == 0  # no $x$ rendered as maths


def test_hostile_names_reach_the_page_as_text(server: e2e.AppServer) -> None:
    name = hostile_table()
    store = RunStore(server.db)
    config = RunConfig(name="<img src=x onerror=alert(1)> **run** [click](http://evil)")
    rid = store.create_run(config.to_dict(), status="finished")
    alerts: list[str] = []
    with e2e.browsers(1, viewport=(1280, 720)) as (page,):
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        e2e.open_app(page, f"{server.url}/?dataset={name}")
        e2e.set_tasks(page, HOSTILE)
        e2e.wait_settled(page)
        time.sleep(1.0)  # an onerror handler would have fired by now
        shot(page, "hostile-train")
        assert_inert(page)
        for h in HOSTILE:  # each slider's label shows the name's very characters
            shown(page, f"weight of {h}").wait_for(timeout=10_000)

        e2e.open_app(page, f"{server.url}/?run={rid}")
        shown(page, "<img src=x onerror=alert(1)> **run** [click](http://evil)").wait_for(timeout=30_000)
        assert_inert(page)
        e2e.open_app(page, f"{server.url}/?run=%5Bclick%5D(http://evil)")
        page.get_by_text("There is no run").first.wait_for(timeout=30_000)
        assert_inert(page)
        shot(page, "hostile-run-link")
    assert not alerts
