"""Bring Core's and bcoin's answers to one shape: pure functions, no I/O.

The job builder reads one Core-shaped template, and the pool logs one kind of reject
reason, whichever node is behind the RPC client.
"""

from __future__ import annotations

from typing import Any

from .base import NodeError

TEMPLATE_KEYS = (
    "version",
    "previousblockhash",
    "transactions",
    "coinbasevalue",
    "target",
    "mintime",
    "curtime",
    "bits",
    "height",
)
TX_KEYS = ("data", "txid", "hash", "fee")


class BadTemplate(NodeError):
    """The node's getblocktemplate answer lacks something the job builder needs."""


def segwit_active(template: dict[str, Any]) -> bool:
    rules = template.get("rules") or ()
    return "segwit" in rules or "!segwit" in rules


def normalize_template(template: dict[str, Any]) -> dict[str, Any]:
    """Check the keys the pool relies on and drop what must not be used.

    bcoin sends ``default_witness_commitment`` even while segwit is not active (rules
    ``[]`` below height 432 on regtest), but a block whose coinbase carries the witness
    reserved value is then rejected as ``unexpected-witness``. Without an active segwit
    rule the commitment is removed, so the job builder makes a plain coinbase.
    """
    if not isinstance(template, dict):
        raise BadTemplate(f"getblocktemplate returned {type(template).__name__}, not an object")
    missing = [k for k in TEMPLATE_KEYS if k not in template]
    if missing:
        raise BadTemplate(f"getblocktemplate answer lacks {', '.join(missing)}")
    out = dict(template)
    out["rules"] = list(template.get("rules") or [])
    for i, tx in enumerate(out["transactions"]):
        lacking = [k for k in TX_KEYS if k not in tx]
        if lacking:
            raise BadTemplate(f"template transaction {i} lacks {', '.join(lacking)}")
    if not segwit_active(out):
        out.pop("default_witness_commitment", None)
    return out


def submit_reason(result: Any) -> str | None:
    """None for an accepted block, else a bare reason such as ``high-hash``.

    Core answers ``"duplicate"``, bcoin ``"rejected: duplicate"``; both become
    ``"duplicate"``.
    """
    if result is None:
        return None
    reason = str(result)
    prefix = "rejected: "
    if reason.startswith(prefix):
        reason = reason[len(prefix) :]
    return reason or "rejected"
