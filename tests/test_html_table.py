"""The HTML tables of the Data sets page and the Method guide: escaped cells, checked colours, one
swatch per row when asked."""

from __future__ import annotations

import pytest

from dashboard.shared.html_table import html_table


def test_cells_are_escaped_and_each_row_gets_its_colour() -> None:
    out = html_table(["task", "<b>kind</b>"], [["<script>alert(1)</script>", "a & b"], ["x", 3]],
                     ["#4e79a7", "#F28E2B"])
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "a &amp; b" in out and "&lt;b&gt;kind&lt;/b&gt;" in out
    assert out.count('class="mtl-swatch"') == 2
    assert "background:#4e79a7" in out and "background:#F28E2B" in out
    assert out.count("<tr>") == 3  # the head and two rows


def test_without_colours_there_is_no_swatch_column() -> None:
    out = html_table(["a", "b"], [[1, "x|y"], [2, "*not bold*"]])
    assert "mtl-swatch\"" not in out and out.count("<th>") == 2 and out.count("<td>") == 4
    assert "<td>x|y</td>" in out and "<td>*not bold*</td>" in out  # shown as written: no markdown here


@pytest.mark.parametrize("colour", ["red", "#fff", "#4e79a7;background:url(x)", "#12345g"])
def test_anything_but_a_six_digit_colour_is_refused(colour: str) -> None:
    with pytest.raises(ValueError, match="rrggbb"):
        html_table(["task"], [["t"]], [colour])


def test_one_colour_per_row() -> None:
    with pytest.raises(ValueError, match="one colour per row"):
        html_table(["task"], [["a"], ["b"]], ["#4e79a7"])
