"""Fleet configuration: TOML validated by pydantic, errors that name file, key and expectation.

    [fleet]                 # optional; every key has a default
    seed = 7
    time_scale = 1.0        # simulated seconds per real second
    [sites.north]
    ambient_c = 18.0
    pue = 1.08              # the site meter reads sum(true draw) x pue
    [models.S19]            # optional per-model tuning (any RigModel timing/thermal figure)
    boot_s = 180
    [[rigs]]
    model = "S19jPro"
    count = 120
    site = "north"
    addresses = "127.1.0.1"            # first address, or "127.1.0.1-127.1.0.120"
    faults = { fraction = 0.05, drift_awake_after_s = 600 }
    firmware = "braiins"               # luxos (default), braiins, antminer or whatsminer
    [firmware.braiins]                 # optional: each family's credentials and ports
    password = "root"
    [metrics]                          # optional: /metrics and the site meters
    listen = "127.0.0.1:9103"

See configs/fleet-demo.toml (LuxOS) and configs/fleet-mixed.toml (every family).
"""

from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from plumbing.config import ConfigError, Problem, load_file, validate
from plumbing.config import StrictModel as _Strict
from plumbing.listen import ListenTable, LoopbackListen
from rigsim.models import MODELS, RigModel, model_by_name

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


__all__ = ["ConfigError", "FleetConfig", "load_fleet_config", "parse_fleet_config"]


MAX_KW = 1e6  # one load on a site meter: 1 GW
MAX_S = 366 * 86_400.0  # any simulated duration
MAX_C = 200.0  # any temperature


class FleetSection(_Strict):
    seed: int = Field(1, ge=0, le=2**63 - 1)  # numpy's seeds are >= 0
    time_scale: float = Field(1.0, gt=0, le=10_000)
    tick_s: float = Field(0.5, gt=0, le=60)  # real seconds between physics ticks
    # LuxOS drops an idle session after 60 s
    session_timeout_s: float = Field(60.0, gt=0, le=86_400)
    api_port: int = Field(4028, ge=1, le=65535)
    hashrate_spread: float = Field(0.0, ge=0, le=0.1)
    pool_url: str = "stratum+tcp://127.0.0.1:3333"
    worker_prefix: str = "surplus"
    # real SHA-256d hashes per second for each simulated TH/s: the fleet's pool-side
    # hashrate follows its power state at a rate this machine can afford
    hashrate_scale: float = Field(100.0, gt=0, le=1e7)
    version_rolling: bool = True  # rigs negotiate BIP310 version rolling, as ASICs do
    share_slice_s: float = Field(1.0, gt=0, le=10)  # real seconds of hashing per scan call


