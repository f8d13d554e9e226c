"""Shared fixtures: every test gets its own run database and data cache, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # one cache per session keeps prepared data sets warm across tests; one database per test
    cache = os.environ.get("MTL_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "mtl-cache")
    monkeypatch.setenv("MTL_CACHE", cache)
    monkeypatch.setenv("MTL_DB", str(tmp_path_factory.mktemp("db") / "mtl.sqlite"))


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "runs" / "mtl.sqlite")


@pytest.fixture(scope="module")
def single_torch_thread():
    """For modules of thousands of tiny tensor ops: on a busy 2-core machine a second torch thread
    turns each into a millisecond of hand-off. Results do not depend on it; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
