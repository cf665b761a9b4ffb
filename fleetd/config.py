"""fleetd configuration: TOML validated by pydantic, with errors that name the file, the
key and what was expected.

    [api]                      listen = "127.0.0.1:8470", token_env = "FLEETD_TOKEN"
    [[api.tokens]]             name = "ops", token_env = "FLEETD_OPS_TOKEN" (several named)
    [drivers]                  timeouts, retries, concurrency
    [drivers.<family>]         luxos | braiins | stock | whatsminer: username,
                               password_env, response_s (whatsminer: control)
    [audit]                    path of the JSON-lines audit log, fsync batching
    [metrics]                  listen = "127.0.0.1:9102" (Prometheus /metrics), enabled
    [sites.<name>]             control_period_s, margin, ramp limits, holds, batch size
    [[sites.<name>.allotment]] kind = "constant" | "schedule" | "http_json" | "zmq" | "openadr"
    [[sites.<name>.firm_loads]] declared kw, or a meter with the kw to assume when it is silent
    [sites.<name>.overhead]    pue, aux_kw
    [sites.<name>.meter]       kind = "http_json" | "prometheus"
    [[sites.<name>.rigs]]      host | range | cidr, model, firmware

Relative file paths (schedules, the audit log) are relative to the config file. See
configs/fleetd-demo.toml and configs/fleetd-site.toml.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fleetd.allotment.base import MAX_ALLOTMENT_MW
from fleetd.drivers.backend import Credentials
from fleetd.drivers.base import DriverTimeouts
from fleetd.drivers.capabilities import FirmwareKind
from fleetd.drivers.control import Control, Granularity
from fleetd.models import DEFAULT_CATALOG
from fleetd.planner.config import PlannerConfig
from plumbing.config import ConfigError, Problem, load_file, validate
from plumbing.config import StrictModel as _Strict
from plumbing.listen import IPListen, Listening, ListenTable, LoopbackListen, upgrade_listen
from plumbing.netaddr import is_loopback_ip
from plumbing.venconfig import VenSettings

MAX_RANGE = 65_536  # addresses in one rig entry
LUXOS_SESSION_S = 60.0
# Upper bounds of the numeric keys: every figure is finite and inside a range a real site
# can use, so no value reaches the budget arithmetic or a timer as inf, nan or 1e300.
MAX_MW = MAX_ALLOTMENT_MW  # one site's allotment, floor or ramp rate
MAX_KW = MAX_MW * 1e3  # one site's margin, auxiliary or firm load
MAX_TIMEOUT_S = 600.0  # one request
MAX_INTERVAL_S = 3600.0  # between polls
MAX_AGE_S = 86_400.0  # before a figure is stale
MAX_HOLD_S = 7 * 86_400.0  # hold times
MAX_OVERRIDE_S = 366 * 86_400.0


__all__ = ["ConfigError", "FleetdConfig", "load", "parse_config"]  # and the tables below
# Tables are plumbing.config.StrictModel: a number must be a TOML number (not a string, not
# a boolean) and finite; the few keys given as strings that become paths or enums say
# strict=False.


def _http_url(v: str) -> str:
    u = urlparse(v)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
    return v


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Polled(_Strict):
    """Something fleetd reads over HTTP every `interval_s`."""

    url: HttpUrl
    interval_s: float = Field(5.0, gt=0, le=MAX_INTERVAL_S)
    timeout_s: float = Field(3.0, gt=0, le=MAX_TIMEOUT_S)


def _base_dir(info: ValidationInfo) -> Path:
    ctx = info.context or {}
    return Path(ctx.get("base_dir", "."))


# ---------------------------------------------------------------------- allotment sources


class FeedFieldsConfig(_Strict):
    """Where the figure sits in a feed message (dotted paths) and its unit."""

    mw: str = "mw"
    as_of: str | None = "as_of"
    id: str | None = "id"
    next: str | None = "next"
    unit: Literal["W", "kW", "MW"] = "MW"

    @property
    def scale(self) -> float:
        return {"W": 1e-6, "kW": 1e-3, "MW": 1.0}[self.unit]


class ConstantAllotment(_Strict):
    kind: Literal["constant"]
    name: str = "constant"
    mw: float = Field(..., ge=0, le=MAX_MW)


class ScheduleAllotment(_Strict):
    kind: Literal["schedule"]
    name: str = "schedule"
    timezone: str | None = None  # for times in the file without a UTC offset (before file:
    file: Path = Field(..., strict=False)  # the file's check reads it)
    repeat: Literal["none", "daily"] = "none"
    # play the timetable this many times faster (demos); with align = "start" its first
    # step starts when fleetd starts
    compress: float = Field(1.0, gt=0, le=100_000)
    align: Literal["file", "start"] = "file"

    @field_validator("file")
    @classmethod
    def _file(cls, v: Path, info: ValidationInfo) -> Path:
        from fleetd.allotment.base import AllotmentError
        from fleetd.allotment.schedule import ScheduleSource

        path = v if v.is_absolute() else _base_dir(info) / v
        if not path.is_file():
            raise ValueError(f"schedule file {str(path)!r} does not exist; expected .csv or .toml")
        tz = (info.data or {}).get("timezone")
        try:
            ScheduleSource.from_file(path, timezone=tz)
        except AllotmentError as exc:
            raise ValueError(str(exc)) from None
        return path.resolve()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        from fleetd.allotment.base import AllotmentError
        from fleetd.allotment.schedule import zone

        try:
            zone(v, "timezone")
        except AllotmentError as exc:
            raise ValueError(str(exc).removeprefix("timezone: ")) from None
        return v

    @property
    def repeat_s(self) -> float | None:
        return 86_400.0 if self.repeat == "daily" else None


class FeedSigning(_Strict):
    """A signed feed (plumbing.signing): every message must carry an HMAC-SHA256 of this
    site's key, name the site, be signed within `max_age_s` and carry a sequence number
    above the last accepted one; others are refused, counted and logged, and the feed
    ages towards its floor as when it is silent."""

    key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")  # variable
    key_file: Path | None = Field(None, strict=False)  # or: a file holding the key
    site: str | None = Field(None, min_length=1, max_length=64)  # the name the signer uses
    max_age_s: float = Field(30.0, gt=0, le=MAX_AGE_S)  # a message signed longer ago: stale
    max_skew_s: float = Field(5.0, ge=0, le=MAX_AGE_S)  # tolerated clock difference ahead

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None or v.is_absolute():
            return v
        return (_base_dir(info) / v).resolve()

    @model_validator(mode="after")
    def _one_key(self) -> FeedSigning:
        if (self.key_env is None) == (self.key_file is None):
            raise ValueError("expected exactly one of key_env or key_file")
        return self


class _FeedBase(_Strict):
    name: str = "feed"
    stale_after_s: float = Field(60.0, gt=0, le=MAX_AGE_S)
    floor_mw: float = Field(..., ge=0, le=MAX_MW)  # what the site may draw while the feed is silent
    fields: FeedFieldsConfig = Field(default_factory=FeedFieldsConfig)
    signing: FeedSigning | None = None  # refuse messages not signed with the site's key


class HttpAllotment(_Polled, _FeedBase):
    kind: Literal["http_json"]
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _stale_after_poll(self) -> HttpAllotment:
        if self.stale_after_s <= self.interval_s:
            raise ValueError(
                f"stale_after_s ({self.stale_after_s:g}) must exceed interval_s "
                f"({self.interval_s:g}), or every poll would find the feed stale"
            )
        return self


class ZmqAllotment(_FeedBase):
    kind: Literal["zmq"]
    endpoint: str
    topic: str = ""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not v.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError(f"expected a ZMQ endpoint such as tcp://host:5556, got {v!r}")
        return v


class OpenAdrAllotment(VenSettings):
    """fleetd as an OpenADR 2.0b VEN of the grid operator's VTN (fleetd.allotment.openadr):
    its events cut `base_mw` while they are in force (SIMPLE levels as fractions of it);
    outside them it does not apply."""

    kind: Literal["openadr"]
    name: str = "openadr"
    vtn_url: HttpUrl  # e.g. https://vtn.example/OpenADR2/Simple/2.0b
    ven_name: str = Field("surplus-fleetd", min_length=1, max_length=64)
    base_mw: float = Field(..., ge=0, le=MAX_MW)  # what the events scale (the licence, say)


AllotmentConfig = Annotated[
    ConstantAllotment | ScheduleAllotment | HttpAllotment | ZmqAllotment | OpenAdrAllotment,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------- meters and loads


class _Meter(_Polled):
    stale_after_s: float = Field(30.0, gt=0, le=MAX_AGE_S)


class HttpJsonMeter(_Meter):
    kind: Literal["http_json"]
    field: str = "kw"  # dotted path to the reading in the JSON reply
    unit: Literal["W", "kW", "MW"] = "kW"


class PrometheusMeter(_Meter):
    """`url` is the Prometheus server, e.g. http://127.0.0.1:9090."""

    kind: Literal["prometheus"]
    query: str = Field(..., min_length=1)  # PromQL giving one sample
    unit: Literal["W", "kW", "MW"] = "W"


