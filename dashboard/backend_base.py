"""Tell the browser where the server's root is, so opening a page's URL connects at once.

Streamlit's frontend, opened at a page's URL such as `/runs`, does not know whether `runs` is a page
or part of a proxy's path prefix. It first asks `/runs/_stcore/health`, gets a 404, waits for its
retry timer (about 0.1 s) and only then asks `/_stcore/health`. Every load of every page but the home
page paid that wait: 0.11-0.15 s, half the time a minimal page takes to become usable here.

The frontend skips the guess when the host page says where the server is (`window.__streamlit.
BACKEND_BASE_URL`, the setting a site that embeds Streamlit uses). `base_script` is one inline script
for the page's <head> (page_head.py puts it there) that works the root out in the browser: the URL's
path without its last segment when that segment is one of the app's pages, else the whole path (so a
proxy's prefix and `server.baseUrlPath` keep working).
"""

from __future__ import annotations

import json
import re
from typing import Iterable

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
