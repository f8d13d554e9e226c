"""The Data sets page's task tables: escaped cells, checked colours, one swatch per row."""

from __future__ import annotations

import pytest

from dashboard.shared.swatch_table import swatch_table_html


def test_cells_are_escaped_and_each_row_gets_its_colour() -> None:
    out = swatch_table_html(["#4e79a7", "#F28E2B"], [["<script>alert(1)</script>", "a & b"], ["x", 3]],
                            ["task", "<b>kind</b>"])
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "a &amp; b" in out and "&lt;b&gt;kind&lt;/b&gt;" in out
    assert out.count('class="mtl-swatch"') == 2
    assert "background:#4e79a7" in out and "background:#F28E2B" in out
    assert out.count("<tr>") == 3  # the head and two rows


@pytest.mark.parametrize("colour", ["red", "#fff", "#4e79a7;background:url(x)", "#12345g"])
def test_anything_but_a_six_digit_colour_is_refused(colour: str) -> None:
    with pytest.raises(ValueError, match="rrggbb"):
        swatch_table_html([colour], [["t"]], ["task"])


def test_one_colour_per_row() -> None:
    with pytest.raises(ValueError, match="one colour per row"):
        swatch_table_html(["#4e79a7"], [["a"], ["b"]], ["task"])
