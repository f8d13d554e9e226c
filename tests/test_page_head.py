"""What each page's HTML starts with (dashboard/page_head.py, backend_base.py, chunk_preload.py).

The middleware is driven here as ASGI with a fake app; the browser's side (no probe of a page's URL,
a base URL path kept, the modules preloaded) is checked in Chromium by tests/test_browser_layout.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from typing import Any

import pytest

from dashboard import server, streamlit_app
from dashboard.backend_base import base_script
from dashboard.chunk_preload import APP_ELEMENTS, PAGE_ELEMENTS, STATIC_JS, element_chunk, module_closure, preload_links
from dashboard.page_head import PageHeadMiddleware, inject
from dashboard.shared.pages import page_list, url_path

HEAD = "<script>/* the head */</script>"

SHELL = (b"<!DOCTYPE html><html><head><title>Streamlit</title><script type=module src=./static/js/index.js>"
         b"</script></head><body></body></html>")


def drive(middleware: PageHeadMiddleware, path: str, method: str = "GET",
          headers: list[tuple[bytes, bytes]] | None = None) -> tuple[dict[str, Any], bytes, list[tuple[bytes, bytes]]]:
    """One request through the middleware: (response start, body, request headers the app saw)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": headers or [(b"accept-encoding", b"gzip, br"), (b"host", b"localhost")]}
    asyncio.run(middleware(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, body, middleware.app.seen  # type: ignore[attr-defined]


class FakeApp:
    """Answers every request with `body` of `content_type`, in two chunks, optionally gzipped."""

    def __init__(self, body: bytes, content_type: bytes = b"text/html", gzipped: bool = False) -> None:
        self.body, self.content_type, self.gzipped = body, content_type, gzipped
        self.seen: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen = list(scope["headers"])
        body = gzip.compress(self.body) if self.gzipped else self.body
        headers = [(b"content-type", self.content_type), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-cache")]
        if self.gzipped:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = len(body) // 2
        await send({"type": "http.response.body", "body": body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": body[half:], "more_body": False})


def header(start: dict[str, Any], name: bytes) -> bytes | None:
    return dict(start["headers"]).get(name)


@pytest.mark.parametrize("path", ["/", "/runs", "/guide/", "/mtl/compare", "/not_a_page"])
def test_the_shell_of_any_page_url_gets_the_script_first_in_its_head(path: str) -> None:
    asked: list[str] = []
    mw = PageHeadMiddleware(FakeApp(SHELL), lambda page: asked.append(page) or HEAD)
    start, body, seen = drive(mw, path)
    assert body.startswith(b"<!DOCTYPE html><html><head>" + HEAD.encode())  # before Streamlit's module
    assert body.replace(HEAD.encode(), b"") == SHELL
    assert asked == [path.rstrip("/").rsplit("/", 1)[-1]]  # the page's own head: its URL's last segment
    assert header(start, b"content-length") == str(len(body)).encode()
    assert header(start, b"cache-control") == b"no-cache"  # the app's other headers are kept
    assert b"accept-encoding" not in dict(seen)  # asked uncompressed, so the script can go in


@pytest.mark.parametrize("path, content_type", [
    ("/static/js/index.js", b"text/javascript"), ("/_stcore/health", b"text/plain"),
    ("/_stcore/host-config", b"application/json"), ("/media/abc.png", b"image/png"),
    ("/app/static/plotly.min.js", b"text/javascript")])
def test_everything_else_passes_through_untouched(path: str, content_type: bytes) -> None:
    body = b"x" * 5000
    mw = PageHeadMiddleware(FakeApp(body, content_type), lambda page: HEAD)
    start, got, seen = drive(mw, path)
    assert got == body and header(start, b"content-length") == b"5000"


def test_a_compressed_or_non_get_answer_is_left_alone() -> None:
    mw = PageHeadMiddleware(FakeApp(SHELL, gzipped=True), lambda page: HEAD)
    start, body, _ = drive(mw, "/runs")
    assert gzip.decompress(body) == SHELL and header(start, b"content-encoding") == b"gzip"
    mw = PageHeadMiddleware(FakeApp(SHELL), lambda page: HEAD)
    start, body, seen = drive(mw, "/runs", method="POST")
    assert body == SHELL and b"accept-encoding" in dict(seen)


def test_html_without_a_head_is_not_changed() -> None:
    assert inject(b"<p>no head</p>", "<script></script>") == b"<p>no head</p>"


def test_the_script_lists_exactly_the_apps_page_urls_and_refuses_odd_ones() -> None:
    paths = [url_path(e) for e in page_list(streamlit_app.PAGES)]
    assert paths[:3] == ["train", "runs", "compare"] and len(set(paths)) == len(paths)
    listed = json.loads(re.search(r"var pages=(\[.*?\]);", base_script(paths)).group(1))  # type: ignore[union-attr]
    assert listed == sorted(paths)
    with pytest.raises(ValueError, match="page URL paths"):
        base_script(["runs", "</script><script>alert(1)"])


def test_the_served_app_starts_each_page_with_its_root_and_its_modules() -> None:
    """dashboard/server.py (what `make run` serves) wears the middleware; the Runs page also gets
    the data grid's modules, the Method guide does not."""
    found = [m for m in server.app._user_middleware if m.cls is PageHeadMiddleware]  # noqa: SLF001
    assert len(found) == 1 and found[0].kwargs["head_for"] is server.page_head
    runs, guide = server.page_head("runs"), server.page_head("guide")
    assert runs.startswith(base_script(server.URL_PATHS)) and guide.startswith(base_script(server.URL_PATHS))
    grid = element_chunk("DataFrame")
    assert grid and f"/{grid}" in runs and f"/{grid}" not in guide
    for chunk in (element_chunk(e) for e in ("Selectbox", "Slider", "NumberInput", "Button")):
        assert chunk and guide.count(f"/{chunk}\"") == 1 and runs.count(f"/{chunk}\"") == 1  # once each


def test_every_listed_element_has_one_module_in_this_streamlit() -> None:
    """The element names are Streamlit's module names: an upgrade that renames one fails here
    (the app would still work, only without that head start)."""
    for name in (*APP_ELEMENTS, *(e for elements in PAGE_ELEMENTS.values() for e in elements)):
        assert element_chunk(name) is not None, name
    assert set(PAGE_ELEMENTS) <= set(server.URL_PATHS)


def test_the_closure_follows_static_imports_and_skips_what_the_index_loads(tmp_path) -> None:
    (tmp_path / "A.1.js").write_text('import{x}from"./B.2.js";import"./C.3.js";const l=()=>import("./Lazy.4.js")')
    (tmp_path / "B.2.js").write_text('import"./C.3.js";import{y}from"./Known.5.js"')
    (tmp_path / "C.3.js").write_text("export const c=1")
    (tmp_path / "Lazy.4.js").write_text("export const z=1")
    assert module_closure(["A.1.js"], tmp_path, frozenset({"Known.5.js"})) == ["A.1.js", "B.2.js", "C.3.js"]
    index = tmp_path / "index.html"
    index.write_text('<script type="module" src="./static/js/C.3.js"></script>')
    links = preload_links(["A"], tmp_path, index)
    assert links == ('<link rel="modulepreload" crossorigin fetchpriority="low" href="./static/js/A.1.js">'
                     '<link rel="modulepreload" crossorigin fetchpriority="low" href="./static/js/B.2.js">')
    assert preload_links(["A"], tmp_path, tmp_path / "missing.html") == ""  # a layout it does not know: nothing
    assert STATIC_JS.is_dir()


def test_the_warm_up_imports_what_first_visits_need_and_freezes_those_objects() -> None:
    """server.py's start-up thread: the modules first page runs import, Streamlit's first-element check
    (a walk of the stack resolving every module's file), then gc.freeze, so Python's full collections
    no longer scan the ~120,000 objects of pandas, pyarrow and plotly."""
    import gc
    import sys

    from streamlit import delta_generator

    gc.unfreeze()
    delta_generator._use_warning_has_been_displayed = False  # as in a server before its first element
    try:
        server.preload()
        assert all(name in sys.modules for name in server.PRELOAD)
        assert gc.get_freeze_count() > 10_000
        assert delta_generator._use_warning_has_been_displayed  # its once-per-process stack walk: done
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