class FirmLoadConfig(_Strict):
    """Load on the site meter that no fleet tool throttles (an AI data hall, offices):
    `kw` on average, swinging by `swing_kw` over `period_s` simulated seconds."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kw: float = Field(..., ge=0, le=MAX_KW)
    swing_kw: float = Field(0.0, ge=0, le=MAX_KW)
    period_s: float = Field(600.0, gt=0, le=MAX_S)

    @model_validator(mode="after")
    def _never_negative(self) -> FirmLoadConfig:
        if self.swing_kw > self.kw:
            raise ValueError(f"swing_kw ({self.swing_kw}) exceeds kw ({self.kw}); a load "
                             "cannot draw less than nothing")  # fmt: skip
        return self


class SiteConfig(_Strict):
    ambient_c: float = Field(25.0, ge=-40, le=80)
    pue: float = Field(1.0, ge=1.0, le=3.0)  # cooling and losses, as a factor on rig draw
    aux_kw: float = Field(0.0, ge=0, le=MAX_KW)  # fixed auxiliary load on the meter (transformers)
    firm_loads: list[FirmLoadConfig] = Field(default_factory=list)


class ModelTuning(_Strict):
    """Per-model figures a site may change (timings compress for tests and demos)."""

    boot_s: float | None = Field(None, ge=0, le=MAX_S)
    ramp_up_s: float | None = Field(None, ge=0, le=MAX_S)
    shed_s: float | None = Field(None, ge=0, le=MAX_S)
    api_down_s: float | None = Field(None, ge=0, le=MAX_S)
    sleep_w: float | None = Field(None, ge=0, le=10_000)
    tau_s: float | None = Field(None, gt=0, le=MAX_S)
    rise_c: float | None = Field(None, gt=0, le=MAX_C)
    target_c: float | None = Field(None, gt=0, le=MAX_C)
    hot_c: float | None = Field(None, gt=0, le=MAX_C)
    danger_c: float | None = Field(None, gt=0, le=MAX_C)
    tune_down_s: float | None = Field(
        None, ge=0, le=MAX_S,
        description="Braiins OS tuner: seconds a lowered power target needs to settle",
    )
    tune_up_s: float | None = Field(
        None, ge=0, le=MAX_S,
        description="Braiins OS tuner: seconds a raised power target needs to settle",
    )
    restart_s: float | None = Field(
        None,
        ge=0,
        le=MAX_S,
        description="a mining-process restart (stock Antminer mode change, Whatsminer power "
        "limit, bosminer start): seconds until the boards hash again, then ramp_up_s",
    )
    restart_api_s: float | None = Field(
        None, ge=0, le=MAX_S, description="seconds the restarting process's port-4028 API refuses"
    )
    low_power_fraction: float | None = Field(
        None, ge=0.3, le=1, description="stock Antminer low-power mode's draw, share of nameplate"
    )

    def apply(self, model: RigModel) -> RigModel:
        changes = {k: v for k, v in self.model_dump().items() if v is not None}
        return model.with_overrides(**changes) if changes else model


class FaultsConfig(_Strict):
    fraction: float = Field(1.0, gt=0, le=1)  # share of the group's rigs that have these faults
    unreachable: Literal["refuse", "blackhole"] | None = None
    api_delay_s: float = Field(0.0, ge=0, le=600)
    drift_awake_after_s: float | None = Field(None, gt=0, le=MAX_S)
    failed_boards: list[int] = Field(default_factory=list)  # 1-based hashboard numbers
    fans_failed: int = Field(0, ge=0, le=8)
    meter_factor: float = Field(1.0, gt=0, le=5)  # reported power / true power

    @field_validator("failed_boards")
    @classmethod
    def _boards(cls, v: list[int]) -> list[int]:
        for b in v:
            if not 1 <= b <= 4:
                raise ValueError(f"hashboard numbers are 1-based (1..4); got {b}")
        return v


Firmware = Literal["luxos", "braiins", "antminer", "whatsminer"]


class BraiinsSettings(_Strict):
    """Braiins OS+ rigs: the gRPC public API's login and port; bosminer's cgminer-style API
    is on `[fleet] api_port`."""

    username: str = Field("root", min_length=1, max_length=64)
    password: str = Field("root", max_length=64)
    grpc_port: int = Field(50051, ge=1, le=65535)
    token_timeout_s: float = Field(3600.0, gt=0, le=MAX_S)  # a login token's life (real seconds)


class AntminerSettings(_Strict):
    """Stock Antminer rigs: the web interface's digest login and port (pyasic and its
    factory always use port 80)."""

    username: str = Field("root", min_length=1, max_length=64)
    password: str = Field("root", max_length=64)
    web_port: int = Field(80, ge=1, le=65535)


class WhatsminerSettings(_Strict):
    """Whatsminer rigs: the admin password of the v2 API (port `[fleet] api_port`) and the
    account of the v3 API (newer firmware, port `v3_port`)."""

    password: str = Field("admin", min_length=1, max_length=64)
    v3_account: str = Field("super", min_length=1, max_length=64)
    v3_password: str = Field("super", min_length=1, max_length=64)
    v3_port: int = Field(4433, ge=1, le=65535)
    token_timeout_s: float = Field(1800.0, gt=0, le=MAX_S)  # a v2 token's life (real seconds)
    max_tokens: int = Field(32, ge=1, le=1024)  # live v2 tokens a rig hands out


class FirmwareSettingsConfig(_Strict):
    """Per-family credentials and ports (every rig of a family shares them)."""

    braiins: BraiinsSettings = Field(default_factory=BraiinsSettings)
    antminer: AntminerSettings = Field(default_factory=AntminerSettings)
    whatsminer: WhatsminerSettings = Field(default_factory=WhatsminerSettings)


class RigGroup(_Strict):
    model: str
    count: int = Field(..., gt=0, le=1_000_000)
    site: str
    addresses: str
    name: str | None = None
    ambient_c: float | None = Field(None, ge=-40, le=80)  # default: the site's
    start: Literal["hashing", "sleeping"] = "hashing"
    profile: str = "default"  # LuxOS profile the rigs start in
    faults: FaultsConfig | None = None
    firmware: Firmware = "luxos"  # the API family the rigs speak (pyasic identifies it)
    whatsminer_api: Literal["v2", "v3"] = "v2"  # v3: newer btminer firmware, API v3 too
    # these rigs mine here instead of the fleet's pool (a rig on another pool; --pool
    # moves only the others)
    pool_url: str | None = Field(None, pattern=r"^(stratum\+tcp://)?[A-Za-z0-9.\[\]:-]+:\d{1,5}$")

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        try:
            return model_by_name(v).key
        except KeyError:
            raise ValueError(f"unknown model {v!r}; expected one of {', '.join(MODELS)}") from None

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, v: str) -> str:
        parts = [p.strip() for p in v.split("-")]
        if len(parts) not in (1, 2):
            raise ValueError("expected an address '127.x.y.z' or a range '127.a.b.c-127.d.e.f'")
        for p in parts:
            try:
                ip = ipaddress.IPv4Address(p)
            except ValueError:
                raise ValueError(f"{p!r} is not an IPv4 address") from None
            if ip not in LOOPBACK:
                raise ValueError(f"{p} is not on loopback; rigs listen on 127.0.0.0/8 only")
        return v

    def address_range(self) -> tuple[int, int]:
        """First and last address as integers (the range has exactly `count` addresses)."""
        parts = [p.strip() for p in self.addresses.split("-")]
        first = int(ipaddress.IPv4Address(parts[0]))
        return first, first + self.count - 1


class MetricsSection(ListenTable):
    """Where rigsim serves Prometheus /metrics and the sites' JSON meters (loopback only;
    configs/prometheus.yml scrapes 127.0.0.1:9103). `surplus rigsim --metrics` overrides it."""

    listen: LoopbackListen = "127.0.0.1:9103"  # HOST:PORT on loopback; port 0 picks a free one


class FleetConfig(_Strict):
    fleet: FleetSection = Field(default_factory=FleetSection)
    sites: dict[str, SiteConfig] = Field(..., min_length=1)
    models: dict[str, ModelTuning] = Field(default_factory=dict)
    rigs: list[RigGroup] = Field(..., min_length=1)
    firmware: FirmwareSettingsConfig = Field(default_factory=FirmwareSettingsConfig)
    metrics: MetricsSection = Field(default_factory=MetricsSection)

    @field_validator("models")
    @classmethod
    def _model_keys(cls, v: dict[str, ModelTuning]) -> dict[str, ModelTuning]:
        out = {}
        for name, tuning in v.items():
            try:
                out[model_by_name(name).key] = tuning
            except KeyError:
                raise ValueError(
                    f"[models.{name}]: unknown model; expected one of {', '.join(MODELS)}"
                ) from None
        return out

    @property
    def total_rigs(self) -> int:
        return sum(g.count for g in self.rigs)

    def model_for(self, key: str) -> RigModel:
        """The catalogue model with this fleet's tuning applied."""
        base = model_by_name(key)
        tuning = self.models.get(base.key)
        return tuning.apply(base) if tuning else base


