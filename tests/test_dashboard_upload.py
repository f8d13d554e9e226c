"""The Your-data page in AppTest: a broken file gets one line and nothing is stored; a good file
is previewed, saved under a hashed name and trains (headless, uncertainty weighting) on two
targets; with the page registered in the frame, "Train on it" opens the Train page on the set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared.text import md_plain
from dashboard.train import forms
from mtlcore.config import DataConfig, ModelConfig, OptimConfig, RunConfig, WeightingConfig
from mtlcore.data import DATASETS, load_dataset
from mtlcore.data import tabular as tab
from mtlcore.events import Evaluation, Finished, StepMetrics
from mtlcore.trainer import train

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
PAGE = str(DASHBOARD / "app_pages" / "upload.py")
APP = str(DASHBOARD / "streamlit_app.py")


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tables"
    monkeypatch.setenv("MTL_DATA_DIR", str(folder))
    return folder


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60)


def measurements(n: int = 240) -> bytes:
    """A plant table: two numeric inputs, a text input with gaps, a regression and a text target."""
    rng = np.random.default_rng(1)
    width = rng.uniform(1, 5, n).round(2)
    soil = rng.choice(["clay", "loam", "sand"], n).astype(object)
    soil[rng.choice(n, 12, replace=False)] = None
    water = rng.uniform(0, 10, n).round(1)
    height = (20 * width + 3 * water + rng.normal(0, 4, n)).round(1)
    health = np.where(water + rng.normal(0, 1.5, n) > 5, "good", "poor")
    df = pd.DataFrame({"width": width, "soil": soil, "water": water, "height_cm": height, "health": health})
    return df.to_csv(index=False).encode()


def errors(at: AppTest) -> list[str]:
    return [md_plain(str(e.value)) for e in at.error]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_empty_page_explains_the_rules() -> None:
    at = page().run()
    assert_clean(at)
    assert at.file_uploader(key="upload_file") is not None
    assert any("never executed or unpickled" in str(m.value) for m in at.markdown)
    assert not errors(at)


@pytest.mark.parametrize("cap_mb, shown_mb", [(None, 200), ("12", 12), ("0.01", 1), ("2.5", 3)])
def test_the_uploader_states_the_apps_own_size_cap(monkeypatch: pytest.MonkeyPatch, cap_mb: str | None,
                                                   shown_mb: int) -> None:
    """The browser shows and enforces MTL_MAX_UPLOAD_MB (in whole megabytes, rounded up; the page's
    own check is exact), not Streamlit's server-wide 200 MB."""
    if cap_mb is None:
        monkeypatch.delenv("MTL_MAX_UPLOAD_MB", raising=False)
    else:
        monkeypatch.setenv("MTL_MAX_UPLOAD_MB", cap_mb)
    at = page().run()
    assert_clean(at)
    assert at.file_uploader(key="upload_file").proto.max_upload_size_mb == shown_mb


@pytest.mark.parametrize("name, raw, words", [
    ("junk.csv", bytes(range(256)) * 4, "binary data"),
    ("latin.csv", "ville,prix\nOrléans,3\nNîmes,4\n".encode("latin-1"), "not UTF-8"),
    ("one.csv", b"price\n1\n2\n3\n", "single column"),
    ("head.csv", b"a,b,c\n", "no rows"),
    ("ragged.csv", b"a,b\n1,2\n3\n4,5\n", "ragged rows"),
    ("bad.parquet", b"PAR1garbagePAR1", "Parquet"),
])
def test_a_broken_file_gets_one_line_and_nothing_is_stored(store: Path, name: str, raw: bytes, words: str) -> None:
    at = page().run()
    at.file_uploader(key="upload_file").set_value((name, raw, "text/csv")).run()
    assert_clean(at)
    shown = errors(at)
    assert len(shown) == 1 and words in shown[0] and "\n" not in shown[0]
    assert not at.button  # no save button for a file that cannot be read
    assert not store.exists()


def test_an_impossible_choice_is_explained_and_save_is_disabled(store: Path) -> None:
    at = page().run()
    at.file_uploader(key="upload_file").set_value(("plants.csv", measurements(), "text/csv")).run()
    at.multiselect(key="upload_targets").set_value(["soil"]).run()
    at.selectbox(key="upload_kind_soil").set_value("regression").run()
    assert_clean(at)
    assert any("holds text" in e for e in errors(at))
    assert at.button(key="upload_save").disabled
    assert not store.exists()


