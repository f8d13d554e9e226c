"""User tables: parsing, the task-kind rules, training-split-only encoding, missing-value rules,
the stored set (name, content hash checked at load, registration), the direct `table` entry, the
limits, and end-to-end training from the CLI and from Python with uncertainty weighting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mtlcore.config import DataConfig, ModelConfig, OptimConfig, RunConfig, WeightingConfig
from mtlcore.data import DATASETS, DataSourceMissing, catalogue, get_info, load_dataset
from mtlcore.data import tabular as tab
from mtlcore.data.limits import MAX_CLASSES, max_rows, max_upload_bytes
from mtlcore.events import Evaluation, Finished, StepMetrics
from mtlcore.registry import ConfigError
from mtlcore.trainer import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test stores tables in its own folder."""
    folder = tmp_path / "tables"
    monkeypatch.setenv("MTL_DATA_DIR", str(folder))
    return folder


def houses(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A table where the price depends on size and city, and the type on rooms."""
    rng = np.random.default_rng(seed)
    size = rng.normal(100, 25, n)
    city = rng.choice(["Lyon", "Nantes", "Paris"], n)
    rooms = rng.integers(1, 7, n)
    price = 2500 * size + np.where(city == "Paris", 150_000, 0) + rng.normal(0, 20_000, n)
    kind = np.where(rooms + rng.integers(-1, 2, n) > 3, "house", "flat")
    return pd.DataFrame({"size": size.round(1), "city": city, "rooms": rooms, "price": price.round(0),
                         "type": kind})


def csv_bytes(df: pd.DataFrame, **kw: object) -> bytes:
    return df.to_csv(index=False, **kw).encode("utf-8")


# --- reading ------------------------------------------------------------------------------------


def test_csv_columns_are_typed_and_missing_spellings_recognised() -> None:
    text = ('id,score,label,note\n'
            '1, 2.5 ,a,"x, with comma"\n'
            '2,NA,b,"two\nlines"\n'
            '3,?,,plain\n'
            '4,1e3,a,N/A\n')
    t = tab.read_table(text.encode(), "t.csv")
    assert t.n_rows == 4 and list(t.columns) == ["id", "score", "label", "note"]
    score = t.columns["score"]
    assert score.kind == "numeric"
    assert np.array_equal(score.values, [2.5, np.nan, np.nan, 1000.0], equal_nan=True)
    label = t.columns["label"]
    assert label.kind == "categorical" and label.vocab == ("a", "b")
    assert label.values.tolist() == [0, 1, -1, 0] and label.n_missing == 1
    note = t.columns["note"]
    assert note.vocab == ("plain", "two\nlines", "x, with comma") and note.n_missing == 1
    described = {d["column"]: d for d in t.describe()}
    assert described["score"]["missing"] == 2 and described["label"]["as target"].startswith("classification")
    assert list(t.preview(2)["label"]) == ["a", "b"]


@pytest.mark.parametrize("encode", [
    lambda s: s.replace(",", ";").encode(),
    lambda s: s.replace(",", "\t").encode(),
    lambda s: s.replace(",", "|").encode(),
    lambda s: b"\xef\xbb\xbf" + s.encode(),
    lambda s: s.encode("utf-16"),
    lambda s: s.replace("\n", "\r\n").encode(),
    lambda s: s.replace("\n", "\r").encode(),
    lambda s: ("\n\n" + s + "\n\n").encode(),
], ids=["semicolon", "tab", "pipe", "utf8-bom", "utf16-bom", "crlf", "cr", "blank-lines"])
def test_csv_dialects(encode) -> None:
    t = tab.read_table(encode("x,y,z\n1,2,u\n3,4,v\n"), "d.csv")
    assert list(t.columns) == ["x", "y", "z"] and t.n_rows == 2
    assert t.columns["y"].values.tolist() == [2.0, 4.0] and t.columns["z"].vocab == ("u", "v")


def test_ragged_row_is_named_by_its_line_whatever_the_line_ends() -> None:
    for end in ("\n", "\r\n", "\r"):
        raw = end.join(["a,b", "1,2", "3,4", "5", "6,7"]).encode()
        with pytest.raises(tab.TableError, match="line 4 has 1 field but the header has 2"):
            tab.read_table(raw, "r.csv")


def test_blank_header_names_are_named_and_noted() -> None:
    t = tab.read_table(b",a,b\n0,1,2\n1,3,4\n", "idx.csv")
    assert list(t.columns) == ["column1", "a", "b"]
    assert any("column1" in n for n in t.notes)


def test_parquet_types() -> None:
    table = pa.table({  # 12 rows: the four below, three times
        "n": pa.array([1, 2, None, 4] * 3, pa.int32()), "f": pa.array([0.5, 1.5, 2.5, None] * 3),
        "s": pa.array(["a", None, "b", "a"] * 3), "b": pa.array([True, False, True, None] * 3),
        "d": pa.array(["x", "y", "x", "y"] * 3).dictionary_encode(),
        "t": pa.array([1, 2, 3, 4] * 3, pa.timestamp("s")),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    t = tab.read_table(buf.getvalue(), "p.parquet")
    kinds = {n: c.kind for n, c in t.columns.items()}
    assert kinds == {"n": "numeric", "f": "numeric", "s": "categorical", "b": "categorical",
                     "d": "categorical", "t": "unsupported"}
    assert np.isnan(t.columns["n"].values[2]) and t.columns["b"].vocab == ("false", "true")
    assert t.columns["d"].vocab == ("x", "y")
    with pytest.raises(tab.TableError, match="timestamp"):
        tab.select_columns(t, ["n"], ["t"])
    src = tab.select_columns(t, None, ["d"], "median")  # the unusable column is skipped with a note
    assert "t" not in src.inputs and any("'t'" in n for n in src.notes)


# --- task kinds ---------------------------------------------------------------------------------


def test_task_kind_rules() -> None:
    t = tab.read_table(csv_bytes(houses()), "h.csv")
    src = tab.select_columns(t, ["size", "city"], ["price", "type", "rooms"])
    assert src.kinds == {"price": "regression", "type": "classification", "rooms": "classification"}
    assert src.columns["rooms"].vocab == ("1", "2", "3", "4", "5", "6")  # numbers named by their value
    assert any("'rooms' has 6 distinct numbers" in n for n in src.notes)
    forced = tab.select_columns(t, ["size"], ["rooms", "type"], kinds="rooms=regression, type=auto")
    assert forced.kinds == {"rooms": "regression", "type": "classification"}
    with pytest.raises(tab.TableError, match="too many classes"):
        tab.select_columns(t, ["size"], ["price"], kinds={"price": "classification"})
    with pytest.raises(tab.TableError, match="holds text"):
        tab.select_columns(t, ["size"], ["city"], kinds="city=regression")
    with pytest.raises(tab.TableError, match="must be one of"):
        tab.select_columns(t, ["size"], ["city"], kinds="city=ordinal")
    with pytest.raises(tab.TableError, match="not a target"):
        tab.select_columns(t, ["size"], ["city"], kinds="rooms=regression")


def test_choice_errors_are_one_line() -> None:
    t = tab.read_table(csv_bytes(houses()), "h.csv")
    cases = [
        (dict(inputs=["size"], targets=[]), "at least one target"),
        (dict(inputs=["size"], targets=["nope"]), "'nope' is not in h.csv"),
        (dict(inputs=["size", "price"], targets=["price"]), "both an input and a target"),
        (dict(inputs=["size"], targets=["price"], missing="mean"), "missing-value rule"),
        (dict(inputs=["size", "size"], targets=["price"]), "listed twice"),
    ]
    for kwargs, match in cases:
        with pytest.raises(tab.TableError, match=match) as err:
            tab.select_columns(t, **kwargs)
        assert "\n" not in str(err.value)


def test_text_with_stray_words_gets_a_hint() -> None:
    df = pd.DataFrame({"x": range(400), "y": [str(i * 1.5) for i in range(399)] + ["unknown"]})
    t = tab.read_table(csv_bytes(df), "y.csv")
    with pytest.raises(tab.TableError, match="'unknown' is not"):
        tab.select_columns(t, ["x"], ["y"])


# --- split and encoding -------------------------------------------------------------------------


def test_split_is_seeded_disjoint_and_complete() -> None:
    src = tab.select_columns(tab.read_table(csv_bytes(houses()), "h.csv"), None, ["price"])
    a = tab.prepare(src, "h", data_seed=0)
    b = tab.prepare(src, "h", data_seed=0)
    c = tab.prepare(src, "h", data_seed=1)
    rows = [a.info["sources"][s].numpy() for s in ("train", "val", "test")]
    assert sorted(np.concatenate(rows).tolist()) == list(range(300))
    assert [len(r) for r in rows] == [210, 45, 45]
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    assert a.info["features"] == ["size", "city=Lyon", "city=Nantes", "city=Paris", "rooms", "type=flat",
                                  "type=house"]


def test_encoding_uses_training_statistics_only() -> None:
    df = houses()
    src = tab.select_columns(tab.read_table(csv_bytes(df), "h.csv"), ["size", "city"], ["price", "type"])
    data = tab.prepare(src, "h", data_seed=3)
    train_rows = data.info["sources"]["train"].numpy()
    size = df["size"].to_numpy()
    x_size = data.train.x[:, 0].double().numpy()
    mean, std = size[train_rows].mean(), size[train_rows].std()
    assert np.allclose(x_size, (size[train_rows] - mean) / std, atol=1e-5)
    val_rows = data.info["sources"]["val"].numpy()
    assert np.allclose(data.val.x[:, 0].numpy(), (size[val_rows] - mean) / std, atol=1e-5)  # not re-centred
    onehot = data.train.x[:, 1:4].numpy()
    assert np.array_equal(onehot.argmax(1), pd.Categorical(df["city"].to_numpy()[train_rows],
                                                           ["Lyon", "Nantes", "Paris"]).codes)
    price = data.tasks["price"]
    assert price.kind == "regression"
    assert price.target_shift == pytest.approx(df["price"].to_numpy()[train_rows].mean())
    back = data.test.targets["price"].double().numpy() * price.target_scale + price.target_shift
    assert np.allclose(back, df["price"].to_numpy()[data.info["sources"]["test"].numpy()], rtol=1e-5)
    assert data.tasks["type"].out_dim == 2 and data.info["classes"]["type"] == ["flat", "house"]
    assert data.train.targets["type"].dtype == torch.int64


def test_unseen_labels_and_categories_in_val_or_test_do_not_crash() -> None:
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n),
                       "label": rng.choice(["a", "b"], n)})
    df.loc[7, "label"] = "rare"
    df.loc[7, "colour"] = "green"
    src = tab.select_columns(tab.read_table(csv_bytes(df), "r.csv"), ["x", "colour"], ["label"])
    hits = 0
    for seed in range(12):
        data = tab.prepare(src, "r", data_seed=seed)
        in_train = 7 in data.info["sources"]["train"].tolist()
        assert data.tasks["label"].out_dim == (3 if in_train else 2)
        for split in (data.train, data.val, data.test):
            assert int(split.targets["label"].max()) < data.tasks["label"].out_dim
        if not in_train:
            hits += 1
            assert any("never occurs in the training split" in n for n in data.info["notes"])
            assert 7 not in np.concatenate([data.info["sources"][s].numpy() for s in ("val", "test")])
            assert data.train.x.shape[1] == 3  # x, colour=blue, colour=red: green was never seen
    assert hits > 0


def test_missing_value_rules() -> None:
    df = houses(100)
    df.loc[[2, 5, 9], "size"] = np.nan
    df.loc[[4], "city"] = np.nan
    df.loc[[11], "price"] = np.nan
    t = tab.read_table(csv_bytes(df), "m.csv")
    drop = tab.select_columns(t, ["size", "city"], ["price"], "drop")
    assert drop.n_rows == 100 - 5
    assert any("target is missing" in n for n in drop.notes) and any("input is missing" in n for n in drop.notes)
    med = tab.select_columns(t, ["size", "city"], ["price"], "median")
    assert med.n_rows == 99  # the target is never imputed
    data = tab.prepare(med, "m")
    rows = data.info["sources"]["train"].numpy()
    kept = np.flatnonzero(df["price"].notna().to_numpy())  # source rows of the TableSource
    sizes = df["size"].to_numpy()[kept]
    train_sizes = sizes[rows]
    median = np.nanmedian(train_sizes)
    filled = np.where(np.isnan(train_sizes), median, train_sizes)
    assert np.allclose(data.train.x[:, 0].double().numpy(), (filled - filled.mean()) / filled.std(), atol=1e-5)
    assert not torch.isnan(data.train.x).any() and not torch.isnan(data.test.x).any()
    freq = tab.prepare(tab.select_columns(t, ["size", "city"], ["price"], "most_frequent"), "m")
    assert not torch.isnan(freq.train.x).any()


# --- stored sets --------------------------------------------------------------------------------


def test_save_names_hashes_registers_and_reloads(store: Path) -> None:
    t = tab.read_table(csv_bytes(houses()), "houses.csv")
    saved = tab.save_table(t, "My Houses!", None, "price,type", "median")
    assert saved.name.startswith("table:my-houses-") and len(saved.name.split("-")[-1]) == 8
    assert saved.created and saved.name in DATASETS and saved.sha256.startswith(saved.name[-8:])
    assert sorted(p.suffix for p in store.iterdir()) == [".json", ".npz"]
    again = tab.save_table(t, "My Houses!", None, "price,type", "median")
    assert again.name == saved.name and not again.created
    other = tab.save_table(t, "My Houses!", None, "price,type", "drop")  # other choices, other hash
    assert other.name != saved.name
    data = load_dataset(saved.name)
    direct = tab.prepare(tab.select_columns(t, None, ["price", "type"], "median"), saved.name)
    assert torch.equal(data.train.x, direct.train.x) and data.info["sha256"] == saved.sha256
    entry = next(e for e in catalogue() if e["name"] == saved.name)
    assert [x["name"] for x in entry["tasks"]] == ["price", "type"] and entry["missing"] is None
    assert entry["input_kind"] == "vector" and any(p["name"] == "data_seed" for p in entry["params"])
    reseeded = load_dataset(saved.name, {"data_seed": 4})
    assert not torch.equal(reseeded.train.x, data.train.x)
    assert {m["name"] for m in tab.saved_tables()} == {saved.name, other.name}


def test_hash_is_checked_at_load(store: Path) -> None:
    saved = tab.save_table(tab.read_table(csv_bytes(houses()), "h.csv"), "h", None, ["price"])
    npz = next(store.glob("*.npz"))
    arrays = dict(np.load(npz))
    arrays["c0"] = arrays["c0"] + 1.0
    np.savez(npz, **arrays)
    with pytest.raises(tab.SavedDataChanged, match="content hash"):
        load_dataset(saved.name)
    meta_path = next(store.glob("*.json"))
    tab.save_table(tab.read_table(csv_bytes(houses()), "h.csv"), "h2", None, ["price"])  # a clean copy
    meta = json.loads(meta_path.read_text())
    meta["missing"] = "median"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(tab.SavedDataChanged):
        tab.load_saved(saved.name)
    for p in store.glob("h-*"):
        p.unlink()
    assert "not stored" in get_info(saved.name).available({})
    with pytest.raises(DataSourceMissing, match="import its file again"):
        load_dataset(saved.name)


def test_sets_saved_by_another_process_are_registered_on_refresh(store: Path) -> None:
    saved = tab.save_table(tab.read_table(csv_bytes(houses(80, seed=9)), "h.csv"), "mine", None, ["price"])
    # what another process would leave: the same files under a name this process never registered
    suffix = saved.name.rsplit("-", 1)[1]
    name = f"table:theirs-{suffix}"
    meta = json.loads((store / f"mine-{suffix}.json").read_text())
    meta["name"], meta["title"] = name, "theirs"
    (store / f"theirs-{suffix}.json").write_text(json.dumps(meta))
    (store / f"theirs-{suffix}.npz").write_bytes((store / f"mine-{suffix}.npz").read_bytes())
    assert name not in DATASETS
    assert tab.refresh_saved() == [name] and name in DATASETS
    assert tab.refresh_saved() == []
    assert len(load_dataset(name).train) == 56
    (store / "broken-00000000.json").write_text("{not json")  # ignored, never fatal
    assert tab.refresh_saved() == []


def test_nothing_is_stored_for_a_rejected_choice(store: Path) -> None:
    t = tab.read_table(csv_bytes(houses()), "h.csv")
    with pytest.raises(tab.TableError):
        tab.save_table(t, "bad", ["size"], ["city"], kinds="city=regression")
    with pytest.raises(tab.TableError, match="name"):
        tab.save_table(t, "  !!! ", ["size"], ["price"])
    assert not store.exists()


# --- a file named in the run config ---------------------------------------------------------------


def test_direct_table_entry(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(csv_bytes(houses()))
    params = {"path": str(path), "inputs": ["size", "city"], "targets": "price,type", "missing": "median"}
    data = load_dataset("table", params)
    assert list(data.tasks) == ["price", "type"] and data.input_shape == (4,)
    assert data.info["file"]["sha256"] == tab.read_table_file(path).sha256
    assert load_dataset("table", {**params, "sha256": data.info["file"]["sha256"][:12].upper()}).name == "table"
    with pytest.raises(tab.SavedDataChanged, match="changed"):
        load_dataset("table", {**params, "sha256": "0" * 12})
    with pytest.raises(DataSourceMissing, match="'path'"):
        load_dataset("table", {})
    with pytest.raises(DataSourceMissing, match="not found"):
        load_dataset("table", {**params, "path": str(tmp_path / "none.csv")})
    with pytest.raises(ConfigError, match="list of column names"):
        load_dataset("table", {**params, "inputs": 3})
    assert [t.name for t in get_info("table").tasks({**tab_defaults(), **params})] == ["price", "type"]
    assert get_info("table").tasks(tab_defaults()) == []


def tab_defaults() -> dict:
    from mtlcore.data.base import dataset_params

    return dataset_params("table", {})


# --- limits -------------------------------------------------------------------------------------


def test_size_and_row_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_upload_bytes() == 200 * 1024 * 1024
    raw = csv_bytes(houses(2000))
    monkeypatch.setenv("MTL_MAX_UPLOAD_MB", "0.01")
    with pytest.raises(tab.TableError, match="over the 10.2 KB limit"):
        tab.read_table(raw, "big.csv")
    path = tmp_path / "big.csv"
    path.write_bytes(raw)
    with pytest.raises(tab.TableError, match="MTL_MAX_UPLOAD_MB"):
        tab.read_table_file(path)
    monkeypatch.setenv("MTL_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="must be a number"):
        tab.read_table(raw, "big.csv")
    monkeypatch.delenv("MTL_MAX_UPLOAD_MB")
    monkeypatch.setenv("MTL_MAX_ROWS", "1000")
    assert max_rows() == 1000
    with pytest.raises(tab.TableError, match="2,000 rows, over the 1,000-row limit"):
        tab.read_table(raw, "big.csv")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(houses(2000)), buf)
    with pytest.raises(tab.TableError, match="row limit"):
        tab.read_table(buf.getvalue(), "big.parquet")


def test_a_target_with_thousands_of_classes_is_refused() -> None:
    df = pd.DataFrame({"x": range(3000), "who": [f"user{i}" for i in range(3000)]})
    t = tab.read_table(csv_bytes(df), "ids.csv")
    with pytest.raises(tab.TableError, match=f"3,000 distinct values.*at most {MAX_CLASSES}"):
        tab.select_columns(t, ["x"], ["who"])


# --- end to end ---------------------------------------------------------------------------------


def _run_config(name: str, params: dict | None = None, steps: int = 30) -> RunConfig:
    return RunConfig(data=DataConfig(name, [], params or {}), model=ModelConfig("hps", {"width": 32}),
                     weighting=WeightingConfig("uw"),
                     optim=OptimConfig(lr=3e-3, batch_size=32, epochs=100, max_steps=steps),
                     eval_every=10, grad_stats_every=0)


def test_trains_with_uncertainty_weighting_on_two_targets() -> None:
    saved = tab.save_table(tab.read_table(csv_bytes(houses()), "h.csv"), "uw", None, ["price", "type"], "median")
    events = train(_run_config(saved.name))
    done = events[-1]
    assert isinstance(done, Finished) and done.status == "finished", done.reason
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert len(steps) == 30 and all(set(e.losses) == {"price", "type"} for e in steps)
    assert all(set(e.weights) == {"price", "type"} for e in steps)
    test = next(e for e in events if isinstance(e, Evaluation) and e.split == "test")
    scale = load_dataset(saved.name).tasks["price"].target_scale
    assert 0.05 * scale < test.metrics["price"]["mae"] < 3 * scale  # in the column's units (tens of thousands)
    assert 0.0 <= test.metrics["type"]["accuracy"] <= 1.0


@pytest.mark.slow
def test_cli_import_and_train(tmp_path: Path) -> None:
    csv_path = tmp_path / "houses.csv"
    csv_path.write_bytes(csv_bytes(houses()))
    db = str(tmp_path / "runs.sqlite")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mtlcore", *args], cwd=str(ROOT), capture_output=True,
                              text=True, timeout=300)

    out = cli("import-table", str(csv_path), "--name", "houses", "--targets", "price,type",
              "--inputs", "size,city,rooms", "--missing", "median")
    assert out.returncode == 0, out.stderr
    name = next(w for w in out.stdout.split() if w.startswith("table:houses-"))
    assert "price: regression" in out.stdout and "type: classification, 2 classes" in out.stdout
    listed = cli("datasets")
    assert name in listed.stdout and "Table file" in listed.stdout
    for i, (data_name, params) in enumerate([
        (name, {}),
        ("table", {"path": str(csv_path), "targets": ["price", "type"], "missing": "median"}),
    ]):
        cfg = tmp_path / f"run{i}.json"
        cfg.write_text(_run_config(data_name, params, steps=20).to_json())
        run = cli("train", "--config", str(cfg), "--db", db, "--quiet")
        assert run.returncode == 0, run.stderr + run.stdout
        assert "finished" in run.stdout and "price" in run.stdout and "type" in run.stdout
        assert "mae" in run.stdout and "accuracy" in run.stdout
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"only\n1\n2\n")
    out = cli("import-table", str(bad), "--name", "bad", "--targets", "only")
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "single column" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# --- a set saved after this process first looked (issue 12, item 1) ----------------------------------


def _copy_as_another_process(store: Path, saved_name: str, title: str) -> str:
    """Leave the files another process would leave for `title`: a name this process never registered."""
    suffix = saved_name.rsplit("-", 1)[1]
    name = f"table:{title}-{suffix}"
    meta = json.loads((store / f"{saved_name.removeprefix('table:')}.json").read_text())
    meta["name"], meta["title"] = name, title
    (store / f"{title}-{suffix}.json").write_text(json.dumps(meta))
    (store / f"{title}-{suffix}.npz").write_bytes((store / f"{saved_name.removeprefix('table:')}.npz").read_bytes())
    return name


def test_a_set_saved_later_is_found_by_name_without_a_refresh(store: Path) -> None:
    get_info("multi_digits")  # the registry was consulted before the set existed, as in a warm worker
    saved = tab.save_table(tab.read_table(csv_bytes(houses(80, seed=3)), "h.csv"), "first", None, ["price"])
    name = _copy_as_another_process(store, saved.name, "later")
    assert name not in DATASETS
    assert len(load_dataset(name).train) == 56  # looked again, not failed
    assert name in DATASETS
    with pytest.raises(ConfigError, match="unknown data set 'table:never-00000000'"):
        load_dataset("table:never-00000000")


@pytest.mark.slow
def test_a_warm_worker_trains_on_a_table_saved_after_it_started(store: Path) -> None:
    """The failure users saw: a process that imported the core before the table was saved."""
    script = ("import sys\n"
              "from mtlcore.data import get_info, load_dataset\n"
              "get_info('multi_digits')\n"
              "print('ready', flush=True)\n"
              "name = sys.stdin.readline().strip()\n"
              "print(len(load_dataset(name).train), flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        saved = tab.save_table(tab.read_table(csv_bytes(houses(80, seed=4)), "h.csv"), "fresh", None, ["price"])
        out, err = child.communicate(saved.name + "\n", timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err[-2000:]
    assert out.strip() == "56"


def test_importing_the_data_sets_scans_no_folder(store: Path) -> None:
    """Stored sets are found when asked (a listing, or a name), never by a scan at import."""
    saved = tab.save_table(tab.read_table(csv_bytes(houses(80, seed=5)), "h.csv"), "scan", None, ["price"])
    script = ("import pathlib, sys\n"
              "calls = []\n"
              "glob = pathlib.Path.glob\n"
              "pathlib.Path.glob = lambda self, *a, **k: (calls.append(str(self)), glob(self, *a, **k))[1]\n"
              "import mtlcore.data\n"
              f"print(len(calls), {saved.name!r} in mtlcore.data.DATASETS)\n"
              "print(any(e['name'] == " + repr(saved.name) + " for e in mtlcore.data.catalogue()))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "False", "True"]


# --- compressed files and headers that look like data (issue 12, item 9) --------------------------


def test_gzip_compressed_csv_is_read_like_the_plain_file() -> None:
    import gzip

    raw = csv_bytes(houses(50))
    plain, packed = tab.read_table(raw, "h.csv"), tab.read_table(gzip.compress(raw), "h.csv.gz")
    assert list(packed.columns) == list(plain.columns) and packed.n_rows == plain.n_rows == 50
    for name, col in plain.columns.items():
        assert np.array_equal(packed.columns[name].values, col.values, equal_nan=True)
    assert packed.n_bytes < plain.n_bytes and any("gzip-compressed" in n for n in packed.notes)
    assert not plain.warnings and not packed.warnings
    with pytest.raises(tab.TableError, match="does not decompress"):
        tab.read_table(gzip.compress(raw)[:60], "h.csv.gz")


def test_gzip_is_held_to_the_size_limit_after_decompression(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    monkeypatch.setenv("MTL_MAX_UPLOAD_MB", "1")
    bomb = gzip.compress(b"a,b\n" + b"1,2\n" * 400_000)  # 1.6 MB of text in a few kB
    assert len(bomb) < max_upload_bytes()
    with pytest.raises(tab.TableError, match="decompresses to over the"):
        tab.read_table(bomb, "bomb.csv.gz")


def test_a_header_that_looks_like_data_gives_a_warning() -> None:
    iris = ("150,4,setosa,versicolor,virginica\n"  # scikit-learn's iris.csv: a metadata first line
            + "".join(f"{5 + i % 3}.1,3.5,1.4,0.2,{i % 3}\n" for i in range(30)))
    table = tab.read_table(iris.encode(), "iris.csv")
    assert len(table.warnings) == 1
    warning = table.warnings[0]
    assert warning.startswith("the first line looks like data, not column names")
    assert "'150', '4'" in warning and "2 of the 5" in warning
    source = tab.select_columns(table, None, ["virginica"])
    assert source.notes[0] == warning  # the page and the CLI's report show it with the notes
    assert not tab.read_table(csv_bytes(houses(30)), "h.csv").warnings
    private = tab.read_table(iris.encode(), "iris.csv", private=True)
    assert "'150'" not in private.warnings[0]


# --- a table named by path: its contents are never quoted (issue 12, item 8) ----------------------


SECRET_LINE = "s3cret-token:x:0:0:hidden"


@pytest.mark.parametrize("content, targets", [
    (SECRET_LINE + "\nmore:y:1:1:lines\n", "root"),  # one column: the header would be quoted
    (f"a,{SECRET_LINE}\n1,2\n3,4\n", "nope"),  # a missing target: the columns would be listed
    ("a,b\n" + "".join(f"{i},{SECRET_LINE}{i % 3}\n" for i in range(12)), "b"),  # text as regression: values shown
    ("a,b\n1,2,3,4\n" + "1,2\n" * 10 + f"{SECRET_LINE},1,2,3\n", "b"),  # ragged: pyarrow quotes the row
    (f"{SECRET_LINE},{SECRET_LINE}\n1,2\n", "b"),  # two columns of the same name
])
def test_a_file_named_by_path_never_has_its_contents_in_the_message(tmp_path: Path, content: str,
                                                                     targets: str) -> None:
    path = tmp_path / "secret.txt"
    path.write_text(content)
    params = {"path": str(path), "targets": targets, "kinds": "b=regression" if targets == "b" else ""}
    with pytest.raises(ConfigError) as caught:
        load_dataset("table", params)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError) as uploaded:  # the user's own upload keeps its helpful message
        tab.select_columns(tab.read_table(content.encode(), "mine.csv"), None, targets,
                           kinds=params["kinds"] or None)
    assert "s3cret" in str(uploaded.value) or "ragged" in str(uploaded.value)


def test_the_cli_stores_no_line_of_a_file_named_by_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train` with a table path of /etc/passwd: the run fails, and its stored error quotes nothing."""
    from mtlcore.cli import main
    from mtlcore.runs.store import RunStore

    secret = tmp_path / "passwd"
    secret.write_text(SECRET_LINE + "\nroot:x:0:0:root:/root:/bin/bash\n")
    paths = [secret] + [p for p in (Path("/etc/passwd"),) if p.is_file()]
    db = str(tmp_path / "runs.sqlite")
    for path in paths:
        first = path.read_text(errors="replace").splitlines()[0]
        config = {"data": {"name": "table", "params": {"path": str(path), "targets": "root"}},
                  "optim": {"max_steps": 2}}
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config))
        code = main(["train", "--config", str(cfg), "--db", db, "--quiet"])
        out = capsys.readouterr()
        assert code != 0
        assert first not in out.out + out.err and first[:12] not in out.out + out.err
        runs = RunStore(db).list_runs()
        errors = [RunStore(db).get_run(r)["error"] for r in runs["id"]]
        # the whole config is validated before a run row is written, so no run (and no error text) is
        # stored; the refusal names the problem without the file's contents
        assert errors == []
        assert "single column" in out.err, out.err
