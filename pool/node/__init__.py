"""Talking to the chain: the Node contract, the JSON-RPC client, the block watcher.

The embedded devnet chain (``pool.node.devnet``) implements the same ``Node`` contract.
"""

from .base import (
    InvalidAddress,
    Node,
    NodeAuthError,
    NodeDown,
    NodeError,
    NodeRPCError,
    NodeWarmingUp,
)
from .retry import RetryPolicy
from .rpc import RpcNode, confirm_accepted
from .transport import CallRecord
from .wallet import WalletClient
from .watcher import BlockWatcher

__all__ = [
    "BlockWatcher",
    "CallRecord",
    "InvalidAddress",
    "Node",
    "NodeAuthError",
    "NodeDown",
    "NodeError",
    "NodeRPCError",
    "NodeWarmingUp",
    "RetryPolicy",
    "RpcNode",
    "WalletClient",
    "confirm_accepted",
]
