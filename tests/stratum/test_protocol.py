"""Every Stratum method and every reject case, over real loopback TCP to a real server."""

from __future__ import annotations

import asyncio
import struct

import pytest

import hashing
from pool.protocol import ErrorCode
from pool.shares.accepted import MemorySink

from .stratum_harness import (
    EASY_BITS,
    POOL_SCRIPT,
    TINY_DIFF,
    find_nonce,
    publish,
    submit_params,
)

EN2 = bytes.fromhex("0000000000000001")


async def test_subscribe_answers_extranonce1_and_size(make_server, connect):
    server = await make_server()
    a = await connect(server)
    b = await connect(server)
    msg_a = await a.subscribe()
    msg_b = await b.subscribe()
    subs, en1, en2_size = msg_a["result"]
    assert msg_a["error"] is None
    assert [s[0] for s in subs] == ["mining.set_difficulty", "mining.notify"]
    assert len(bytes.fromhex(en1)) == 4
    assert en2_size == 8
    assert msg_b["result"][1] != en1, "extranonce1 must be unique per connection"


async def test_extranonce1_prefix_per_instance(make_server, connect):
    from pool.jobs import JobFactory
    from pool.stratum.jobfeed import JobFeed

    feed4 = JobFeed(JobFactory(POOL_SCRIPT, extranonce2_size=4))
    publish(feed4)
    server = await make_server(jobs=feed4, extranonce1_prefix="ab", extranonce2_size=4)
    c = await connect(server)
    msg = await c.subscribe()
    assert msg["result"][1].startswith("ab")
    assert msg["result"][2] == 4


async def test_authorize_sends_difficulty_then_notify(make_server, connect, feed):
    server = await make_server()
    c = await connect(server)
    await c.subscribe()
    msg = await c.call("mining.authorize", ["alice.rig1", "x"])
    assert msg["result"] is True
    await c.next_note("mining.notify")
    methods = [m for m, _ in c.notes]
    assert methods[:2] == ["mining.set_difficulty", "mining.notify"]
    assert c.notes[0][1] == [TINY_DIFF]
    assert c.notes[1][1] == feed.current.notify_params()


async def test_authorize_requires_a_worker_name(make_server, connect):
    server = await make_server()
    c = await connect(server)
    await c.subscribe()
    msg = await c.call("mining.authorize", ["", "x"])
    assert msg["error"][0] == ErrorCode.UNAUTHORIZED
    assert msg["error"][2] is None


async def test_valid_share_is_accepted_after_the_sink_returns(make_server, connect):
    release = asyncio.Event()
    entered = asyncio.Event()

    class SlowSink(MemorySink):
        async def record_shares(self, shares):
            entered.set()
            await release.wait()
            await super().record_shares(shares)

    sink = SlowSink()
    server = await make_server(sink=sink)
    c = await connect(server)
    job = await c.handshake()
    nonce = find_nonce(job, EN2, difficulty=c.difficulty)
    pending = asyncio.ensure_future(c.call("mining.submit", submit_params("alice.rig1", job,
                                                                          EN2, nonce)))
    await asyncio.wait_for(entered.wait(), 10)  # the share is with the store
    for _ in range(20):  # and stays unanswered while the store has not returned
        await asyncio.sleep(0)
    assert not pending.done(), "`true` went out before the share store returned"
    release.set()
    msg = await pending
    assert msg["result"] is True and msg["error"] is None
    [share] = sink.shares
    assert share.worker == "alice.rig1" and share.username == "alice"
    assert share.difficulty == TINY_DIFF
    assert share.share_difficulty >= TINY_DIFF
    assert share.job_id == job.job_id and not share.is_block


