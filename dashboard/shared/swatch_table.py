"""Short read-only tables that lead with a colour swatch (a task's chart colour), as sanitised HTML.

The Data sets page showed one interactive data grid per set (nine), each about 0.1 s of the browser's
main thread to draw, only to read a few rows; a markdown table cannot colour a cell. This is plain
HTML through `st.html` (Streamlit sanitises it): every cell is escaped with `html.escape`, colours
must be `#rrggbb`, and text takes the theme's colour, so the table reads in light and dark alike.
"""

from __future__ import annotations

import html
import re
from typing import Any, Sequence

_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_STYLE = ("<style>.mtl-swatch-table{border-collapse:collapse;width:100%;font-size:0.875rem}"
          ".mtl-swatch-table th,.mtl-swatch-table td{text-align:left;vertical-align:top;padding:0.25rem 0.5rem;"
          "border-bottom:1px solid rgba(128,128,128,0.25)}"
          ".mtl-swatch-table th{font-weight:600;opacity:0.75}"
          ".mtl-swatch{display:inline-block;width:0.8rem;height:0.8rem;border-radius:0.15rem}</style>")


def swatch_table_html(colours: Sequence[str], rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> str:
    """A table with one swatch per row (`colours[i]` for `rows[i]`) before the escaped cells."""
    if len(colours) != len(rows):
        raise ValueError(f"one colour per row: {len(colours)} colours for {len(rows)} rows")
    bad = [c for c in colours if not _HEX.fullmatch(c)]
    if bad:
        raise ValueError(f"colours must be #rrggbb, got {bad}")
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>"
    body = "".join(
        f'<tr><td><span class="mtl-swatch" style="background:{colour}"></span></td>'
        + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for colour, row in zip(colours, rows))
    return f'{_STYLE}<table class="mtl-swatch-table"><thead>{head}</thead><tbody>{body}</tbody></table>'
