"""Fuzzing a real `surplus pool` process, in pool mode (SQLite ledger) and in solo mode
(the embedded devnet checks every payout address), over loopback TCP.

Generated with hypothesis: valid messages mutated (a parameter replaced, dropped or
added, the method or the id changed), every parameter of every method given a wrong
type, and framing abuse (lines over the size limit, lines left unfinished, NULs,
invalid UTF-8, random bytes, many requests in one write). Besides: slow and non-reading
clients, idle connections, and a flood from one address.

Each exchange must end in a defined outcome: the pool answers every request line with a
well-formed result or error (codes 20-25), or closes the connection after an error line.
At the end: no traceback, no internal error and nothing at ERROR in the pool's log; a
new miner still connects, works and gets its shares accepted; the pool's RSS grew by
less than RSS_GROWTH_MIB.

Bounded in time: about a minute for both modes by default; SURPLUS_FUZZ_SECONDS sets the
fuzzing time per mode (e.g. 600 for a long run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rigsim.miner import Miner

from .pool_process import PAYOUT, PoolProcess, devnet_config

pytestmark = [pytest.mark.integration]

SECONDS = float(os.environ.get("SURPLUS_FUZZ_SECONDS", "15"))
MAX_LINE = 4096  # the fuzzed pool's max_line_bytes (smaller than the default: cheaper abuse)
RSS_GROWTH_MIB = 64
BATCH = 25  # examples per hypothesis run; runs repeat until SECONDS are spent
ADDRESS = PAYOUT  # a regtest address: solo workers are "<address>.<rig>"
METHODS = ["mining.subscribe", "mining.authorize", "mining.submit", "mining.configure",
           "mining.suggest_difficulty", "mining.extranonce.subscribe", "mining.ping"]
NOTIFICATIONS = {"mining.notify", "mining.set_difficulty", "mining.set_extranonce",
                 "mining.set_version_mask", "client.reconnect", "client.show_message"}
STRATUM = f"""
max_line_bytes = {MAX_LINE}
authorize_timeout = 3
subscribe_timeout = 3
line_timeout = 2
write_buffer_limit = 65536
max_connections_per_ip = 64
"""


# ---------------------------------------------------------------------- the pools


@pytest.fixture(scope="module", params=["pool", "solo"])
def fuzzed(request, tmp_path_factory) -> Iterator[tuple[str, PoolProcess]]:
    mode = request.param
    tmp = tmp_path_factory.mktemp(f"fuzz-{mode}")
    text = devnet_config(mode, stratum=STRATUM, ledger=tmp / "ledger.sqlite3")
    with PoolProcess(tmp, text, name=mode) as pool:
        pool.start()
        yield mode, pool
        assert pool.terminate(60) == 0, pool.log()[-3000:]
        assert not pool.alarming(), pool.alarming()


def worker(mode: str, rig: str = "rig") -> str:
    return f"{ADDRESS}.{rig}" if mode == "solo" else f"fuzz.{rig}"


# ---------------------------------------------------------------------- a blocking client


class Wire:
    """One raw connection from a loopback address of its own (bans and the per-address
    cap then hit only the fuzzer's addresses, never the health check's)."""

    def __init__(self, port: int, source: str | None = None, timeout: float = 5.0) -> None:
        source = source or f"127.{random.randint(64, 127)}.{random.randint(0, 255)}." \
            f"{random.randint(1, 254)}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""
        self.closed = False
        self.job: list | None = None
        self.extranonce2_size = 8

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def read_until(self, req_id: Any, timeout: float = 5.0) -> list[dict]:
        """Messages until the response to `req_id`, or until the pool closes; each one
        is checked to be well formed. A timeout is a hang: an assertion fails."""
        messages: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                msg = check_message(line)
                messages.append(msg)
                if msg.get("method") == "mining.notify":
                    self.job = msg["params"]
                if "method" not in msg and msg.get("id") == req_id:
                    return messages
            if self.closed:
                return messages
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no answer to {req_id!r} within {timeout} s: {messages}"
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
            self.buf += data

    def request(self, method: str, params: list, req_id: Any) -> dict | None:
        self.send(json.dumps({"id": req_id, "method": method, "params": params}).encode()
                  + b"\n")
        messages = self.read_until(req_id)
        return next((m for m in messages if "method" not in m and m.get("id") == req_id),
                    None)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def check_message(line: bytes) -> dict:
    """A line from the pool: a notification, or a response whose error is [20-25, text,
    null]."""
    msg = json.loads(line)
    assert isinstance(msg, dict), line
    if "method" in msg and msg.get("id") is None:
        assert msg["method"] in NOTIFICATIONS, line
        assert isinstance(msg.get("params"), list), line
        return msg
    assert "id" in msg and "result" in msg and "error" in msg, line
    error = msg["error"]
    if error is not None:
        assert isinstance(error, list) and len(error) == 3, line
        assert error[0] in (20, 21, 22, 23, 24, 25) and isinstance(error[1], str), line
        assert error[2] is None and msg["result"] is None, line
    return msg


# ---------------------------------------------------------------------- generation

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=24),
    st.sampled_from(["", "00000000", "ffffffff", "x" * 300, "\x00", "1e400", "-1", "0x1f"]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8), inner, max_size=4), max_leaves=8)
ids = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=16), st.none(),
                st.floats(allow_nan=False, allow_infinity=False), st.booleans())


def template(method: str) -> list:
    """A valid params list; "$W", "$JOB", "$EN2", "$NTIME" are filled in when sent."""
    return {
        "mining.subscribe": ["fuzz/1.0", None],
        "mining.authorize": ["$W", "x"],
        "mining.submit": ["$W", "$JOB", "$EN2", "$NTIME", "0000abcd", "00002000"],
        "mining.configure": [["version-rolling", "minimum-difficulty"],
                             {"version-rolling.mask": "1fffe000",
                              "version-rolling.min-bit-count": 2,
                              "minimum-difficulty.value": 0.001}],
        "mining.suggest_difficulty": [0.001],
        "mining.extranonce.subscribe": [],
        "mining.ping": [],
    }[method]


@st.composite
def requests(draw: Any) -> Any:
    """A request object: a valid one, or one mutated (a param replaced, dropped or
    added, the method or the id changed)."""
    method = draw(st.sampled_from(METHODS))
    params: Any = list(template(method))
    mutation = draw(st.sampled_from(["none", "replace", "drop", "add", "method", "params",
                                     "id", "extra_key"]))
    if mutation == "replace" and params:
        params[draw(st.integers(0, len(params) - 1))] = draw(values)
    elif mutation == "drop" and params:
        params.pop(draw(st.integers(0, len(params) - 1)))
    elif mutation == "add":
        params.append(draw(values))
    elif mutation == "method":
        method = draw(st.one_of(st.text(max_size=40), st.sampled_from(METHODS)))
    elif mutation == "params":
        params = draw(values)
    msg: dict[str, Any] = {"id": draw(ids) if mutation == "id" else draw(
        st.integers(1, 10**6)), "method": method, "params": params}
    if mutation == "extra_key":
        msg[draw(st.text(max_size=8))] = draw(values)
    return msg


framing = st.one_of(
    st.binary(max_size=64),  # random bytes (a line that is not JSON closes the connection)
    st.just(b'{"id":1,"method":"mining.ping","params":[]}\x00'),
    st.just(b'{"id":1,"method":"mining.ping","params":["\xff\xfe\xc3"]}'),  # invalid UTF-8
    st.just(b'{"id":1,"method":"mining.ping","params":["' + b"a" * (MAX_LINE + 10) + b'"]}'),
    st.just(b"\x00" * 32), st.just(b"   "), st.just(b"[]"), st.just(b'"x"'), st.just(b"null"),
    st.just(b'{"id":1,"method":"mining.ping","params":[]}\r'),
    st.just(b'{"id":1,"method":"mining.ping","params":[]'),  # unfinished object
)


@st.composite
def scripts(draw: Any) -> tuple[str, list[Any]]:
    """How far to handshake first, then what to send (request objects or raw lines)."""
    handshake = draw(st.sampled_from(["none", "subscribe", "full", "full"]))
    lines = draw(st.lists(st.one_of(requests(), requests(), framing), min_size=1,
                          max_size=6))
    return handshake, lines


def fill(value: Any, wire: Wire, mode: str) -> Any:
    if isinstance(value, list):
        return [fill(v, wire, mode) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, wire, mode) for k, v in value.items()}
    job = wire.job or ["job", "", "", "", [], "", "", "00000000"]
    return {"$W": worker(mode), "$JOB": job[0], "$NTIME": job[7],
            "$EN2": os.urandom(wire.extranonce2_size).hex()}.get(value, value) \
        if isinstance(value, str) else value


def handshake(wire: Wire, mode: str, how: str) -> bool:
    if how == "none":
        return True
    sub = wire.request("mining.subscribe", ["fuzz/1.0"], "sub")
    if sub is None:
        return False
    wire.extranonce2_size = sub["result"][2]
    if how == "full":
        auth = wire.request("mining.authorize", [worker(mode), "x"], "auth")
        return auth is not None and auth["result"] is True
    return True


# ---------------------------------------------------------------------- the tests


def test_fuzzed_messages_get_defined_answers(fuzzed: tuple[str, PoolProcess]) -> None:
    mode, pool = fuzzed
    before = warm_and_check(pool, mode)
    stop_at = time.monotonic() + SECONDS
    examples = [0]

    @settings(max_examples=BATCH, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(scripts())
    def exchange(script: tuple[str, list[Any]]) -> None:
        examples[0] += 1
        how, lines = script
        wire = Wire(pool.port)
        try:
            if not handshake(wire, mode, how):
                return  # the fuzzer's address was banned by earlier examples: refused
            data = b""
            for line in lines:
                if isinstance(line, dict):
                    line = json.dumps(fill(line, wire, mode)).encode()
                data += line + b"\n"
            wire.send(data + b'{"id":"last","method":"mining.ping","params":[]}\n')
            wire.read_until("last", timeout=10)
        finally:
            wire.close()

    while time.monotonic() < stop_at:  # batches of fresh random examples until time is up
        exchange()
    assert examples[0] >= BATCH, f"only {examples[0]} examples ran"
    after_checks(pool, mode, before)


def test_slow_silent_and_flooding_clients(fuzzed: tuple[str, PoolProcess]) -> None:
    mode, pool = fuzzed
    before = warm_and_check(pool, mode)
    # a client that sends requests and never reads: dropped, not buffered without bound
    hog = Wire(pool.port, "127.9.0.1")
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b'{"id":1,"method":"mining.ping","params":[]}\n' * 2000
    for _ in range(200):
        hog.send(payload)
        if hog.closed:
            break
    # 1 byte a second after subscribing, and idle after subscribing: both closed
    slow = Wire(pool.port, "127.9.0.2")
    assert handshake(slow, mode, "full")
    idle = Wire(pool.port, "127.9.0.3")
    assert handshake(idle, mode, "subscribe")
    deadline = time.monotonic() + 15
    for byte in b'{"id":5,"method":"mining.ping","params":[]}':
        slow.send(bytes([byte]))
        if slow.closed or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for wire in (slow, idle):
        wire.read_until("never", timeout=10)  # returns once the pool has closed it
        assert wire.closed
    # a flood of connections from one address: the cap holds, the rest are refused
    flood = []
    for _ in range(100):
        with contextlib.suppress(OSError):
            flood.append(Wire(pool.port, "127.9.0.4"))
    refused = 0
    for wire in flood:
        wire.send(b'{"id":"f","method":"mining.ping","params":[]}\n')
        wire.read_until("f", timeout=10)
        refused += wire.closed
    assert refused >= 100 - 64
    for wire in (hog, slow, idle, *flood):
        wire.close()
    after_checks(pool, mode, before)


# ---------------------------------------------------------------------- health


def warm_and_check(pool: PoolProcess, mode: str) -> int:
    """A real miner works (its shares accepted); the RSS after it is the baseline."""
    accepted = asyncio.run(mine(pool.port, worker(mode, "health")))
    assert accepted > 0
    return pool.rss()


def after_checks(pool: PoolProcess, mode: str, rss_before: int) -> None:
    assert pool.alive(), pool.log()[-3000:]
    assert not pool.alarming(), pool.alarming()
    errors = [line for line in pool.log().splitlines() if " ERROR " in line]
    assert not errors, errors[:5]
    accepted = asyncio.run(mine(pool.port, worker(mode, "after")))
    assert accepted > 0, "the pool still serves a new miner"
    grown = (pool.rss() - rss_before) / 2**20
    assert grown < RSS_GROWTH_MIB, f"RSS grew {grown:.0f} MiB"


async def mine(port: int, name: str, shares: int = 3) -> int:
    """Run a rigsim miner until `shares` shares are accepted; how many were."""
    miner = Miner("127.0.0.1", port, name, hashrate=20_000, local_host="127.0.0.1")
    miner.start()
    try:
        deadline = time.monotonic() + 30
        while miner.stats.accepted < shares and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await miner.stop()
    return miner.stats.accepted
