"""A grid operator's allotment feed that fails on demand, and a site meter gateway that
keeps what it served: the test's side of the feed-failure scenarios.

`FaultyFeed` is a small HTTP/1.1 server on its own loopback port, on a thread, written on
plain sockets so each way a feed fails is exactly what goes over the wire:

    ok        200 {"mw", "as_of": now}          the heartbeat a live feed sends
    refuse    the port stops listening           connection refused (it closes as it
              answers a poll, so no poll waits in its backlog to be reset instead)
    reset     the request is read, then RST      connection reset by peer
    hang      the request is read, no answer     the client times out
    http503   503 Service Unavailable
    badbody   200 with an HTML page              not JSON
    frozen    200 {"mw", "as_of": <fixed>}       an upstream that stopped moving

Every good message served is recorded (when, as_of, MW), so the test knows the last
figure fleetd had and when it went stale. `MeterGateway` answers fleetd's http_json meter
with rigsim's site meter, recording each reading it served: the same readings fleetd
integrated, for an independent integration in the test.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from tests.loopback_http import JsonServer, Request

MODES = ("ok", "refuse", "reset", "hang", "http503", "badbody", "frozen")


@dataclass
class Served:
    t: float
    as_of: float
    mw: float


class FaultyFeed:
    def __init__(self, mw: float, port: int) -> None:
        self.mw = mw
        self.port = port
        self.mode = "ok"
        self.refusing = False  # the port closes as the next poll is answered
        self.frozen_as_of: float | None = None
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/allotment"

    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        self._sock = s
        t = threading.Thread(target=self._accept, args=(s,), daemon=True)
        t.start()
        self._threads.append(t)

    def set(self, mode: str, mw: float | None = None) -> None:
        assert mode in MODES, mode
        with self._lock:
            if mw is not None:
                self.mw = mw
            if mode == "frozen":
                self.frozen_as_of = self.served[-1].as_of if self.served else time.time()
            if mode == "refuse":
                self.refusing = True  # _serve closes the port and switches
            else:
                self.mode = mode

    def in_mode(self, mode: str) -> bool:
        """The feed fails (or serves) as `mode` says (refuse: once its port is closed)."""
        with self._lock:
            return self.mode == mode

    def last_good(self) -> Served:
        with self._lock:
            return self.served[-1]

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        for t in self._threads:
            t.join(2.0)

    def _accept(self, s: socket.socket) -> None:
        while not self._stop.is_set() and self._sock is s:
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.closing(conn):
            conn.settimeout(2.0)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
            with self._lock:
                mode, mw, frozen = self.mode, self.mw, self.frozen_as_of
                if self.refusing and self._sock is not None:
                    # the poll being answered was the backlog's only one: closing the
                    # port now refuses the next, and resets none
                    self._sock.close()
                    self._sock = None
                    self.mode, self.refusing = "refuse", False
            if mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if mode == "hang":
                while self.mode == "hang" and not self._stop.wait(0.1):
                    pass
                return
            if mode == "http503":
                self._reply(conn, 503, "Service Unavailable", b"unavailable")
                return
            if mode == "badbody":
                self._reply(conn, 200, "OK", b"<html>maintenance</html>")
                return
            now = time.time()
            as_of = frozen if mode == "frozen" and frozen is not None else now
            body = json.dumps({"mw": mw, "as_of": as_of}).encode()
            self._reply(conn, 200, "OK", body)
            if mode == "ok":
                with self._lock:
                    self.served.append(Served(now, as_of, mw))

    @staticmethod
    def _reply(conn: socket.socket, status: int, reason: str, body: bytes) -> None:
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
        with contextlib.suppress(OSError):
            conn.sendall(head.encode() + body)


@dataclass
class MeterGateway:
    """GET /meter/{site}: rigsim's site meter, passed through and recorded."""

    rigsim_url: str  # http://127.0.0.1:PORT (rigsim --metrics)
    port: int
    readings: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (t, W)
    _server: JsonServer | None = None

    def url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.port}/meter/{site}"

    def _answer(self, request: Request) -> tuple[int, bytes]:
        site = request.path.rsplit("/", 1)[-1]
        try:
            with urllib.request.urlopen(f"{self.rigsim_url}/sites/{site}/meter", timeout=2) as r:
                kw = float(json.loads(r.read())["kw"])
        except OSError as exc:
            return 502, json.dumps({"error": str(exc)}).encode()
        self.readings.setdefault(site, []).append((time.time(), kw * 1e3))
        return 200, json.dumps({"kw": kw}).encode()

    def start(self) -> None:
        self._server = JsonServer(self._answer, self.port).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
