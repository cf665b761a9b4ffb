"""The ledger writer's messages: what a pool process asks the process that owns the SQLite
ledger, and what it answers, as plain JSON values (pool.ledger.frames carries them).

Requests carry an `id` the answer repeats, so one connection pipelines many batches:

    {"id": 7, "op": "shares", "rows": [[account, worker, difficulty, job_id, height,
                                         time, is_block], ...]}
    {"id": 8, "op": "network", "height": h, "difficulty": "n/d", "subsidy": s, "fees": f}
    {"id": 9, "op": "block", "block": {FoundBlock's fields, difficulty as text}}
    {"id": 10, "op": "ban", "key": "203.0.113.7", "until": epoch, "reason": r, "node": n}
    {"id": 11, "op": "bans"}                      follow the cluster's bans

    {"id": 7, "ids": [...]}                       the shares are committed
    {"id": 7, "ids": [id or null, ...], "reasons": {"2": why}}  some rows refused
    {"id": 8}                                     done (a ban: stored and pushed)
    {"id": 9, "block": {BlockRow's fields}}
    {"id": 11, "bans": [[key, until], ...]}       the running bans; pushes follow
    {"id": 7, "error": "why"}                     nothing of the request is stored

and one message the writer sends unasked, on the connections that asked for "bans" (a
ban another process made; it has no `id`, so it can never be taken for an answer):

    {"push": "ban", "key": "2001:db8::/64", "until": epoch}

Difficulties travel as the canonical text of the exact fraction (pool.ledger.records), so
nothing is rounded on the way. Everything a peer sends is validated again on the writer
(the records' own checks, pool.ledger.bans for a ban), which raises WireError for a
message of the wrong shape; the bans a worker hears are validated the same way there.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pool.ledger.bans import checked_ban
from pool.ledger.errors import InvalidBlock, InvalidShare, LedgerError
from pool.ledger.records import BlockRow, BlockStatus, FoundBlock, Scheme, Share

OPS = ("shares", "network", "block", "ban", "bans")
MAX_REASON = 200  # characters of a ban's reason (the log line's, cut)
MAX_NODE = 64  # characters of the process that banned ("node 9 process 0")
MAX_RUNNING_BANS = 50_000  # bans in one "bans" answer: ~60 bytes each, well within a frame


class WireError(LedgerError, ValueError):
    """A message of the wrong shape: the connection it came on is closed."""


def _fraction(text: object) -> Fraction:
    if not isinstance(text, str) or len(text) > 400:
        raise WireError(f"expected a fraction's text, got {text!r:.80}")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise WireError(f"bad fraction {text!r:.80}: {exc}") from None


def _int(value: object, name: str) -> int:
    if type(value) is not int:
        raise WireError(f"{name}: expected an integer, got {value!r:.80}")
    return value


# -- requests ------------------------------------------------------------------------------


def shares_request(request_id: int, shares: list[Share]) -> dict[str, Any]:
    return {"id": request_id, "op": "shares", "rows": [
        [s.account, s.worker, str(s.difficulty), s.job_id, s.height, s.time, s.is_block]
        for s in shares
    ]}  # fmt: skip


def network_request(
    request_id: int, height: int, difficulty: Fraction, subsidy: int, fees: int
) -> dict[str, Any]:
    return {"id": request_id, "op": "network", "height": height,
            "difficulty": str(Fraction(difficulty)), "subsidy": subsidy, "fees": fees}  # fmt: skip


def block_request(request_id: int, found: FoundBlock) -> dict[str, Any]:
    return {"id": request_id, "op": "block", "block": {
        "height": found.height, "hash": found.hash, "reward": found.reward,
        "share_id": found.share_id, "account": found.account, "worker": found.worker,
        "network_difficulty": str(found.network_difficulty), "fees": found.fees,
    }}  # fmt: skip


def ban_request(request_id: int, key: str, until: float, reason: str,
                node: str) -> dict[str, Any]:  # fmt: skip
    return {"id": request_id, "op": "ban", "key": key, "until": until,
            "reason": reason[:MAX_REASON], "node": node[:MAX_NODE]}  # fmt: skip


def bans_request(request_id: int) -> dict[str, Any]:
    return {"id": request_id, "op": "bans"}


def request_id(message: dict[str, Any]) -> int:
    value = message.get("id")
    if type(value) is not int or value < 0:
        raise WireError(f"expected a request id (an integer >= 0), got {value!r:.80}")
    return value


def request_op(message: dict[str, Any]) -> str:
    op = message.get("op")
    if op not in OPS:
        raise WireError(f"unknown op {op!r:.80}")
    return str(op)


def shares_of(message: dict[str, Any], max_rows: int) -> list[Share]:
    rows = message.get("rows")
    if not isinstance(rows, list) or not rows or len(rows) > max_rows:
        raise WireError(f"expected 1-{max_rows} share rows")
    shares: list[Share] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 7 or type(row[6]) is not bool:
            raise WireError(f"bad share row {row!r:.120}")
        account, worker, difficulty, job_id, height, time, is_block = row
        try:
            shares.append(Share(account, worker, _fraction(difficulty), job_id, height, time,
                                is_block))  # fmt: skip
        except InvalidShare as exc:
            raise WireError(f"bad share row: {exc}") from None
    return shares


def network_of(message: dict[str, Any]) -> tuple[int, Fraction, int, int]:
    return (_int(message.get("height"), "height"), _fraction(message.get("difficulty")),
            _int(message.get("subsidy"), "subsidy"), _int(message.get("fees"), "fees"))  # fmt: skip


def found_block_of(message: dict[str, Any]) -> FoundBlock:
    block = message.get("block")
    if not isinstance(block, dict):
        raise WireError("expected a block object")
    try:
        return FoundBlock(
            height=_int(block.get("height"), "height"), hash=block.get("hash"),  # type: ignore[arg-type]
            reward=_int(block.get("reward"), "reward"),
            share_id=_int(block.get("share_id"), "share_id"),
            account=str(block.get("account")), worker=str(block.get("worker")),
            network_difficulty=_fraction(block.get("network_difficulty")),
            fees=_int(block.get("fees"), "fees"),
        )
    except (InvalidBlock, InvalidShare) as exc:
        raise WireError(f"bad block: {exc}") from None


def _ban(key: object, until: object) -> tuple[str, float]:
    if not isinstance(key, str) or isinstance(until, bool) or not isinstance(until, int | float):
        raise WireError(f"expected a ban's key and time, got {key!r:.80} {until!r:.40}")
    try:
        ban = checked_ban(key, float(until))
    except OverflowError:  # an integer beyond any float
        ban = None
    if ban is None:
        raise WireError(f"bad ban {key!r:.80} until {until!r:.40}")
    return ban


def _text(value: object, name: str, bound: int) -> str:
    if not isinstance(value, str) or len(value) > bound:
        raise WireError(f"{name}: expected a text of at most {bound} characters")
    return value


def ban_of(message: dict[str, Any]) -> tuple[str, float, str, str]:
    """(key, until, reason, node) of a "ban" request."""
    key, until = _ban(message.get("key"), message.get("until"))
    return (key, until, _text(message.get("reason"), "reason", MAX_REASON),
            _text(message.get("node"), "node", MAX_NODE))  # fmt: skip


# -- answers -------------------------------------------------------------------------------


def block_row_answer(row: BlockRow) -> dict[str, Any]:
    return {"id": row.id, "height": row.height, "hash": row.hash, "reward": row.reward,
            "fees": row.fees, "status": row.status.value, "scheme": row.scheme.value,
            "account": row.account, "worker": row.worker, "share_id": row.share_id,
            "found_at": row.found_at, "credited": row.credited}  # fmt: skip


def block_row_of(data: Any) -> BlockRow:
    if not isinstance(data, dict):
        raise WireError("expected a block row")
    try:
        return BlockRow(
            id=int(data["id"]), height=int(data["height"]), hash=str(data["hash"]),
            reward=int(data["reward"]), fees=int(data["fees"]),
            status=BlockStatus(data["status"]), scheme=Scheme(data["scheme"]),
            account=str(data["account"]), worker=str(data["worker"]),
            share_id=int(data["share_id"]), found_at=float(data["found_at"]),
            credited=int(data["credited"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"bad block row: {exc}") from None


def bans_answer(request_id: int, bans: list[tuple[str, float]]) -> dict[str, Any]:
    return {"id": request_id, "bans": [[key, until] for key, until in bans[:MAX_RUNNING_BANS]]}


def bans_of(answer: dict[str, Any]) -> list[tuple[str, float]]:
    """The running bans of a "bans" answer, each checked."""
    rows = answer.get("bans")
    if not isinstance(rows, list) or len(rows) > MAX_RUNNING_BANS:
        raise WireError(f"expected at most {MAX_RUNNING_BANS} running bans")
    bans: list[tuple[str, float]] = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 2:
            raise WireError(f"bad running ban {row!r:.120}")
        bans.append(_ban(row[0], row[1]))
    return bans


# -- what the writer sends unasked ---------------------------------------------------------


def ban_push(key: str, until: float) -> dict[str, Any]:
    return {"push": "ban", "key": key, "until": until}


def is_push(message: dict[str, Any]) -> bool:
    return "push" in message


def pushed_ban(message: dict[str, Any]) -> tuple[str, float]:
    """(key, until) of a pushed ban; WireError for any other push."""
    if message.get("push") != "ban":
        raise WireError(f"unknown push {message.get('push')!r:.80}")
    return _ban(message.get("key"), message.get("until"))
