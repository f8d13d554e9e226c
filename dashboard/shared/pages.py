"""Which pages the app shows: the frame's ordered list, then any other script in app_pages/.

So a new page is one file (plus its test): dropped into app_pages/, it appears in the navigation
after the listed pages, titled by its docstring's first words up to the colon ("Sweep: ..." ->
"Sweep") and with a generic icon. Listing it in the frame's PAGES only picks its place and icon.
No Streamlit here (tested directly).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Sequence

PAGE_FOLDER = Path(__file__).resolve().parents[1] / "app_pages"
DEFAULT_ICON = ":material/article:"

PageEntry = tuple[str, str, str]  # (script path relative to dashboard/, title, icon)


def page_title(script: Path) -> str:
    """The docstring's words before its first colon, else the file name ("my_page" -> "My page")."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    head = doc.split("\n", 1)[0].split(":", 1)
    if len(head) == 2 and head[0].strip():
        return head[0].strip()
    return script.stem.replace("_", " ").capitalize()


def url_path(entry: PageEntry) -> str:
    """The page's URL path: its file's name ("app_pages/runs.py" -> "runs"), given to st.Page
    explicitly so the server (dashboard/backend_base.py) knows the same names without a script run."""
    return Path(entry[0]).stem


def page_list(listed: Sequence[PageEntry], folder: Path = PAGE_FOLDER) -> list[PageEntry]:
    """`listed` in its order, then the scripts of `folder` it does not name, by file name. Files
    starting with an underscore are not pages."""
    named = {path for path, _, _ in listed}
    extra = [(f"{folder.name}/{script.name}", page_title(script), DEFAULT_ICON)
             for script in sorted(folder.glob("*.py"))
             if not script.name.startswith("_") and f"{folder.name}/{script.name}" not in named]
    return [*listed, *extra]
