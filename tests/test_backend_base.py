"""The server's hint to the browser of where its root is (dashboard/backend_base.py).

The middleware is driven here as ASGI with a fake app; the browser's side (no probe of a page's URL,
a base URL path kept) is checked in Chromium by tests/test_browser_layout.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from typing import Any

import pytest

from dashboard import streamlit_app
from dashboard.backend_base import BackendBaseMiddleware, base_script, inject
from dashboard.server import app as served_app
from dashboard.shared.pages import page_list, url_path

SHELL = (b"<!DOCTYPE html><html><head><title>Streamlit</title><script type=module src=./static/js/index.js>"
         b"</script></head><body></body></html>")


def drive(middleware: BackendBaseMiddleware, path: str, method: str = "GET",
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
    mw = BackendBaseMiddleware(FakeApp(SHELL), ["", "runs", "compare", "guide"])
    start, body, seen = drive(mw, path)
    assert body.startswith(b"<!DOCTYPE html><html><head><script>")
    assert body.index(b"BACKEND_BASE_URL") < body.index(b"index.js")  # before Streamlit's module reads it
    assert body.replace(mw.script.encode(), b"") == SHELL
    assert header(start, b"content-length") == str(len(body)).encode()
    assert header(start, b"cache-control") == b"no-cache"  # the app's other headers are kept
    assert b"accept-encoding" not in dict(seen)  # asked uncompressed, so the script can go in


@pytest.mark.parametrize("path, content_type", [
    ("/static/js/index.js", b"text/javascript"), ("/_stcore/health", b"text/plain"),
    ("/_stcore/host-config", b"application/json"), ("/media/abc.png", b"image/png"),
    ("/app/static/plotly.min.js", b"text/javascript")])
def test_everything_else_passes_through_untouched(path: str, content_type: bytes) -> None:
    body = b"x" * 5000
    mw = BackendBaseMiddleware(FakeApp(body, content_type), ["runs"])
    start, got, seen = drive(mw, path)
    assert got == body and header(start, b"content-length") == b"5000"


def test_a_compressed_or_non_get_answer_is_left_alone() -> None:
    mw = BackendBaseMiddleware(FakeApp(SHELL, gzipped=True), ["runs"])
    start, body, _ = drive(mw, "/runs")
    assert gzip.decompress(body) == SHELL and header(start, b"content-encoding") == b"gzip"
    mw = BackendBaseMiddleware(FakeApp(SHELL), ["runs"])
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


def test_the_served_app_wears_the_middleware_with_every_page() -> None:
    """dashboard/server.py (what `make run` serves) builds its st.App with the middleware."""
    found = [m for m in served_app._user_middleware if m.cls is BackendBaseMiddleware]  # noqa: SLF001
    assert len(found) == 1
    assert sorted(found[0].kwargs["url_paths"]) == sorted(url_path(e) for e in page_list(streamlit_app.PAGES))
