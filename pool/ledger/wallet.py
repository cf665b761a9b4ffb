"""The wallet interface the payouts need, and reading what a wallet says it sent.

The wallet client itself (bitcoind / bcoin RPC) lives with the node code; anything with
these two methods works. `list_transactions` is how a crash between `sendmany` and
recording its txid is reconciled, so parsing it must be exact (satoshis, not floats).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable

from pool.ledger.errors import LedgerError

SATS = Decimal(100_000_000)


@runtime_checkable
class Wallet(Protocol):
    def sendmany(self, outputs: dict[str, int]) -> str:
        """Pay {address: satoshis} in one transaction; return its txid."""
        ...

    def list_transactions(self) -> list[dict[str, Any]]:
        """The wallet's own transactions (see `sent_outputs` for the accepted shapes)."""
        ...


class WalletFormatError(LedgerError, ValueError):
    """A list_transactions entry could not be read exactly."""


class WalletRefused(LedgerError, ValueError):
    """The wallet answered `sendmany` by refusing an output's address and sent nothing.
    A wallet raises it (or an error whose `code` is RPC_INVALID_ADDRESS_OR_KEY) only when
    it is sure no transaction went out: the payouts then pay the other outputs and
    quarantine the refused one."""


RPC_INVALID_ADDRESS_OR_KEY = -5  # bitcoind and bcoin: sendmany met an invalid address


def refused_address(exc: BaseException) -> bool:
    """Whether a `sendmany` error is the wallet refusing an address (nothing was sent)."""
    return isinstance(exc, WalletRefused) or getattr(exc, "code", None) == (
        RPC_INVALID_ADDRESS_OR_KEY
    )


def btc_to_sat(amount: object) -> int:
    """Exact satoshis of a BTC amount as RPCs print it (float, str or Decimal)."""
    try:
        value = Decimal(str(amount)) * SATS
    except InvalidOperation as exc:
        raise WalletFormatError(f"amount {amount!r} is not a number") from exc
    if value != value.to_integral_value():
        raise WalletFormatError(f"amount {amount!r} BTC is not a whole number of satoshis")
    return int(value)


