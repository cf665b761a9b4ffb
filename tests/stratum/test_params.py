"""Every parameter of every method is type-checked: a wrong type gets error 20 and the
connection stays open, no input produces a traceback, bad requests count toward the
ban score, and request ids are echoed exactly (issue 12, finding 8 and smaller points)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from pool.node.devnet import DevnetNode
from pool.protocol import ErrorCode

from .stratum_harness import submit_params

EN2 = bytes(8)
WRONG = [[1], {"a": 1}, 7, 1.5, True, None, "x" * 300]


async def _answers(c, n: int, timeout: float = 3.0) -> list[dict]:
    """The next `n` responses read off the wire (requests sent with send_raw)."""
    got: list[dict] = []
    c.client.on_response = got.append
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < n and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return got


@pytest.mark.parametrize("worker", [["alice.rig1"], {"w": "alice.rig1"}])
async def test_submit_with_a_list_or_object_worker_is_20_and_the_connection_stays(
    make_server, connect, caplog, worker
):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    params = submit_params("alice.rig1", job, EN2, 1)
    params[0] = worker
    with caplog.at_level(logging.INFO):
        msg = await c.call("mining.submit", params)
        assert msg["error"][0] == ErrorCode.OTHER and "worker name" in msg["error"][1]
        assert (await c.call("mining.ping", []))["result"] == "pong"
    assert not await c.closed(0.05)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _wrong_type_requests() -> list[tuple[str, list]]:
    """(method, params) with one parameter of a wrong type, for every method."""
    cases: list[tuple[str, list]] = []
    for bad in WRONG:
        if not isinstance(bad, str) and bad is not None:
            cases += [("mining.subscribe", [bad]), ("mining.subscribe", ["ua", bad]),
                      ("mining.authorize", [bad, "x"]), ("mining.authorize", ["a.b", bad])]
        if isinstance(bad, list | dict | bool | str) or bad is None:
            cases.append(("mining.suggest_difficulty", [bad]))
        cases.append(("mining.configure", [bad]))
        if not isinstance(bad, str):  # an unknown extension name is answered false (BIP310)
            cases.append(("mining.configure", [[bad]]))
        cases += [
                  ("mining.extranonce.subscribe", [bad])]
        if bad is not None:  # a null mask is no mask: the pool's whole mask is answered
            cases.append(("mining.configure",
                          [["version-rolling"], {"version-rolling.mask": bad}]))
        if not isinstance(bad, int | float) or isinstance(bad, bool):
            cases.append(("mining.configure", [["minimum-difficulty"],
                                               {"minimum-difficulty.value": bad}]))
    cases += [("mining.configure", [["version-rolling"], [], 3]),
              ("mining.authorize", ["a.b", "x", "extra"]), ("mining.suggest_difficulty", []),
              ("mining.configure", [["version-rolling"],
                                    {"version-rolling.min-bit-count": "2"}])]
    return [(m, p) for m, p in cases if not (m == "mining.configure" and p == [None])]


async def test_every_method_answers_a_wrong_type_with_20(make_server, connect, caplog):
    server = await make_server(ban={"enabled": False})
    c = await connect(server)
    job = await c.handshake()
    cases = _wrong_type_requests()
    for index in range(6):
        for bad in WRONG:
            if index <= 1 and isinstance(bad, str):
                continue  # a string worker or job id is looked up: 24 or 21
            params = submit_params("alice.rig1", job, EN2, 1, version_bits=0)
            params[index] = bad
            cases.append(("mining.submit", params))
    with caplog.at_level(logging.INFO):
        for method, params in cases:
            msg = await c.call(method, params)
            assert msg["error"] is not None and msg["error"][0] == ErrorCode.OTHER, \
                (method, params, msg)
        assert (await c.call("mining.ping", []))["result"] == "pong"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert server.stats.internal_errors == 0


async def test_solo_lines_queued_behind_a_bad_submit_are_answered(make_server, connect):
    node = DevnetNode()
    server = await make_server(mode="solo", node=node)
    c = await connect(server)
    await c.subscribe()
    address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
    # authorize (an address check on the node: the lines behind it wait), a submit with an
    # object as its worker, then a ping, all in one write
    c.client.send_raw(
        json.dumps({"id": 11, "method": "mining.authorize", "params": [f"{address}.r", "x"]})
        .encode() + b"\n"
        + json.dumps({"id": 12, "method": "mining.submit",
                      "params": [{"x": 1}, "j", "00" * 8, "00000000", "00000000"]}).encode()
        + b"\n" + b'{"id":13,"method":"mining.ping","params":[]}\n'
    )
    got = await _answers(c, 3)
    by_id = {m["id"]: m for m in got}
    assert by_id.get(11, {}).get("result") is True, got
    assert by_id.get(12, {}).get("error", [None])[0] == ErrorCode.OTHER, got
    assert by_id.get(13, {}).get("result") == "pong", got


async def test_bad_requests_count_toward_the_ban(make_server, connect):
    server = await make_server(ban={"max_invalid": 5, "window": 60, "ban_seconds": 60})
    c = await connect(server)
    await c.subscribe()
    for i in range(5):
        msg = await c.call("mining.no_such_method", [i])
        assert msg["error"][0] == ErrorCode.OTHER
    c.client.send("mining.authorize", [["not", "a", "name"]])  # the sixth crosses the limit
    assert await c.closed()
    assert server.stats.bans == 1
    again = await connect(server)
    assert await again.closed(), "the address is banned"


async def test_version_rolling_mask_as_a_number_is_20(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.configure",
                       [["version-rolling"], {"version-rolling.mask": 12345678}])
    assert msg["error"][0] == ErrorCode.OTHER and "mask" in msg["error"][1]
    assert c.client.transport is not None and not await c.closed(0.05)


async def test_empty_submit_is_20_not_24(make_server, connect):
    server = await make_server()
    c = await connect(server)
    await c.handshake()
    msg = await c.call("mining.submit", [])
    assert msg["error"][0] == ErrorCode.OTHER


@pytest.mark.parametrize("req_id", [2**64, 2**64 + 1, 2**70 + 12345, -(2**65) - 7, 2**63 - 1])
async def test_large_integer_ids_are_echoed_exactly(make_server, connect, req_id):
    server = await make_server()
    c = await connect(server)
    raw: list[bytes] = []
    original = c.client.data_received

    def tap(data: bytes) -> None:
        raw.append(data)
        original(data)

    c.client.data_received = tap
    c.client.send_raw(b'{"id":%d,"method":"mining.ping","params":[]}\n' % req_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while b"\n" not in b"".join(raw) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    line = b"".join(raw).split(b"\n")[0]
    assert line.startswith(b'{"id":%d,' % req_id), line
    assert json.loads(line)["id"] == req_id
