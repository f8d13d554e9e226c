"""CSV that spreadsheet tools open as data, never as formulas.

Task names come from users' column names, so an exported metrics table can hold a cell such as
`=HYPERLINK(...)` or `@SUM(...)`. Excel, LibreOffice and Google Sheets evaluate a cell that begins
with `=`, `+`, `-` or `@` (and some treat a leading tab or carriage return alike), so every text cell
that begins with one of them is written with a single quote in front, the escape those tools
expect (OWASP's advice on CSV injection), and every text cell is quoted. Numbers are left alone: a
negative loss stays a number.
The CLI's `export --csv` and the Runs page's download both write through `metrics_csv`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading single quote; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot start a formula."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def metrics_csv(df: pd.DataFrame, path: str | Path | None = None) -> str | None:
    """Write `df` as CSV to `path`, or return the text when no path is given; formulas neutralised.

    Every text cell is quoted: a carriage return inside a name would otherwise split the row (the
    csv module quotes only the characters of its line terminator, "\n" here)."""
    return safe_frame(df).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
