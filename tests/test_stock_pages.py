"""The benchmark's stock pages (benchmarks/stock_pages.py) hold the elements they were asked for.

bench_app compares each page with a page of the same elements in stock Streamlit; a stock page that
drew fewer (a template that silently drew nothing, a kind dropped) would flatter that comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import stock_pages

# AppTest's name for what each kind draws (kinds AppTest cannot tell apart are left out)
APP_TEST_KIND = {"stSelectbox": "selectbox", "stMultiSelect": "multiselect", "stSlider": "slider",
                 "stNumberInput": "number_input", "stTextInput": "text_input", "stCheckbox": "checkbox",
                 "stRadio": "radio", "stAlert": "info", "stCaptionContainer": "caption", "stHeading": "subheader",
                 "stTable": "table", "dataframe": "dataframe", "block:stExpander": "expander",
                 "plotly": "plotly_chart", "stHtml": "html", "stEmpty": "empty"}


def _drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: dict[str, int], name: str) -> dict[str, int]:
    monkeypatch.setenv("MTL_DB", str(tmp_path / "runs.sqlite"))
    text, _ = stock_pages.stock_script(counts)
    script = tmp_path / f"{name}.py"
    script.write_text(text)
    at = AppTest.from_file(str(script), default_timeout=60).run()
    assert not at.exception, at.exception
    return {kind: len(at.get(what)) for kind, what in APP_TEST_KIND.items()}


def test_a_stock_page_draws_as_many_of_each_kind_as_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {kind: n for n, kind in enumerate(stock_pages.STOCK, start=1)}
    empty = _drawn(tmp_path, monkeypatch, {}, "empty")  # the frame's own elements (its sidebar)
    full = _drawn(tmp_path, monkeypatch, counts, "full")
    assert {k: full[k] - empty[k] for k in APP_TEST_KIND} == {k: counts[k] for k in APP_TEST_KIND}


def test_kinds_without_a_stock_element_are_reported_not_drawn() -> None:
    text, left_out = stock_pages.stock_script({"stBidiComponentRegular": 2, "stSelectbox": 1})
    assert left_out == {"stBidiComponentRegular": 2}
    compile(text, "stock.py", "exec")
    assert text.count("st.selectbox(") == 1


def test_every_template_is_one_statement_with_distinct_keys() -> None:
    """Two of a kind on one page must not share a widget key (Streamlit refuses duplicates)."""
    text, _ = stock_pages.stock_script({kind: 2 for kind in stock_pages.STOCK})
    compile(text, "stock.py", "exec")
    keys: list[Any] = [part.split("'")[0] for part in text.split("key='")[1:]]
    assert len(keys) == len(set(keys))