MeterConfig = Annotated[HttpJsonMeter | PrometheusMeter, Field(discriminator="kind")]


class FirmLoad(_Strict):
    """Load that is never throttled: declared (kw), or metered with the kw to assume
    while its meter is silent (max_kw: the worst case, never zero)."""

    name: str
    kw: float | None = Field(None, ge=0, le=MAX_KW)
    meter: MeterConfig | None = None
    max_kw: float | None = Field(None, ge=0, le=MAX_KW)

    @model_validator(mode="after")
    def _one(self) -> FirmLoad:
        if (self.kw is None) == (self.meter is None):
            raise ValueError("expected exactly one of kw (declared) or meter")
        if self.meter is not None and self.max_kw is None:
            raise ValueError("a metered firm load needs max_kw (counted while the meter is silent)")
        return self

    @property
    def declared_kw(self) -> float:
        """What it counts for without a meter reading."""
        kw = self.kw if self.kw is not None else self.max_kw
        assert kw is not None  # the validator above requires kw or max_kw
        return float(kw)


class Overhead(_Strict):
    pue: float = Field(1.0, ge=1.0, le=3.0)  # cooling etc. as a factor on rig power
    aux_kw: float = Field(0.0, ge=0, le=MAX_KW)  # fixed auxiliary load (transformers, lighting)


