"""The pool's TOML configuration: one pydantic model over every section.

The sections reuse the models their packages own (``pool.node.config.NodeConfig``,
``pool.stratum.config.StratumConfig``, ``pool.ledger.config.LedgerConfig``), so each knob
has exactly one validated spelling; this module adds what only the whole pool knows:
the mode, the network, the payout address, the coinbase tag, the embedded devnet chain,
and the checks that span sections (a ledger only where it means something, the pool fee
paid to a valid address, Stratum's mode agreeing with the pool's).

    mode = "pool"                     # or "solo": the coinbase pays the worker's address
    network = "mainnet"               # mainnet | testnet | signet | regtest[-core|-bcoin]
    payout_address = "bc1q..."
    coinbase_tag = "/surplus/"

    [node]                            # a real node ...
    urls = ["http://user:pass@127.0.0.1:8332/"]
    zmq_hashblock = "tcp://127.0.0.1:28332"
    # ... or the embedded chain:  devnet = true, difficulty = 0.001

    [stratum]                         # pool.stratum.config.StratumConfig
    [ledger]                          # pool.ledger.config.LedgerConfig (pool mode)
    [accounts]                        # pool mode: alice = "bc1q..." (names miners may use)
    [wallet]                          # payouts: the node's wallet RPC
    [metrics]                         # Prometheus /metrics (127.0.0.1:9101)
    [stats_api]                       # the JSON stats API (127.0.0.1:8101)

`load(path)` raises ``ConfigError`` whose message names the file, the key path and
what was expected, one line per problem.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from plumbing.config import ConfigError, Problems, parse_toml, validate
from plumbing.config import load_file as _load_file
from plumbing.listen import ListenTable, LoopbackListen, upgrade_listen
from pool.accounts import AccountBook, name_problem
from pool.bitcoin.address import address_to_script
from pool.bitcoin.networks import NETWORKS
from pool.bitcoin.target import as_fraction
from pool.jobs.coinbase import Payout, build_coinbase
from pool.ledger.config import LedgerConfig
from pool.ledger.records import Scheme
from pool.metrics.config import MetricsSection
from pool.node.config import NodeConfig
from pool.node.transport import Endpoint
from pool.stratum.config import StratumConfig
from pool.stratum.extranonce import EXTRANONCE1_SIZE
from pool.stratum.slots import MAX_NODE_ID, process_count

NETWORK_NAMES = tuple(sorted(NETWORKS))
# A height whose BIP34 push is as long as any real chain will need: the tag must fit
# the 100-byte scriptSig next to it and the largest extranonces.
_TAG_CHECK_HEIGHT = 2**31 - 1


__all__ = ["ConfigError", "DevnetSection", "MetricsSection", "PoolConfig", "RpcNodeSection",
           "StatsApiSection", "load", "loads", "parse"]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RpcNodeSection(NodeConfig):
    """``[node]`` for a real node (bitcoind or bcoin): NodeConfig, plus an explicit
    ``devnet = false`` being allowed."""

    devnet: Literal[False] = False


class DevnetSection(_Strict):
    """``[node]`` with ``devnet = true``: the embedded chain, in this process.

    `difficulty` is the block difficulty (fractional allowed, e.g. "0.001"); the demo
    picks it so that its emulated fleet finds a block every few seconds."""

    devnet: Literal[True]
    difficulty: Decimal = Field(Decimal("0.001"), gt=0, description="block difficulty")
    halving_interval: int = Field(150, ge=1)
    mempool_txs: int = Field(0, ge=0, le=2000, description="synthetic transactions per block")
    poll_interval: float = Field(0.1, gt=0)
    refresh_interval: float = Field(30.0, gt=0)
    longpoll: bool = True

    @field_validator("difficulty")
    @classmethod
    def _exact(cls, value: Decimal) -> Decimal:
        as_fraction(value)  # finite and positive, or a named error
        return value


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "devnet" if value.get("devnet") is True else "rpc"
    return "devnet" if getattr(value, "devnet", False) else "rpc"


NodeSection = Annotated[
    Annotated[RpcNodeSection, Tag("rpc")] | Annotated[DevnetSection, Tag("devnet")],
    Discriminator(_node_kind),
]


class WalletSection(_Strict):
    """The wallet that pays miners (``surplus ledger payouts``): bcoin's wallet RPC
    (port 48334 on regtest) or a Bitcoin Core wallet URL (``.../wallet/<name>``)."""

    url: str
    flavor: Literal["bcoin", "core"] = "bcoin"
    wallet_id: str = "primary"
    timeout: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        Endpoint.parse(url)
        return url


class StatsApiSection(ListenTable):
    """``[stats_api]``: where the pool serves its JSON stats API (``pool/stats_api.py``;
    loopback only). Absent or ``enabled = false``: off."""

    listen: LoopbackListen = Field("127.0.0.1:8101", description="HOST:PORT; port 0 picks a "
                                   "free port")  # fmt: skip
    cors_origin: str | None = Field(None, description="Access-Control-Allow-Origin, if any")
    page: bool = Field(True, description="serve the miners' web page at / (pool/web)")
    stratum_url: str | None = Field(
        None, max_length=200, pattern=r"^stratum\+tcp://[!-~]+$",
        description="Stratum URL the page tells miners (stratum+tcp://HOST:PORT); default: the "
        "page's own host name and the Stratum port",
    )
    tls_url: str | None = Field(
        None, max_length=200, pattern=r"^stratum\+(ssl|tls)://[!-~]+$",
        description="Stratum over TLS URL the page tells miners (stratum+ssl://HOST:PORT); "
        "default: none shown",
    )
    offline_after: float = Field(
        300.0, gt=0, description="seconds without an accepted share before the page shows a "
        "worker as offline",
    )
    history_accounts: int = Field(
        10_000, ge=1, le=1_000_000,
        description="accounts whose hashrate history (1 h, 24 h, 7 d) is kept in memory, about "
        "1 KB each; the longest silent goes first",
    )


class PoolConfig(_Strict):
    mode: Literal["solo", "pool"] = "pool"
    network: str = Field("mainnet", description="the chain the payout addresses belong to")
    payout_address: str = Field(
        description="pool mode: receives every block; solo mode: the pool's own job (miners "
        "are paid at the address in their worker name)"
    )
    coinbase_tag: str = Field("/surplus/", description="text in every coinbase scriptSig")
    node_id: int | None = Field(
        None, ge=0, le=MAX_NODE_ID,
        description="this host's id in a pool cluster, unique among its hosts: each process's "
        "extranonce1 prefix is (node_id, process index), and metrics carry it as `node`",
    )
    startup_timeout: float = Field(60.0, gt=0, description="seconds to wait for the node")
    ledger_interval: float = Field(
        30.0, gt=0, description="seconds between block-maturity checks and settlements"
    )
    payout_interval: float = Field(
        0.0, ge=0, description="seconds between payouts run by the ledger's leader through "
        "[wallet] (exactly once, as `surplus ledger payouts`); 0: only that command pays",
    )
    node: NodeSection
    stratum: StratumConfig = StratumConfig()
    ledger: LedgerConfig | None = None
    accounts: dict[str, str] = Field(
        default_factory=dict,
        description="pool mode: account names miners may authorize as (name.rig), each "
        "mapped to the payout address it is paid at; any other account must itself be an "
        "address of the network",
    )
    wallet: WalletSection | None = None
    metrics: MetricsSection | None = None
    stats_api: StatsApiSection | None = None

    # -- single keys ---------------------------------------------------------------------

    @field_validator("network")
    @classmethod
    def _network(cls, name: str) -> str:
        if name.lower() not in NETWORKS:
            raise ValueError(f"expected one of {', '.join(NETWORK_NAMES)}, got {name!r}")
        return name.lower()

    @field_validator("coinbase_tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        try:
            raw = tag.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"expected ASCII text, got {tag!r}") from None
        build_coinbase(  # raises ValueError saying how many bytes fit
            _TAG_CHECK_HEIGHT, 0, [Payout(b"\x51")], tag=raw,
            extranonce1_size=EXTRANONCE1_SIZE, extranonce2_size=8,
        )
        return tag

    # -- the ledger's fee address defaults to the pool's ---------------------------------

    @model_validator(mode="before")
    @classmethod
    def _default_fee_account(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("ledger"), dict):
            ledger = data["ledger"]
            if "fee_account" not in ledger and isinstance(data.get("payout_address"), str):
                data = {**data, "ledger": {**ledger, "fee_account": data["payout_address"]}}
        return data

    # -- across sections -----------------------------------------------------------------

    @model_validator(mode="after")
    def _cross_check(self) -> PoolConfig:
        problems: list[tuple[str, str]] = []
        for key, address in (
            ("payout_address", self.payout_address),
            ("ledger.fee_account", self.ledger.fee_account if self.ledger else ""),
        ):
            if key == "payout_address" or address:
                try:
                    address_to_script(address, self.network)
                except ValueError as exc:
                    problems.append((key, f"expected a {self.network} address: {exc}"))
        for name, address in self.accounts.items():
            why = name_problem(name, self.network)
            if why is not None:
                problems.append((f"accounts.{name}", f"the account name {why}"))
            try:
                address_to_script(address, self.network)
            except ValueError as exc:
                problems.append((f"accounts.{name}", f"expected a {self.network} address: {exc}"))
        if self.accounts and self.mode != "pool":
            problems.append(("accounts", "expected only in pool mode (solo miners are paid at "
                             "the address in their worker name)"))
        if "mode" in self.stratum.model_fields_set and self.stratum.mode != self.mode:
            problems.append((
                "stratum.mode",
                f"is {self.stratum.mode!r} but mode is {self.mode!r}; set only the top-level mode",
            ))
        if self.mode == "pool" and self.ledger is None:
            problems.append(("ledger", "expected a [ledger] section: pool mode credits shares"))
        if self.ledger is not None:
            solo_scheme = self.ledger.scheme is Scheme.SOLO
            if self.mode == "solo" and not solo_scheme:
                problems.append((
                    "ledger.scheme",
                    f"expected 'solo' in solo mode (the coinbase pays the miner), got "
                    f"{self.ledger.scheme.value!r}",
                ))
            elif self.mode == "pool" and solo_scheme:
                problems.append((
                    "ledger.scheme",
                    "expected pplns, pps, fpps or prop in pool mode, got 'solo'",
                ))
        if self.payout_interval > 0 and (self.wallet is None or self.mode != "pool"):
            problems.append(("payout_interval", "expected 0 without a [wallet] in pool mode: "
                             "the leader pays through the wallet"))  # fmt: skip
        problems += self._cluster_problems()
        if problems:
            raise Problems(problems)
        return self

    def _cluster_problems(self) -> list[tuple[str, str]]:
        """What a cluster (`node_id`, `[stratum] processes` > 1) cannot run with."""
        problems: list[tuple[str, str]] = []
        count = self.process_count
        if self.node_id is not None and self.stratum.extranonce1_prefix:
            problems.append(("stratum.extranonce1_prefix", "expected no prefix with node_id: "
                             "each process's prefix is (node_id, process index), and a second "
                             "spelling could overlap it"))  # fmt: skip
        if count == 1:
            return problems
        if self.node_id is None:
            problems.append(("node_id", f"expected this host's id (0-{MAX_NODE_ID}, unique "
                             f"among the pool's hosts) with stratum.processes = {count}: the "
                             "processes' extranonce1 prefixes derive from it, so that no two "
                             "miners get the same work"))  # fmt: skip
        if self.devnet:
            problems.append(("node.devnet", "expected a real node with stratum.processes > 1: "
                             "the embedded devnet chain lives in one process, so each worker "
                             "would mine a chain of its own"))  # fmt: skip
        if self.metrics is not None and self.metrics.enabled and self.metrics.port != 0 and (
            self.metrics.port + count - 1 > 65535
        ):
            problems.append(("metrics.listen", f"expected room for {count} ports from "
                             f"{self.metrics.port} (process i serves on port + i)"))
        return problems

    # -- what the pool builds from it ---------------------------------------------------------

    @property
    def devnet(self) -> bool:
        return isinstance(self.node, DevnetSection)

    @property
    def process_count(self) -> int:
        """The Stratum worker processes (`[stratum] processes`, "auto" resolved)."""
        return process_count(self.stratum.processes)

    @property
    def clustered(self) -> bool:
        """A supervisor and workers, or one process of a multi-host cluster (node_id)."""
        return self.node_id is not None or self.process_count > 1

    @property
    def stratum_config(self) -> StratumConfig:
        """The Stratum settings with the pool's mode filled in."""
        if self.stratum.mode == self.mode:
            return self.stratum
        return self.stratum.model_copy(update={"mode": self.mode})

    @property
    def tag_bytes(self) -> bytes:
        return self.coinbase_tag.encode("ascii")

    def payout_script(self) -> bytes:
        return address_to_script(self.payout_address, self.network)

    def account_book(self) -> AccountBook:
        """The accounts pool-mode miners may mine to, and where each is paid."""
        return AccountBook(self.network, self.accounts)

    def with_overrides(self, **changes: Any) -> PoolConfig:
        """A validated copy with some keys changed; a dict merges into its section, so
        ``with_overrides(stratum={"port": 0})`` keeps the other Stratum settings (tests
        and the demo pick ports and files this way)."""
        data = _merge(self.model_dump(mode="python", exclude_unset=True), changes)
        return parse(data, "<overrides>")


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# -- loading ---------------------------------------------------------------------------------

# The previous release's spellings, read with a deprecation message until the next one.
UPGRADES = (
    upgrade_listen("metrics", 9101, separate_port=True),
    upgrade_listen("stats_api", 8101, separate_port=True),
)


def parse(data: dict[str, Any], source: str = "<config>") -> PoolConfig:
    """Validate an already-parsed TOML document; ``source`` names it in errors."""
    return validate(PoolConfig, data, source, upgrades=UPGRADES)


def loads(text: str, source: str = "<config>") -> PoolConfig:
    return parse(parse_toml(text, source), source)


def load(path: str | Path) -> PoolConfig:
    """Read and validate a pool TOML file."""
    return _load_file(path, PoolConfig, "pool configuration", upgrades=UPGRADES)
