"""The stats API's answers as pydantic models, and its OpenAPI 3.1 document built from them.

Each model is the shape of one answer of pool.stats_api (PoolView builds plain dicts, as
fast as a page of ten thousand workers needs; tests validate live answers against these
models, so the document cannot drift from what is served). The JSON Schemas come from
pydantic through plumbing.openapi, as for every daemon; only the paths and their query
parameters are written here by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from plumbing.openapi import Answer, Error, document, ok, path_param, query
from plumbing.openapi import component_schemas as _components
from pool.metrics import REJECT_REASONS

API_PREFIX = "/api/v1"
MAX_LIMIT = 10_000
DEFAULT_PAGE = 1_000  # workers per page when the caller gives no limit
MAX_OFFSET = 10_000_000
MAX_NAME = 256  # longest worker or account name a query may name


class Block(Answer):
    """A block candidate the pool submitted."""

    height: int
    """block height"""
    hash: str
    """block hash, display (RPC) byte order"""
    worker: str
    """the worker whose share solved it"""
    job_id: str
    """the job it was mined on"""
    accepted: bool
    """the node accepted it"""
    reject_reason: str | None
    """the node's reason when it did not"""
    time: float
    """when it was submitted (epoch seconds)"""


class Worker(Answer):
    """One worker name's shares and hashrate."""

    worker: str
    """worker name as the miner authorized it (account.rig)"""
    account: str
    """the account: the worker name up to the first '.'"""
    hashrate_hs: float
    """estimated hashrate over the window (H/s)"""
    accepted_shares: int
    """accepted shares"""
    accepted_difficulty: float
    """summed difficulty of accepted shares"""
    last_share_difficulty: float | None
    """difficulty of its last accepted share"""
    first_share_time: float | None
    """first accepted share (epoch seconds)"""
    last_share_time: float | None
    """last accepted share (epoch seconds)"""
    connected: bool
    """authorized on an open connection"""
    difficulty: float | None
    """its connection's share difficulty now"""


Rejected: type[Answer] = create_model(  # one count per Stratum reject reason
    "Rejected",
    __base__=Answer,
    __doc__="Rejected shares by reason.",
    **{reason: (int, Field(description=f"shares rejected: {reason}"))
       for reason in REJECT_REASONS.values()},
)  # type: ignore[call-overload]  # pydantic cannot type fields given as **dict  # fmt: skip


class Shares(Answer):
    """Shares since the pool started."""

    accepted: int
    """accepted shares"""
    accepted_difficulty: float
    """summed difficulty of accepted shares"""
    rejected: Rejected


class Distribution(Answer):
    """Share difficulty over the working connections."""

    count: int
    """working connections"""
    min: float | None
    """lowest share difficulty"""
    median: float | None
    """median share difficulty"""
    max: float | None
    """highest share difficulty"""


class Difficulty(Answer):
    """The network's difficulty and the connections' share difficulties."""

    network: float | None
    """network difficulty of the current job"""
    connections: Distribution


class PoolSummary(Answer):
    """The pool at one moment."""

    time: float
    """server time of this answer (epoch seconds)"""
    hashrate_hs: float
    """pool hashrate estimated over the window (H/s)"""
    hashrate_window_s: float
    """the estimate's window (seconds)"""
    workers: int
    """workers with an accepted share within the window"""
    authorized_workers: int
    """worker names authorized on open connections"""
    connections: int
    """open Stratum connections"""
    shares: Shares
    difficulty: Difficulty
    height: int | None
    """height of the current job"""
    template_age_s: float | None
    """age of the current job (seconds)"""
    blocks_found: int
    """block candidates found"""
    blocks_accepted: int
    """blocks the node accepted"""
    blocks_confirmed: int | None
    """blocks on the active chain at their height"""
    last_block: Block | None
    """the last block the node accepted"""


class WorkerList(Answer):
    """A page of workers."""

    workers: list[Worker]
    offset: int
    """rows skipped before this page"""
    limit: int
    """rows asked for"""
    next_offset: int | None
    """the offset of the next page; null on the last"""


class Account(Answer):
    """One account and its workers."""

    account: str
    """the account name"""
    hashrate_hs: float
    """its workers' summed hashrate (H/s)"""
    accepted_shares: int
    """its workers' accepted shares"""
    workers: list[Worker]


