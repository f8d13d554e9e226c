"""The torch-free catalog: the same metadata as the registries, a snapshot that follows the sources,
and the checks of building a method made without building it."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtlcore import catalog
from mtlcore.registry import ConfigError
from mtlcore.weighting import create

ROOT = Path(__file__).resolve().parent.parent

READ = ("import json, sys\n"
        "from mtlcore import catalog\n"
        "if sys.argv[1] == 'light':\n"
        "    catalog.keep_torch_out()\n"
        "out = {'methods': catalog.methods(), 'architectures': catalog.architectures(),\n"
        "       'auto_device': catalog.auto_device(), 'datasets': [d['name'] for d in catalog.datasets()],\n"
        "       'path': str(catalog.snapshot_path()), 'torch': 'torch' in sys.modules}\n"
        "print(json.dumps(out))\n")


def read_in_fresh_python(cache: Path, mode: str) -> dict:
    env = {**os.environ, "MTL_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", READ, mode], cwd=str(ROOT), env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_in_process_catalog_is_the_registries() -> None:
    from mtlcore.models import describe as architectures
    from mtlcore.weighting import describe as methods

    assert list(catalog.methods()) == methods()
    assert list(catalog.architectures()) == architectures()
    assert catalog.method("uw")["family"] == "loss-based"


@pytest.mark.slow
def test_a_fresh_process_reads_the_snapshot_without_torch(tmp_path: Path) -> None:
    from mtlcore.models import describe as architectures
    from mtlcore.weighting import describe as methods

    first = read_in_fresh_python(tmp_path, "light")  # a miss: computed by one `python -m mtlcore catalog`
    assert first["torch"] is False
    assert first["methods"] == json.loads(json.dumps(methods()))
    assert first["architectures"] == json.loads(json.dumps(architectures()))
    assert first["auto_device"] == "cpu" or first["auto_device"].startswith(("cuda", "mps"))
    assert "multi_digits" in first["datasets"]
    path = Path(first["path"])
    assert path.exists() and path.parent == tmp_path
    # a hit: the file is what is read (a marked copy comes back), no subprocess
    data = json.loads(path.read_text())
    data["methods"] = data["methods"][:1]
    path.write_text(json.dumps(data))
    second = read_in_fresh_python(tmp_path, "light")
    assert second["torch"] is False and [m["name"] for m in second["methods"]] == [first["methods"][0]["name"]]


@pytest.mark.slow
def test_a_process_that_may_import_torch_builds_a_missing_snapshot_itself(tmp_path: Path) -> None:
    got = read_in_fresh_python(tmp_path, "training")  # the CLI or a worker: no subprocess, same snapshot
    assert got["torch"] is True
    assert json.loads(Path(got["path"]).read_text())["methods"] == got["methods"]
    assert read_in_fresh_python(tmp_path, "light")["methods"] == got["methods"]


def test_the_snapshot_is_named_by_its_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "mtlcore"
    package.mkdir()
    for name in catalog.SOURCES:
        src = catalog.PACKAGE / name
        if src.is_dir():
            shutil.copytree(src, package / name)
        else:
            shutil.copy(src, package / name)
    monkeypatch.setattr(catalog, "PACKAGE", package)
    before = catalog.fingerprint()
    assert catalog.fingerprint() == before
    with (package / "weighting" / "uw.py").open("a") as f:
        f.write("# edited\n")
    edited = catalog.fingerprint()
    (package / "models" / "new_arch.py").write_text("# a new architecture\n")
    assert len({before, edited, catalog.fingerprint()}) == 3


@pytest.mark.parametrize("name, n_tasks, params", [
    ("static", 3, {"weights": [1.0, 2.0]}),
    ("static", 2, {"weights": [1.0, -1.0]}),
    ("static", 2, {"weights": "1, 2"}),
    ("famo", 2, {"min_losses": [0.0, math.inf]}),
    ("famo", 3, {"min_losses": [0.0]}),
    ("mgda", 2, {"solver": "nope"}),
    ("uw", 2, {"bogus": 1}),
    ("cagrad", 2, {"c": -1.0}),
    ("ew", 0, {}),
    ("nope", 2, {}),
])
def test_check_method_rejects_what_building_the_method_rejects(name: str, n_tasks: int, params: dict) -> None:
    with pytest.raises(ConfigError) as built:
        create(name, n_tasks, **params)
    with pytest.raises(ConfigError) as checked:
        catalog.check_method(name, n_tasks, params)
    assert str(checked.value) == str(built.value)


@pytest.mark.parametrize("name, n_tasks, params", [
    ("static", 2, {"weights": [1.0, 0.5]}), ("famo", 3, {"min_losses": [0.0, 0.1, 0.0]}), ("uw", 2, {}),
    ("mgda", 4, {"normalization": "l2"}),
])
def test_check_method_accepts_what_builds_and_fills_the_defaults(name: str, n_tasks: int, params: dict) -> None:
    assert catalog.check_method(name, n_tasks, params) == create(name, n_tasks, **params).hp
