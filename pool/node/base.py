"""The Node contract shared by the RPC client and the embedded devnet, and its errors.

The pool only ever talks to a chain through this Protocol, so the same job, share and
Stratum code runs against Bitcoin Core, bcoin and the devnet without knowing which.
The error types say *why* a call failed, because the right reaction differs: a node
that is down is retried on another URL, one that is warming up is waited for, a
refused password is a configuration mistake that must be shown to the operator, and
an RPC error is the node's definite answer to a bad request.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Node(Protocol):
    """A source of block templates and a sink for solved blocks."""

    async def getblocktemplate(self, longpollid: str | None = None) -> dict[str, Any]:
        """A Core-shaped GBT result; with ``longpollid`` it waits for a change first."""
        ...

    async def submitblock(self, block_hex: str) -> str | None:
        """None when the block was accepted, otherwise the node's reject reason."""
        ...

    async def getbestblockhash(self) -> str: ...

    async def getblockhash(self, height: int) -> str: ...

    async def getblockcount(self) -> int: ...

    async def getblock(self, blockhash: str) -> dict[str, Any]:
        """Verbose header fields plus the list of txids under ``tx``."""
        ...

    async def address_script(self, address: str) -> bytes:
        """The scriptPubKey that pays ``address`` on the node's network."""
        ...


class NodeError(Exception):
    """Base of every failure talking to a node."""


class NodeDown(NodeError):
    """No node answered: connection refused, reset, timed out, or not HTTP/JSON at all."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"node {endpoint} is down: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class NodeWarmingUp(NodeError):
    """The node answers but is not ready yet (RPC -28, e.g. "Loading block index...")."""

    code = -28

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"node {endpoint} is warming up: {message}")
        self.endpoint = endpoint
        self.message = message


class NodeAuthError(NodeError):
    """The node refused our credentials (HTTP 401/403): fix the RPC user/password/API key."""

    def __init__(self, endpoint: str, status: int = 401) -> None:
        super().__init__(
            f"node {endpoint} refused authentication (HTTP {status}): "
            "check the RPC user and password (bcoin: the API key)"
        )
        self.endpoint = endpoint
        self.status = status


class NodeRPCError(NodeError):
    """The node's definite JSON-RPC error answer; retrying the same call will not help."""

    def __init__(self, code: int, message: str, method: str = "", endpoint: str = "") -> None:
        where = f" from {endpoint}" if endpoint else ""
        call = f" to {method}" if method else ""
        super().__init__(f"RPC error {code}{call}{where}: {message}")
        self.code = code
        self.message = message
        self.method = method
        self.endpoint = endpoint


class InvalidAddress(NodeError, ValueError):
    """The payout address is not valid on the node's network."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"invalid payout address {address!r}: {reason}")
        self.address = address
        self.reason = reason
