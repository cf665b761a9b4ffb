"""A cluster's configuration: what the processes' extranonce1 spaces derive from, and
every configuration that could overlap them or split the pool is refused with the key."""

from __future__ import annotations

import pytest
from prometheus_client import Counter
from prometheus_client.exposition import generate_latest

from pool.app_slot import single_slot, slot_config, slot_labels
from pool.config import ConfigError, loads
from pool.metrics.labels import LabelledRegistry
from pool.stratum.slots import ProcessSlot, overlap, process_count, process_prefix

CORE_REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
RPC_NODE = '[node]\nurls = ["http://u:p@127.0.0.1:18443/"]\n'
PG_LEDGER = '[ledger]\nbackend = "postgres"\nscheme = "pplns"\n'


def cluster(top: str = "node_id = 3\n", stratum: str = "processes = 2\n",
            node: str = RPC_NODE, ledger: str = PG_LEDGER, extra: str = "") -> str:  # fmt: skip
    return (f'mode = "pool"\nnetwork = "regtest"\npayout_address = "{CORE_REGTEST}"\n{top}\n'
            f"{node}\n[stratum]\n{stratum}\n{ledger}\n{extra}")  # fmt: skip


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loads(text, "host.toml")
    return str(caught.value)


def test_prefixes_are_node_then_index_and_never_overlap() -> None:
    prefixes = [process_prefix(node, index) for node in range(4) for index in range(8)]
    assert process_prefix(7, 1) == b"\x07\x01"
    assert len(set(prefixes)) == len(prefixes) and overlap(prefixes) is None
    assert overlap([b"\x07", b"\x07\x01"]) == (b"\x07", b"\x07\x01")
    with pytest.raises(ValueError, match="node_id"):
        process_prefix(256, 0)
    with pytest.raises(ValueError, match="index"):
        process_prefix(0, 256)


def test_auto_is_one_process_per_core() -> None:
    assert process_count("auto", cpus=2) == 2
    assert process_count("auto", cpus=1000) == 256
    assert process_count(3) == 3


def test_a_cluster_config_and_what_each_process_runs_with() -> None:
    config = loads(cluster(extra='[metrics]\nlisten = "127.0.0.1:9200"\n'))
    assert config.process_count == 2 and config.clustered
    slot = ProcessSlot(3, 1, 2, 40000)
    mine = slot_config(config, slot)
    assert mine.stratum.port == 40000 and mine.stratum.prefix_bytes == b"\x03\x01"
    assert mine.metrics is not None and mine.metrics.port == 9201
    assert slot_labels(slot) == {"node": "3", "process": "1"}


def test_a_sqlite_ledger_may_serve_a_cluster() -> None:
    """One ledger writer process takes the shares of every process (pool.cluster)."""
    config = loads(cluster(ledger='[ledger]\nbackend = "sqlite"\nscheme = "pplns"\n'))
    assert config.process_count == 2 and config.ledger is not None
    assert config.ledger.backend == "sqlite"


def test_a_single_process_keeps_its_own_prefix_unless_it_has_a_node_id() -> None:
    alone = loads(cluster(top="", stratum='extranonce1_prefix = "01"\n'))
    assert single_slot(alone) is None and not alone.clustered
    host = loads(cluster(stratum=""))
    slot = single_slot(host)
    assert slot is not None and slot.prefix == b"\x03\x00"


@pytest.mark.parametrize(("text", "key", "why"), [
    (cluster(top=""), "node_id", "extranonce1 prefixes derive from it"),
    (cluster(stratum='processes = 2\nextranonce1_prefix = "01"\n'),
     "stratum.extranonce1_prefix", "could overlap"),
    (cluster(stratum='extranonce1_prefix = "01"\n'), "stratum.extranonce1_prefix",
     "could overlap"),
    (cluster(node="[node]\ndevnet = true\n"), "node.devnet", "chain of its own"),
    (cluster(stratum="processes = 300\n"), "stratum.processes", "256"),
    (cluster(stratum='processes = "many"\n'), "stratum.processes", "auto"),
    (cluster(top="node_id = 256\n"), "node_id", "255"),
    (cluster(top="node_id = 3\npayout_interval = 60\n"), "payout_interval", "[wallet]"),
    (cluster(stratum="processes = 2\n", extra='[metrics]\nlisten = "127.0.0.1:65535"\n'),
     "metrics.listen", "room for 2 ports"),
])  # fmt: skip
def test_configs_that_could_overlap_or_split_are_refused(text: str, key: str, why: str) -> None:
    message = error_of(text)
    assert "host.toml" in message and key in message and why in message, message


def test_labelled_registry_adds_node_and_process_to_every_sample() -> None:
    registry = LabelledRegistry({"node": "3", "process": "1"})
    counter = Counter("surplus_test_things", "things", ["kind"], registry=registry)
    counter.labels("a").inc()
    text = generate_latest(registry).decode()
    assert 'surplus_test_things_total{kind="a",node="3",process="1"} 1.0' in text


def test_the_shipped_cluster_host_config() -> None:
    from pool.config import load
    from tests.components.bcoin import ROOT

    config = load(ROOT / "configs" / "pool-cluster.toml")
    assert config.node_id == 1 and config.stratum.processes == "auto"
    assert config.ledger is not None and config.ledger.backend == "postgres"
    assert config.stratum.proxy_protocol and config.stratum.proxy_networks == ["10.0.0.2/32"]


@pytest.mark.integration
def test_the_shipped_haproxy_config_is_valid() -> None:
    import subprocess

    from tests.components.haproxy import SHIPPED, haproxy_binary

    check = subprocess.run([haproxy_binary(), "-c", "-f", str(SHIPPED)], capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    text = SHIPPED.read_text()
    assert "mode tcp" in text and "send-proxy-v2" in text


@pytest.mark.integration
def test_a_cluster_that_cannot_start_says_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.components.bcoin import ROOT
    from tests.components.process import free_port

    config = tmp_path / "host.toml"
    config.write_text(cluster(
        top="node_id = 3\nstartup_timeout = 1\n",
        node=f'[node]\nurls = ["http://u:p@127.0.0.1:{free_port()}/"]\nretry_rounds = 1\n',
        ledger='[ledger]\nbackend = "postgres"\nscheme = "pplns"\n'
               f'fee_account = "{CORE_REGTEST}"\n',
    ))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "surplus.cli", "pool", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "pool process" in done.stderr and "before it was ready" in done.stderr
    assert "node.urls" in done.stderr  # the worker's own reason, in the same log


def test_the_payout_command_refuses_to_pay_beside_the_leader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.components.bcoin import ROOT

    config = tmp_path / "pool.toml"
    config.write_text(cluster(
        top="payout_interval = 60\n", stratum="",
        ledger=f'[ledger]\npath = "{tmp_path / "l.sqlite3"}"\nscheme = "pplns"\n',
        extra='[wallet]\nurl = "http://u:p@127.0.0.1:1/"\n',
    ))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "surplus.cli", "ledger", "payouts", "--config",
                           str(config)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "payout_interval: the pool's ledger leader pays every 60 s" in done.stderr
