"""A small wallet client: pays miners (payouts) and fills a test node's mempool.

Amounts are integer satoshis in this API and are sent as 8-decimal BTC numbers (bcoin
rejects strings). Sends use a fresh connection and are never retried: a send that
may have reached the node must not run twice.

bcoin 1.0.2 quirk: its wallet RPC ``getnewaddress`` encodes the address for mainnet
even on regtest (and then refuses it), so with ``flavor="bcoin"`` fresh addresses and
accounts come from bcoin's wallet HTTP API (``/wallet/<id>/address``), which encodes
them for the node's network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from .base import NodeAuthError, NodeDown, NodeRPCError
from .transport import Endpoint, ThreadChannels, classify

SATS_PER_BTC = 100_000_000
Flavor = Literal["bcoin", "core"]


def sats_to_btc(sats: int) -> float:
    if not isinstance(sats, int) or sats <= 0:
        raise ValueError(f"amount must be a positive number of satoshis, got {sats!r}")
    return round(sats / SATS_PER_BTC, 8)


class WalletClient:
    """JSON-RPC wallet of bcoin (port 48334 on regtest) or Bitcoin Core (/wallet/<name>)."""

    def __init__(
        self,
        url: str,
        *,
        flavor: Flavor = "bcoin",
        wallet_id: str = "primary",
        timeout: float = 30.0,
    ) -> None:
        if flavor not in ("bcoin", "core"):
            raise ValueError(f"wallet flavor must be 'bcoin' or 'core', got {flavor!r}")
        self.endpoint = Endpoint.parse(url)
        self.flavor = flavor
        self.wallet_id = wallet_id
        self.timeout = timeout
        parts = urlsplit(self.endpoint.url)
        self._auth = (
            "Basic "
            + base64.b64encode(f"{parts.username or ''}:{parts.password or ''}".encode()).decode()
        )
        self._rest_base = f"{parts.scheme}://{self.endpoint.host}:{self.endpoint.port}"
        self._channels = ThreadChannels()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wallet-rpc")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> WalletClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- JSON-RPC ------------------------------------------------------------------

    async def call(self, method: str, *params: Any, once: bool = False) -> Any:
        """One wallet RPC call; ``once=True`` for calls that must not be repeated."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool,
            lambda: self._channels.call(
                self.endpoint, method, params, self.timeout, reuse=not once
            ),
        )

    async def new_address(self, account: str = "default", *, segwit: bool = False) -> str:
        """A fresh receive address. Core: bech32 when ``segwit`` else legacy. bcoin: the
        account decides the type (a witness account hands out rb1... addresses)."""
        if self.flavor == "core":
            return str(await self.call("getnewaddress", "", "bech32" if segwit else "legacy"))
        answer = await self._rest(
            "POST", f"/wallet/{quote(self.wallet_id)}/address", {"account": account}
        )
        return str(answer["address"])

    async def balance(self) -> int:
        """Spendable balance in satoshis."""
        return round(float(await self.call("getbalance")) * SATS_PER_BTC)

    async def send_to_address(self, address: str, sats: int) -> str:
        return str(await self.call("sendtoaddress", address, sats_to_btc(sats), once=True))

    async def send_many(
        self, outputs: Mapping[str, int], *, from_account: str = "", minconf: int = 0
    ) -> str:
        """One transaction paying every address its amount (payouts)."""
        if not outputs:
            raise ValueError("send_many needs at least one output")
        amounts = {addr: sats_to_btc(v) for addr, v in outputs.items()}
        return str(await self.call("sendmany", from_account, amounts, minconf, once=True))

    async def list_transactions(self, account: str = "*", count: int = 10) -> list[dict[str, Any]]:
        """Wallet history entries. Core gives the newest ``count``; bcoin 1.0.2 gives the
        oldest ``count`` (sorted by arrival time) and knows accounts rather than "*"."""
        if self.flavor == "bcoin" and account == "*":
            account = "default"
        return list(await self.call("listtransactions", account, count))

    # -- bcoin wallet HTTP API ------------------------------------------------------------

    async def _rest(self, verb: str, path: str, body: dict[str, Any] | None) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._rest_sync, verb, path, body)

    def _rest_sync(self, verb: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self._rest_base + path,
            data=data,
            method=verb,
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        label = self.endpoint.label
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode() or "null")
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise NodeAuthError(label, exc.code) from None
            detail = exc.read().decode(errors="replace")[:200]
            raise NodeRPCError(exc.code, f"{verb} {path}: {detail}", "rest", label) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, OSError):
                raise classify(reason, label, f"{verb} {path}") from None
            raise NodeDown(label, str(reason)) from None
        except OSError as exc:
            raise classify(exc, label, f"{verb} {path}") from None
        except ValueError as exc:
            raise NodeDown(label, f"unreadable answer to {verb} {path}: {exc}") from None