class BlockList(Answer):
    """Blocks found, newest first."""

    blocks: list[Block]


# ---------------------------------------------------------------------- the miners' page
# (pool.stats_miner serves these; the page itself is pool/web)


class Page(Answer):
    """A page of rows: where it starts and where the next one does."""

    offset: int
    """rows skipped before this page"""
    limit: int
    """rows asked for"""
    next_offset: int | None
    """the offset of the next page; null on the last"""


class Connect(Answer):
    """How a miner connects."""

    stratum_url: str | None = Field(
        description="Stratum URL as the operator publishes it; null: the page's own host name "
        "with stratum_port")
    stratum_port: int
    """the port the pool's Stratum server listens on"""
    tls_url: str | None
    """Stratum over TLS URL as the operator publishes it; null: the page's own host name
    with tls_port, if any"""
    tls_port: int | None
    """the port of the pool's Stratum over TLS listener; null when it has none"""
    username: str
    """the username format (worker name) miners authorize as"""
    password: str
    """a password that asks for a starting difficulty"""
    suggested_difficulty: float
    """the difficulty a connection starts at"""
    target_share_interval_s: float
    """vardiff aims at one share this often"""


class BlockCounts(Answer):
    """Blocks the pool found, by status."""

    found: int
    """all of them"""
    pending: int
    """accepted, not yet mature (or not yet checked)"""
    confirmed: int
    """mature on the chain (without a ledger: on the chain)"""
    orphaned: int
    """another block took their height"""
    rejected: int
    """the node refused them"""


class PoolOverview(Answer):
    """Everything the pool page shows, at one moment."""

    time: float
    """server time of this answer (epoch seconds)"""
    mode: str
    """pool (shared rewards) or solo (the finder is paid)"""
    network: str
    """the chain"""
    scheme: str | None
    """payout scheme (pplns, pps, fpps, prop, solo)"""
    fee_percent: float | None
    """pool fee in percent"""
    pplns_window_blocks: float | None
    """PPLNS window in blocks' worth of network difficulty"""
    min_payout_sat: int | None
    """smallest payout (satoshis)"""
    maturity: int | None
    """confirmations before block rewards are paid"""
    hashrate_hs: float
    """pool hashrate over the window (H/s)"""
    hashrate_window_s: float
    """the estimate's window (seconds)"""
    miners_online: int
    """accounts with an accepted share within the window"""
    workers_online: int
    """workers with an accepted share within the window"""
    network_difficulty: float | None
    """network difficulty of the current job"""
    height: int | None
    """height of the block being mined"""
    expected_block_s: float | None
    """expected time to a block at this hashrate (seconds); null at zero"""
    blocks: BlockCounts
    last_block_time: float | None
    """when the last block was found"""
    connect: Connect


class Sketch(Answer):
    """A HyperLogLog sketch of names (pool.online_sketch): mergeable by the register-wise
    maximum, so that a cluster counts a name seen by several processes once."""

    precision: int
    """log2 of the number of registers"""
    hashes: str | None
    """while the names are few: their 64-bit BLAKE2b hashes, 8 bytes each, base64"""
    registers: str | None
    """past that: the registers, one byte each, zlib-compressed, base64"""


class PoolOnline(Answer):
    """Who the overview counts online, as sketches for a cluster's front to unite."""

    time: float
    """when it was counted (epoch seconds)"""
    accounts: Sketch
    """accounts with an accepted share within the window"""
    workers: Sketch
    """workers with an accepted share within the window"""


class HashratePoint(Answer):
    """One time bucket of a hashrate chart."""

    time: float
    """the bucket's start (epoch seconds)"""
    hashrate_hs: float | None
    """H/s in the bucket; null: not measured"""


class HashrateChart(Answer):
    """Hashrate over a range, oldest bucket first."""

    range: str
    """1h, 24h or 7d"""
    bucket_s: float
    """length of a bucket (seconds)"""
    points: list[HashratePoint]