# ---------------------------------------------------------------------- rigs


@dataclass(frozen=True, slots=True)
class RigSpec:
    """One rig as fleetd knows it from config."""

    site: str
    host: str
    model: str  # a key of the model catalog (fleetd.models)
    firmware: FirmwareKind
    name: str


def _ipv4(v: str) -> str:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        raise ValueError(f"expected an IPv4 address, got {v!r}") from None
    return v


def _range_ends(v: str) -> tuple[int, int]:
    """The first and last address of "first-last" (ValueError when it is not one)."""
    try:
        a, b = (int(ipaddress.IPv4Address(p.strip())) for p in v.split("-"))
    except ValueError:
        raise ValueError(f"expected 'first-last' IPv4 addresses, got {v!r}") from None
    return a, b


def _range(v: str) -> str:
    a, b = _range_ends(v)
    if b < a:
        raise ValueError(f"range {v!r} ends before it starts")
    if b - a + 1 > MAX_RANGE:
        raise ValueError(f"range {v!r} holds {b - a + 1} addresses; at most {MAX_RANGE}")
    return v


def _cidr(v: str) -> str:
    try:
        net = ipaddress.IPv4Network(v, strict=True)
    except ValueError as exc:
        raise ValueError(f"expected an IPv4 network such as 10.0.0.0/24: {exc}") from None
    if net.num_addresses > MAX_RANGE:
        raise ValueError(f"{v} holds {net.num_addresses} addresses; at most {MAX_RANGE}")
    return v


