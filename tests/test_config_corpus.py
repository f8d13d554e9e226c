"""Malformed configs are refused with a message before any run row exists (issue 12, item 6).

Each config of the corpus goes through both ways a run is created: the CLI's `train --config` (in
process, so a traceback fails the test) and `executor.start` (the pages' path). Every one must end in
a ConfigError naming what is wrong, and the run database must stay empty.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mtlcore.cli import main
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs import executor, workers
from mtlcore.runs.store import RunStore

# small and always available: a config that wrongly passed would train two quick steps
BASE: dict[str, Any] = {
    "data": {"name": "multi_digits", "tasks": ["left", "right"], "params": {}},
    "optim": {"max_steps": 2, "batch_size": 32}, "grad_stats_every": 0, "threads": 1,
}

# (dotted key -> value patches, a fragment the message must contain)
CORPUS: list[tuple[dict[str, Any], str]] = [
    # numbers: type, finiteness, range (OverflowError and libgomp's abort before)
    ({"seed": 10**30}, "'seed' must be <= 4294967295"),
    ({"seed": -1}, "'seed' must be >= 0"),
    ({"seed": 1.5}, "whole number"),
    ({"seed": "0"}, "'seed' must be a number"),
    ({"seed": True}, "'seed' must be a number"),
    ({"optim.epochs": 1e300}, "'optim.epochs' must be <= 10000"),
    ({"optim.epochs": 1e5}, "'optim.epochs' must be <= 10000"),
    ({"optim.epochs": float("inf")}, "must be finite"),
    ({"optim.epochs": True}, "'optim.epochs' must be a number"),
    ({"optim.lr": True}, "'optim.lr' must be a number"),
    ({"optim.lr": float("nan")}, "'optim.lr' must be finite"),
    ({"optim.lr": 0}, "optim.lr must be > 0"),
    ({"optim.lr": 1e300}, "'optim.lr' must be <= 100"),
    ({"optim.momentum": "x"}, "'optim.momentum' must be a number"),
    ({"optim.momentum": 1.5}, "'optim.momentum' must be <= 1"),
    ({"optim.weight_decay": -0.1}, "'optim.weight_decay' must be >= 0"),
    ({"optim.batch_size": 0}, "'optim.batch_size' must be >= 1"),
    ({"optim.batch_size": 10**12}, "'optim.batch_size' must be <= 1000000"),
    ({"optim.batch_size": True}, "'optim.batch_size' must be a number"),
    ({"optim.max_steps": 10**15}, "'optim.max_steps' must be <= 10000000"),
    ({"optim.max_steps": 0}, "'optim.max_steps' must be >= 1"),
    ({"optim.optimizer": "rmsprop"}, "'optim.optimizer' must be one of"),
    ({"optim.optimizer": 1}, "'optim.optimizer' must be one of"),
    ({"threads": 1_000_000_000}, "'threads' must be <= 256"),
    ({"threads": -1}, "'threads' must be >= 0"),
    ({"amp": "yes"}, "'amp' must be true or false"),
    ({"amp": None}, "'amp' must be true or false"),
    ({"eval_every": 10**15}, "'eval_every' must be <= 10000000"),
    ({"grad_stats_every": "x"}, "'grad_stats_every' must be a number"),
    ({"log_every": 0}, "'log_every' must be >= 1"),
    # text and structure
    ({"device": 0}, "device must be auto, cpu, cuda, cuda:N or mps"),
    ({"device": None}, "device must be"),
    ({"device": "cuda:x"}, "device must be"),
    ({"device": "tpu"}, "device must be"),
    ({"name": 5}, "name must be text"),
    ({"name": "x" * 501}, "at most 500 characters"),
    ({"data.name": 5}, "data.name must be a name"),
    ({"data.tasks": "left"}, "data.tasks must be a list"),
    ({"data.tasks": [1]}, "data.tasks must be a list"),
    ({"data.tasks": ["left", "left"]}, "duplicates"),
    ({"data.params": []}, "data.params must be an object"),
    ({"model.params": [1]}, "model.params must be an object"),
    ({"weighting.params": "x"}, "weighting.params must be an object"),
    ({"weighting.gradients": 3}, "weighting.gradients"),
    ({"weighting.method": None}, "weighting.method must be a name"),
    # names and parameters against the registries: found after the row existed before
    ({"data.name": "nope"}, "unknown data set 'nope'"),
    ({"data.tasks": ["left", "nope"]}, "has no task(s) ['nope']"),
    ({"data.params": {"bogus": 1}}, "unknown parameter(s) ['bogus']"),
    ({"data.name": "scale_imbalance", "data.tasks": [], "data.params": {"n_tasks": 0}}, "'n_tasks' must be >= 2"),
    ({"data.name": "scale_imbalance", "data.tasks": [], "data.params": {"sigmas": [1, 2, 3]}}, "'sigmas' has 3"),
    ({"data.name": "celeba", "data.tasks": []}, "CelebA"),
    ({"model.architecture": "nope"}, "unknown architecture 'nope'"),
    ({"model.params": {"bogus": 1}}, "unknown parameter(s) ['bogus']"),
    ({"model.params": {"depth": 100}}, "'depth' must be <= 8"),
    ({"model.params": {"trunk": "cnn", "depth": 5}}, "halves a 8x16 image below one pixel"),
    ({"model.params": {"trunk": "multilenet"}}, "at least 20x20 pixels"),
    ({"data.name": "scale_imbalance", "data.tasks": [], "model.params": {"trunk": "cnn"}}, "needs image inputs"),
    ({"model.architecture": "mmoe", "model.params": {"n_experts": 0}}, "'n_experts' must be >= 1"),
    ({"weighting.method": "nope"}, "unknown weighting method 'nope'"),
    ({"weighting.params": {"bogus": 1}}, "unknown parameter(s) ['bogus']"),
    ({"weighting.method": "static", "weighting.params": {"weights": [1.0]}}, "one value per task (2)"),
    ({"weighting.method": "static", "weighting.params": {"weights": [0, 0]}}, "at least one weight"),
    ({"weighting.method": "static", "weighting.params": {"weights": [1, True]}}, "must be a number"),
    ({"weighting.method": "mgda", "model.architecture": "single_task"}, "shares none"),
    ({"device": "cuda:0"}, "CUDA is not available"),
]


def malformed(patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for key, value in patch.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _ids() -> list[str]:
    return [json.dumps(p)[:60] for p, _ in CORPUS]


def test_the_base_config_is_valid() -> None:
    """Each case differs from a valid config only by its patch, so each checks what it names."""
    RunConfig.from_dict(malformed({})).validate()


@pytest.mark.parametrize("patch, fragment", CORPUS, ids=_ids())
def test_cli_train_refuses_before_storing(patch: dict[str, Any], fragment: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    if "cuda" in str(patch.get("device")):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(malformed(patch)))  # NaN and Infinity as Python's json writes them
    db = tmp_path / "runs.sqlite"
    code = main(["train", "--config", str(path), "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line, the message
    assert not db.exists() or RunStore(str(db)).list_runs().empty


@pytest.mark.parametrize("patch, fragment", CORPUS, ids=_ids())
def test_launch_start_refuses_before_storing(patch: dict[str, Any], fragment: str, db_path: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if "cuda" in str(patch.get("device")):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")

    def no_worker(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a worker was started for a malformed config")

    monkeypatch.setattr(workers, "spawn", no_worker)
    store = RunStore(db_path)
    with pytest.raises(ConfigError) as refused:
        executor.start(RunConfig.from_dict(malformed(patch)), store)
    assert fragment in str(refused.value)
    assert store.list_runs().empty


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    db = tmp_path / "runs.sqlite"
    assert main(["train", "--config", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text (byte 0xe9 at position 13)" in err and "Traceback" not in err
    assert not db.exists() or RunStore(str(db)).list_runs().empty


def test_a_set_override_gets_the_same_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(BASE))
    db = tmp_path / "runs.sqlite"
    assert main(["train", "--config", str(path), "--db", str(db), "--set", "seed=" + "9" * 400]) == 2
    assert "'seed' must be <= 4294967295, got 9999999999...(400 digits)" in capsys.readouterr().err
    assert not db.exists() or RunStore(str(db)).list_runs().empty


def test_whole_numbers_written_as_floats_are_stored_as_ints() -> None:
    config = RunConfig.from_dict(malformed({"optim.batch_size": 64.0, "seed": 3.0, "amp": 0})).validate()
    assert config.optim.batch_size == 64 and isinstance(config.optim.batch_size, int)
    assert isinstance(config.seed, int) and config.amp is False


def test_a_table_saved_by_another_process_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The server's registry learns stored tables at import; one saved since is looked up again."""
    import pandas as pd

    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path / "tables"))
    from mtlcore.data import DATASETS
    from mtlcore.data.tabular import import_table_file

    frame = pd.DataFrame({"a": range(60), "b": [i % 7 for i in range(60)], "y": [i % 3 for i in range(60)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    name = import_table_file(str(tmp_path / "t.csv"), "probe", "", "y", "drop", "").name
    DATASETS._entries.pop(name, None)  # as in a process that started before the table was saved
    RunConfig.from_dict({"data": {"name": name, "tasks": ["y"]}}).validate()


def test_the_python_api_refuses_before_storing(db_path: str) -> None:
    """`mtlcore.train` (runner.execute without a run id) creates the row itself: it checks first."""
    from mtlcore import train

    with pytest.raises(ConfigError, match="has no task"):
        train(RunConfig.from_dict(malformed({"data.tasks": ["left", "nope"]})), db_path)
    assert RunStore(db_path).list_runs().empty


@pytest.mark.parametrize("text, fragment", [
    ('{"seed": ' + "9" * 5000 + "}", "not valid JSON: Exceeds the limit"),  # Python's int-digits limit
    ("[" * 100_000, "not valid JSON"),  # nesting beyond the recursion limit
])
def test_config_text_that_breaks_the_json_reader_is_named(text: str, fragment: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    db = tmp_path / "runs.sqlite"
    assert main(["train", "--config", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not db.exists() or RunStore(str(db)).list_runs().empty


def test_a_huge_set_value_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(BASE))
    assert main(["train", "--config", str(path), "--db", str(tmp_path / "r.sqlite"), "--set",
                 "seed=" + "9" * 5000]) == 2
    err = capsys.readouterr().err
    assert "'seed' must be a number, got '999999999...(5002 characters)" in err and len(err) < 200
