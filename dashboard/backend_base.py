"""Tell the browser where the server's root is, so opening a page's URL connects at once.

Streamlit's frontend, opened at a page's URL such as `/runs`, does not know whether `runs` is a page
or part of a proxy's path prefix. It first asks `/runs/_stcore/health`, gets a 404, waits for its
retry timer (about 0.1 s) and only then asks `/_stcore/health`. Every load of every page but the home
page paid that wait: 0.11-0.15 s, half the time a minimal page takes to become usable here.

The frontend skips the guess when the host page says where the server is (`window.__streamlit.
BACKEND_BASE_URL`, the setting a site that embeds Streamlit uses). This ASGI middleware adds one
inline script to the HTML shell Streamlit serves for every page URL. The script works the root out
in the browser: the URL's path without its last segment when that segment is one of the app's pages,
else the whole path (so a proxy's prefix and `server.baseUrlPath` keep working). Everything else the
server sends passes through untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, Iterable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

URL_PATH = re.compile(r"^[A-Za-z0-9_-]+$")
# The frontend reads window.__streamlit once, when its module starts: the script must come before it.
SCRIPT = ("<script>/* MTL Playground: the server's root, so the frontend need not probe the page's URL "
          "(dashboard/backend_base.py) */(function(){{var pages={pages};var s=window.__streamlit||{{}};"
          "if(s.BACKEND_BASE_URL)return;var p=location.pathname.replace(/\\/+$/,'');var i=p.lastIndexOf('/');"
          "if(pages.indexOf(p.slice(i+1))>=0)p=p.slice(0,i);window.__streamlit=Object.assign({{}},s,"
          "{{BACKEND_BASE_URL:location.origin+(p||'/')}});}})();</script>")


def base_script(url_paths: Iterable[str]) -> str:
    """The inline script for an app whose pages answer at these URL paths ("" is the home page)."""
    paths = sorted({p for p in url_paths if p})
    bad = [p for p in paths if not URL_PATH.match(p)]
    if bad:
        raise ValueError(f"page URL paths must be letters, digits, '_' or '-': {bad}")
    return SCRIPT.format(pages=json.dumps(paths))


def inject(html: bytes, script: str) -> bytes:
    """`html` with `script` first in its <head>; unchanged when it has no <head> (not the shell)."""
    at = html.find(b"<head>")
    if at < 0:
        return html
    at += len(b"<head>")
    return html[:at] + script.encode() + html[at:]


def _looks_like_page(path: str) -> bool:
    """A URL that Streamlit answers with its HTML shell: no file extension, not one of its endpoints."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return "." not in last and "/_stcore/" not in f"{path}/" and "/media/" not in path


class BackendBaseMiddleware:
    """Adds `base_script(url_paths)` to every HTML page the wrapped app sends.

    Requests that may get the shell are asked for uncompressed (it is 1-2 kB) so the script can be
    inserted; the Content-Length is corrected. Other responses stream through as they are.
    """

    def __init__(self, app: ASGIApp, url_paths: Iterable[str]) -> None:
        self.app = app
        self.script = base_script(url_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not _looks_like_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"])
        start: Message | None = None
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                is_html = headers.get(b"content-type", b"").startswith(b"text/html")
                if is_html and b"content-encoding" not in headers:
                    start = message
                    return
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _send_html(send, start, inject(b"".join(body), self.script))
            else:
                await send(message)

        await self.app(scope, receive, capture)


async def _send_html(send: Send, start: Message, html: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(html)).encode()))
    await send(dict(start, headers=headers))
    await send({"type": "http.response.body", "body": html})
