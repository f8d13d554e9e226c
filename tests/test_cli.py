from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, db: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mtlcore", *args]
    if db:
        cmd += ["--db", db]
    return subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, timeout=300)


def test_datasets_lists_sets_and_tasks() -> None:
    out = cli("datasets")
    assert out.returncode == 0, out.stderr
    for name in ("multi_digits", "multi_fashion", "fashion_attributes", "scale_imbalance", "left", "sum"):
        assert name in out.stdout


def test_methods_and_architectures() -> None:
    out = cli("methods")
    assert out.returncode == 0 and "uw" in out.stdout and "static" in out.stdout
    out = cli("architectures")
    assert out.returncode == 0 and "hps" in out.stdout and "mmoe" in out.stdout


def test_train_list_export(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    out = cli("train", "--config", "examples/multidigits_ew.json", "--set", "optim.max_steps=40",
              "--set", "eval_every=20", db=db)
    assert out.returncode == 0, out.stderr
    assert "finished" in out.stdout and "test" in out.stdout and "accuracy" in out.stdout
    assert "step" in out.stderr  # the tqdm progress bar
    listing = cli("list", db=db)
    assert listing.returncode == 0 and "multi_digits" in listing.stdout and "finished" in listing.stdout
    run_id = out.stdout.split()[1].rstrip(":")
    target = tmp_path / "m.csv"
    cfg_out = tmp_path / "c.json"
    exported = cli("export", run_id, "--csv", str(target), "--config-out", str(cfg_out), db=db)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(target.open()))
    assert {"run_id", "step", "split", "task", "name", "value"} <= set(rows[0])
    assert any(r["split"] == "test" and r["name"] == "accuracy" for r in rows)
    again = json.loads(cfg_out.read_text())
    assert again["optim"]["max_steps"] == 40


def test_rerun_from_stored_config_is_identical(tmp_path: Path) -> None:
    from mtlcore.config import RunConfig
    from mtlcore.runs.runner import execute
    from mtlcore.runs.store import RunStore

    store = RunStore(str(tmp_path / "r.sqlite"))
    cfg = RunConfig.load(ROOT / "examples" / "multidigits_ew.json")
    cfg.optim.max_steps = 15
    cfg.threads = 1
    a = execute(cfg, store)
    b = execute(RunConfig.from_dict(store.get_run(a)["config"]), store)
    la = store.metrics(a, split="train", name="loss")["value"].tolist()
    lb = store.metrics(b, split="train", name="loss")["value"].tolist()
    assert la == lb and len(la) == 15 * 3


@pytest.mark.parametrize("args, fragment", [
    (("train", "--config", "does-not-exist.json"), "config file not found"),
    (("export", "nope", "--csv", "/tmp/x.csv"), "no run 'nope'"),
])
def test_errors_are_one_line_messages(tmp_path: Path, args: tuple, fragment: str) -> None:
    out = cli(*args, db=str(tmp_path / "e.sqlite"))
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr


def test_bad_config_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": {"name": "multi_digits"}, "weighting": {"method": "static",
                                                                              "params": {"weights": [0, 0, 0]}}}))
    out = cli("train", "--config", str(bad), db=str(tmp_path / "e.sqlite"))
    # refused before a run exists (issue 12): one line, no 'failed' run left behind
    assert out.returncode == 2 and "zero" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["multi_digits", "multi_fashion"])