class PoolBlock(Answer):
    """A block the pool found."""

    height: int
    """block height"""
    hash: str
    """block hash, display (RPC) byte order"""
    time: float
    """when it was found (epoch seconds)"""
    worker: str
    """the finder: the worker whose share solved it"""
    account: str
    """the finder's account"""
    status: str
    """pending, confirmed, orphaned or rejected"""
    reward_sat: int | None
    """the block's coinbase value (satoshis)"""


class PoolBlockList(Page):
    """Blocks found, newest first, a page at a time."""

    blocks: list[PoolBlock]


class Balance(Answer):
    """An account's money in the ledger (satoshis)."""

    immature_sat: int
    """credits of blocks not yet mature"""
    payable_sat: int
    """mature, paid once at least the minimum payout"""
    pending_sat: int
    """in a payout being sent"""
    paid_sat: int
    """paid so far"""


class WindowShares(Answer):
    """An account's shares in the current PPLNS window."""

    shares: int
    """its shares in the window"""
    difficulty: float
    """their summed difficulty"""
    window_difficulty: float
    """the window's summed difficulty"""
    fraction: float
    """its part of the window (0..1)"""
    complete: bool
    """false while the window is still being read"""


class Miner(Answer):
    """One account on the miners' page."""

    account: str
    """the account: an address, or a name the pool lists"""
    time: float
    """server time of this answer (epoch seconds)"""
    mode: str
    """pool or solo"""
    hashrate_hs: float
    """its workers' summed hashrate (H/s)"""
    workers_online: int
    """workers with a share within offline_after_s"""
    workers_offline: int
    """workers quiet for longer, or without a share yet"""
    last_share_time: float | None
    """its last accepted share (epoch seconds)"""
    offline_after_s: float
    """a worker quiet this long is offline"""
    expected_block_s: float | None
    """expected time for this account alone to find a block (seconds)"""
    pplns_window: WindowShares | None
    """null unless the scheme is pplns"""
    balance: Balance | None
    """null without a ledger, or in solo mode"""


class MinerWorker(Answer):
    """One worker of an account."""

    worker: str
    """the worker name as authorized (account.rig)"""
    rig: str
    """the part after the account and its '.'"""
    status: str
    """online, offline, or new (connected, no share yet)"""
    connected: bool
    """authorized on an open connection"""
    hashrate_hs: float
    """hashrate over the window (H/s)"""
    accepted_shares: int
    """accepted shares while tracked"""
    last_share_time: float | None
    """last accepted share (epoch seconds)"""
    difficulty: float | None
    """its connection's share difficulty now"""
    rejected: Rejected
    best_share_difficulty: float | None
    """the highest difficulty one of its shares reached"""


class MinerWorkerList(Page):
    """A page of one account's workers: online first, highest hashrate first."""

    workers: list[MinerWorker]


class Payout(Answer):
    """One payout to an account."""

    batch_id: int
    """the payout batch"""
    amount_sat: int
    """satoshis"""
    address: str
    """the address paid"""
    status: str
    """sending, sent or cancelled"""
    txid: str | None
    """the transaction, once sent"""
    time: float
    """when the batch was made (epoch seconds)"""


class PayoutList(Page):
    """An account's payouts, newest first."""

    payouts: list[Payout]


MINER_MODELS: tuple[type[Answer], ...] = (
    PoolOverview, PoolOnline, HashrateChart, PoolBlockList, Miner, MinerWorkerList,
    PayoutList,
)
RANGES = ("1h", "24h", "7d")
MINER_PAGE = 100  # rows of a miner's page when the caller gives no limit


