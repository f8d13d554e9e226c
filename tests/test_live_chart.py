"""The live charts' plotly.js: served from the plotly package through Streamlit's static serving,
with st.plotly_chart as the fallback where it cannot be. (That the browser keeps a chart and its
zoom across refreshes is checked in Chromium by tests/test_e2e_train.py.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import plotly
import pytest
import streamlit as st

from dashboard.shared import live_chart

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def static_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "static"
    monkeypatch.setattr(live_chart, "STATIC_DIR", folder)
    live_chart.served_plotly_js.cache_clear()
    yield folder
    live_chart.served_plotly_js.cache_clear()


def serving(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    real = st.get_option
    monkeypatch.setattr(st, "get_option", lambda name: on if name == "server.enableStaticServing" else real(name))


def test_plotly_js_is_the_plotly_packages_own_named_by_its_version(static_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    serving(monkeypatch, True)
    url = live_chart.served_plotly_js()
    name = f"plotly-{plotly.__version__}.min.js"
    assert url == f"app/static/{name}"
    assert (static_dir / name).read_bytes() == live_chart._plotly_js_source().read_bytes()
    (static_dir / name).write_bytes(b"truncated")  # a damaged copy is replaced on the next start
    live_chart.served_plotly_js.cache_clear()
    assert live_chart.served_plotly_js() == url
    assert (static_dir / name).stat().st_size == live_chart._plotly_js_source().stat().st_size


def test_without_static_serving_or_a_writable_folder_the_charts_fall_back(static_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    serving(monkeypatch, False)
    assert live_chart.served_plotly_js() is None
    live_chart.served_plotly_js.cache_clear()
    serving(monkeypatch, True)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(live_chart, "STATIC_DIR", blocker / "static")
    assert live_chart.served_plotly_js() is None


def test_the_app_config_turns_static_serving_on_and_git_ignores_the_copy() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
    assert live_chart.STATIC_DIR == ROOT / "dashboard" / "static"  # Streamlit serves <main script dir>/static
    assert "dashboard/static/" in (ROOT / ".gitignore").read_text().split()