async def test_submit_before_subscribe_is_25(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.submit", ["alice", "1", "00" * 8, "00000000", "00000000"])
    assert msg["error"] == [ErrorCode.NOT_SUBSCRIBED, "Not subscribed", None]


async def test_submit_without_authorize_is_24(make_server, connect):
    server = await make_server()
    c = await connect(server)
    await c.subscribe()
    msg = await c.call("mining.submit", ["alice", "1", "00" * 8, "00000000", "00000000"])
    assert msg["error"][0] == ErrorCode.UNAUTHORIZED


async def test_submit_for_another_worker_is_24(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake("alice.rig1")
    nonce = find_nonce(job, EN2, difficulty=c.difficulty)
    msg = await c.call("mining.submit", submit_params("mallory.rig", job, EN2, nonce))
    assert msg["error"][0] == ErrorCode.UNAUTHORIZED


async def test_unknown_job_is_21(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    params = submit_params("alice.rig1", job, EN2, 0)
    params[1] = "deadbeef"
    msg = await c.call("mining.submit", params)
    assert msg["error"] == [ErrorCode.JOB_NOT_FOUND, "Job not found", None]


async def test_stale_job_after_new_block_is_21(make_server, connect, feed):
    server = await make_server()
    c = await connect(server)
    old = await c.handshake()
    publish(feed, prev="22" * 32, height=301)
    new_params = await c.next_note("mining.notify")
    assert new_params[8] is True  # clean_jobs on the new prevhash
    nonce = find_nonce(old, EN2, difficulty=c.difficulty)
    msg = await c.call("mining.submit", submit_params("alice.rig1", old, EN2, nonce))
    assert msg["error"] == [ErrorCode.JOB_NOT_FOUND, "Stale job", None]
    # the new job is fine
    new = c.last_job
    nonce = find_nonce(new, EN2, difficulty=c.difficulty)
    msg = await c.call("mining.submit", submit_params("alice.rig1", new, EN2, nonce))
    assert msg["result"] is True


async def test_older_job_on_same_block_still_accepted(make_server, connect, feed):
    server = await make_server()
    c = await connect(server)
    old = await c.handshake()
    publish(feed, clean=False, ntx=5)  # template refresh, same prevhash
    await c.next_note("mining.notify")
    nonce = find_nonce(old, EN2, difficulty=c.difficulty)
    msg = await c.call("mining.submit", submit_params("alice.rig1", old, EN2, nonce))
    assert msg["result"] is True


async def test_duplicate_by_parsed_values_is_22(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    nonce = find_nonce(job, EN2, difficulty=c.difficulty)
    params = submit_params("alice.rig1", job, EN2, nonce)
    assert (await c.call("mining.submit", params))["result"] is True
    again = (await c.call("mining.submit", params))["error"]
    assert again == [ErrorCode.DUPLICATE, "Duplicate share", None]
    spelled = list(params)
    spelled[2] = spelled[2].upper()
    spelled[4] = spelled[4].upper()
    assert (await c.call("mining.submit", spelled))["error"][0] == ErrorCode.DUPLICATE


async def test_low_difficulty_is_23(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    nonce = find_nonce(job, EN2, difficulty=c.difficulty, meets=False)
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce))
    assert msg["error"] == [ErrorCode.LOW_DIFFICULTY, "Low difficulty share", None]
    # not remembered as a duplicate: a retry gets the same verdict
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce))
    assert msg["error"][0] == ErrorCode.LOW_DIFFICULTY


@pytest.mark.parametrize(
    ("index", "value", "needle"),
    [
        (2, "00" * 7, "extranonce2 must be 8 bytes"),
        (2, "00" * 9, "extranonce2 must be 8 bytes"),
        (2, "zz" * 8, "extranonce2 is not hex"),
        (3, "0000000", "ntime must be 8 hex"),
        (3, "0x123456", "ntime is not hex"),
        (4, "+1234567", "nonce is not hex"),
        (4, "1234_567", "nonce is not hex"),
        (4, 12345678, "nonce must be 8 hex"),
    ],
)
async def test_malformed_submit_fields_are_20(make_server, connect, index, value, needle):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    params = submit_params("alice.rig1", job, EN2, 1)
    params[index] = value
    msg = await c.call("mining.submit", params)
    assert msg["error"][0] == ErrorCode.OTHER
    assert needle in msg["error"][1]


async def test_non_string_worker_is_20(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    params = submit_params("alice.rig1", job, EN2, 1)
    params[0] = 5
    msg = await c.call("mining.submit", params)
    assert msg["error"][0] == ErrorCode.OTHER  # a malformed request, not an unknown worker


async def test_wrong_param_count_is_20(make_server, connect):
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, 1)[:4])
    assert msg["error"][0] == ErrorCode.OTHER and "5 or 6 params" in msg["error"][1]