def _cross_check(cfg: FleetConfig) -> list[Problem]:
    """Checks that span keys: sites exist, profiles exist, address ranges fit and are disjoint."""
    errors: list[Problem] = []
    spans: list[tuple[int, int, int]] = []
    for i, g in enumerate(cfg.rigs):
        if g.site not in cfg.sites:
            errors.append(Problem(
                f"rigs[{i}].site",
                f"site {g.site!r} is not defined; expected one "
                f"of {', '.join(cfg.sites)} (a [sites.{g.site}] table)"
            ))
        try:
            cfg.model_for(g.model).profile_index(g.profile)
        except KeyError:
            names = ", ".join(["default", *cfg.model_for(g.model).profile_names])
            errors.append(Problem(
                f"rigs[{i}].profile",
                f"{g.profile!r} is not a profile of "
                f"{g.model}; expected one of {names}"
            ))
        errors += _firmware_errors(cfg, i, g)
        first, last = g.address_range()
        parts = [p.strip() for p in g.addresses.split("-")]
        if len(parts) == 2:
            end = int(ipaddress.IPv4Address(parts[1]))
            if end - first + 1 != g.count:
                errors.append(Problem(
                    f"rigs[{i}].addresses",
                    f"range {g.addresses} holds "
                    f"{end - first + 1} addresses but count is {g.count}; expected equal"
                ))
        if last > int(ipaddress.IPv4Address("127.255.255.254")):
            errors.append(Problem(
                f"rigs[{i}].addresses",
                f"{g.count} addresses from {parts[0]} run "
                f"past 127.255.255.254; expected a range inside loopback"
            ))
        spans.append((first, last, i))
    errors += _port_errors(cfg)
    spans.sort()
    for (_a0, a1, i), (b0, _b1, j) in itertools.pairwise(spans):
        if b0 <= a1:
            errors.append(Problem(
                f"rigs[{j}].addresses",
                f"overlaps rigs[{i}] at "
                f"{ipaddress.IPv4Address(b0)}; expected disjoint address ranges"
            ))
    return errors


