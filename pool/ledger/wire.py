"""The ledger writer's messages: what a pool process asks the process that owns the SQLite
ledger, and what it answers, as plain JSON values (pool.ledger.frames carries them).

Requests carry an `id` the answer repeats, so one connection pipelines many batches:

    {"id": 7, "op": "shares", "rows": [[account, worker, difficulty, job_id, height,
                                         time, is_block], ...]}
    {"id": 8, "op": "network", "height": h, "difficulty": "n/d", "subsidy": s, "fees": f}
    {"id": 9, "op": "block", "block": {FoundBlock's fields, difficulty as text}}

    {"id": 7, "ids": [...]}                       the shares are committed
    {"id": 7, "ids": [id or null, ...], "reasons": {"2": why}}  some rows refused
    {"id": 8}                                     done
    {"id": 9, "block": {BlockRow's fields}}
    {"id": 7, "error": "why"}                     nothing of the request is stored

Difficulties travel as the canonical text of the exact fraction (pool.ledger.records), so
nothing is rounded on the way. Everything a peer sends is validated again on the writer
(the records' own checks), which raises WireError for a message of the wrong shape.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pool.ledger.errors import InvalidBlock, InvalidShare, LedgerError
from pool.ledger.records import BlockRow, BlockStatus, FoundBlock, Scheme, Share

OPS = ("shares", "network", "block")


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