async def test_ntime_window(make_server, connect, feed):
    publish(feed, mintime=1_700_000_000)
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    too_old = submit_params("alice.rig1", job, EN2, 1, ntime=1_700_000_000 - 1)
    msg = await c.call("mining.submit", too_old)
    assert msg["error"][0] == ErrorCode.OTHER and "mintime" in msg["error"][1]
    future = int(server.clock()) + 7200 + 60
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, 1, ntime=future))
    assert msg["error"][0] == ErrorCode.OTHER and "2 hours" in msg["error"][1]
    # the lower edge itself is inside the window: a real share with ntime = mintime passes
    edge = 1_700_000_000
    header76 = job.header76(EN2, edge, job.version)
    nonce = hashing.scan_nonces(header76, int(0xFFFF * 2**208 / c.difficulty), 0, 1 << 16)[0]
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce, ntime=edge))
    assert msg["result"] is True, msg


async def test_configure_version_rolling_negotiates_mask(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.configure", [["version-rolling"],
                                            {"version-rolling.mask": "00fff000",
                                             "version-rolling.min-bit-count": 2}])
    assert msg["result"] == {"version-rolling": True, "version-rolling.mask": "00ffe000"}
    c2 = await connect(server)
    msg = await c2.call("mining.configure", [["version-rolling"], {}])
    assert msg["result"]["version-rolling.mask"] == "1fffe000"  # no miner mask => ffffffff


@pytest.mark.parametrize(("miner_mask", "mask", "bits", "outside"), [
    ("00fff000", 0x00FFE000, 0x00AB6000, 0x10000000),  # inside the pool's, not the negotiated
    (None, 0x1FFFE000, 0x1FFFE000, 0x00001000),  # no mining.configure: the pool's default mask
], ids=["negotiated", "without-configure"])  # fmt: skip
async def test_rolled_version_share_accepted_and_outside_mask_rejected(
    make_server, connect, miner_mask: str | None, mask: int, bits: int, outside: int
):
    server = await make_server()
    c = await connect(server)
    if miner_mask is not None:
        extensions = {"version-rolling.mask": miner_mask}
        await c.call("mining.configure", [["version-rolling"], extensions])
    job = await c.handshake()
    version = (job.version & ~mask) | bits
    nonce = find_nonce(job, EN2, difficulty=c.difficulty, version=version)
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce, bits))
    assert msg["result"] is True, msg
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce, outside))
    assert msg["error"][0] == ErrorCode.OTHER and "outside the mask" in msg["error"][1]


async def test_wrong_version_in_header_is_low_difficulty(make_server, connect):
    """The version bits really reach the header: a nonce found for one version is no
    share under another."""
    server = await make_server()
    c = await connect(server)
    job = await c.handshake()
    version = (job.version & ~0x1FFFE000) | 0x00002000
    header76 = job.header76(EN2, job.ntime, version)
    target = int(0xFFFF * 2**208 / c.difficulty)
    found = set(hashing.scan_nonces(header76, target, 0, 4096))
    other = set(hashing.scan_nonces(job.header76(EN2, job.ntime, job.version), target, 0, 4096))
    nonce = next(iter(found - other))
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce))
    assert msg["error"][0] == ErrorCode.LOW_DIFFICULTY
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce, 0x00002000))
    assert msg["result"] is True


async def test_configure_minimum_difficulty_and_unknown_extension(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.configure", [["minimum-difficulty", "subscribe-extranonce-x"],
                                            {"minimum-difficulty.value": 0.5}])
    assert msg["result"] == {"minimum-difficulty": True, "subscribe-extranonce-x": False}
    await c.handshake()
    assert c.notes[0] == ("mining.set_difficulty", [0.5])
    msg = await c.call("mining.suggest_difficulty", [0.01])
    assert msg["result"] is True
    assert server.sessions and next(iter(server.sessions)).difficulty == 0.5


