"""How the pages' tables show missing numbers and run statuses: one rule for Runs and Compare.

A Styler's display values put "—" in empty cells while the cells keep their numbers: st.table shows
them (Compare's final metrics); st.dataframe's grid ignores them for a missing value and takes its
own `placeholder=BLANK` instead (the Runs table, Sweep's front, Compare's config diff). A status is
coloured by what it means (dashboard.shared.live.status_level), in both: a diverged run in red, a
finished run with alerts in amber, never the green of a success.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
from pandas.io.formats.style import Styler

from dashboard.shared.live import status_style

BLANK = "—"


def styled(table: pd.DataFrame, levels: Sequence[str] | Mapping[object, str] = (), status_column: str = "status",
           decimals: int = 4) -> Styler:
    """`table` with numbers to `decimals` places, missing cells as "—", and its status column
    coloured by `levels` (one per row, in row order, or by index label)."""
    numeric = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    style = table.style.format(na_rep=BLANK)
    if numeric:
        style = style.format(f"{{:.{decimals}f}}", subset=numeric, na_rep=BLANK)
    if status_column in table.columns and len(levels):
        by_label = levels if isinstance(levels, Mapping) else dict(zip(table.index, levels))
        css = pd.DataFrame("", index=table.index, columns=table.columns)
        css[status_column] = [status_style(by_label.get(i, "")) for i in table.index]
        style = style.apply(lambda _: css, axis=None)
    return style