def test_upload_save_then_train_two_tasks_with_uncertainty_weighting(store: Path) -> None:
    at = page().run()
    at.file_uploader(key="upload_file").set_value(("plants.csv", measurements(), "text/csv")).run()
    assert_clean(at)
    assert not errors(at)
    assert at.button(key="upload_save").disabled  # no target chosen yet
    at.multiselect(key="upload_targets").set_value(["height_cm", "health"]).run()
    at.radio(key="upload_missing").set_value("median").run()
    at.text_input(key="upload_name").set_value("Plants").run()
    assert_clean(at)
    assert not errors(at)
    shown = " ".join(md_plain(str(c.value)) for c in at.caption)
    assert "training split's median" in shown and "never imputed" in shown
    assert not at.button(key="upload_save").disabled
    at.button(key="upload_save").click().run()
    assert_clean(at)
    saved = at.session_state["upload_saved"]
    name = saved["name"]
    assert name.startswith("table:plants-") and saved["tasks"] == ["height_cm", "health"]
    assert any(name in md_plain(str(s.value)) for s in at.success)
    assert at.button(key="upload_train") is not None
    assert name in DATASETS and sorted(p.suffix for p in store.iterdir()) == [".json", ".npz"]

    data = load_dataset(name)
    assert data.tasks["height_cm"].kind == "regression" and data.tasks["health"].kind == "classification"
    config = RunConfig(data=DataConfig(name, ["height_cm", "health"]), model=ModelConfig("hps", {"width": 32}),
                       weighting=WeightingConfig("uw"),
                       optim=OptimConfig(lr=3e-3, batch_size=32, epochs=100, max_steps=25),
                       eval_every=5, grad_stats_every=0)
    events = train(config)
    assert isinstance(events[-1], Finished) and events[-1].status == "finished", events[-1].reason
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert len(steps) == 25 and all(set(e.losses) == {"height_cm", "health"} for e in steps)
    curves = [e for e in events if isinstance(e, Evaluation) and e.split == "val"]
    assert len(curves) >= 5 and all(set(e.metrics) == {"height_cm", "health"} for e in curves)
    assert "mae" in curves[-1].metrics["height_cm"] and "accuracy" in curves[-1].metrics["health"]


def test_saving_again_reuses_the_stored_set(store: Path) -> None:
    at = page().run()
    at.file_uploader(key="upload_file").set_value(("plants.csv", measurements(), "text/csv")).run()
    at.multiselect(key="upload_targets").set_value(["health"]).run()
    at.toggle(key="upload_all_inputs").set_value(False).run()
    at.multiselect(key="upload_inputs").set_value(["water", "soil"]).run()
    at.button(key="upload_save").click().run()
    first = at.session_state["upload_saved"]["name"]
    at.button(key="upload_save").click().run()
    assert_clean(at)
    assert at.session_state["upload_saved"]["name"] == first
    assert len(list(store.glob("*.npz"))) == 1
    assert tab.load_saved(first).inputs == ("water", "soil")


@pytest.mark.skipif("app_pages/upload.py" not in Path(APP).read_text(),
                    reason="the page is not yet listed in dashboard/streamlit_app.py's PAGES")
def test_train_on_it_opens_the_train_page_with_the_set() -> None:
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="upload_file").set_value(("plants.csv", measurements(), "text/csv")).run()
    at.multiselect(key="upload_targets").set_value(["height_cm", "health"]).run()
    at.button(key="upload_save").click().run()
    name = at.session_state["upload_saved"]["name"]
    at.button(key="upload_train").click().run()
    assert_clean(at)
    assert at.selectbox(key=forms.DATASET).value == name
    assert at.multiselect(key=forms.TASKS).value == ["height_cm", "health"]
    # the address bar holds the set (issue 13: it was plain `/`), so the link opens it elsewhere
    link = dict(at.query_params)  # the tasks are the set's first two: its default, left out of the link
    assert forms.DATASET in link, link
    fresh = AppTest.from_file(APP, default_timeout=90)
    fresh.query_params.update(link)
    fresh.run()
    assert fresh.selectbox(key=forms.DATASET).value == name
    assert fresh.multiselect(key=forms.TASKS).value == ["height_cm", "health"]


def test_a_gzip_compressed_csv_is_offered_and_read(store: Path) -> None:
    import gzip

    from streamlit.elements.lib.file_uploader_utils import enforce_filename_restriction

    at = page().run()
    offered = list(at.file_uploader(key="upload_file").proto.type)
    assert ".csv.gz" in offered
    enforce_filename_restriction("plants.csv.gz", offered)  # Streamlit's own check of a name: no error
    at.file_uploader(key="upload_file").set_value(("plants.csv.gz", gzip.compress(measurements()),
                                                    "application/gzip")).run()
    assert_clean(at)
    assert not errors(at) and not at.warning
    at.multiselect(key="upload_targets").set_value(["health"]).run()
    at.button(key="upload_save").click().run()
    assert_clean(at)
    assert at.session_state["upload_saved"]["name"].startswith("table:plants-")


def test_a_header_that_looks_like_data_is_warned_about() -> None:
    iris = "150,4,setosa,versicolor,virginica\n" + "".join(f"{5 + i % 3}.1,3.{i % 7},1.4,0.2,{i % 3}\n"
                                                            for i in range(40))
    at = page().run()
    at.file_uploader(key="upload_file").set_value(("iris.csv", iris.encode(), "text/csv")).run()
    assert_clean(at)
    assert not errors(at)
    assert len(at.warning) == 1 and "looks like data, not column names" in md_plain(str(at.warning[0].value))
