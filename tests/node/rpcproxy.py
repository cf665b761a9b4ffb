"""A loopback JSON-RPC proxy in front of a real node, that injects node-side faults.

bcoin never answers -28 and always offers validateaddress, yet Bitcoin Core does the
first while it loads its block index, and other nodes lack the second. The proxy
forwards every request to the real bcoin and, when told to, answers the way Core does
in those situations instead (HTTP 500 with a JSON-RPC error body), so the client's
handling is exercised against real traffic. It can also be started late, to play a
node that comes up while the client is already retrying.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultProxy:
    def __init__(self, upstream_port: int, api_key: str, port: int = 0) -> None:
        self.upstream = f"http://127.0.0.1:{upstream_port}/"
        self.api_key = api_key
        self.port = port
        self.warmup_remaining = 0
        self.hidden_methods: set[str] = set()
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://bcoin:{self.api_key}@127.0.0.1:{self.port}/"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = proxy._answer(body, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, body: bytes, auth: str) -> tuple[int, bytes]:
        request = json.loads(body)
        method = request.get("method", "")
        with self._lock:
            self.requests.append(method)
            warming = self.warmup_remaining > 0
            if warming:
                self.warmup_remaining -= 1
        error = None
        if warming:
            error = {"code": -28, "message": "Loading block index..."}
        elif method in self.hidden_methods:
            error = {"code": -32601, "message": "Method not found"}
        if error is not None:
            reply = {"result": None, "error": error, "id": request.get("id")}
            return 500, json.dumps(reply).encode()
        req = urllib.request.Request(
            self.upstream,
            data=body,
            method="POST",
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read()
