"""Which of Streamlit's frontend modules every page should start loading with its HTML.

Streamlit's frontend loads the code of each kind of element (select box, slider, number input ...)
only when a page first draws one, as a chain of small modules, and shows a grey skeleton meanwhile.
On the Train page that wait came after the script had finished: its setup and its Train button
appeared ~0.1 s later, all at once, when the last module of the chain had been loaded. Named in the
HTML as `<link rel="modulepreload">`, the browser fetches and compiles them while the page is still
connecting, and the elements draw as soon as they arrive.

The list names the elements the app's pages draw; their files (hashed names that change with each
Streamlit release) are found in Streamlit's own folder, with every module they import. Heavy ones a
few pages use (the data grid, 1.6 MB with its imports) are left to load where they are needed.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Iterable

import streamlit

STATIC_JS = Path(streamlit.__file__).resolve().parent / "static" / "static" / "js"
INDEX_HTML = STATIC_JS.parents[1] / "index.html"
# the elements drawn by most pages (Train's setup, the filters and controls of the others)
APP_ELEMENTS = ("Button", "Checkbox", "Selectbox", "Multiselect", "Slider", "NumberInput", "TextInput",
                "Radio", "ButtonGroup", "PageLink", "Progress", "DownloadButton")
# Heavy elements, preloaded only on the pages that draw them at once (URL path -> elements). Measured
# in Chromium, warm, interleaved with and without: Runs 0.38 -> 0.32 s with the data grid's modules,
# Landscape 0.48 -> 0.40 s with Plotly's (4.7 MB); the Sweep page, whose charts come after its form,
# was no faster with Plotly's, so it is not listed.
PAGE_ELEMENTS: dict[str, tuple[str, ...]] = {"train": ("BidiComponent",), "runs": ("DataFrame",),
                                             "compare": ("DataFrame", "Table", "PlotlyChart"),
                                             "landscape": ("PlotlyChart",)}
_STATIC_IMPORT = re.compile(r'(?:\bfrom\s*|\bimport\s*)"\./([\w.\-]+\.js)"')
_IN_INDEX = re.compile(r'(?:href|src)="\./static/js/([\w.\-]+\.js)"')


def element_chunk(name: str, folder: Path = STATIC_JS) -> str | None:
    """The file of the element's module (`Selectbox.7rsxE6LC.js`), or None if this Streamlit has none."""
    found = sorted(folder.glob(f"{name}.*.js"))
    return found[0].name if len(found) == 1 else None


def module_closure(roots: Iterable[str], folder: Path = STATIC_JS, known: frozenset[str] = frozenset()) -> list[str]:
    """`roots` and every module they import statically, in a stable order, minus `known` (the
    index page already preloads those)."""
    seen: dict[str, None] = {}
    todo = list(roots)
    while todo:
        name = todo.pop(0)
        if name in seen or name in known or not (folder / name).is_file():
            continue
        seen[name] = None
        todo += _STATIC_IMPORT.findall((folder / name).read_text(encoding="utf-8", errors="replace"))
    return list(seen)


def preload_links(elements: Iterable[str] = APP_ELEMENTS, folder: Path = STATIC_JS, index_html: Path = INDEX_HTML,
                  leave_out: Iterable[str] = ()) -> str:
    """`<link rel="modulepreload">` tags for the elements' modules, but those of the index page and of
    the `leave_out` elements (preloaded already); empty where Streamlit's layout differs from what
    this expects (the page then loads them as before, when it draws them)."""
    try:
        known = frozenset(_IN_INDEX.findall(index_html.read_text(encoding="utf-8")))
        chunks = [c for c in (element_chunk(e, folder) for e in leave_out) if c]
        known |= frozenset(module_closure(chunks, folder, known))
        roots = [c for c in (element_chunk(e, folder) for e in elements) if c]
        files = module_closure(roots, folder, known)
    except OSError:
        return ""
    # low priority: on a first visit (nothing cached) they must not hold up Streamlit's own bundle,
    # which they did at the default priority (0.9 s instead of 0.55 s until DOMContentLoaded)
    return "".join(f'<link rel="modulepreload" crossorigin fetchpriority="low" href="./static/js/{html.escape(f)}">'
                   for f in files)
