"""A small HTTP server on loopback, on a thread, for the test's side of a conversation (a
grid operator's feed, a meter gateway, a proxy in front of a node): each request is
answered by a function of the request, as JSON.

    server = JsonServer(lambda req: (200, b'{"mw": 3.0}')).start()
    ... server.url ...
    server.close()

For an aiohttp application the test builds itself, `serve_app(app)` serves it on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes


Answer = Callable[[Request], tuple[int, bytes]]


class JsonServer:
    """Answers GET and POST on 127.0.0.1:`port` (0: a free one) with `answer(request)`:
    (status, JSON body), sent with its length, one request per connection unless
    `keep_alive`."""

    def __init__(self, answer: Answer, port: int = 0, keep_alive: bool = False) -> None:
        self.answer = answer
        self.port = port
        self.keep_alive = keep_alive
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> JsonServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.keep_alive else "HTTP/1.0"

            def _reply(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                status, data = server.answer(Request(self.command, self.path, self.headers, body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on 127.0.0.1 at a free port: (its runner, "http://127.0.0.1:PORT").
    The caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
