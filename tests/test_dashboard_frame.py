"""The frame's page list: the listed pages in order, then any other script of app_pages/, so a new
page is one file and its test (README, "Layout")."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared.pages import DEFAULT_ICON, page_list

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"


def listed_pages() -> list[tuple[str, str, str]]:
    """The frame's PAGES, read from its source (importing the frame would run the app)."""
    tree = ast.parse((DASHBOARD / "streamlit_app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PAGES":
            return ast.literal_eval(node.value)
    raise AssertionError("streamlit_app.py has no PAGES")


def test_unlisted_scripts_follow_the_listed_ones_titled_by_their_docstring(tmp_path: Path) -> None:
    folder = tmp_path / "app_pages"
    folder.mkdir()
    (folder / "b_page.py").write_text('"""Listed: shown first."""\n')
    (folder / "a_new.py").write_text('"""Pareto explorer: a page nobody listed."""\nimport streamlit\n')
    (folder / "no_doc.py").write_text("x = 1\n")
    (folder / "_helper.py").write_text('"""Not a page: a helper."""\n')
    listed = [("app_pages/b_page.py", "Listed", ":material/star:")]
    assert page_list(listed, folder) == [
        ("app_pages/b_page.py", "Listed", ":material/star:"),
        ("app_pages/a_new.py", "Pareto explorer", DEFAULT_ICON),
        ("app_pages/no_doc.py", "No doc", DEFAULT_ICON),
    ]


def test_every_page_of_the_app_is_listed_once_in_the_frames_order() -> None:
    pages = page_list(listed_pages(), DASHBOARD / "app_pages")
    scripts = sorted(f"app_pages/{p.name}" for p in (DASHBOARD / "app_pages").glob("*.py"))
    assert sorted(path for path, _, _ in pages) == scripts
    assert pages[: len(listed_pages())] == listed_pages()  # the listed order (Train first) is kept


def test_a_dropped_in_page_runs_in_the_app_without_another_edit(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")  # no training here: no pre-imported worker either
    shutil.copy(DASHBOARD / "streamlit_app.py", tmp_path / "streamlit_app.py")
    shutil.copytree(DASHBOARD / "app_pages", tmp_path / "app_pages")
    (tmp_path / "app_pages" / "hello.py").write_text(
        '"""Hello: a page added as one file."""\nimport streamlit as st\n\nst.markdown("hello from a new page")\n')
    at = AppTest.from_file(str(tmp_path / "streamlit_app.py"), default_timeout=90).run()
    at.switch_page("app_pages/hello.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "hello from a new page" in [m.value for m in at.markdown]
