"""Showing strings the user (or an uploaded file, a URL, a stored run) supplied, as plain text.

Streamlit renders Markdown, LaTeX (`$x$`), colour and icon directives (`:red[x]`) and HTML entities
in st.markdown, st.caption, st.info/warning/error/success, st.progress texts, toasts, help texts
and every widget label. A column name such as `<img src=x onerror=...>`, `**bold**` or
`[link](http://evil)` must appear as those characters, not as formatting or a live link, so every
such string passes through md_escape where it is shown. Never use unsafe_allow_html.
Option labels of select boxes, data frames and chart texts are plain text already: no escaping there.
"""

from __future__ import annotations

import re

# CommonMark's backslash-escapable ASCII punctuation that Streamlit's Markdown gives a meaning:
# emphasis, code, links/images, headings, lists, tables, strikethrough, HTML, math ($), entities (&),
# directives and icons (:)
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$&:])")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]+")


def md_escape(text: object) -> str:
    """`text` as a Markdown string that renders exactly these characters, on one line."""
    return _SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", str(text)))


def md_code(text: object) -> str:
    """`text` shown as inline code: a run id or a file path, safe whatever characters it holds."""
    body = _LINE_BREAK.sub(" ", str(text))
    fence = "`" * (max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_plain(markdown: str) -> str:
    """The characters a reader sees of an md_escape'd string (tests compare page texts with it)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def plot_text(text: object) -> str:
    """`text` for a Plotly label (trace name, hover, annotation, axis title): Plotly reads a subset
    of HTML there (`<a href>`, `<b>`, `<br>`), so a task or run name is entity-escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
