"""The [node] configuration section: valid examples load, mistakes are named."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from pool.node import RpcNode
from pool.node.config import NodeConfig

EXAMPLE = """
[node]
urls = ["http://user:pass@127.0.0.1:8332/", "http://user:pass@127.0.0.2:8332/"]
zmq_hashblock = "tcp://127.0.0.1:28332"
poll_interval = 0.25
"""


async def test_example_builds_a_client_and_a_watcher() -> None:
    cfg = NodeConfig(**tomllib.loads(EXAMPLE)["node"])
    assert cfg.refresh_interval == 30 and cfg.retry_policy().rounds == 5
    node = cfg.rpc_node()
    try:
        assert isinstance(node, RpcNode)
        assert node.endpoints == ["127.0.0.1:8332", "127.0.0.2:8332"]

        async def on_block(h: str) -> None: ...

        w = cfg.watcher(node, on_block)
        assert (w.poll_interval, w.zmq_url, w.longpoll) == (0.25, "tcp://127.0.0.1:28332", True)
    finally:
        await node.close()


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"urls": []}, "urls", "at least 1"),
        ({"urls": ["http://127.0.0.1:8332/"]}, "urls", "credentials"),
        ({"urls": ["http://u:p@h:1/", "http://u:p@h:1/"]}, "urls", "twice"),
        ({"urls": ["http://u:p@h:1/"], "poll_interval": 0}, "poll_interval", "greater than 0"),
        ({"urls": ["http://u:p@h:1/"], "zmq_hashblock": "h:1"}, "zmq_hashblock", "tcp://"),
        ({"urls": ["http://u:p@h:1/"], "pol_interval": 1}, "pol_interval", "Extra inputs"),
    ],
)
def test_mistakes_name_the_key(section: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        NodeConfig(**section)
    text = str(info.value)
    assert key in text and words in text