def sent_outputs(transactions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """txid -> {address: satoshis sent} from a wallet's transaction list.

    Two shapes are accepted, entry by entry:
    - {"txid": ..., "outputs": {address: satoshis}} (a client that already grouped them);
    - Bitcoin Core / bcoin `listtransactions` rows: {"txid", "category": "send",
      "address", "amount": -0.5 (BTC)}, one row per output; other categories are ignored.
    """
    result: dict[str, dict[str, int]] = {}
    for entry in transactions:
        txid = entry.get("txid")
        if not isinstance(txid, str):
            raise WalletFormatError(f"transaction entry without a txid: {entry!r}")
        if "outputs" in entry:
            outputs = result.setdefault(txid, {})
            for address, sat in dict(entry["outputs"]).items():
                if type(sat) is not int:
                    raise WalletFormatError(f"{txid}: output amount {sat!r} is not int satoshis")
                outputs[address] = outputs.get(address, 0) + sat
            continue
        if entry.get("category") != "send":
            continue
        address = entry.get("address")
        if not isinstance(address, str):
            raise WalletFormatError(f"{txid}: send row without an address: {entry!r}")
        outputs = result.setdefault(txid, {})
        outputs[address] = outputs.get(address, 0) + abs(btc_to_sat(entry.get("amount")))
    return result


def similar_payments(
    wanted: Mapping[str, int], sent: Mapping[str, Mapping[str, int]], taken: set[str]
) -> list[str]:
    """Unrecorded wallet transactions that might be this batch without matching it
    exactly: same total, or paying one of its addresses exactly its amount. A wallet that
    lists one summary row per transaction (bcoin's `listtransactions` does) looks like
    this; resending then could pay twice, so the caller stops and asks the operator."""
    total = sum(wanted.values())
    suspects = []
    for txid in sorted(sent):
        if txid in taken:
            continue
        outputs = sent[txid]
        if sum(outputs.values()) == total or any(
            wanted.get(address) == amount for address, amount in outputs.items()
        ):
            suspects.append(txid)
    return suspects


def find_payment(
    wanted: Mapping[str, int], sent: Mapping[str, Mapping[str, int]], taken: set[str]
) -> str | None:
    """The txid of a wallet transaction that pays exactly `wanted` (every address the exact
    amount; other outputs such as change are ignored) and is not already recorded for
    another batch; None if there is none. Lowest txid first, so it is deterministic."""
    for txid in sorted(sent):
        if txid in taken:
            continue
        outputs = sent[txid]
        if all(outputs.get(address) == amount for address, amount in wanted.items()):
            return txid
    return None


COINBASE_CATEGORIES = ("generate", "immature", "orphan")


def wallet_sent_outputs(tx: Mapping[str, Any]) -> dict[str, int] | None:
    """{address: satoshis} of a `gettransaction` result if the wallet sent it, else None.

    Both bitcoind and bcoin list one `details` row per output, with "vout": external
    outputs as "send", outputs to the wallet's own (non-change) addresses as "receive";
    bitcoind lists a payment to itself twice (send and receive) under one vout, hence the
    de-duplication. The wallet sent the transaction when it paid a fee, has a "send" row,
    or nets to <= 0 (bcoin reports a payment to its own addresses as amount 0)."""
    details = list(tx.get("details") or [])
    sent = (
        tx.get("fee") is not None
        or any(d.get("category") == "send" for d in details)
        or (details and btc_to_sat(tx.get("amount", 0)) <= 0)
    )
    if not sent:
        return None
    by_vout: dict[object, tuple[str, int]] = {}
    for d in details:
        if d.get("category") not in ("send", "receive") or not isinstance(d.get("address"), str):
            continue
        key = d.get("vout", (d["address"], d.get("amount")))
        by_vout[key] = (d["address"], abs(btc_to_sat(d.get("amount"))))
    outputs: dict[str, int] = {}
    for address, sat in by_vout.values():
        outputs[address] = outputs.get(address, 0) + sat
    return outputs


class NodeWalletAdapter:
    """The ledger's synchronous `Wallet` over an asyncio wallet client with
    `send_many(outputs)` and `call(method, *params)` (pool.node.wallet.WalletClient, for
    bitcoind or bcoin).

    `list_transactions` pages through the whole `listtransactions` history (bcoin lists
    the oldest first, so one page could miss the newest send) and expands each
    transaction with `gettransaction`, whose `details` list one row per output on both
    nodes: bcoin's `listtransactions` row only summarises a transaction, and calls a
    payment to the wallet's own addresses "receive". It runs only while a batch is in
    doubt, so one RPC per wallet transaction is affordable.

    Calls run on `loop` when given (the ledger's accounting thread calling into the
    pool's running event loop), else each in a fresh `asyncio.run` (the CLI).
    """

    def __init__(
        self, client: Any, loop: asyncio.AbstractEventLoop | None = None, page: int = 500
    ) -> None:
        self.client = client
        self.loop = loop
        self.page = page

    def _run(self, coro: Any) -> Any:
        if self.loop is not None:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        return asyncio.run(coro)

    def sendmany(self, outputs: dict[str, int]) -> str:
        return str(self._run(self.client.send_many(outputs)))

    def list_transactions(self) -> list[dict[str, Any]]:
        """Every transaction the wallet sent, as {"txid", "outputs": {address: sat}}."""
        txids: list[str] = []
        seen: set[str] = set()
        start = 0
        while True:
            rows = self._run(self.client.call("listtransactions", "*", self.page, start))
            for row in rows:
                txid = row.get("txid")
                if row.get("category") in COINBASE_CATEGORIES or not isinstance(txid, str):
                    continue
                if txid not in seen:
                    seen.add(txid)
                    txids.append(txid)
            if len(rows) < self.page:
                break
            start += self.page
        result: list[dict[str, Any]] = []
        for txid in txids:
            outputs = wallet_sent_outputs(self._run(self.client.call("gettransaction", txid)))
            if outputs:
                result.append({"txid": txid, "outputs": outputs})
        return result


def as_wallet(obj: Any, loop: asyncio.AbstractEventLoop | None = None) -> Wallet:
    """`obj` itself when it already has the synchronous interface; an asyncio client with
    `send_many` and `call` (pool.node.wallet.WalletClient) wrapped in NodeWalletAdapter."""
    sendmany = getattr(obj, "sendmany", None)
    listing = getattr(obj, "list_transactions", None)
    if (
        callable(sendmany) and callable(listing)
        and not inspect.iscoroutinefunction(sendmany)
        and not inspect.iscoroutinefunction(listing)
    ):
        return obj
    if callable(getattr(obj, "send_many", None)) and callable(getattr(obj, "call", None)):
        return NodeWalletAdapter(obj, loop)
    raise TypeError(
        f"{type(obj).__name__} is not a wallet: expected sendmany(outputs) -> txid and "
        "list_transactions() -> list[dict], or an asyncio client with send_many and call"
    )