async def test_configure_needs_a_list(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.configure", [{"version-rolling": True}])
    assert msg["error"][0] == ErrorCode.OTHER
    msg = await c.call("mining.configure", [["version-rolling"], {"version-rolling.mask": "xyz"}])
    assert msg["error"][0] == ErrorCode.OTHER and "not hex" in msg["error"][1]


async def test_suggest_difficulty_applies_with_next_job_old_jobs_keep_theirs(
    make_server, connect, feed
):
    server = await make_server()
    c = await connect(server)
    first = await c.handshake()
    first_diff = c.difficulty
    msg = await c.call("mining.suggest_difficulty", [0.000244140625])  # fractional
    assert msg["result"] is True
    publish(feed, clean=False)
    await c.next_note("mining.notify")
    assert ("mining.set_difficulty", [0.000244140625]) in c.notes
    second = c.last_job
    assert second.difficulty == 0.000244140625
    # a share good at the first job's difficulty but not the new one
    header76 = first.header76(EN2, first.ntime, first.version)
    easy = set(hashing.scan_nonces(header76, int(0xFFFF * 2**208 / first_diff), 0, 1 << 16))
    hard = set(hashing.scan_nonces(header76, int(0xFFFF * 2**208 / 0.000244140625), 0, 1 << 16))
    nonce = next(iter(easy - hard))
    msg = await c.call("mining.submit", submit_params("alice.rig1", first, EN2, nonce))
    assert msg["result"] is True, "a share for an older job is checked at that job's difficulty"
    header76 = second.header76(EN2, second.ntime, second.version)
    easy = set(hashing.scan_nonces(header76, int(0xFFFF * 2**208 / first_diff), 0, 1 << 16))
    hard = set(hashing.scan_nonces(header76, int(0xFFFF * 2**208 / 0.000244140625), 0, 1 << 16))
    nonce = next(iter(easy - hard))
    msg = await c.call("mining.submit", submit_params("alice.rig1", second, EN2, nonce))
    assert msg["error"][0] == ErrorCode.LOW_DIFFICULTY


@pytest.mark.parametrize("bad", [[], [0], [-1], ["abc"], [True], [None]])
async def test_suggest_difficulty_rejects_nonsense(make_server, connect, bad):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.suggest_difficulty", bad)
    assert msg["error"][0] == ErrorCode.OTHER


async def test_password_difficulty_hint(make_server, connect):
    server = await make_server()
    c = await connect(server)
    await c.subscribe()
    await c.call("mining.authorize", ["alice.rig1", "d=0.125"])
    await c.next_note("mining.notify")
    assert c.notes[0] == ("mining.set_difficulty", [0.125])


async def test_extranonce_subscribe_sends_set_extranonce(make_server, connect):
    server = await make_server()
    c = await connect(server)
    sub = await c.subscribe()
    msg = await c.call("mining.extranonce.subscribe", [])
    assert msg["result"] is True
    params = await c.next_note("mining.set_extranonce")
    assert params == [sub["result"][1], 8]


async def test_ping_and_show_message(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.ping", [])
    assert msg["result"] == "pong"
    server.broadcast_message("maintenance at noon")
    assert await c.next_note("client.show_message") == ["maintenance at noon"]


async def test_unknown_method_is_20_and_connection_stays(make_server, connect):
    server = await make_server()
    c = await connect(server)
    msg = await c.call("mining.get_transactions", [])
    assert msg["error"][0] == ErrorCode.OTHER and "Unknown method" in msg["error"][1]
    assert (await c.call("mining.ping", []))["result"] == "pong"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (b"[1, 2, 3]\n", "JSON object"),
        (b'{"id": 7, "params": []}\n', "no method"),
        (b'{"id": 7, "method": "mining.subscribe", "params": {"a": 1}}\n', "params must be"),
        (b'{"id": [1], "method": "mining.ping"}\n', "request id"),
        (b'"hello"\n', "JSON object"),
    ],
)
async def test_malformed_requests_get_20_and_stay_open(make_server, connect, line, needle):
    server = await make_server()
    c = await connect(server)
    replies = []
    c.client.on_response = replies.append
    c.client.send_raw(line)
    assert (await c.call("mining.ping", []))["result"] == "pong"
    assert len(replies) == 1
    assert replies[0]["error"][0] == ErrorCode.OTHER and needle in replies[0]["error"][1]
    assert replies[0]["result"] is None


