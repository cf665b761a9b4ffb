"""Who a miner says it is: the worker-name rules (pure, no network), the pool-mode
account book, and what a real server answers and credits with them.

- a worker name is 1-128 printable characters (no NUL, newline, escape, format
  character or surrogate): anything else is error 24 at mining.authorize;
- in pool mode the account (before the first '.') must be an address of the pool's
  network or a name the operator lists in [accounts];
- a share is credited to the account of the worker that submitted it, even when one
  connection (a proxy) carries several accounts.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from pool.accounts import AccountBook, name_problem
from pool.bitcoin.address import script_to_address
from pool.protocol import ErrorCode
from pool.shares.accepted import NOT_RECORDED, MemorySink
from pool.stratum.identity import MAX_WORKER_CHARS, account_of, authorize_problem, worker_problem
from pool.stratum.server import StratumServer

from .stratum_harness import find_nonce, stratum_config, submit_params

RB1 = script_to_address(bytes.fromhex("0014" + "ab" * 20), "regtest-bcoin")
BCRT1 = script_to_address(bytes.fromhex("0014" + "ab" * 20), "regtest-core")  # same script
OTHER = script_to_address(bytes.fromhex("0014" + "cd" * 20), "regtest")
MAINNET = script_to_address(bytes.fromhex("0014" + "ab" * 20), "mainnet")
HOSTILE = [
    "alice.\x00rig", "alice.rig\n2099-01-01 00:00:00 ERROR pool.app: FORGED", "alice\x1b[31m",
    "alice.\u202erig", "alice.\ud800", "alice.\u2028rig", "x" * (MAX_WORKER_CHARS + 1), "", ".rig",
]  # fmt: skip


# ------------------------------------------------------------------ pure rules


@pytest.mark.parametrize("worker", HOSTILE)
def test_hostile_worker_names_are_refused(worker: str) -> None:
    assert worker_problem(worker) is not None
    assert authorize_problem(worker) is not None


@pytest.mark.parametrize("worker", ["alice", "alice.rig1", "Zürich.北.1", "[/x].rig", "a" * 128])
def test_printable_names_pass_and_the_account_is_the_first_part(worker: str) -> None:
    assert worker_problem(worker) is None
    assert account_of(worker) == worker.split(".")[0]
    assert worker_problem(["alice"]) is not None


def test_account_book_takes_addresses_of_its_network_and_listed_names() -> None:
    book = AccountBook("regtest", {"alice": OTHER})
    assert book.problem(RB1) is None and book.problem(BCRT1) is None  # regtest: both spellings
    assert book.address_for("alice") == OTHER and book.address_for(RB1) == RB1
    for account in ("notanaddress", "[/x]", MAINNET, "bob", ""):
        assert book.address_for(account) is None
        assert "payout address" in str(book.problem(account))
    strict = AccountBook("regtest-bcoin")
    assert strict.problem(RB1) is None and strict.problem(BCRT1) is not None
    # one script, however spelt, gets one spelling in a payout (a wallet refuses twice)
    paid = book.payout_addresses([BCRT1, RB1, "alice", "nobody"])
    assert paid[BCRT1] == paid[RB1] and paid["alice"] == OTHER and paid["nobody"] is None
    assert authorize_problem("nobody.rig", book.problem) is not None
    assert authorize_problem(f"{RB1}.rig", book.problem) is None


def test_account_names_may_not_be_addresses_or_hold_dots() -> None:
    assert name_problem("alice", "regtest") is None
    assert name_problem(RB1, "regtest") is not None  # would redirect that address
    assert name_problem("a.b", "regtest") is not None
    assert name_problem("a\nb", "regtest") is not None


# ------------------------------------------------------------------ a real server


@pytest.mark.parametrize("worker", [w for w in HOSTILE if "\ud800" not in w])  # not JSON
async def test_authorize_answers_24_to_a_hostile_name(make_server, connect, worker: str):
    server = await make_server()
    c = await connect(server)
    await c.subscribe()
    replies: list[dict] = []
    c.client.on_response = replies.append
    c.client.send_raw(json.dumps({"id": 7, "method": "mining.authorize",
                                  "params": [worker, "x"]}).encode() + b"\n")  # fmt: skip
    for _ in range(200):
        if replies:
            break
        await asyncio.sleep(0.01)
    assert replies[0]["result"] is None and replies[0]["error"][0] == ErrorCode.UNAUTHORIZED
    assert not any(s.authorized for s in server.sessions)


async def test_pool_mode_refuses_accounts_it_cannot_pay(feed, connect):
    book = AccountBook("regtest", {"alice": OTHER})
    server = StratumServer(stratum_config(), feed, account_problem=book.problem)
    await server.start()
    try:
        c = await connect(server)
        await c.subscribe()
        for worker in ("notanaddress.rig", "[/x].rig", f"{MAINNET}.rig"):
            msg = await c.call("mining.authorize", [worker, "x"])
            assert msg["error"][0] == ErrorCode.UNAUTHORIZED, worker
        for worker in ("alice.rig1", f"{RB1}.rig2"):
            assert (await c.call("mining.authorize", [worker, "x"]))["result"] is True
    finally:
        await server.close(reconnect=False)


async def test_each_share_is_credited_to_its_own_workers_account(make_server, connect):
    """A proxy carries alice.rig1 and bob.rig2 on one connection: bob's share is bob's."""
    sink = MemorySink()
    server = await make_server(sink=sink)
    c = await connect(server)
    job = await c.handshake("alice.rig1")
    assert (await c.call("mining.authorize", ["bob.rig2", "x"]))["result"] is True
    for i, worker in enumerate(("bob.rig2", "alice.rig1")):
        en2 = (i + 1).to_bytes(8, "big")
        nonce = find_nonce(job, en2, difficulty=c.difficulty)
        msg = await c.call("mining.submit", submit_params(worker, job, en2, nonce))
        assert msg["result"] is True, msg
    assert [(s.worker, s.username) for s in sink.shares] == [
        ("bob.rig2", "bob"), ("alice.rig1", "alice")
    ]


class RefusingSink(MemorySink):
    """A share store that refuses the rows of one account, as a database refuses a row it
    cannot hold (pool.ledger's SharesNotStored carries `failed_rows` the same way)."""

    class Refused(Exception):
        def __init__(self, rows: set[int]) -> None:
            super().__init__("invalid byte sequence for encoding \"UTF8\": 0x00 in 'mallory'")
            self.failed_rows = frozenset(rows)

    async def record_shares(self, shares):
        refused = {i for i, s in enumerate(shares) if s.worker.startswith("mallory.")}
        await super().record_shares([s for i, s in enumerate(shares) if i not in refused])
        if refused:
            raise self.Refused(refused)


async def test_a_refused_row_costs_nobody_else_their_share(make_server, connect, caplog):
    """Two workers' shares in one batch (pipelined in one packet): the store refuses
    mallory's; alice's is answered true, mallory gets the generic code-20 text and the
    store's own words go only to the log, escaped."""
    sink = RefusingSink()
    server = await make_server(sink=sink)
    c = await connect(server)
    job = await c.handshake("alice.rig1")
    assert (await c.call("mining.authorize", ["mallory.rig", "x"]))["result"] is True
    replies: list[dict] = []
    c.client.on_response = replies.append
    packet = b""
    for i, worker in enumerate(("alice.rig1", "mallory.rig", "alice.rig1")):
        en2 = (i + 10).to_bytes(8, "big")
        nonce = find_nonce(job, en2, difficulty=c.difficulty)
        params = submit_params(worker, job, en2, nonce)
        packet += b'{"id":%d,"method":"mining.submit","params":%s}\n' % (
            100 + i, str(params).replace("'", '"').encode())
    with caplog.at_level("ERROR", logger="pool.stratum.server"):
        c.client.send_raw(packet)
        for _ in range(200):
            if len(replies) == 3:
                break
            await asyncio.sleep(0.01)
    answers = {r["id"]: (r["result"], r["error"]) for r in replies}
    assert answers == {100: (True, None), 101: (None, [20, NOT_RECORDED, None]),
                       102: (True, None)}  # fmt: skip
    assert [s.worker for s in sink.shares] == ["alice.rig1", "alice.rig1"]
    assert server.stats.accepted == 2
    logged = [r.getMessage() for r in caplog.records if "did not record" in r.getMessage()]
    assert logged and "0x00 in \\'mallory" in logged[0] and "\n" not in logged[0]


async def test_solo_authorize_never_tells_a_miner_the_nodes_own_words(feed, connect, caplog):
    """Solo mode checks the payout address with the node; when the node is down the
    miner gets a generic answer, and its address and error go to the log only."""
    import socket

    from pool.node.retry import RetryPolicy
    from pool.node.rpc import RpcNode

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = RpcNode([f"http://u:hunter2@127.0.0.1:{port}/"], timeout=1,
                   retry=RetryPolicy(rounds=1, base_delay=0))  # fmt: skip
    server = StratumServer(stratum_config(mode="solo"), feed, node)
    await server.start()
    try:
        c = await connect(server)
        await c.subscribe()
        with caplog.at_level("WARNING", logger="pool.stratum.session"):
            msg = await c.call("mining.authorize", [f"{RB1}.rig", "x"])
        assert msg["error"][0] == ErrorCode.UNAUTHORIZED
        assert str(port) not in msg["error"][1] and "hunter2" not in msg["error"][1]
        assert any(str(port) in r.getMessage() for r in caplog.records)
    finally:
        await server.close(reconnect=False)
        await node.close()


def test_the_accounts_table_is_checked_when_the_config_loads() -> None:
    from pool.config import ConfigError, loads

    def pool(accounts: str, mode: str = "pool") -> str:
        ledger = '[ledger]\npath = "x.sqlite3"\n' + ("scheme = 'solo'\n" if mode == "solo" else "")
        return (f'mode = "{mode}"\nnetwork = "regtest"\npayout_address = "{OTHER}"\n'
                f"[node]\ndevnet = true\n{ledger}[accounts]\n{accounts}\n")  # fmt: skip

    assert loads(pool(f'alice = "{RB1}"')).account_book().address_for("alice") == RB1
    for accounts, needle in (
        (f'alice = "{MAINNET}"', "accounts.alice: expected a regtest address"),
        (f'"{RB1}" = "{OTHER}"', "is itself an address"),
        (f'"a.b" = "{OTHER}"', "may not hold '.'"),
    ):
        with pytest.raises(ConfigError, match=needle):
            loads(pool(accounts), "pool.toml")
    with pytest.raises(ConfigError, match="accounts: expected only in pool mode"):
        loads(pool(f'alice = "{RB1}"', mode="solo"), "pool.toml")
