"""The coordinator's configuration (`surplus control --config configs/control.toml`):
TOML validated by pydantic, errors naming the file, the key and what was expected.

    [control]       policy, the portfolio figure to start from, how often to split, how
                    fast a cut must land, the state file and the audit log
    [api]           listen (the signed feeds, the status and the operator's actions),
                    [[api.tokens]] named tokens for the actions (recorded by name)
    [metrics]       Prometheus /metrics on loopback
    [sites.<name>]  each fleetd: API URL, its site name there, its token; the site's key
                    for the signed feed; licence, priority class, optional share; its
                    shed speed and ramp limits

Relative paths are relative to the config file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from plumbing.config import ConfigError, load_file
from plumbing.config import StrictModel as _Strict
from plumbing.listen import IPListen, Listening, ListenTable, LoopbackListen
from plumbing.netaddr import is_loopback_ip
from plumbing.signing import SigningError, read_key
from plumbing.venconfig import VenSettings

MAX_MW = 100_000.0
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
NAME = r"^[A-Za-z0-9_.@-]{1,64}$"
MIN_TOKEN_CHARS = 16


def _http_url(v: str) -> str:
    u = urlparse(v)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
    return v.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir", "."))


def _path(v: Path, info: ValidationInfo) -> Path:
    return v if v.is_absolute() else (_base_dir(info) / v).resolve()


def env_token(env: str, where: str) -> str:
    """A bearer token read from the environment: 16+ printable ASCII, no spaces."""
    value = os.environ.get(env, "")
    if not value:
        raise ConfigError(f"{where}: environment variable {env} is not set")
    if (
        len(value) < MIN_TOKEN_CHARS
        or len(value) > 4096
        or not value.isascii()
        or any(not c.isprintable() or c.isspace() for c in value)
    ):
        raise ConfigError(
            f"{where}: environment variable {env}: expected {MIN_TOKEN_CHARS} "
            "to 4096 printable ASCII characters without spaces"
        )
    return value


class ControlTable(_Strict):
    policy: Literal["pro_rata", "merit", "priority"] = "pro_rata"
    portfolio_mw: float = Field(..., ge=0, le=MAX_MW)  # until an operator sets another
    interval_s: float = Field(5.0, gt=0, le=3600)  # read the sites and split again
    cut_within_s: float = Field(60.0, gt=0, le=3600)  # a cut must land within this
    site_timeout_s: float = Field(3.0, gt=0, le=600)  # one request to a fleetd
    state_file: Path = Field(Path("control-state.json"), strict=False, validate_default=True)
    audit_path: Path = Field(Path("control-audit.jsonl"), strict=False, validate_default=True)

    @field_validator("state_file", "audit_path")
    @classmethod
    def _paths(cls, v: Path, info: ValidationInfo) -> Path:
        return _path(v, info)


class ApiToken(_Strict):
    """A named operator token; the audit log records each action under its name."""

    name: str = Field(..., pattern=NAME)
    token_env: str = Field(..., pattern=ENV_NAME)


class ApiTable(Listening, _Strict):
    listen: IPListen = "127.0.0.1:8480"  # beyond loopback needs tokens
    tokens: list[ApiToken] = Field(default_factory=list, max_length=256)

    @model_validator(mode="after")
    def _tokens(self) -> ApiTable:
        if not is_loopback_ip(self.host) and not self.tokens:
            raise ValueError(
                f"the API listens beyond loopback ({self.host}); expected [[api.tokens]]"
            )
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            raise ValueError("token names must be distinct")
        return self

    def bearer_tokens(self) -> dict[str, str]:
        out = {
            t.name: env_token(t.token_env, f"api.tokens[{i}].token_env")
            for i, t in enumerate(self.tokens)
        }
        if len(set(out.values())) != len(out):
            raise ConfigError(
                "api.tokens: two names share one token; expected a distinct token for each name"
            )
        return out


class MetricsTable(ListenTable):
    listen: LoopbackListen = "127.0.0.1:9103"  # loopback only: /metrics has no authentication


class SiteTable(_Strict):
    api_url: HttpUrl  # the site's fleetd API, e.g. http://10.0.4.2:8470
    site: str | None = Field(None, min_length=1, max_length=64)  # its name there (default: ours)
    token_env: str | None = Field(None, pattern=ENV_NAME)  # fleetd's token for actions
    key_env: str | None = Field(None, pattern=ENV_NAME)  # the feed's signing key, or
    key_file: Path | None = Field(None, strict=False)  # a file holding it
    licence_mw: float = Field(..., gt=0, le=MAX_MW)
    priority: int = Field(1, ge=1, le=100)  # class 1 is served first (policy = "priority")
    share: float | None = Field(None, gt=0, le=1)  # its share of the portfolio (pro rata)
    shed_s: float = Field(30.0, gt=0, le=3600)  # how long it takes to shed what it can
    ramp_up_mw_per_min: float | None = Field(None, gt=0, le=MAX_MW)
    ramp_down_mw_per_min: float | None = Field(None, gt=0, le=MAX_MW)
    # the site's account at the licensed pool ([pool]): its credited hashrate makes the
    # pool-verified J/TH that merit order uses (the rigs' own claim otherwise)
    pool_account: str | None = Field(None, min_length=1, max_length=128)
    # each rig's worker at the pool, by its name in fleetd; a rig not listed is
    # `<pool_account>.<rig name>`
    workers: dict[str, str] = Field(default_factory=dict, max_length=100_000)

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return None if v is None else _path(v, info)

    @model_validator(mode="after")
    def _one_key(self) -> SiteTable:
        if (self.key_env is None) == (self.key_file is None):
            raise ValueError("expected exactly one of key_env or key_file (the feed's key)")
        return self

    def key(self, where: str) -> bytes:
        try:
            return read_key(env=self.key_env, file=self.key_file, where=where)
        except SigningError as exc:
            raise ConfigError(str(exc)) from None

    def token(self, where: str) -> str | None:
        return None if self.token_env is None else env_token(self.token_env, f"{where}.token_env")


class OpenAdrTable(VenSettings):
    """The coordinator as an OpenADR 2.0b VEN of the grid operator's VTN (openleadr); SIMPLE
    levels scale the operator's portfolio."""

    vtn_url: HttpUrl  # e.g. https://vtn.example/OpenADR2/Simple/2.0b
    ven_name: str = Field("surplus-control", min_length=1, max_length=64)


