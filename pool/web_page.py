"""The miners' page: static files shipped in the package (pool/web), served at the
root of the stats API's address, with headers that keep a hostile string inert
(plumbing.webstatic: a strict Content-Security-Policy on every answer, nosniff, no
referrer, no framing).

    GET /                       the page (the pool; /?account=NAME for one account)
    GET /static/app.js          its script: builds the DOM with textContent, draws SVG
    GET /static/dom.js          how it builds the DOM, shared with the operator's console
    GET /static/style.css
    GET /static/favicon.svg

No CDN and no front-end library: the machines are offline, and what the page needs (a
few tables, a line chart in SVG) is a few hundred lines of plain JavaScript.
"""

from __future__ import annotations

from plumbing import webstatic
from plumbing.webstatic import CSP, SECURITY_HEADERS, Asset, StaticFiles

__all__ = ["CSP", "FILES", "SECURITY_HEADERS", "Asset", "WebPage", "load_assets"]

FILES = {  # path -> (file in pool/web, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),  # asked for whatever the page says
}


def load_assets() -> dict[str, Asset]:
    """The page's files from the installed package."""
    return webstatic.load_assets("pool", "web", FILES)


class WebPage(StaticFiles):
    """A StatsApi extension: the page's routes, and the security headers on every answer."""

    def __init__(self) -> None:
        super().__init__("pool", "web", FILES)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