class RigEntry(_Strict):
    """One rig (host), a range of addresses ("10.0.1.1-10.0.1.200") or a CIDR block."""

    host: Annotated[str, AfterValidator(_ipv4)] | None = None
    range: Annotated[str, AfterValidator(_range)] | None = None
    cidr: Annotated[str, AfterValidator(_cidr)] | None = None
    model: str
    firmware: FirmwareKind = Field(FirmwareKind.LUXOS, strict=False)
    name: str | None = None  # prefix for the rigs' names

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        try:
            return DEFAULT_CATALOG.model(v).key
        except KeyError as exc:
            raise ValueError(str(exc).strip("\"'")) from None

    @model_validator(mode="after")
    def _one(self) -> RigEntry:
        given = [k for k in ("host", "range", "cidr") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of host, range or cidr; got {given or 'none'}")
        return self

    def hosts(self) -> list[str]:
        if self.host is not None:
            return [self.host]
        if self.range is not None:
            a, b = _range_ends(self.range)
            return [str(ipaddress.IPv4Address(i)) for i in range(a, b + 1)]
        net = ipaddress.IPv4Network(self.cidr)
        return [str(h) for h in net.hosts()]


# ---------------------------------------------------------------------- sites


class SiteConfig(_Strict):
    allotment: list[AllotmentConfig] = Field(..., min_length=1)
    override: bool = True  # accept an operator override through the API
    override_max_s: float = Field(7 * 24 * 3600.0, gt=0, le=MAX_OVERRIDE_S)
    firm_loads: list[FirmLoad] = Field(default_factory=list)
    overhead: Overhead = Field(default_factory=Overhead)
    margin_kw: float = Field(0.0, ge=0, le=MAX_KW)  # kept unused under the allotment
    margin_pct: float = Field(0.0, ge=0, lt=50)  # ... and a share of it
    meter: MeterConfig | None = None
    meter_factor: float = Field(1.0, gt=0.5, le=2.0)  # site meter / rigs' own figures
    # learning the factor from the meter: a step this share of the way per settled plan,
    # up and down alike; it never goes below meter_factor (it only tightens the plan)
    meter_learn_rate: float = Field(0.3, gt=0, le=1)
    meter_factor_max: float = Field(1.5, gt=1.0, le=3.0)  # the highest factor it may learn
    rigs: list[RigEntry] = Field(..., min_length=1)
    control_period_s: float = Field(10.0, gt=0, le=3600)
    ramp_up_mw_per_min: float | None = Field(None, gt=0, le=MAX_MW)
    ramp_down_mw_per_min: float | None = Field(None, gt=0, le=MAX_MW)
    min_awake_s: float = Field(600.0, ge=0, le=MAX_HOLD_S)
    min_asleep_s: float = Field(300.0, ge=0, le=MAX_HOLD_S)
    hysteresis: float = Field(0.02, ge=0, lt=1)
    # commands in flight at once (a window: a slow rig holds one place, not a batch)
    command_batch_size: int = Field(200, ge=1, le=100_000)
    # the rigs' shed: command fan-out plus their ramp down (s); scheduled cuts are
    # pre-shed one control period plus this much ahead
    response_s: float = Field(10.0, gt=0, le=3600)
    reading_max_age_s: float | None = Field(None, gt=0, le=MAX_AGE_S)  # default: 3 control periods

    @model_validator(mode="after")
    def _names(self) -> SiteConfig:
        names = [a.name for a in self.allotment] + (["override"] if self.override else [])
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"allotment source names must be distinct (the override is named 'override'); "
                f"repeated: {', '.join(dup)}; expected a distinct name = ... for each"
            )
        return self

    @property
    def max_reading_age_s(self) -> float:
        return self.reading_max_age_s or 3.0 * self.control_period_s

    def planner_config(self) -> PlannerConfig:
        return PlannerConfig(
            min_awake_s=self.min_awake_s, min_asleep_s=self.min_asleep_s,
            hysteresis=self.hysteresis, ramp_up_mw_per_min=self.ramp_up_mw_per_min,
            ramp_down_mw_per_min=self.ramp_down_mw_per_min, period_s=self.control_period_s,
        )  # fmt: skip

    def declared_firm_kw(self) -> float:
        return sum(f.declared_kw for f in self.firm_loads)


