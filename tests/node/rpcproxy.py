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

from tests.loopback_http import JsonServer


class FaultProxy:
    def __init__(self, upstream_port: int, api_key: str, port: int = 0) -> None:
        self.upstream = f"http://127.0.0.1:{upstream_port}/"
        self.api_key = api_key
        self.port = port
        self.warmup_remaining = 0
        self.hidden_methods: set[str] = set()
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: JsonServer | None = None

    @property
    def url(self) -> str:
        return f"http://bcoin:{self.api_key}@127.0.0.1:{self.port}/"

    def start(self) -> FaultProxy:
        self._server = JsonServer(
            lambda r: self._answer(r.body, r.headers.get("Authorization", "")), self.port,
            keep_alive=True,
        ).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
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
