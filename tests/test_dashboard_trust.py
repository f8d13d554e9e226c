"""Issue 12, items 2, 3, 4 and 8 in AppTest: runs belong to the browser that started them, strings
from data and URLs are shown as text, an unusable store leaves the store-free pages working, and a
link cannot probe the server's files.

Two AppTest instances are two browser sessions; each gets its owner token in its session state (what
the owner cookie gives a real browser). The browser-level checks are in test_e2e_trust.py.
"""

from __future__ import annotations

import html
import io
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared import catalog, ownership
from dashboard.shared.text import md_code, md_escape, md_plain
from dashboard.train import forms
from mtlcore.config import RunConfig
from mtlcore.data import tabular
from mtlcore.runs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "streamlit_app.py")
RUNS_PAGE = ROOT / "dashboard" / "app_pages" / "runs.py"
TOKEN_A, TOKEN_B = "a" * 32, "b" * 32
HOSTILE = ["<img src=x onerror=alert(1)>", "**bold**", "$x$", "[link](http://evil)", "`code`", "=cmd",
           "Größe 🚀 名前", "long" + "x" * 300]
TEXT_KINDS = ("markdown", "caption", "info", "warning", "error", "success")


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")
    monkeypatch.delenv(ownership.TEACHER_ENV, raising=False)


