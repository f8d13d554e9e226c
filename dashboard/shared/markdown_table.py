"""Small tables as markdown: a browser draws dozens of them in the time one interactive data grid
takes (on the Method guide, 31 grids were 3-4 s of main-thread work). For short, read-only tables."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

_MARKUP = "*_`[]<>#~$"


def cell(value: Any) -> str:
    """A value as one table cell, shown as written: pipes, line breaks and markdown markup escaped."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in _MARKUP:
        text = text.replace(ch, "\\" + ch)
    return text


def markdown_table(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> str:
    """A markdown table of `rows` under `columns`, every cell escaped."""
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_markdown(frame: pd.DataFrame) -> str:
    """A DataFrame (without its index) as a markdown table."""
    return markdown_table(list(frame.itertuples(index=False)), [str(c) for c in frame.columns])
