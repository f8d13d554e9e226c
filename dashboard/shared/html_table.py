"""Short read-only tables as sanitised HTML, optionally led by a colour swatch (a task's chart colour).

For the few-row tables of the Data sets page and the Method guide. An interactive data grid costs the
browser ~0.1 s to draw (nine of them made Data sets take 1 s to open); a markdown table is cheaper but
goes through the markdown parser cell by cell (the guide's 31-method index: ~20 ms) and cannot colour
a cell. This is plain HTML through `st.html` (Streamlit sanitises it too): every cell is escaped with
`html.escape`, colours must be `#rrggbb`, and text takes the theme's colour, so the table reads in
light and dark alike.
"""

from __future__ import annotations

import html
import re
from typing import Any, Sequence

_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_STYLE = ("<style>.mtl-table{border-collapse:collapse;width:100%;font-size:0.875rem}"
          ".mtl-table th,.mtl-table td{text-align:left;vertical-align:top;padding:0.25rem 0.5rem;"
          "border-bottom:1px solid rgba(128,128,128,0.25)}"
          ".mtl-table th{font-weight:600;opacity:0.75}"
          ".mtl-swatch{display:inline-block;width:0.8rem;height:0.8rem;border-radius:0.15rem}</style>")


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], colours: Sequence[str] | None = None) -> str:
    """A table of `rows` under `columns`, every cell escaped; with `colours`, one swatch before each row
    (`colours[i]` for `rows[i]`)."""
    if colours is not None:
        if len(colours) != len(rows):
            raise ValueError(f"one colour per row: {len(colours)} colours for {len(rows)} rows")
        bad = [c for c in colours if not _HEX.fullmatch(c)]
        if bad:
            raise ValueError(f"colours must be #rrggbb, got {bad}")
    lead = "<th></th>" if colours is not None else ""
    head = f"<tr>{lead}" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>"
    body = "".join(
        "<tr>" + (f'<td><span class="mtl-swatch" style="background:{colours[i]}"></span></td>' if colours else "")
        + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for i, row in enumerate(rows))
    return f'{_STYLE}<table class="mtl-table"><thead>{head}</thead><tbody>{body}</tbody></table>'
