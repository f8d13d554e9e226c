"""The frame's sidebar lists the active runs: a lone run as a link to watch it on Train, a sweep's runs
as one line that opens the sweep (their names differ only in the weights, which the sidebar's cut
labels hid: five lines read "Multi-Digits left+right · HPS · static")."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared.text import md_plain
from mtlcore.config import DataConfig, RunConfig
from mtlcore.runs.store import RunStore
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.execute import submit

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "streamlit_app.py")
TASKS = ["left", "right"]


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")


def queued_sweep(store: RunStore, points: int) -> str:
    sweep = SweepConfig.from_dict({"name": "s", "tasks": TASKS, "grid_points": points, "corners": True,
                                   "base": {"data": {"name": "multi_digits", "tasks": TASKS}}})
    return submit(sweep, store)  # queued under this (living) process: never reaped as dead


def sidebar_links(at: AppTest) -> list[tuple[str, str, str]]:
    """(label, page, query string) of each page link in the sidebar."""
    return [(link.proto.label, link.proto.page, link.proto.query_string) for link in at.sidebar.get("page_link")]


def test_a_sweeps_runs_are_one_line_that_opens_the_sweep_and_a_lone_run_its_own() -> None:
    store = RunStore()  # MTL_DB points at this test's own file (conftest)
    group = queued_sweep(store, 3)
    lone = store.create_run(RunConfig(data=DataConfig(name="multi_digits", tasks=TASKS)).to_dict(),
                            status="queued", name="my own run")
    store.set_status(store.list_runs(group_id=group)["id"].iloc[0], "running")
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    links = sidebar_links(at)
    sweeps = [link for link in links if link[1].endswith("sweep")]
    assert sweeps == [("Sweep: 1 running, 2 queued", sweeps[0][1], f"sweep={group}")]
    runs = [link for link in links if f"run={lone}" in link[2]]
    assert len(runs) == 1 and runs[0][0].startswith("my own run") and len(links) == 2
    help_texts = [link.proto.help for link in at.sidebar.get("page_link")]
    assert any("multi_digits, left, right" in md_plain(h) for h in help_texts)  # the cut label's whole story


def test_the_sweep_page_opens_the_sweep_a_link_names_after_another_was_picked() -> None:
    store = RunStore()
    first, second = queued_sweep(store, 3), queued_sweep(store, 2)
    entry = "\n".join([
        "import streamlit as st",
        f"st.navigation([st.Page(r'{ROOT / 'dashboard' / 'app_pages' / 'sweep.py'}', default=True)]).run()",
    ])
    at = AppTest.from_string(entry, default_timeout=90)
    at.query_params["sweep"] = first
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sweep_pick").value == first
    at.query_params["sweep"] = second  # the sidebar's link to the other sweep, in the same session
    at.run()
    assert at.selectbox(key="sweep_pick").value == second
    at.selectbox(key="sweep_pick").set_value(first).run()  # and a pick moves the link along
    assert at.selectbox(key="sweep_pick").value == first and at.query_params["sweep"] == first


@pytest.mark.e2e
@pytest.mark.slow
def test_the_active_runs_progress_moves_on_in_the_sidebar_without_a_click(tmp_path: Path) -> None:
    """On a page with no refresh of its own (Data sets), a run's percentage in the sidebar follows the
    store, and when the run ends the list empties; it stayed at the first load's value before."""
    import os

    from tests.support import browser as e2e

    why = e2e.chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("playwright", reason="python playwright is not installed (pip install -r requirements-dev.txt)")
    db = tmp_path / "sidebar.sqlite"
    store = RunStore(str(db))
    rid = store.create_run(RunConfig(data=DataConfig(name="multi_digits", tasks=TASKS)).to_dict(),
                           status="running", name="a long run", pid=os.getpid())  # alive: never reaped
    store.set_status(rid, "running", step=10, total_steps=100)
    sidebar = "[data-testid=stSidebar]"
    with e2e.AppServer(db, extra_env={"MTL_STANDBY": "0"}) as server, e2e.browser((1280, 720)) as page:
        server.wait_ready()
        page.goto(f"{server.url}/datasets")
        e2e.wait_until(lambda: "10%" in page.inner_text(sidebar), 60, "the run at 10% in the sidebar")
        store.set_status(rid, "running", step=55, total_steps=100)
        e2e.wait_until(lambda: "55%" in page.inner_text(sidebar), 15, "the sidebar following the run to 55%")
        store.set_status(rid, "finished", step=100, total_steps=100)
        e2e.wait_until(lambda: "None right now" in page.inner_text(sidebar), 15, "the finished run leaving the list")