def _port_errors(cfg: FleetConfig) -> list[Problem]:
    """Every API a rig serves needs its own port on the rig's address."""
    fw = cfg.firmware
    ports = {
        "fleet.api_port": cfg.fleet.api_port,
        "firmware.braiins.grpc_port": fw.braiins.grpc_port,
        "firmware.antminer.web_port": fw.antminer.web_port,
        "firmware.whatsminer.v3_port": fw.whatsminer.v3_port,
    }
    seen: dict[int, str] = {}
    errors = []
    for key, port in ports.items():
        if port in seen:
            errors.append(Problem(key, f"port {port} is also {seen[port]}; expected distinct "
                                  "ports"))  # fmt: skip
        seen.setdefault(port, key)
    return errors


def _firmware_errors(cfg: FleetConfig, i: int, g: RigGroup) -> list[Problem]:
    """A group's firmware must be one its model runs; LuxOS-only and Whatsminer-only keys
    must not be set on other firmware."""
    errors = []
    model = cfg.model_for(g.model)
    if g.firmware not in model.firmwares:
        errors.append(Problem(
            f"rigs[{i}].firmware",
            f"{g.model} does not run {g.firmware!r} here; "
            f"expected one of {', '.join(model.firmwares)}"
        ))
    if g.firmware != "luxos" and g.profile != "default":
        errors.append(Problem(
            f"rigs[{i}].profile",
            f"profiles are LuxOS's; expected no profile on "
            f"{g.firmware} rigs"
        ))
    if g.firmware != "whatsminer" and g.whatsminer_api != "v2":
        errors.append(Problem(
            f"rigs[{i}].whatsminer_api",
            f"only Whatsminer rigs have an API version; "
            f"expected it unset on {g.firmware} rigs"
        ))
    return errors


def parse_fleet_config(data: dict[str, Any], source: str = "<fleet config>") -> FleetConfig:
    """Validate an already-parsed TOML document."""
    return validate(FleetConfig, data, source, checks=(_cross_check,))


def load_fleet_config(path: str | Path) -> FleetConfig:
    """Read and validate a fleet TOML file."""
    return load_file(path, FleetConfig, "fleet file", checks=(_cross_check,))