@pytest.fixture
def store() -> RunStore:
    return RunStore()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def browser(token: str, run: str | None = None) -> AppTest:
    """One browser session of the whole app, holding `token` as its owner cookie would."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["_owner_token"] = token
    if run:
        at.query_params["run"] = run
    return at


def runs_page(token: str) -> AppTest:
    at = AppTest.from_string(f"import streamlit as st\nst.navigation([st.Page(r'{RUNS_PAGE}')]).run()",
                             default_timeout=90)
    at.session_state["_owner_token"] = token
    return at


def running_run(store: RunStore, pid: int, owner: str = "", name: str = "live one") -> str:
    config = RunConfig(name=name)
    config.data.tasks = ["left", "right"]
    config.weighting.method = forms.STATIC
    config.weighting.params = {"weights": [1.0, 1.0]}
    rid = store.create_run(config.to_dict(), status="queued")
    store.set_status(rid, "running", pid=pid, host=store.host, total_steps=100, device="cpu", step=10)
    if owner:
        store.set_owner(rid, ownership.owner_hash(owner))
    return rid


def bodies(at: AppTest) -> list[str]:
    """Every Markdown text of the page (as sent to the browser, before rendering)."""
    out = [str(e.value) for kind in TEXT_KINDS for e in getattr(at, kind)]
    return out + [str(w.label) for kind in ("select_slider", "button", "text_input") for w in getattr(at, kind)]


def unescaped(markdown: str) -> str:
    """`markdown` with every backslash-escaped character blotted out: what Markdown still acts on."""
    return re.sub(r"\\.", "\0", markdown)


def forged(widget: Any) -> Any:
    """The widget as a crafted websocket message would use it: its disabled flag ignored (the server
    must refuse the change itself)."""
    widget.proto.disabled = False
    return widget


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# -- item 2: ownership ----------------------------------------------------------------------------
def test_the_rule_owner_teacher_and_unowned_runs() -> None:
    mine, other = ownership.owner_hash(TOKEN_A), ownership.owner_hash(TOKEN_B)
    assert ownership.may_control(mine, mine, teacher=False, key_configured=True)
    assert not ownership.may_control(mine, other, teacher=False, key_configured=False)
    assert ownership.may_control(mine, other, teacher=True, key_configured=True)
    assert ownership.may_control("", other, teacher=False, key_configured=False)  # a CLI run, no teacher key
    assert not ownership.may_control("", other, teacher=False, key_configured=True)
    assert TOKEN_A not in mine  # the store keeps a hash: reading it gives no control


def test_only_the_owner_steers_and_stops_others_watch(store: RunStore, sleeper: subprocess.Popen) -> None:
    rid = running_run(store, sleeper.pid, owner=TOKEN_A)
    watcher = browser(TOKEN_B, run=rid).run()
    assert_clean(watcher)
    assert watcher.button(key="stop_button").disabled
    assert watcher.select_slider(key=forms.weight_key("right")).disabled
    assert any("watching a run started in another browser" in c.value for c in watcher.caption)
    forged(watcher.select_slider(key=forms.weight_key("right"))).set_value(3.0).run()  # a crafted message
    forged(watcher.button(key="stop_button")).click().run()
    assert store.read_control(rid)[:2] == (False, None)

    owner = browser(TOKEN_A, run=rid).run()
    assert_clean(owner)
    assert not owner.button(key="stop_button").disabled
    assert not owner.select_slider(key=forms.weight_key("right")).disabled
    owner.select_slider(key=forms.weight_key("right")).set_value(3.0).run()
    assert store.read_control(rid)[1] == [1.0, 3.0]


def test_a_fresh_tab_never_attaches_to_someone_elses_run(store: RunStore, sleeper: subprocess.Popen) -> None:
    theirs = running_run(store, sleeper.pid, owner=TOKEN_A, name="their run")
    fresh = browser(TOKEN_B).run()
    assert_clean(fresh)
    assert "run" not in fresh.query_params
    assert not [b for b in fresh.button if b.key == "stop_button"]
    assert any("No run yet" in i.value for i in fresh.info)
    assert [b for b in fresh.button if b.key == f"watch_{theirs}"]  # offered to watch, not attached
    forged(fresh.select_slider(key=forms.weight_key("right"))).set_value(3.0).run()
    assert store.read_control(theirs)[1] is None
    again = browser(TOKEN_A).run()  # the owner's refreshed tab (same cookie) finds its run by itself
    assert any(b.key == "stop_button" and not b.disabled for b in again.button)


def test_the_runs_page_deletes_only_own_runs(store: RunStore) -> None:
    a_run = store.create_run(RunConfig(name="a's").to_dict(), status="finished")
    store.set_owner(a_run, ownership.owner_hash(TOKEN_A))
    b_page = runs_page(TOKEN_B).run()
    b_page.multiselect(key="runs_selected").set_value([a_run]).run()
    assert_clean(b_page)
    assert b_page.button(key="runs_delete").disabled and b_page.button(key="runs_rename").disabled
    assert any("started in another browser" in c.value for c in b_page.caption)
    b_page.session_state["_runs_pending_delete"] = [a_run]  # a forged confirmation
    b_page.run()
    b_page.button(key="runs_delete_confirm").click().run()
    assert store.get_run(a_run) is not None

    a_page = runs_page(TOKEN_A).run()
    a_page.multiselect(key="runs_selected").set_value([a_run]).run()
    a_page.button(key="runs_delete").click().run()
    a_page.button(key="runs_delete_confirm").click().run()
    assert_clean(a_page)
    assert store.get_run(a_run) is None


def test_the_teacher_key_unlocks_every_run(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ownership.TEACHER_ENV, "sesame")
    a_run = store.create_run(RunConfig(name="a's").to_dict(), status="finished")
    store.set_owner(a_run, ownership.owner_hash(TOKEN_A))
    cli_run = store.create_run(RunConfig(name="from the CLI").to_dict(), status="finished")
    teacher = browser(TOKEN_B).run()
    teacher.text_input(key="_teacher_key_input").set_value("open up").run()
    assert any("not the teacher key" in e.value for e in teacher.error)
    teacher.text_input(key="_teacher_key_input").set_value("sesame").run()
    assert_clean(teacher)
    assert teacher.session_state["_teacher_unlocked"] is True
    assert not [w for w in teacher.text_input if w.key == "_teacher_key_input"]  # unlocked: the field is gone
    assert any("Teacher mode" in c.value for c in teacher.sidebar.caption)
    assert "sesame" not in str(dict(teacher.query_params))

    student = runs_page("c" * 32).run()
    student.multiselect(key="runs_selected").set_value([cli_run]).run()
    assert student.button(key="runs_delete").disabled  # a key is set: unowned runs are the teacher's
    page = runs_page(TOKEN_B)
    page.session_state["_teacher_unlocked"] = True
    page.run()
    page.multiselect(key="runs_selected").set_value([a_run, cli_run]).run()
    page.button(key="runs_delete").click().run()
    page.button(key="runs_delete_confirm").click().run()
    assert store.get_run(a_run) is None and store.get_run(cli_run) is None


# -- item 3: hostile names ------------------------------------------------------------------------
def test_md_escape_renders_the_characters_not_their_meaning() -> None:
    for name in HOSTILE:
        escaped = md_escape(name)
        assert md_plain(escaped) == name
        bare = re.sub(r"\\.", "", escaped)  # what is left once every escaped character is taken out
        assert not set(bare) & set("\\`*_{}[]()#+-.!|~<>$&:"), (name, bare)
    assert md_escape("a\nb\r\n# c") == r"a b \# c"  # one line: no heading or list can start
    assert md_code("`code`") == "`` `code` ``" and md_code("/etc/x") == "`/etc/x`"


@pytest.fixture
def hostile_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path / "tables"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), **{h: rng.integers(0, 2, 120) for h in HOSTILE}})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    table = tabular.read_table(buffer.getvalue().encode(), "hostile.csv")
    saved = tabular.save_table(table, "<b>evil</b> **title**", ["x"], HOSTILE)
    catalog.datasets.cache_clear()
    return saved.name, [t.name for t in saved.tasks]


def test_hostile_task_names_are_shown_as_text(hostile_table: tuple[str, list[str]]) -> None:
    name, tasks = hostile_table
    assert sorted(tasks) == sorted(HOSTILE)
    at = browser(TOKEN_A)
    at.session_state[forms.DATASET] = name
    at.session_state[forms.TASKS] = tasks
    at.run()
    assert_clean(at)
    texts = bodies(at)
    for task in HOSTILE:
        assert any(f"weight of **{md_escape(task)}**" in t for t in texts), task
        assert at.select_slider(key=forms.weight_key(task)).label == f"Weight of {md_escape(task)}"
    for raw in ("<img", "**bold**", "$x$", "[link](http", "<b>", "`code`"):
        assert not [t for t in texts if raw in unescaped(t)], raw
    assert not [t for t in texts if "<span" in t]


def test_a_hostile_table_title_is_text_on_the_data_sets_page(hostile_table: tuple[str, list[str]]) -> None:
    """A saved table is a data set: its title (typed by a user) is escaped in the overview, the pick
    list and the card."""
    name, _ = hostile_table
    title = catalog.dataset(name)["title"]
    assert "<b>" in title
    at = browser(TOKEN_A).run()
    at.switch_page("app_pages/datasets.py").run()
    at.selectbox(key="set").set_value(name).run()
    assert_clean(at)
    overview = at.get("html")[0].proto.body
    assert f"<td>{html.escape(title)}</td>" in overview and "<b>evil" not in overview
    assert at.selectbox(key="set").value == name
    head = at.markdown[1].value
    assert md_escape(title) in head and "<b>" not in unescaped(head)


def test_a_hostile_run_name_and_run_link_are_text(store: RunStore, sleeper: subprocess.Popen) -> None:
    rid = running_run(store, sleeper.pid, owner=TOKEN_A, name="<img src=x onerror=alert(1)> **run** $x$")
    at = browser(TOKEN_A, run=rid).run()
    assert_clean(at)
    texts = bodies(at) + [str(p.label) for p in at.get("page_link")] if at.get("page_link") else bodies(at)
    assert any(md_escape("<img src=x onerror=alert(1)> **run** $x$") in t for t in texts)
    assert not [t for t in texts if "<img" in unescaped(t)]
    link = browser(TOKEN_A, run="[click](http://evil)").run()
    assert_clean(link)
    missing = [w.value for w in link.warning if "There is no run" in w.value]
    assert missing and md_code("[click](http://evil)") in missing[0]
    assert "[click](http://evil)" not in missing[0].replace(md_code("[click](http://evil)"), "")


# -- item 4: an unusable store --------------------------------------------------------------------
STORE_PAGES = ("train", "runs", "compare", "sweep")
FREE_PAGES = ("guide", "landscape", "explorer", "datasets", "upload")


def broken_db(tmp_path: Path, fault: str) -> Path:
    if fault == "parent is a file":
        (tmp_path / "afile").write_text("not a folder")
        return tmp_path / "afile" / "mtl.sqlite"
    if fault == "a folder":
        (tmp_path / "adir.sqlite").mkdir()
        return tmp_path / "adir.sqlite"
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a SQLite database, just text" * 100)
    return garbage


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["parent is a file", "a folder", "not SQLite"])
def test_an_unusable_store_says_so_once_and_free_pages_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             fault: str) -> None:
    db = broken_db(tmp_path, fault)
    monkeypatch.setenv("MTL_DB", str(db))
    for page in STORE_PAGES + FREE_PAGES:
        at = AppTest.from_file(APP, default_timeout=120).run()
        if page != "train":
            at.switch_page(f"app_pages/{page}.py").run()
        assert_clean(at)
        errors = [md_plain(e.value) for e in at.error]
        side = [w.value for w in at.sidebar.warning]
        assert len(side) == 1 and "run database is unusable" in side[0], (page, side)
        if page in STORE_PAGES:
            assert len(errors) == 1, (page, errors)
            assert str(db) in errors[0] and "MTL_DB" in errors[0] and "restart" in errors[0], errors[0]
            if fault == "parent is a file":
                assert f"{db.parent} is a file, not a folder" in errors[0], errors[0]
        else:
            assert not errors, (page, errors)
            assert len(at.main.markdown) + len(at.main.caption) > 1, page  # the page drew its content


# -- item 8: a link cannot probe the server's files -----------------------------------------------
def page_answer(params: dict[str, str]) -> tuple[list[str], bool, dict[str, Any]]:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert_clean(at)
    said = [str(e.value) for kind in ("warning", "error", "caption", "info") for e in getattr(at.main, kind)]
    return said, at.button(key="train_button").disabled, dict(at.query_params)


def test_a_path_in_a_link_is_never_opened() -> None:
    key = forms.param_key("d", "table", "path")
    assert Path("/etc/passwd").is_file()
    answers = [page_answer({"dataset": "table", key: path, forms.param_key("d", "table", "targets"): "root"})
               for path in ("/etc/passwd", "/etc/shadow", "/no/such/file.csv")]
    assert answers[0] == answers[1] == answers[2]
    said, disabled, params = answers[0]
    assert disabled and key not in params
    assert any("never names a file on the server" in t for t in said)
    assert not [t for t in said if "passwd" in t or "etc" in t]


def test_chart_texts_of_hostile_names_are_entities() -> None:
    """Plotly reads <a href>, <b> and <br> in trace names, hovers and annotations: names from data are
    entity-escaped there, so a column named like a link is drawn as its characters."""
    from dashboard.shared import charts

    evil = '<a href="http://evil">x</a>'
    steps = np.arange(1, 4, dtype=np.float32)
    series = {(split, name, t): (steps, steps) for t in (evil, "ok") for split, name in
              (("train", "loss"), ("val", "loss"), ("val", "accuracy"), ("train", "weight"))}
    view = charts.RunView(tasks=[evil, "ok"], all_tasks=[evil, "ok"], series=series,
                          metric={evil: ("accuracy", True), "ok": ("accuracy", True)},
                          weight_changes=[(2, {evil: 2.0, "ok": 1.0})], key="r")
    for figure in (charts.loss_figure(view), charts.metric_figure(view), charts.weights_figure(view)):
        spec = figure.to_plotly_json()
        texts = [str(t.get(k)) for t in spec["data"] for k in ("name", "hovertext") if t.get(k)]
        texts += [str(a.get("text")) for a in spec["layout"].get("annotations", [])]
        assert not [t for t in texts if "<a" in t], texts
        assert any("&lt;a href=" in t for t in texts)
    # our own line breaks in the panel titles stay line breaks (side by side: task, then its metric)
    titles = [a["text"] for a in charts.metric_figure(view).to_plotly_json()["layout"]["annotations"]]
    assert "ok<br>accuracy ↑" in titles and any(t.startswith("&lt;a href=") and "<br>accuracy" in t for t in titles)


def test_the_upload_page_shows_hostile_column_names_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path / "tables"))
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=120), **{h: rng.integers(0, 2, 120) for h in HOSTILE}})
    upload = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / "upload.py"), default_timeout=90).run()
    upload.file_uploader(key="upload_file").set_value(("**evil** <img src=x>.csv", frame.to_csv(index=False).encode(),
                                                      "text/csv")).run()
    upload.multiselect(key="upload_targets").set_value(HOSTILE).run()
    upload.text_input(key="upload_name").set_value("<b>hostile</b> $x$").run()
    upload.button(key="upload_save").click().run()
    assert_clean(upload)
    texts = bodies(upload) + [str(w.label) for w in upload.selectbox]
    assert any(f"Task kind of '{md_escape(h)}'" in t for t in texts for h in HOSTILE)
    for raw in ("<img", "**bold**", "**evil**", "$x$", "[link](http", "<b>", "`code`"):
        assert not [t for t in texts if raw in unescaped(t)], raw
    assert upload.session_state["upload_saved"]["tasks"] == HOSTILE  # saved under their very names