def test_train_command_runs_every_method(dataset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mtlcore train` (its main, in-process: one torch import) trains every registered method."""
    from mtlcore.cli import main
    from mtlcore.data import catalogue
    from mtlcore.runs.store import RunStore
    from mtlcore.weighting import WEIGHTINGS

    missing = next(d for d in catalogue() if d["name"] == dataset).get("missing")
    if missing:
        pytest.skip(missing)
    config = json.loads((ROOT / "examples" / "multidigits_ew.json").read_text())
    config["data"] = {"name": dataset, "tasks": ["left", "right"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    db = str(tmp_path / "runs.sqlite")
    names = [e.name for e in WEIGHTINGS]
    for name in names:
        code = main(["train", "--config", str(path), "--db", db, "--quiet", "--set", f"weighting.method={name}",
                     "--set", "optim.max_steps=3", "--set", "eval_every=3", "--set", "optim.batch_size=32"])
        assert code == 0, f"{name}: {capsys.readouterr().err}"
    runs = RunStore(db).list_runs()
    assert sorted(runs["method"]) == sorted(names) and set(runs["status"]) == {"finished"}


def test_toy_command_computes_what_the_landscape_page_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mtlcore toy` runs the page's computation headless, into the page's cache, and reports distances."""
    from mtlcore import teaching as toy

    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    args = ("toy", "--methods", "ew,mgda", "--starts", "5, 5; -2 8", "--steps", "400", "--quiet")
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]}
    assert set(rows) == {"ew", "mgda"} and "(5, 5)" in out.stdout and "(-2, 8)" in out.stdout
    runs = toy.cached_runs(["ew", "mgda"], [(5.0, 5.0), (-2.0, 8.0)], steps=400, imbalance=0.1)
    assert runs is not None  # the page would draw these at once
    assert rows["mgda"][1] == f"{runs[1].distances()[0]:.3f}"
    again = cli(*args)
    assert again.returncode == 0 and "from the cache" in again.stderr
    bad = cli("toy", "--starts", "1, 2; x", "--quiet")
    assert bad.returncode == 2 and "'x' is not a point" in bad.stderr
    assert cli("toy", "--methods", "nope", "--steps", "10", "--quiet").returncode == 2


# -- storage faults (issue 12, item 5): one clear line each, never a traceback -----------------------
def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_disk_full_during_training_is_one_line_and_the_run_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk, made real by SQLite's page limit: writes fail with SQLite's own 'database or disk
    is full' (and its automatic rollback, which once masked it), the run ends failed at once."""
    import sqlite3

    from mtlcore.cli import main
    from mtlcore.runs import store as store_module

    db = str(tmp_path / "full.sqlite")
    real_connect = sqlite3.connect

    def small_disk(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 24")  # the schema and the run fit, a few flushes do not
        return conn

    monkeypatch.setattr(store_module.sqlite3, "connect", small_disk)
    code = main(["train", "--config", str(ROOT / "examples" / "multidigits_ew.json"), "--db", db, "--quiet",
                 "--set", "optim.max_steps=400", "--set", "threads=1"])
    line = _one_error_line(capsys.readouterr().err.replace("training on", "\ntraining on").split("\n", 2)[-1])
    assert code == 2 and "the disk is full" in line and db in line and "was marked failed" in line
    monkeypatch.setattr(store_module.sqlite3, "connect", real_connect)
    (status,) = store_module.RunStore(db).list_runs()["status"]
    assert status == "failed"


def test_db_under_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    # /sys refuses new folders and files even to root: a real unwritable place, no mocking
    for db, said in (("/sys/mtl-test/runs.sqlite", "cannot create the folder /sys/mtl-test"),
                     ("/sys/mtl-test.sqlite", "cannot open or create the run database /sys/mtl-test.sqlite")):
        out = cli("list", db=db)
        assert out.returncode == 2, out.stderr
        assert said in _one_error_line(out.stderr)


def test_db_under_a_read_only_mount_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The tests run as root, for whom chmod blocks nothing: the folder's mkdir answers as a
    read-only mount does (EROFS)."""
    import errno

    from mtlcore.cli import main

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["list", "--db", str(tmp_path / "ro" / "runs.sqlite")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "cannot create the folder" in line and "Read-only file system" in line


def test_a_valid_store_that_cannot_be_written_is_called_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A good store opened read-only (SQLite's mode=ro, what it falls back to for a file it may not
    write): reading works, and training says read-only, not 'not a usable run database'."""
    import sqlite3

    from mtlcore.cli import main
    from mtlcore.runs import store as store_module

    db = tmp_path / "good.sqlite"
    store_module.RunStore(db).close()
    real_connect = sqlite3.connect
    monkeypatch.setattr(store_module.sqlite3, "connect",
                        lambda path, **kw: real_connect(f"file:{path}?mode=ro", uri=True, **kw))
    assert main(["list", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["train", "--config", str(ROOT / "examples" / "multidigits_ew.json"), "--db", str(db), "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"the run database {db} is read-only" in line and "not a usable" not in line


RO_MOUNT_PROBE = """
set -e
mount -t tmpfs none "$1"
"$2" -c "from mtlcore.runs.store import RunStore; RunStore('$1/runs.sqlite').close()"
mount -o remount,ro "$1"
"$2" -m mtlcore list --db "$1/runs.sqlite" || true
"""


def test_a_valid_store_on_a_real_read_only_mount(tmp_path: Path) -> None:
    """The real thing where the machine allows it (a private mount namespace, as root): a tmpfs
    holding a good store, remounted read-only."""
    import shutil

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no private mount namespace here (unshare -m needs root); the mode=ro test covers the message")
    mount = tmp_path / "ro"
    mount.mkdir()
    out = subprocess.run(["unshare", "-m", "sh", "-c", RO_MOUNT_PROBE, "sh", str(mount), sys.executable],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    line = _one_error_line(out.stdout + out.stderr)
    assert f"the run database {mount}/runs.sqlite is on a read-only file system" in line, out
