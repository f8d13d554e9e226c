"""Add a few tags to the head of the HTML page Streamlit serves for every page URL (ASGI middleware).

Streamlit answers every page's URL with the same small HTML shell and draws everything else from its
JavaScript. What the app needs the browser to know before that JavaScript starts (where the server's
root is: backend_base.py; which modules to start loading: chunk_preload.py) goes first in that
shell's <head>. Everything else the server sends passes through untouched.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def inject(html: bytes, head: str) -> bytes:
    """`html` with `head` first in its <head>; unchanged when it has no <head> (not the shell)."""
    at = html.find(b"<head>")
    if at < 0:
        return html
    at += len(b"<head>")
    return html[:at] + head.encode() + html[at:]


def page_name(path: str) -> str:
    """The URL's last segment ("" for the root): the page, when it is one of the app's."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def looks_like_page(path: str) -> bool:
    """A URL that Streamlit answers with its HTML shell: no file extension, not one of its endpoints."""
    return "." not in page_name(path) and "/_stcore/" not in f"{path}/" and "/media/" not in path


class PageHeadMiddleware:
    """Puts `head_for(page_name(path))` first in the <head> of every HTML page the wrapped app sends.

    Requests that may get the shell are asked for uncompressed (it is 1-2 kB) so the tags can be
    inserted; the Content-Length is corrected. Other responses stream through as they are.
    """

    def __init__(self, app: ASGIApp, head_for: Callable[[str], str]) -> None:
        self.app = app
        self.head_for = head_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not looks_like_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        head = self.head_for(page_name(scope["path"]))
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
                    await _send_html(send, start, inject(b"".join(body), head))
            else:
                await send(message)

        await self.app(scope, receive, capture)


async def _send_html(send: Send, start: Message, html: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(html)).encode()))
    await send(dict(start, headers=headers))
    await send({"type": "http.response.body", "body": html})
