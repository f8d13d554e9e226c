"""Guards of the pages' speed fixes (issue 13, "Slow to open"): each test fails if its fix is undone.

The times themselves are measured in Chromium by benchmarks/bench_app.py; these check the causes:
how often a page reads the runs table, what it imports, and how much it draws on first view.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashboard.compare import charts as cc
from dashboard.shared.script_store import ScriptRunStore
from mtlcore.runs.store import RunStore
from tests.test_dashboard_runs_compare_sweep import app, assert_clean, filled  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent


def _counting_list_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = RunStore.list_runs

    def counted(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RunStore, "list_runs", counted)
    return calls


def test_compare_reads_the_runs_table_once_per_script_run(filled: dict[str, Any],  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Once: the curves' fragment takes the page's read when the page draws it (and reads afresh on
    its own refreshes, as runs train); it was ten times (choosing, statuses, curves, Delta-m,
    baselines, config differences), then twice."""
    ids = filled["ids"]
    at = app("compare", {"runs": f"{ids['long']},{ids['uw']},{ids['seed1']}"})
    calls = _counting_list_runs(monkeypatch)
    at.run()
    assert_clean(at)
    assert len(at.table) == 1 and len(at.dataframe) == 1  # final metrics and config differences were drawn
    assert len(calls) == 1
    calls.clear()
    at.slider(key="compare_smoothing").set_value(0.5).run()  # every rerun reads it afresh, once
    assert_clean(at)
    assert len(calls) == 1


def test_script_run_store_filters_its_one_read_like_the_store(filled: dict[str, Any]) -> None:  # noqa: F811
    store: RunStore = filled["store"]
    once = ScriptRunStore(store)
    for status, group in ((None, None), (["finished"], None), (["running", "queued"], None),
                          (None, filled["group"]), (["finished"], filled["group"])):
        want = store.list_runs(status=status, group_id=group)
        got = once.list_runs(status=status, group_id=group)
        assert got["id"].tolist() == want["id"].tolist()
    assert once.get_run(filled["ids"]["uw"])["id"] == filled["ids"]["uw"]  # other calls pass through


def test_compare_page_modules_do_not_import_scipy_signal() -> None:
    """scipy.signal cost 1.25 s of imports on Compare's first visit, for one lfilter."""
    code = ("import sys, json\n"
            "import dashboard.compare.charts, dashboard.compare.data, dashboard.shared.script_store\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('scipy.signal'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("smoothing", [0.3, 0.9, 0.99, 0.999])
def test_numpy_ema_matches_the_recurrence_across_blocks(smoothing: float) -> None:
    """The block-wise closed form equals s_t = w s_(t-1) + (1 - w) y_t, debiased, also past the
    block boundaries (a short block for small w, a long one for w near 1)."""
    rng = np.random.default_rng(1)
    n = 30_000 if smoothing > 0.99 else 3_000
    y = (rng.standard_normal(n) + np.linspace(4.0, -2.0, n)).astype(np.float32)
    s, prev = np.empty(n), 0.0
    for i, v in enumerate(y.astype(np.float64)):
        prev = smoothing * prev + (1.0 - smoothing) * v
        s[i] = prev
    want = s / (1.0 - smoothing ** np.arange(1, n + 1))
    got = cc.ema(y, smoothing)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
