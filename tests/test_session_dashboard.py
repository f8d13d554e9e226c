"""External runs (a user's own loop through `Session`) on the pages: marked, steerable, never killed.

The run rows are written the way `Session` writes them (its config, a live pid of a sleeping process
of this test's own), so no torch loop runs here; tests/test_session.py drives the real script.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.runs import table as runs_table
from dashboard.shared import live
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore
from mtlcore.tracking.origin import Origin, external_caption, external_config

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py")
TASKS = {"seg_*x": "classification", "depth": "regression"}  # a Markdown character in a user's task name


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def external_run(store: RunStore, pid: int, method: str = "static") -> str:
    origin = Origin("train_seg.py", "gpu-box", pid, ["train_seg.py", "--lr", "1e-3"])
    params = {"weights": [2.0, 0.5]} if method == "static" else {}
    config = external_config("my seg+depth", TASKS, method, params, "auto", origin,
                             goals={"seg_*x/miou": "max", "depth/abs_err": "min"})
    rid = store.create_run(config, status="running", name="my seg+depth")
    store.set_status(rid, "running", pid=pid, host=store.host, total_steps=0, device="cuda:0")
    store.write_rows(rid, [(s, 0.0, s * 0.01, "train", t, "loss", 1.0 / s) for s in range(1, 6) for t in TASKS],
                     step=5)
    return rid


def test_runs_table_marks_external_runs(sleeper: subprocess.Popen) -> None:
    store = RunStore()
    rid = external_run(store, sleeper.pid)
    ours = store.create_run({"data": {"name": "multi_digits"}}, status="finished")
    table = runs_table.runs_table(store.list_runs()).set_index("id")
    assert table.loc[rid, "source"] == "external run: script train_seg.py on host gpu-box"
    assert table.loc[ours, "source"] == ""
    assert external_caption(store.get_run(ours)["config"]) == ""


def test_live_view_takes_an_external_runs_declared_metrics(sleeper: subprocess.Popen) -> None:
    store = RunStore()
    run = store.get_run(external_run(store, sleeper.pid))
    view = live.run_view(run, store.metrics(run["id"]))
    assert view.metric == {"seg_*x": ("miou", True), "depth": ("abs_err", False)}
    assert live.external_weights(run, store.metrics(run["id"])) == [2.0, 0.5]


def test_train_page_shows_steers_and_stops_an_external_run(sleeper: subprocess.Popen,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[str] = []
    monkeypatch.setattr(executor, "stop", lambda s, rid, grace_s=5.0: killed.append(rid))
    store = RunStore()
    rid = external_run(store, sleeper.pid)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [str(c.value) for c in at.caption]
    assert any("external run" in c and "train\\_seg\\.py" in c and "gpu\\-box" in c for c in captions)
    assert at.select_slider(key=f"ext_w_{rid}_0").value == 2.0
    at.select_slider(key=f"ext_w_{rid}_1").set_value(3.0).run()
    assert store.read_control(rid)[1] == [2.0, 3.0]
    at.button(key="stop_button").click().run()
    assert not at.exception
    assert store.read_control(rid)[0] is True and killed == []  # asked, never killed: it is the user's script
    assert sleeper.poll() is None


def test_compare_page_sets_external_runs_side_by_side() -> None:
    import torch

    from mtlcore import Session

    store = RunStore()
    ids = []
    for method, lr in (("static", 1e-3), ("ew", 1e-2)):
        with Session(f"own {method}", {"seg": "classification", "depth": "regression"}, method, db=store.path,
                     goals={"seg/miou": "max", "depth/abs_err": "min"}, hyperparameters={"lr": lr}) as s:
            for step in range(1, 21):
                losses = {"seg": torch.tensor(1.0 / step), "depth": torch.tensor(2.0 / step)}
                s.combine(losses)
                s.log(step, losses)
                if step % 10 == 0:
                    s.log(step, losses, split="val", metrics={"seg/miou": 0.03 * step, "depth/abs_err": 1.0 / step})
            ids.append(s.run_id)
    entry = "\n".join([
        "import streamlit as st",
        f"st.navigation([st.Page(r'{Path(APP).parent / 'app_pages' / 'compare.py'}', title='compare')]).run()",
    ])
    at = AppTest.from_string(entry, default_timeout=120)
    at.query_params["runs"] = ",".join(ids)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="compare_split").set_value("val").run()  # a loop that logs no test split has val results
    assert not at.exception, [e.value for e in at.exception]
    # the final metrics are a table (empty cells shown as a dash), the config differences a dataframe
    shown = " ".join(str(el.value.to_dict()) for el in [*at.table, *at.dataframe])
    assert "miou" in shown and "hyperparameters.lr" in shown  # final metrics and the config difference