class PoolTable(_Strict):
    """The licensed pool's stats API (pool.stats_api): hashrate credited per account, and
    each rig's worker (`<pool_account>.<rig name in fleetd>`) against what the rig claims
    (coordinator.verify: the Poisson test on its share count)."""

    stats_url: HttpUrl  # e.g. http://127.0.0.1:8081 (its /api/v1/accounts/{account})
    every_s: float = Field(10.0, ge=0.5, le=3600)  # read the rigs and the workers
    alpha: float = Field(1e-6, gt=0, le=0.01)  # flag when P(X <= shares | expected) < alpha
    min_window_s: float = Field(600.0, gt=0, le=86_400)  # watched at least this long
    max_window_s: float = Field(3600.0, gt=0, le=86_400)  # the window slides past this
    min_expected_shares: float = Field(20.0, ge=14, le=1e9)  # ln(1/1e-6) = 13.8
    max_ratio: float = Field(0.5, gt=0, lt=1)  # and credited below this share of the claim
    # H/s the pool sees for each TH/s a rig claims: 1e12 for real rigs; an emulated fleet
    # (rigsim's hashrate_scale) hashes fewer
    hashes_per_th: float = Field(1e12, gt=0, le=1e12)
    # tell each site's fleetd to shed its flagged rigs before any other (PUT
    # /sites/{site}/shed-first, with the site's token_env)
    shed_flagged: bool = False

    @model_validator(mode="after")
    def _window(self) -> PoolTable:
        if self.max_window_s < self.min_window_s:
            raise ValueError("max_window_s: expected at least min_window_s")
        return self


class ControlConfig(_Strict):
    control: ControlTable
    pool: PoolTable | None = None  # absent: merit order by the rigs' own J/TH
    openadr: OpenAdrTable | None = None  # absent: no VTN
    api: ApiTable = Field(default_factory=ApiTable)
    metrics: MetricsTable = Field(default_factory=MetricsTable)
    sites: dict[str, SiteTable] = Field(..., min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _checks(self) -> ControlConfig:
        bad = [n for n in self.sites if not n or len(n) > 64 or not n.isprintable()]
        if bad:
            raise ValueError(f"site names: expected 1 to 64 printable characters: {bad[:3]!r}")
        if self.pool is None and any(s.pool_account for s in self.sites.values()):
            raise ValueError("pool_account: expected a [pool] table with the pool's stats_url")
        shares = [s.share for s in self.sites.values()]
        if any(x is not None for x in shares):
            if any(x is None for x in shares):
                raise ValueError("share: give every site a share, or none")
            if sum(x for x in shares if x is not None) > 1.0 + 1e-9:
                raise ValueError("share: the sites' shares add up to more than 1")
        return self


def parse_config(
    data: dict[str, object], source: str = "<control config>", base_dir: str | Path = "."
) -> ControlConfig:
    from plumbing.config import validate

    return validate(ControlConfig, data, source, context={"base_dir": Path(base_dir)})


def load(path: str | Path) -> ControlConfig:
    p = Path(path)
    return load_file(p, ControlConfig, "control config", context={"base_dir": p.parent})