# ---------------------------------------------------------------------- daemon-wide


MIN_TOKEN_CHARS = 16
LEGACY_TOKEN_NAME = "api"  # what `token` / `token_env` alone are recorded as
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # an environment variable's name
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a header value


def check_token(where: str, value: str) -> str:
    """One rule for every bearer token, written in the file or read from the environment:
    at least MIN_TOKEN_CHARS printable ASCII characters, no spaces."""
    if len(value) < MIN_TOKEN_CHARS:
        raise ValueError(f"{where}: the token has {len(value)} characters; expected at least "
                         f"{MIN_TOKEN_CHARS}")  # fmt: skip
    if len(value) > 4096 or not _TOKEN_CHARS.fullmatch(value):
        raise ValueError(f"{where}: expected at most 4096 printable ASCII characters without "
                         "spaces")  # fmt: skip
    return value


def _secret(where: str, token: str | None, env: str | None) -> str:
    """A token's value: as written, or read from the environment variable `env`."""
    if env is None:
        return token or ""
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"{where}_env: environment variable {env} is not set")
    try:
        return check_token(f"{where}_env: environment variable {env}", value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


# a bearer token written in the file (the name of a variable holding one matches ENV_NAME)
Token = Annotated[str, AfterValidator(lambda v: check_token("token", v))]


class ApiToken(_Strict):
    """One named bearer token; the audit log records mutations made with it under its name."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.@-]{1,64}$")  # the audit log's `by`
    token: Token | None = None  # the token: 16+ printable ASCII characters, no spaces
    token_env: str | None = Field(None, pattern=ENV_NAME)  # or: the variable holding it

    @model_validator(mode="after")
    def _one(self) -> ApiToken:
        if (self.token is None) == (self.token_env is None):
            raise ValueError(f"token {self.name!r}: expected exactly one of token or token_env")
        return self

    def secret(self, where: str) -> str:
        return _secret(f"{where}.token", self.token, self.token_env)


class ApiConfig(Listening, _Strict):
    listen: IPListen = "127.0.0.1:8470"  # an IP address and port; beyond loopback needs a token
    token: Token | None = None  # a bearer token for mutations; the audit log records "api"
    # the name of an environment variable holding the token (instead of token)
    token_env: str | None = Field(None, pattern=ENV_NAME)
    # named bearer tokens ([[api.tokens]]), each recorded in the audit log by its name
    tokens: list[ApiToken] = Field(default_factory=list, max_length=256)

    @model_validator(mode="after")
    def _token(self) -> ApiConfig:
        if self.token is not None and self.token_env is not None:
            raise ValueError("expected token or token_env, not both")
        legacy = self.token is not None or self.token_env is not None
        if not self.loopback and not legacy and not self.tokens:
            raise ValueError(
                f"the API listens beyond loopback ({self.host}); expected a bearer token "
                "(token, token_env or [[api.tokens]])"
            )
        names = [LEGACY_TOKEN_NAME] * legacy + [t.name for t in self.tokens]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"token names must be distinct (token/token_env is named "
                             f"{LEGACY_TOKEN_NAME!r}); repeated: {', '.join(dup)}")  # fmt: skip
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback_ip(self.host)

    def bearer_tokens(self) -> dict[str, str]:
        """Every token mutations may carry, by name (read from the environment where so
        configured); ConfigError when a variable is unset or its value breaks the token
        rule, or when two names share a value (the audit log could not tell them apart)."""
        out: dict[str, str] = {}
        if self.token is not None or self.token_env is not None:
            out[LEGACY_TOKEN_NAME] = _secret("api.token", self.token, self.token_env)
        for i, t in enumerate(self.tokens):
            out[t.name] = t.secret(f"api.tokens[{i}]")
        values = list(out.values())
        if len(set(values)) != len(values):
            raise ConfigError("api.tokens: two names share one token; expected a distinct "
                              "token for each name")  # fmt: skip
        return out

    def bearer_token(self) -> str | None:
        """The first token (the single one of a config that has one), or None."""
        return next(iter(self.bearer_tokens().values()), None)


class LuxosDriverConfig(_Strict):
    """LuxOS (`[drivers.luxos]`): sessions without a password in pyasic 0.79; its response
    time: how long after a command's answer a rig may still draw above the lower target
    (fleetd.drivers.control; unset: the site's `response_s`)."""

    response_s: float | None = Field(None, ge=0, le=MAX_TIMEOUT_S)

    def credentials(self, where: str) -> Credentials:
        return Credentials()


def _password(where: str, env: str | None) -> str | None:
    """A secret read from the environment variable `env` (ConfigError when unset)."""
    if env is None:
        return None
    password = os.environ.get(env)
    if not password:
        raise ConfigError(f"{where}.password_env: environment variable {env} is not set")
    if len(password) > 256:
        raise ConfigError(f"{where}.password_env: at most 256 characters")
    return password


class FamilyDriverConfig(LuxosDriverConfig):
    """A firmware family's login and response time (`[drivers.braiins]`, `[drivers.stock]`).

    The password is never written in the file: `password_env` names the environment
    variable holding it (unset: the firmware's factory default, which pyasic uses).
    `response_s` is how long after a command's answer a rig of the family may still draw
    above the lower target (fleetd.drivers.control): the planner counts no reduction
    before it has passed, and sheds the fastest families first on an unannounced cut
    (unset: the site's `response_s`)."""

    username: str | None = Field(None, min_length=1, max_length=64,
                                 pattern=r"^[\x21-\x7e]+$")  # fmt: skip
    password_env: str | None = Field(None, pattern=ENV_NAME)

    def credentials(self, where: str) -> Credentials:
        """The login, the secret read from the environment (ConfigError when unset)."""
        return Credentials(self.username, _password(where, self.password_env))


class WhatsminerDriverConfig(LuxosDriverConfig):
    """Whatsminer (`[drivers.whatsminer]`): the admin password (API v2) from the
    environment variable `password_env`, the super account's (API v3, newer firmware)
    from `v3_password_env`, and whether a watt
    target is a percentage of the power limit (at once) or a new limit (btminer
    restarts to take it)."""

    password_env: str | None = Field(None, pattern=ENV_NAME)  # API v2: the admin password
    v3_password_env: str | None = Field(None, pattern=ENV_NAME)  # API v3: the super account's
    control: Literal["percent", "limit"] = "percent"

    def credentials(self, where: str) -> Credentials:
        return Credentials(None, _password(where, self.password_env),
                           _password(where, self.v3_password_env))  # fmt: skip


class DriverConfig(_Strict):
    read_timeout_s: float = Field(5.0, gt=0, le=MAX_TIMEOUT_S)
    command_timeout_s: float = Field(15.0, gt=0, le=MAX_TIMEOUT_S)
    read_retries: int = Field(1, ge=0, le=10)
    command_retries: int = Field(1, ge=0, le=10)
    session_ttl_s: float = Field(45.0, gt=0, lt=LUXOS_SESSION_S)
    probe_timeout_s: float = Field(10.0, gt=0, le=MAX_TIMEOUT_S)
    concurrency: int = Field(256, ge=1, le=65_536)
    read_deadline_s: float | None = Field(None, gt=0, le=MAX_INTERVAL_S)  # whole read cycle
    luxos: LuxosDriverConfig = Field(default_factory=LuxosDriverConfig)
    braiins: FamilyDriverConfig = Field(default_factory=FamilyDriverConfig)
    stock: FamilyDriverConfig = Field(default_factory=FamilyDriverConfig)
    whatsminer: WhatsminerDriverConfig = Field(default_factory=WhatsminerDriverConfig)

    def family(self, kind: FirmwareKind) -> LuxosDriverConfig:
        return cast(LuxosDriverConfig, getattr(self, kind.value))

    def control(self, kind: FirmwareKind) -> Control:
        """The family's granularity and response time (the config's, else the default)."""
        base = Control.default(kind)
        fam = self.family(kind)
        granularity = base.granularity
        if isinstance(fam, WhatsminerDriverConfig):
            granularity = Granularity(fam.control)
        return Control(granularity, fam.response_s)

    def settings(self) -> dict[FirmwareKind, tuple[Credentials, Control]]:
        """Every family's credentials and control (ConfigError when a secret is unset)."""
        return {k: (self.family(k).credentials(f"drivers.{k.value}"), self.control(k))
                for k in FirmwareKind}  # fmt: skip

    def timeouts(self) -> DriverTimeouts:
        return DriverTimeouts(
            read_s=self.read_timeout_s, command_s=self.command_timeout_s,
            read_retries=self.read_retries, command_retries=self.command_retries,
            session_ttl_s=self.session_ttl_s, probe_s=self.probe_timeout_s,
        )  # fmt: skip


class AuditConfig(_Strict):
    # the JSON-lines audit log; relative to the config file (the default too)
    path: Path = Field(Path("fleetd-audit.jsonl"), strict=False, validate_default=True)
    fsync_every: int = Field(100, ge=1, le=1_000_000)  # records per fsync
    # ... or this long after the first unsynced
    fsync_interval_s: float = Field(1.0, gt=0, le=MAX_INTERVAL_S)

    @field_validator("path")
    @classmethod
    def _path(cls, v: Path, info: ValidationInfo) -> Path:
        return v if v.is_absolute() else (_base_dir(info) / v).resolve()


class MetricsConfig(ListenTable):
    """Where fleetd serves Prometheus /metrics: loopback only, like the pool's (it has no
    authentication). configs/prometheus.yml scrapes 127.0.0.1:9102; port 0 picks a free
    port; `enabled = false` turns the endpoint off."""

    listen: LoopbackListen = "127.0.0.1:9102"  # HOST:PORT on loopback


class FleetdConfig(_Strict):
    api: ApiConfig = Field(default_factory=ApiConfig)
    drivers: DriverConfig = Field(default_factory=DriverConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    sites: dict[str, SiteConfig] = Field(..., min_length=1)

    def rigs(self, site: str | None = None) -> list[RigSpec]:
        """Every configured rig (of one site), in config order."""
        out: list[RigSpec] = []
        for sname, s in self.sites.items():
            if site is not None and sname != site:
                continue
            for e in s.rigs:
                prefix = e.name or f"{sname}-{e.model.lower()}"
                out += [
                    RigSpec(sname, h, e.model, e.firmware, f"{prefix}-{h}") for h in e.hosts()
                ]
        return out


# ---------------------------------------------------------------------- loading

# The previous release's spelling (listen = "" for off), read with a deprecation message.
UPGRADES = (upgrade_listen("metrics", 9102),)


def _cross_check(cfg: FleetdConfig) -> list[Problem]:
    errors = []
    seen: dict[str, str] = {}
    for sname, s in cfg.sites.items():
        for i, e in enumerate(s.rigs):
            for h in e.hosts():
                where = f"sites.{sname}.rigs[{i}]"
                if h in seen:
                    errors.append(Problem(where, f"rig {h} is already listed at {seen[h]}; "
                                          "expected each address once"))  # fmt: skip
                    break
                seen[h] = where
    return errors


def parse_config(
    data: dict[str, Any], source: str = "<fleetd config>", base_dir: str | Path = "."
) -> FleetdConfig:
    """Validate an already-parsed TOML document."""
    return validate(FleetdConfig, data, source, upgrades=UPGRADES, checks=(_cross_check,),
                    context={"base_dir": Path(base_dir)})  # fmt: skip


def load(path: str | Path) -> FleetdConfig:
    """Read and validate a fleetd TOML file; ConfigError naming file, key and expectation."""
    p = Path(path)
    return load_file(p, FleetdConfig, "fleetd config", upgrades=UPGRADES,
                     checks=(_cross_check,), context={"base_dir": p.resolve().parent})  # fmt: skip
