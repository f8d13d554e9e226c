"""Pages never load torch: every dashboard module imports, and every page runs, in a fresh interpreter
with `torch` left out of sys.modules (a fresh server would otherwise pay ~3 s for it on first view).

A page script runs when imported, so each page is run through streamlit's AppTest in its own
subprocess (the frame first draws the Train page, then switches to the page under test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.stem for p in (ROOT / "dashboard" / "app_pages").glob("*.py"))
# The toy's pages and figures: their computations run in the toy's worker processes, their metadata
# comes from the catalogue, so they import no torch either (checked on their own, as they once did).
TOY_PAGES = {"landscape", "explorer"}
TOY_MODULES = {"teaching.charts"}
HELPERS = sorted(p.stem for p in (ROOT / "dashboard").glob("*.py")
                 if p.stem not in {"__init__", "streamlit_app"})


def fresh_python(code: str, tmp_path: Path) -> dict:
    env_code = (
        "import os, sys, json\n"
        f"os.environ['MTL_DB'] = {str(tmp_path / 'runs.sqlite')!r}\n"
        "os.environ['MTL_STANDBY'] = '0'\n" + code
    )
    out = subprocess.run([sys.executable, "-c", env_code], cwd=str(ROOT), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dashboard_helper_modules_import_without_torch(tmp_path: Path) -> None:
    """All light helpers in one fresh interpreter, checked after each import: names the first offender."""
    modules = [m for m in HELPERS if m not in TOY_MODULES]
    got = fresh_python(
        f"offenders = []\nfor m in {modules!r}:\n"
        "    __import__('dashboard.' + m)\n"
        "    if 'torch' in sys.modules and not offenders:\n"
        "        offenders.append(m)\n"
        "print(json.dumps({'first_to_import_torch': offenders}))\n", tmp_path)
    assert got == {"first_to_import_torch": []}


@pytest.mark.parametrize("module", sorted(TOY_MODULES))
def test_toy_helper_modules_import_without_torch(module: str, tmp_path: Path) -> None:
    got = fresh_python(f"import dashboard.{module}\nprint(json.dumps({{'torch': 'torch' in sys.modules}}))\n",
                       tmp_path)
    assert got == {"torch": False}


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_importing_torch(page: str, tmp_path: Path) -> None:
    got = fresh_python(
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'dashboard' / 'streamlit_app.py')!r}, default_timeout=300).run()\n"
        f"at.switch_page('app_pages/{page}.py').run()\n"
        "print(json.dumps({'errors': [str(e.value) for e in at.exception], 'torch': 'torch' in sys.modules}))\n",
        tmp_path)
    assert got == {"errors": [], "torch": False}


@pytest.mark.slow
def test_the_toy_runs_in_workers_when_the_app_script_is_main() -> None:
    """Under `streamlit run`, __main__ is the app's script; the toy's pool workers re-import it (as
    __mp_main__) and must not draw the app, and the server must not import torch to probe costs."""
    code = (
        "import sys, types\n"
        "main = types.ModuleType('__main__'); main.__file__ = %r\n"
        "sys.modules['__main__'] = main\n"
        "import dashboard\n"
        "from mtlcore import teaching\n"
        "runs = teaching.simulate(['ew', 'mgda'], steps=50, use_cache=False)\n"
        "print(len(runs), 'torch' in sys.modules)\n"
    ) % str(ROOT / "dashboard" / "streamlit_app.py")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == ["2", "False"], out.stderr[-2000:]
