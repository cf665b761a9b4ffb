"""Stratum over TLS: a second listener with a self-signed certificate made here, a real
TLS client through the whole handshake and a fan-out (which must never write plaintext
to a TLS connection's socket), and the key named when the certificate cannot load."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest

from pool.stratum.config import StratumConfig
from pool.stratum.tls import TlsSetupError

from .certs import self_signed
from .stratum_harness import publish


async def request(writer: asyncio.StreamWriter, ident: int, method: str, params: list) -> None:
    writer.write(json.dumps({"id": ident, "method": method, "params": params}).encode() + b"\n")
    await writer.drain()


async def next_message(reader: asyncio.StreamReader, method: str | None = None,
                       ident: int | None = None) -> dict:  # fmt: skip
    while True:
        message = json.loads(await asyncio.wait_for(reader.readline(), 5))
        if (method is not None and message.get("method") == method) or (
            ident is not None and message.get("id") == ident
        ):
            return message


async def test_a_tls_miner_mines_and_gets_new_jobs(make_server, feed, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = await make_server(tls_listen="127.0.0.1:0", tls_cert=cert, tls_key=key)
    assert server.tls_address is not None and server.tls_address[1] != server.address[1]
    client = ssl.create_default_context(cafile=cert)
    reader, writer = await asyncio.open_connection(*server.tls_address, ssl=client,
                                                   server_hostname="localhost")  # fmt: skip
    try:
        await request(writer, 1, "mining.subscribe", ["tls/1.0"])
        assert (await next_message(reader, ident=1))["result"][2] == 8
        await request(writer, 2, "mining.authorize", ["alice.tls", "x"])
        assert (await next_message(reader, ident=2))["result"] is True
        first = await next_message(reader, "mining.notify")
        (session,) = list(server.sessions)
        assert session.fd == -1  # the fan-out never writes to its socket directly
        publish(feed, prev="22" * 32, height=301)
        second = await next_message(reader, "mining.notify")
        assert second["params"][0] != first["params"][0] and second["params"][8] is True
    finally:
        writer.close()


async def test_plain_and_tls_side_by_side(make_server, connect, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = await make_server(tls_listen="127.0.0.1:0", tls_cert=cert, tls_key=key)
    plain = await connect(server)
    await plain.handshake()
    # A plaintext client on the TLS port gets no Stratum answer: the handshake fails.
    reader, writer = await asyncio.open_connection(*server.tls_address)
    await request(writer, 1, "mining.subscribe", [])
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_a_key_that_does_not_load_is_named(make_server, tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not a key")
    with pytest.raises(TlsSetupError, match=r"stratum\.tls_cert/stratum\.tls_key"):
        await make_server(tls_listen="127.0.0.1:0", tls_cert=cert, tls_key=wrong)
    with pytest.raises(TlsSetupError, match=r"stratum\.tls_key: no such file"):
        await make_server(tls_listen="127.0.0.1:0", tls_cert=cert, tls_key=tmp_path / "none")


def test_tls_listen_needs_its_files() -> None:
    with pytest.raises(ValueError, match="needs tls_cert and tls_key"):
        StratumConfig(tls_listen="127.0.0.1:3334")
    with pytest.raises(ValueError, match="address:port"):
        StratumConfig(tls_listen="3334", tls_cert=Path("a"), tls_key=Path("b"))
