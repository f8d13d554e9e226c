"""End to end: the real app in Chromium trains Multi-Digits, streams its loss, and stops on request.

Starts `streamlit run` on a free localhost port with its own run database, drives Debian's
Chromium through Python playwright, and always shuts the server (and any run) down. Skips, saying
why, only where Chromium is not installed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mtlcore.runs import workers
from mtlcore.runs.store import RunStore
from tests.support import browser as e2e

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIRST_POINTS_S = 10.0


@pytest.fixture
def server(tmp_path: Path):
    why = e2e.chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("playwright", reason="python playwright is not installed (pip install -r requirements-dev.txt)")
    srv = e2e.AppServer(tmp_path / "e2e.sqlite")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.close()


def test_train_stream_and_stop_in_the_browser(server: e2e.AppServer) -> None:
    store = RunStore(server.db)
    with e2e.browser() as page:
        # a long run (50 epochs), so it is still training when Stop is pressed; set through the URL
        e2e.open_app(page, f"{server.url}/?epochs=50")
        e2e.choose_in_selectbox(page, "dataset", "Multi-Digits")
        e2e.set_tasks(page, ["left", "sum"])
        for attempt in (1, 2):  # under a loaded machine a rerun (the tasks' change) may redraw the
            e2e.nudge_slider(page, "Weight of sum", 2)  # thumb while the keys are pressed: the slider
            try:  # then still shows 1 and a user presses again; the value must reach the URL either way
                e2e.wait_until(lambda: "w_sum=2" in page.url, 10, "the slider's value reaching the URL")
                break
            except TimeoutError:
                shown = page.get_by_role("slider", name="Weight of sum").get_attribute("aria-valuetext")
                if attempt == 2 or shown != "1":
                    raise
                print(f"the keys were lost (the slider shows {shown}): pressing again")
        assert e2e.loss_points(page) == 0
        # like a user who takes a few seconds: the page's warm worker has finished loading PyTorch
        e2e.wait_until(lambda: workers.waiting(server.db), 180, "the warm worker getting ready", poll_s=0.5)

        e2e.button(page, "train_button").click()
        clicked = time.monotonic()
        e2e.wait_until(lambda: e2e.loss_points(page) > 0, FIRST_POINTS_S, "the loss chart's first points")
        first = e2e.loss_points(page)
        print(f"first loss points {time.monotonic() - clicked:.2f} s after pressing Train")
        e2e.wait_until(lambda: e2e.loss_points(page) > first, FIRST_POINTS_S, "the loss chart gaining points")

        # the user zooms into the loss chart: the zoom stays while new points stream in, and the
        # chart is updated in place (the same element), not drawn anew
        e2e.zoom_chart(page, "Loss", (1.0, 3.0))
        zoomed_points = e2e.loss_points(page)
        e2e.wait_until(lambda: e2e.loss_points(page) > zoomed_points, FIRST_POINTS_S,
                       "the zoomed loss chart gaining points")
        x_range, same_element, _ = e2e.chart_zoom(page, "Loss")
        assert x_range == [1.0, 3.0] and same_element, (x_range, same_element)

        runs = store.list_runs()
        assert len(runs) == 1
        run = runs.iloc[0]
        assert run["tasks"] == ["left", "sum"] and run["status"] == "running"
        assert run["config"]["weighting"]["params"]["weights"] == [1.0, 2.0]
        assert f"run={run['id']}" in page.url  # a refresh or a shared link finds this run

        e2e.button(page, "stop_button").click()
        stop_clicked = time.time()
        e2e.wait_until(lambda: store.get_run(run["id"])["status"] == "stopped", 15, "the run stopping")
        print(f"status 'stopped' {time.time() - stop_clicked:.2f} s after pressing Stop")
        page.get_by_text("Stopped at step").wait_for(timeout=15_000)
        kept = store.metrics(run["id"], split="train", name="loss")
        assert len(kept) >= first  # every point up to the stop is kept
        last_step_at = store.get_run(run["id"])["started"] + kept["time"].max()  # wall clock
        assert last_step_at - stop_clicked < 1.0, "training went on for more than a second after Stop"
        assert store.get_run(run["id"])["step"] < store.get_run(run["id"])["total_steps"]
