"""The layering the product relies on: pages never import torch, the core never imports Streamlit,
and the light core modules (what pages use) import with torch unavailable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder, banned", [("dashboard", "torch"), ("mtlcore", "streamlit")])
def test_no_import_across_the_boundary(folder: str, banned: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py") if banned in imported_modules(p)]
    assert offenders == [], f"{banned} imported in {offenders}"


def test_light_core_modules_import_without_torch() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import mtlcore, mtlcore.config, mtlcore.events, mtlcore.registry, mtlcore.runs.store, mtlcore.runs.queue\n"
        "import mtlcore.runs.executor, mtlcore.runs.workers, mtlcore.runs.ray, mtlcore.sweeps.config\n"
        "import mtlcore.sweeps.plan, mtlcore.sweeps.execute, mtlcore.sweeps.results, mtlcore.sweeps.pareto\n"
        "import mtlcore.sweeps.delta_m\n"
        "import mtlcore.catalog, mtlcore.tasks, mtlcore.data\n"
        "assert [d['name'] for d in mtlcore.catalog.datasets()]\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
