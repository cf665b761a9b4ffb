"""The operator's web console, served by the coordinator: static files shipped in the
package (coordinator/web), no CDN and no front-end library (plumbing.webstatic: read
once, answered from memory, a strict Content-Security-Policy on every answer).

    GET /                         the console
    GET /static/console.js        builds the DOM with textContent only, draws SVG charts
    GET /static/dom.js            how it builds the DOM, shared with the miners' page
    GET /static/console.css
    GET /static/favicon.svg

The page reads the open endpoints (/status, /history, /commands) every few seconds. The
operator's token is typed into the page, sent as a bearer token with each action and
the report's download, and kept in a variable of the page only (no cookie, no storage):
a reload forgets it.
"""

from __future__ import annotations

from plumbing.webstatic import StaticFiles

FILES = {  # path -> (file in coordinator/web, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/static/console.css": ("console.css", "text/css; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
}


def console() -> StaticFiles:
    return StaticFiles("coordinator", "web", FILES)
