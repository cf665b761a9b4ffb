"""A real bcoin 1.0.2 regtest node for tests: start, drive, stop.

Each node runs in its own temporary prefix with in-memory chain and wallet, on free
loopback ports, so tests can run several nodes side by side and leave nothing behind.
The methods here are synchronous (they are test set-up); call them through
``asyncio.to_thread`` from async tests when an event loop must keep running.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException

from tests.components.process import ChildComponent, ComponentFailed, Traits, free_port

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = ROOT / ".cache" / "bcoin" / "node_modules" / ".bin" / "bcoin"
SEGWIT_HEIGHT = 432  # regtest: BIP9 lock-in by signalling; rules are [] below this height
COINBASE_MATURITY = 100
SATS = 100_000_000


class BcoinMissing(RuntimeError):
    """The bcoin binary is not installed."""


class BcoinFailed(ComponentFailed):
    """bcoin did not start or did not answer; the message ends with its log."""


def bcoin_binary() -> Path:
    """The bcoin executable: $SURPLUS_BCOIN, else the one ``make components`` installs."""
    path = Path(os.environ.get("SURPLUS_BCOIN") or DEFAULT_BINARY)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BcoinMissing(
            f"bcoin 1.0.2 not found at {path}: run `make components` "
            "(or `bash tests/components/install.sh`), or set SURPLUS_BCOIN"
        )
    return path


@dataclass
class BcoinNode(ChildComponent):
    """One bcoin regtest process. ``rpc_url``/``wallet_url`` carry the API key."""

    traits: ClassVar[Traits] = Traits("bcoin", BcoinFailed, "stdout.log", clash="EADDRINUSE",
                                      start_timeout=60.0, poll_s=0.05)

    binary: Path = field(default_factory=bcoin_binary)
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    rpc_port: int = 0
    wallet_port: int = 0
    workdir: Path | None = None  # its --prefix
    proc: subprocess.Popen[bytes] | None = None
    _segwit_account: bool = False
    _funded: bool = False

    # -- lifecycle -----------------------------------------------------------------

    def _command(self, workdir: Path) -> list[str]:
        self.rpc_port, self.wallet_port = free_port(), free_port()
        while self.wallet_port == self.rpc_port:
            self.wallet_port = free_port()
        return [
            str(self.binary),
            f"--prefix={workdir}",
            "--network=regtest",
            "--memory=true",
            "--workers=false",
            "--listen=false",
            # Never dial out: regtest's seed is 127.0.0.1:48444, where another test
            # node could be listening and would hand this one its chain.
            "--only=127.0.0.1:1",
            "--seeds=127.0.0.1:1",
            "--http-host=127.0.0.1",
            f"--http-port={self.rpc_port}",
            f"--api-key={self.api_key}",
            "--wallet-http-host=127.0.0.1",
            f"--wallet-http-port={self.wallet_port}",
            "--log-level=info",
        ]

    def _ready(self) -> bool:
        try:
            self.rpc("getblockcount")
            self.wallet_rpc("getbalance")
        except (OSError, JSONRPCException):
            return False
        return True

    # -- addresses ------------------------------------------------------------------

    def _url(self, port: int, key: str | None = None) -> str:
        return f"http://bcoin:{self.api_key if key is None else key}@127.0.0.1:{port}/"

    @property
    def rpc_url(self) -> str:
        return self._url(self.rpc_port)

    @property
    def wallet_url(self) -> str:
        return self._url(self.wallet_port)

    def url_with_key(self, key: str) -> str:
        """The node's RPC address with another API key (a wrong one, say)."""
        return self._url(self.rpc_port, key)

    # -- raw access -----------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        return getattr(AuthServiceProxy(self.rpc_url, timeout=30), method)(*params)

    def wallet_rpc(self, method: str, *params: Any) -> Any:
        return getattr(AuthServiceProxy(self.wallet_url, timeout=30), method)(*params)

    def wallet_rest(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        auth = base64.b64encode(f"bcoin:{self.api_key}".encode()).decode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.wallet_port}{path}",
            data=data,
            method=verb,
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode() or "null")

    # -- chain and wallet ------------------------------------------------------------

    @property
    def height(self) -> int:
        return int(self.rpc("getblockcount"))

    def wallet_address(self) -> str:
        """The wallet's default receive address (legacy ``R…``)."""
        return str(self.wallet_rpc("getaccountaddress", "default"))

    def new_address(self, account: str = "default") -> str:
        """A fresh address of ``account`` (``segwit`` gives ``rb1q…``), via the wallet
        HTTP API because bcoin 1.0.2's ``getnewaddress`` encodes for mainnet."""
        if account == "segwit":
            self._ensure_segwit_account()
        return str(
            self.wallet_rest("POST", "/wallet/primary/address", {"account": account})["address"]
        )

    def _ensure_segwit_account(self) -> None:
        if not self._segwit_account:
            try:
                self.wallet_rest("GET", "/wallet/primary/account/segwit")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
                self.wallet_rest("PUT", "/wallet/primary/account/segwit", {"witness": True})
            self._segwit_account = True

    def mine(self, n: int = 1, address: str | None = None) -> list[str]:
        """Mine ``n`` blocks with ``generatetoaddress``; returns their hashes.

        Mining to the wallet (no ``address``) waits until the wallet has seen the last
        block: bcoin's wallet follows the chain asynchronously, and a send right after
        mining would otherwise find the new coins missing."""
        if n <= 0:
            return []
        hashes = list(self.rpc("generatetoaddress", n, address or self.wallet_address()))
        if address is None:
            self.wait_wallet_height(self.height)
        return hashes

    def wait_wallet_height(self, height: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while height not in self.wallet_rest("GET", "/wallet/primary/block"):
            if time.monotonic() > deadline:
                raise BcoinFailed(f"the wallet did not reach height {height}")
            time.sleep(0.01)

    def mine_to_height(self, height: int, address: str | None = None) -> list[str]:
        return self.mine(height - self.height, address)

    def fund_wallet(self) -> int:
        """Give the wallet mature coins, once per node: mines 110 blocks to it (coinbase
        outputs mature after 100), so about ten coins are spendable and unconfirmed
        chains stay short. Returns the height."""
        if not self._funded:
            self.mine(COINBASE_MATURITY + 10)
            self._funded = True
        return self.height

    def activate_segwit(self) -> int:
        """Mine to the segwit activation height (432); templates then carry rules."""
        if self.height < SEGWIT_HEIGHT:
            self.mine_to_height(SEGWIT_HEIGHT)
        return self.height

    def send(self, address: str, sats: int) -> str:
        return str(self.wallet_rpc("sendtoaddress", address, round(sats / SATS, 8)))

    def fill_mempool(self, count: int = 10, *, segwit: bool | None = None) -> list[str]:
        """Put ``count`` real wallet transactions into the mempool; returns txids.

        Mixes single payments (``sendtoaddress``) and batches (``sendmany``) to fresh
        addresses. With segwit active (or ``segwit=True``) half of them spend coins of
        a witness account, so the template carries transactions with witness data."""
        self.fund_wallet()
        active = self.height + 1 >= SEGWIT_HEIGHT
        if segwit is None:
            segwit = active
        if segwit and not active:
            raise ValueError(f"segwit spends need height >= {SEGWIT_HEIGHT - 1}")
        txids: list[str] = []
        if segwit:
            self._prepare_segwit_coins(count)
        for i in range(count):
            if segwit and i % 2 == 0:
                dest = self.new_address("segwit" if i % 4 == 0 else "default")
                txids.append(str(self.wallet_rpc("sendfrom", "segwit", dest, 0.01, 0)))
            elif i % 3 == 2:
                outs = {self.new_address(): 0.001 * (j + 1) for j in range(3)}
                txids.append(str(self.wallet_rpc("sendmany", "default", outs, 0)))
            else:
                txids.append(self.send(self.new_address(), 1_000_000 + i))
        self.wait_mempool(txids)
        return txids

    def wait_mempool(self, txids: list[str], timeout: float = 10.0) -> None:
        """Wait until the node's mempool holds ``txids``: the wallet hands its
        transactions to the node asynchronously, after the send call has returned."""
        deadline = time.monotonic() + timeout
        while not set(txids) <= set(self.rpc("getrawmempool")):
            if time.monotonic() > deadline:
                raise BcoinFailed(f"transactions did not reach the mempool: {txids}")
            time.sleep(0.01)

    def _prepare_segwit_coins(self, count: int) -> None:
        """Give the witness account confirmed coins to spend (one block)."""
        self._ensure_segwit_account()
        balance = self.wallet_rest("GET", "/wallet/primary/account/segwit")["balance"]
        if balance["confirmed"] >= count * 2_000_000:
            return
        outs = {self.new_address("segwit"): 0.05 for _ in range(max(count // 2 + 1, 2))}
        self.wallet_rpc("sendmany", "default", outs, 0)
        self.mine(1)
