"""The pool's TOML configuration: the example files load, and every mistake is reported
with the file, the key path and what was expected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pool.config import ConfigError, DevnetSection, PoolConfig, RpcNodeSection, load, loads
from pool.ledger import Scheme
from tests.components.bcoin import ROOT

CONFIGS = ROOT / "configs"
CORE_REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
MAINNET = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
DEVNET_NODE = "[node]\ndevnet = true\n"


def solo(extra: str = "", *, address: str = CORE_REGTEST, node: str = DEVNET_NODE) -> str:
    return f'mode = "solo"\nnetwork = "regtest"\npayout_address = "{address}"\n{extra}\n{node}'


def error_of(text: str, source: str = "pool.toml") -> str:
    with pytest.raises(ConfigError) as caught:
        loads(text, source)
    return str(caught.value)


def test_devnet_example() -> None:
    config = load(CONFIGS / "pool-devnet.toml")
    assert config.mode == "solo" and config.devnet
    assert isinstance(config.node, DevnetSection)
    assert config.node.difficulty == Decimal("0.0005")
    assert config.stratum_config.mode == "solo"
    assert config.ledger is None and config.metrics is not None
    # where configs/prometheus.yml scrapes the pool, and the stats API it names
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9101)
    assert config.stats_api is not None and config.stats_api.listen == "127.0.0.1:8101"
    assert config.payout_script().hex() == "0014751e76e8199196d454941c45d1b3a323f1433bd6"


def test_regtest_example() -> None:
    config = load(CONFIGS / "pool-regtest.toml")
    assert config.mode == "solo" and config.network == "regtest" and not config.devnet
    assert isinstance(config.node, RpcNodeSection)
    assert config.node.zmq_hashblock == "tcp://127.0.0.1:28332"
    assert config.node.urls == ["http://surplus:surplus@127.0.0.1:18443/"]


def test_mainnet_example() -> None:
    config = load(CONFIGS / "pool-mainnet.toml")
    assert config.mode == "pool" and config.network == "mainnet"
    assert isinstance(config.node, RpcNodeSection)
    assert config.node.zmq_hashblock and len(config.node.urls) == 2
    assert config.ledger is not None and config.ledger.backend == "postgres"
    assert config.ledger.scheme is Scheme.PPLNS and config.ledger.fee_account == MAINNET
    assert config.stratum_config.mode == "pool" and config.stratum.extranonce1_prefix == "01"
    assert config.wallet is not None and config.wallet.flavor == "core"


def test_metrics_and_stats_api_sections() -> None:
    config = loads(solo('[metrics]\nlisten = "[::1]:0"\nworker_window_s = 30\n[stats_api]\n'))
    assert config.metrics is not None and (config.metrics.host, config.metrics.port) == ("::1", 0)
    assert config.metrics.worker_window_s == 30 and config.metrics.top_workers == 50
    assert config.stats_api is not None
    assert (config.stats_api.host, config.stats_api.port) == ("127.0.0.1", 8101)
    assert loads(solo("[metrics]\nenabled = false\n")).metrics.enabled is False
    assert loads(solo()).metrics is None and loads(solo()).stats_api is None
    message = error_of(solo('[metrics]\nlisten = "0.0.0.0:9101"\n'
                            '[stats_api]\nlisten = "10.1.1.1:8101"\n'))
    assert "pool.toml: metrics.listen: expected a loopback address (127.0.0.0/8 or ::1), got " \
        "'0.0.0.0'" in message  # fmt: skip
    assert "pool.toml: stats_api.listen: expected a loopback address" in message
    assert "pool.toml: stats_api.listen: expected 'address:port'" in \
        error_of(solo('[stats_api]\nlisten = "127.0.0.1:70000"\n'))  # fmt: skip


def test_the_miners_page_keys() -> None:
    stats = loads(solo("[stats_api]\n")).stats_api
    assert stats is not None and stats.page is True and stats.stratum_url is None
    assert (stats.tls_url, stats.offline_after, stats.history_accounts) == (None, 300.0, 10_000)
    stats = loads(solo('[stats_api]\nstratum_url = "stratum+tcp://pool.example.org:3333"\n'
                       'tls_url = "stratum+ssl://pool.example.org:3334"\npage = false\n')).stats_api
    assert stats is not None and stats.page is False
    assert stats.tls_url == "stratum+ssl://pool.example.org:3334"
    message = error_of(solo('[stats_api]\nstratum_url = "http://x/<script>"\n'
                            'tls_url = "stratum+tcp://x:1"\noffline_after = 0\n'))
    assert "pool.toml: stats_api.stratum_url: " in message
    assert "pool.toml: stats_api.tls_url: " in message
    assert "pool.toml: stats_api.offline_after: " in message


def test_bad_payout_address_names_key_and_network() -> None:
    message = error_of(solo(address=MAINNET))
    assert message.startswith("pool.toml: payout_address: expected a regtest address")
    assert MAINNET in message and "mainnet address" in message


def test_unknown_key_and_wrong_types_name_their_path() -> None:
    message = error_of(solo("coinbase_tagg = 'x'", node=DEVNET_NODE + "difficulty = 0\n"))
    assert "pool.toml: coinbase_tagg: unknown key" in message
    assert "pool.toml: node.difficulty: expected a number greater than 0 (got 0)" in message


def test_rpc_node_section_errors() -> None:
    message = error_of(solo(node="[node]\npoll_interval = -1\nzmq_hashblock = 'udp://x'\n"))
    assert "pool.toml: node.urls: required key is missing" in message
    assert "pool.toml: node.poll_interval: expected a number greater than 0" in message
    assert "pool.toml: node.zmq_hashblock: expected tcp://host:port or ipc://path" in message


def test_missing_node_and_bad_network() -> None:
    message = error_of('network = "moon"\npayout_address = "x"\n')
    assert "pool.toml: network: expected one of" in message and "'moon'" in message
    assert "pool.toml: node: required key is missing" in message


def test_pool_mode_needs_a_ledger() -> None:
    text = solo().replace('mode = "solo"', 'mode = "pool"')
    assert error_of(text) == (
        "pool.toml: ledger: expected a [ledger] section: pool mode credits shares"
    )


def test_ledger_scheme_must_fit_the_mode() -> None:
    message = error_of(solo() + "[ledger]\nscheme = 'pplns'\n")
    assert "pool.toml: ledger.scheme: expected 'solo' in solo mode" in message
    pool = solo().replace('mode = "solo"', 'mode = "pool"') + "[ledger]\nscheme = 'solo'\n"
    assert "ledger.scheme: expected pplns, pps, fpps or prop in pool mode" in error_of(pool)


def test_fee_account_defaults_to_the_payout_address_and_is_checked() -> None:
    text = solo().replace('mode = "solo"', 'mode = "pool"') + "[ledger]\nfee_percent = 2\n"
    config = loads(text)
    assert config.ledger is not None and config.ledger.fee_account == CORE_REGTEST
    bad = text + f'fee_account = "{MAINNET}"\n'
    assert "pool.toml: ledger.fee_account: expected a regtest address" in error_of(bad)


def test_stratum_mode_must_agree() -> None:
    message = error_of(solo() + "[stratum]\nmode = 'pool'\n")
    assert "pool.toml: stratum.mode: is 'pool' but mode is 'solo'" in message


def test_stratum_limits_are_validated() -> None:
    message = error_of(solo() + "[stratum]\nport = 99999\nextranonce2_size = 9\n")
    assert "stratum.port: expected a number less than or equal to 65535" in message
    assert "stratum.extranonce2_size: expected a number less than or equal to 8" in message


def test_coinbase_tag_must_fit_the_script_sig() -> None:
    message = error_of(solo(f'coinbase_tag = "{"x" * 90}"'))
    assert message.startswith("pool.toml: coinbase_tag: coinbase scriptSig would be")
    assert "at most" in message
    assert "coinbase_tag: expected ASCII text" in error_of(solo('coinbase_tag = "/süß/"'))


def test_metrics_stay_on_loopback() -> None:
    message = error_of(solo() + "[metrics]\nlisten = '0.0.0.0:9101'\n")
    assert "pool.toml: metrics.listen: expected a loopback address" in message


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the pool configuration"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("mode = \n")
    with pytest.raises(ConfigError, match=f"{broken}: not valid TOML"):
        load(broken)


def test_with_overrides_merges_sections() -> None:
    config = load(CONFIGS / "pool-devnet.toml")
    changed = config.with_overrides(stratum={"port": 0}, coinbase_tag="/t/")
    assert isinstance(changed, PoolConfig)
    assert changed.stratum.port == 0 and changed.coinbase_tag == "/t/"
    assert changed.stratum.vardiff == config.stratum.vardiff
    assert changed.node == config.node
