"""The miners' web page: static files shipped in the package (pool/web), served at the
root of the stats API's address, with headers that keep a hostile string inert.

    GET /                       the page (the pool; /?account=NAME for one account)
    GET /static/app.js          its script: builds the DOM with textContent, draws SVG
    GET /static/style.css
    GET /static/favicon.svg

No CDN and no front-end library: the machines are offline, and what the page needs (a
few tables, a line chart in SVG) is a few hundred lines of plain JavaScript. The files
are read once at start and answered from memory with an ETag.

Every answer of the address (the API's JSON too) carries a Content-Security-Policy that
allows only this origin's script and style and no inline code, so even a string that
slipped past the page's escaping could not run; `nosniff`, no referrer and no framing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
FILES = {  # path -> (file in pool/web, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),  # asked for whatever the page says
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """The page's files from the installed package."""
    root = resources.files("pool") / "web"
    assets = {}
    for path, (name, content_type) in FILES.items():
        body = (root / name).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path] = Asset(body, content_type, etag)
    return assets


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class WebPage:
    """A StatsApi extension: the page's routes, and the security headers on every answer."""

    def __init__(self) -> None:
        self.assets = load_assets()

    def install(self, app: web.Application) -> None:
        app.on_response_prepare.append(_security_headers)
        for path in self.assets:
            app.router.add_get(path, self.serve)

    async def serve(self, request: web.Request) -> web.Response:
        asset = self.assets[request.path]
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type.split(";")[0],
                            charset="utf-8" if "charset" in asset.content_type else None,
                            headers=headers)  # fmt: skip

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
