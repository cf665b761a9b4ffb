"""A web page's static files, shipped in a package and served from memory, with the
headers that keep a hostile string inert: the pool's miners' page (pool.web_page) and
the coordinator's console (coordinator.console) both serve theirs through it, and with
them the files they share (plumbing/web: dom.js, how both build their DOM).

    files = StaticFiles("pool", "web", {"/": ("index.html", "text/html; charset=utf-8")})
    files.install(app)          # the routes, and the security headers on every answer

No CDN and no front-end library: the machines are offline. The files are read once at
start and answered with an ETag. Every answer of the application (its JSON too) carries
a Content-Security-Policy that allows only this origin's script and style and no inline
code, so even a string that slipped past the page's escaping could not run; `nosniff`,
no referrer and no framing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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


# path -> (file in plumbing/web, content type): served with every page's own files
SHARED = {"/static/dom.js": ("dom.js", "text/javascript; charset=utf-8")}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(
    package: str, folder: str, files: Mapping[str, tuple[str, str]]
) -> dict[str, Asset]:
    """`files` (URL path -> (file name in package/folder, content type)) from the
    installed package, and the SHARED files from plumbing's."""
    return {**_read("plumbing", "web", SHARED), **_read(package, folder, files)}


def _read(package: str, folder: str, files: Mapping[str, tuple[str, str]]) -> dict[str, Asset]:
    root = resources.files(package) / folder
    assets = {}
    for path, (name, content_type) in files.items():
        body = (root / name).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path] = Asset(body, content_type, etag)
    return assets


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class StaticFiles:
    """A page's routes on an aiohttp application, and the security headers on every answer."""

    def __init__(self, package: str, folder: str, files: Mapping[str, tuple[str, str]]) -> None:
        self.assets = load_assets(package, folder, files)

    def install(self, app: web.Application) -> None:
        app.on_response_prepare.append(security_headers)
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
