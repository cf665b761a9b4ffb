"""Which accounts a pool-mode miner may mine to, and the address each is paid at.

In pool mode the part of a worker name before the first '.' is the account the ledger
credits and later pays. A payout to something that is not an address stops the payout
batch it is in, so an account is accepted at mining.authorize only when it is payable:
a valid payout address of the pool's network (paid there), or a name the operator
listed in the config's `[accounts]` table (paid at the address it maps to).

    [accounts]
    alice = "bc1q..."        # miners may authorize as alice.rig1, alice.rig2, ...

The same book resolves accounts to addresses when `surplus ledger payouts` builds a
batch, so an account that was valid when it mined is paid where the operator says now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pool.bitcoin.address import address_to_script
from pool.stratum.identity import MAX_WORKER_CHARS


def name_problem(name: str, network: str) -> str | None:
    """Why `name` cannot be a key of `[accounts]`, or None."""
    if not 1 <= len(name) <= MAX_WORKER_CHARS or not name.isprintable():
        return f"must be 1-{MAX_WORKER_CHARS} printable characters"
    if "." in name:
        return "may not hold '.' (a worker name is account.rig)"
    try:
        address_to_script(name, network)
    except ValueError:
        return None
    return "is itself an address; mapping it would redirect that address's payouts"


class AccountBook:
    """Accounts of one pool: `address_for(account)` is where it is paid (None: nowhere,
    refuse it); `problem(account)` is the miner-facing reason for refusing it."""

    def __init__(self, network: str, names: Mapping[str, str] | None = None) -> None:
        self.network = network
        self.names = dict(names or {})
        self._valid: dict[str, bool] = {}

    def _is_address(self, account: str) -> bool:
        known = self._valid.get(account)
        if known is None:
            try:
                address_to_script(account, self.network)
                known = True
            except ValueError:
                known = False
            if len(self._valid) >= 100_000:
                self._valid.clear()  # bounded: a miner cycling names cannot grow it
            self._valid[account] = known
        return known

    def address_for(self, account: str) -> str | None:
        """The address `account` is paid at, or None when it is not payable."""
        mapped = self.names.get(account)
        if mapped is not None:
            return mapped
        return account if self._is_address(account) else None

    def payout_addresses(self, accounts: Iterable[str]) -> dict[str, str | None]:
        """Where each account is paid (None: nowhere). Accounts paying one script get one
        spelling of it (the first account's), so a batch pays each script once: a wallet
        refuses a transaction paying the same address twice, however it is spelt."""
        out: dict[str, str | None] = {}
        by_script: dict[bytes, str] = {}
        for account in sorted(accounts):
            address = self.address_for(account)
            if address is not None:
                address = by_script.setdefault(address_to_script(address, self.network), address)
            out[account] = address
        return out

    def problem(self, account: str) -> str | None:
        """None for a payable account, else what mining.authorize answers (error 24)."""
        if self.address_for(account) is not None:
            return None
        return (
            f"account must be a {self.network} payout address or a name the pool lists "
            "(worker name: <address>.<rig>)"
        )