def miner_paths(limit: dict[str, Any]) -> dict[str, Any]:
    """The paths of the miners' page's endpoints (the account is a query parameter: any
    printable name, '/' and '?' included, travels safely there)."""
    account = {**query("account", "the account: an address, or a name the pool lists",
                        type="string", minLength=1, maxLength=MAX_NAME), "required": True}
    page = [{**limit, "description": f"at most this many rows (default {MINER_PAGE})"},
            query("offset", "skip this many rows (the previous page's next_offset)",
                   type="integer", minimum=0, maximum=MAX_OFFSET)]
    span = query("range", "the chart's range (default 1h)", type="string", enum=list(RANGES))
    bad = {"400": ok(Error, "a bad query parameter")}
    unknown = {"404": ok(Error, "the pool knows no such account")}

    def get(op: str, summary: str, model: type[Answer], params: list[Any],
            errors: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"operationId": op, "summary": summary, "parameters": params,
                        "responses": {"200": ok(model, summary), **errors}}}

    return {
        f"{API_PREFIX}/pool/overview": get(
            "getPoolOverview", "What the pool page shows", PoolOverview, [], {}),
        f"{API_PREFIX}/pool/online": get(
            "getPoolOnline", "Accounts and workers online, as mergeable sketches", PoolOnline,
            [], {}),
        f"{API_PREFIX}/pool/hashrate": get(
            "getPoolHashrate", "The pool's hashrate chart", HashrateChart, [span], bad),
        f"{API_PREFIX}/pool/blocks": get(
            "listPoolBlocks", "Blocks found, with status and reward", PoolBlockList, page, bad),
        f"{API_PREFIX}/miner": get(
            "getMiner", "One account: hashrate, workers, window, balance", Miner, [account],
            {**bad, **unknown}),
        f"{API_PREFIX}/miner/workers": get(
            "listMinerWorkers", "One account's workers", MinerWorkerList,
            [account, *page], {**bad, **unknown}),
        f"{API_PREFIX}/miner/hashrate": get(
            "getMinerHashrate", "One account's hashrate chart", HashrateChart,
            [account, span], {**bad, **unknown}),
        f"{API_PREFIX}/miner/payouts": get(
            "listMinerPayouts", "One account's payouts", PayoutList, [account, *page], bad),
        f"{API_PREFIX}/miner/blocks": get(
            "listMinerBlocks", "Blocks one account's workers found", PoolBlockList,
            [account, *page], bad),
    }  # fmt: skip


MODELS: tuple[type[Answer], ...] = (
    PoolSummary, WorkerList, Worker, Account, BlockList, Error, *MINER_MODELS,
)


def component_schemas() -> dict[str, Any]:
    """Every model (and the ones nested in them) as an OpenAPI component schema."""
    return _components(MODELS)


def _by_name(operation: str, name: str, model: type[Answer], summary: str) -> dict[str, Any]:
    """GET of one thing named in the path: 200 with it, 404 when there is none."""
    return {"get": {
        "operationId": operation, "summary": summary, "parameters": [path_param(name)],
        "responses": {"200": ok(model, f"the {name}"), "404": ok(Error, f"no such {name}")},
    }}  # fmt: skip


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /openapi.json."""
    limit = query("limit", "at most this many rows", type="integer", minimum=1,
                  maximum=MAX_LIMIT)  # fmt: skip
    paths = {
        f"{API_PREFIX}/pool": {"get": {
            "operationId": "getPool", "summary": "Pool summary",
            "responses": {"200": ok(PoolSummary, "the summary")},
        }},
        f"{API_PREFIX}/workers": {"get": {
            "operationId": "listWorkers",
            "summary": "Workers, highest hashrate first, a page at a time",
            "parameters": [
                {**limit, "description": f"at most this many rows (default {DEFAULT_PAGE})"},
                query("offset", "skip this many rows (the previous page's next_offset)",
                      type="integer", minimum=0, maximum=MAX_OFFSET),
                query("account", "only this account's workers", type="string",
                      minLength=1, maxLength=MAX_NAME),
            ],
            "responses": {"200": ok(WorkerList, "a page of workers"),
                          "400": ok(Error, "a bad query parameter")},
        }},
        f"{API_PREFIX}/accounts/{{account}}": _by_name(
            "getAccount", "account", Account, "One account and its workers"),
        f"{API_PREFIX}/workers/{{worker}}": _by_name(
            "getWorker", "worker", Worker, "One worker"),
        f"{API_PREFIX}/blocks": {"get": {
            "operationId": "listBlocks", "summary": "Blocks found, newest first",
            "parameters": [limit],
            "responses": {"200": ok(BlockList, "the blocks"),
                          "400": ok(Error, "a bad limit")},
        }},
        **miner_paths(limit),
    }  # fmt: skip
    return document(
        title="Surplus pool stats API", version="1.0.0",
        description="Read-only pool, worker and block statistics of a Surplus pool.",
        paths=paths, models=MODELS,
    )  # fmt: skip
