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
