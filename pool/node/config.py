"""The ``[node]`` section of a pool configuration, validated, and what it builds.

Kept next to the client so that every knob the client and the watcher take has exactly
one validated spelling; the pool's config loader embeds this model and adds the file
name to its errors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .base import Node
from .retry import RetryPolicy
from .rpc import AddressDecoder, CallObserver, RpcNode
from .transport import Endpoint
from .watcher import BlockWatcher, NewBlockCallback, RefreshCallback


class NodeConfig(BaseModel):
    """Example (TOML)::

    [node]
    urls = ["http://user:pass@127.0.0.1:8332/", "http://user:pass@10.0.0.2:8332/"]
    zmq_hashblock = "tcp://127.0.0.1:28332"
    poll_interval = 0.1
    refresh_interval = 30
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    urls: list[str] = Field(min_length=1, description="JSON-RPC URLs, primary first")
    timeout: float = Field(30.0, gt=0, description="seconds per ordinary RPC call")
    longpoll: bool = True
    longpoll_timeout: float = Field(120.0, gt=0)
    zmq_hashblock: str | None = Field(None, description="ZMQ endpoint publishing hashblock")
    poll_interval: float = Field(0.1, gt=0, description="getbestblockhash poll, seconds")
    refresh_interval: float = Field(30.0, gt=0, description="template refresh, seconds")
    retry_rounds: int = Field(5, ge=1)
    retry_base_delay: float = Field(0.1, ge=0)
    retry_max_delay: float = Field(2.0, ge=0)
    workers: int = Field(4, ge=1, le=64)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            Endpoint.parse(url)  # raises ValueError naming what is wrong
        if len(set(urls)) != len(urls):
            raise ValueError("the same URL is listed twice")
        return urls

    @field_validator("zmq_hashblock")
    @classmethod
    def _check_zmq(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("tcp://", "ipc://")):
            raise ValueError(f"expected tcp://host:port or ipc://path, got {url!r}")
        return url

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            rounds=self.retry_rounds,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
        )

    def rpc_node(
        self,
        *,
        decode_address: AddressDecoder | None = None,
        on_call: CallObserver | None = None,
    ) -> RpcNode:
        return RpcNode(
            self.urls,
            timeout=self.timeout,
            longpoll_timeout=self.longpoll_timeout,
            retry=self.retry_policy(),
            workers=self.workers,
            decode_address=decode_address,
            on_call=on_call,
        )

    def watcher(
        self,
        node: Node,
        on_new_block: NewBlockCallback,
        on_refresh: RefreshCallback | None = None,
        **overrides: Any,
    ) -> BlockWatcher:
        kwargs: dict[str, Any] = {
            "poll_interval": self.poll_interval,
            "refresh_interval": self.refresh_interval,
            "zmq_url": self.zmq_hashblock,
            "longpoll": self.longpoll,
        }
        kwargs.update(overrides)
        return BlockWatcher(node, on_new_block, on_refresh, **kwargs)
