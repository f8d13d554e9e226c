"""The classroom in Chromium (issue 13): a preset's link opens the same setup in another browser, and
presenter mode (light and dark) lays its charts out without overlap at projector sizes.

Screenshots go to the test's temporary folder (their paths are printed) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.train import forms, presets
from mtlcore.runs.store import RunStore
from tests.support import browser as e2e

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path):
    why = e2e.chromium_missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("playwright", reason="python playwright is not installed (pip install -r requirements-dev.txt)")
    srv = e2e.AppServer(tmp_path / "e2e.sqlite", extra_env={"MTL_STANDBY": "0"})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.close()


def address(page: Any) -> str:
    """The address bar as the page has it (Streamlit replaces it in place: playwright's page.url can lag)."""
    return str(page.evaluate("() => window.location.href"))


def slider_text(page: Any, label: str) -> str:
    return page.get_by_role("slider", name=label).get_attribute("aria-valuetext") or ""


def test_a_presets_link_opens_the_same_setup_in_another_browser(server: e2e.AppServer) -> None:
    weight = f"{presets.SCALE_WEIGHT:g}"
    with e2e.browser() as page:
        e2e.open_app(page, server.url)
        e2e.wait_settled(page)
        e2e.button(page, "preset_scale").click()
        e2e.wait_until(lambda: f"w_sum={weight}" in address(page), 15, "sum's weight reaching the URL")
        e2e.wait_settled(page)
        link = address(page)
        print(f"preset link: {link}")
        assert slider_text(page, "Weight of sum") == weight
        other = page.context.browser.new_context(viewport={"width": 1500, "height": 1100})
        try:  # a fresh browser context: no cookies, no session, only the link
            fresh = other.new_page()
            e2e.open_app(fresh, link)
            e2e.wait_settled(fresh)
            e2e.wait_until(lambda: e2e.selected_tasks(fresh) == ["left", "sum"], 30, "the link's tasks")
            e2e.wait_until(lambda: slider_text(fresh, "Weight of sum") == weight, 30, "sum's weight")
            assert slider_text(fresh, "Weight of left") == "1"
            assert e2e.keyed(fresh, forms.UNTIL_STOPPED).locator("input[type='checkbox']").is_checked()
            projector = other.new_page()  # the same link presenting: the sliders are the link's, alone
            projector.goto(f"{link}&present=1")
            e2e.wait_until(lambda: slider_text(projector, "Weight of sum") == weight, 30, "sum's weight, presenting")
            assert slider_text(projector, "Weight of left") == "1"
            assert not e2e.keyed(projector, forms.DATASET).is_visible()  # drawn (it reads the link), not shown
        finally:
            other.close()


def _stored_run(db: str) -> str:
    """A short real run of the Scale imbalance preset, so the charts have something to show."""
    from mtlcore.runs.runner import execute

    values = presets.preset_state(presets.get("scale"))
    config = forms.build_config(forms.read_setup(values))
    config.optim.until_stopped = False
    config.optim.max_steps = 60
    return execute(config, RunStore(db))


BOXES_JS = """() => {
  const sel = '.mtl-live-chart, [data-testid="stSlider"], [data-testid="stButton"], ' +
              '[data-testid="stProgress"], [data-testid="stAlert"]';
  return Array.from(document.querySelectorAll(sel))
    .filter(e => !e.closest('[data-stale="true"]') && e.offsetParent !== null)
    .map(e => { const r = e.getBoundingClientRect();
                return {what: e.className || e.dataset.testid, x: r.x, y: r.y, w: r.width, h: r.height}; });
}"""


def _overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (a["x"] < b["x"] + b["w"] - 1 and b["x"] < a["x"] + a["w"] - 1
                    and a["y"] < b["y"] + b["h"] - 1 and b["y"] < a["y"] + a["h"] - 1):
                out.append((a["what"], b["what"]))
    return out


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_presenter_mode_fits_projector_sizes(server: e2e.AppServer, tmp_path: Path, scheme: str) -> None:
    rid = _stored_run(server.db)
    with e2e.browser() as page:
        for width, height in ((1280, 720), (1920, 1080)):
            context = page.context.browser.new_context(viewport={"width": width, "height": height},
                                                       color_scheme=scheme)
            try:
                view = context.new_page()
                view.goto(f"{server.url}/?run={rid}&present=1")  # no Train button here: wait for the charts
                e2e.wait_until(lambda v=view: len(e2e.chart_points(v)) >= 4, 60, "the four charts")
                e2e.wait_settled(view)
                view.wait_for_timeout(500)  # Plotly draws after the script run
                shot = tmp_path / f"present-{scheme}-{width}x{height}.png"
                view.screenshot(path=str(shot), full_page=True)
                print(f"screenshot {shot}")
                assert view.get_by_test_id("stSidebar").count() == 0 or not view.get_by_test_id(
                    "stSidebar").is_visible()
                assert not e2e.keyed(view, forms.DATASET).is_visible()  # no setup column in view
                boxes = view.evaluate(BOXES_JS)
                charts = [b for b in boxes if "mtl-live-chart" in str(b["what"])]
                assert len(charts) == 4, boxes
                assert not _overlaps(boxes), _overlaps(boxes)
                assert all(b["x"] >= 0 and b["x"] + b["w"] <= width + 1 for b in boxes), boxes
                assert min(c["h"] for c in charts) >= 400  # large, for the back of the room
                paper = view.evaluate("() => Array.from(document.querySelectorAll('.mtl-live-chart'))"
                                      ".map(e => e._fullLayout && e._fullLayout.paper_bgcolor)")
                if scheme == "dark":  # the charts follow the app's dark background
                    assert all(p.replace(" ", "") == "rgba(0,0,0,0)" for p in paper), paper
                else:
                    assert all(p in ("white", "#fff", "rgb(255, 255, 255)") for p in paper), paper
            finally:
                context.close()
