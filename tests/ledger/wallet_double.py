"""TEST DOUBLE of the wallet interface (`sendmany`, `list_transactions`) for the payout
unit tests. It stands in for the node wallet's RPC, which is not the component under test
here (the real bcoin wallet is exercised by the pool-mode integration test). Like a real
wallet it records a transaction durably (fsync) before `sendmany` returns, and lists
sends the way bitcoind/bcoin `listtransactions` does: one "send" row per output with a
negative BTC amount. It can kill its own process at a chosen point of a send (of its
`crash_call`-th send), and refuse addresses as a node refuses one it cannot parse:
the JSON-RPC error code -5, nothing sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

CRASH_POINTS = ("before_send", "after_send")


class RefusedAddress(Exception):
    """What a node's RPC client raises for sendmany with an address it cannot parse."""

    code = -5  # RPC_INVALID_ADDRESS_OR_KEY


class FileWalletDouble:
    def __init__(
        self, path: Path, crash: str | None = None, fail_times: int = 0, summary: bool = False,
        refuse: tuple[str, ...] = (), crash_call: int = 1,
    ) -> None:
        self.path = Path(path)
        self.summary = summary  # list one row per transaction, as bcoin's listtransactions
        self.crash = crash
        self.crash_call = crash_call
        self.fail_times = fail_times
        self.refuse = set(refuse)
        self.calls = 0

    def sendmany(self, outputs: dict[str, int]) -> str:
        self.calls += 1
        crash = self.crash if self.calls == self.crash_call else None
        if crash == "before_send":
            os.kill(os.getpid(), signal.SIGKILL)
        refused = sorted(self.refuse & set(outputs))
        if refused:
            raise RefusedAddress("Invalid address.")
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("wallet: insufficient funds")
        existing = self._rows()
        txid = hashlib.sha256(
            json.dumps([len(existing), sorted(outputs.items())]).encode()
        ).hexdigest()
        with self.path.open("a") as f:
            for address, sat in outputs.items():
                row = {"txid": txid, "category": "send", "address": address,
                       "amount": -sat / 100_000_000}
                f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if crash == "after_send":
            os.kill(os.getpid(), signal.SIGKILL)
        return txid

    def list_transactions(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        if not self.summary:
            return rows
        by_tx: dict[str, dict[str, Any]] = {}
        for row in rows:  # bcoin: last address, total amount
            entry = by_tx.setdefault(row["txid"], {**row, "amount": 0})
            entry["address"] = row["address"]
            entry["amount"] = round(entry["amount"] + row["amount"], 8)
        return list(by_tx.values())

    def _rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def paid(self) -> dict[str, dict[str, int]]:
        """txid -> {address: sat}, read back independently of the ledger's parser."""
        result: dict[str, dict[str, int]] = {}
        for row in self._rows():
            sat = round(-row["amount"] * 100_000_000)
            result.setdefault(row["txid"], {})[row["address"]] = sat
        return result