async def test_pipelined_requests_in_one_packet(make_server, connect):
    server = await make_server()
    c = await connect(server)
    replies = []
    c.client.on_response = replies.append
    c.client.send_raw(
        b'{"id":1,"method":"mining.subscribe","params":[]}\r\n'
        b'{"id":2,"method":"mining.authorize","params":["bob.x","x"]}\n'
        b'{"id":3,"method":"mining.ping","params":[]}\n'
    )
    await c.next_note("mining.notify")
    for _ in range(50):
        if len(replies) == 3:
            break
        await asyncio.sleep(0.02)
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[1]["result"] is True


async def test_block_candidate_goes_to_the_node(make_server, connect, feed, devnet_node):
    """A share that meets the network target is submitted as a block the chain accepts."""
    node, chain = devnet_node
    template = await node.getblocktemplate()
    from pool.jobs.factory import TemplateWork

    feed.publish_template(TemplateWork.from_gbt(template), clean_jobs=True)
    server = await make_server(node=node)
    c = await connect(server)
    job = await c.handshake()
    height = chain.height
    nonce = find_nonce(job, EN2, difficulty=c.difficulty, network=job_network(job))
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce))
    assert msg["result"] is True
    for _ in range(100):
        if server.blocks:
            break
        await asyncio.sleep(0.02)
    [found] = server.blocks
    assert found.result is None, found
    assert chain.height == height + 1
    header = job.header76(EN2, job.ntime, job.version) + struct.pack("<I", nonce)
    assert chain.tip.hash == hashing.sha256d(header)


async def test_stale_block_candidate_is_still_submitted(make_server, connect, feed, devnet_node):
    node, chain = devnet_node
    from pool.jobs.factory import TemplateWork

    feed.publish_template(TemplateWork.from_gbt(await node.getblocktemplate()), clean_jobs=True)
    server = await make_server(node=node)
    c = await connect(server)
    old = await c.handshake()
    publish(feed, bits=EASY_BITS, prev="44" * 32, height=chain.height + 5)
    await c.next_note("mining.notify")
    nonce = find_nonce(old, EN2, difficulty=c.difficulty, network=job_network(old))
    msg = await c.call("mining.submit", submit_params("alice.rig1", old, EN2, nonce))
    assert msg["error"][0] == ErrorCode.JOB_NOT_FOUND and msg["error"][1] == "Stale job"
    for _ in range(100):
        if server.blocks:
            break
        await asyncio.sleep(0.02)
    assert len(server.blocks) == 1, "a stale block candidate still goes to the node"
    assert server.blocks[0].result is None  # the node's tip had not moved: it is a block


def job_network(job) -> int:
    from pool.bitcoin.target import bits_to_target

    return bits_to_target(job.nbits)


async def test_tiny_difficulty_above_network_difficulty_counts_as_block(make_server, connect,
                                                                        feed, devnet_node):
    """Share difficulty above the network's (regtest): a hash that meets only the network
    target is a block and an accepted share, never 'low difficulty'."""
    node, _chain = devnet_node
    from pool.jobs.factory import TemplateWork

    feed.publish_template(TemplateWork.from_gbt(await node.getblocktemplate()), clean_jobs=True)
    server = await make_server(node=node, vardiff={"initial": 1.0})
    c = await connect(server)
    job = await c.handshake()
    network = job_network(job)
    header76 = job.header76(EN2, job.ntime, job.version)
    nonce = next(n for n in range(1000)
                 if hashing.header_meets_target(header76 + struct.pack("<I", n), network))
    msg = await c.call("mining.submit", submit_params("alice.rig1", job, EN2, nonce))
    assert msg["result"] is True
    assert TINY_DIFF < 1.0


async def test_extranonce2_size_must_match_the_job_factory(make_server):
    with pytest.raises(ValueError, match="same extranonce2_size"):
        await make_server(extranonce2_size=4)
