"""The demo run's configuration: the shipped example configs, adapted to this run.

Everything here is pure (dicts in, dicts and text out) except `write_layout`, so the
scaling and the port plumbing are tested without starting anything.

- `--rigs N` scales every rig group (at least one rig each), and with it every figure
  given in MW or kW (allotments, floors, firm and auxiliary loads), so a small demo
  fleet faces the same situation as the full one;
- the allotment schedule is re-timed to start at the run's start (the orchestrator and
  fleetd then agree, to the second, on what the allotment is at any moment);
- ports: the shipped defaults, or free ones (`--free-ports`, for tests);
- the devnet block difficulty is chosen from the fleet's starting hashrate so that a
  block is found every `block_time_s` on average.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import ipaddress
import socket
import tomllib
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

from plumbing.redact import redact

CHECKOUT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FLEET_NAME = "fleet-demo.toml"
FLEETD_NAME = "fleetd-demo.toml"
POOL_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # the pool's regtest address
# rigsim's firmware family of a rig group -> the driver fleetd drives it with
FLEETD_FAMILY = {"luxos": "luxos", "braiins": "braiins", "antminer": "stock",
                 "whatsminer": "whatsminer"}  # fmt: skip
GRID_SITE = "south"  # the site whose allotment comes from the grid operator's live feed
DIFF1_HASHES = 2**32  # expected hashes per block at difficulty 1
# A regtest node's blocks are at the proof-of-work limit (bits 0x207fffff): about two
# hashes a block. With --node the fleet's real hashrate is scaled down to match.
REGTEST_DIFFICULTY = 0xFFFF / 0x7FFFFF * 2.0**-24  # diff1 target / (0x7fffff << 232)


@dataclass(frozen=True)
class Ports:
    stratum: int = 3333
    pool_metrics: int = 9101
    pool_stats: int = 8101
    fleetd_metrics: int = 9102
    fleetd_api: int = 8470
    rigsim_metrics: int = 9103
    grid: int = 8480

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody listens on now (tests; several demos on one machine)."""
        socks = []
        try:
            for _ in fields(cls):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()

    def taken(self) -> list[tuple[str, int]]:
        """The ports some other program already listens on."""
        out = []
        for name, port in asdict(self).items():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    out.append((name, port))
        return out


@dataclass(frozen=True)
class Layout:
    """What a run needs to know about its own configuration."""

    out: Path
    ports: Ports
    start: float  # epoch seconds the allotment day starts
    scale: float  # rigs of this run / rigs of the shipped fleet
    compress: float  # the day runs this many times faster than real time
    fleet_file: Path
    fleetd_file: Path
    pool_file: Path
    schedule_file: Path
    audit_file: Path
    grid_nominal_mw: float
    block_difficulty: Decimal | None  # devnet only
    fleetd_token: str
    sites: tuple[str, ...]
    rigs: int
    hashrate_scale: float  # real H/s the miners hash per simulated TH/s

    @property
    def stratum_url(self) -> str:
        return f"stratum+tcp://127.0.0.1:{self.ports.stratum}"


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- rigs


def _scale(table: dict[str, Any], factor: float, *keys: str) -> None:
    """Multiply those of `keys` that `table` has (power figures follow the rig count)."""
    for key in keys:
        if key in table:
            table[key] = table[key] * factor


def _range(first: str, count: int) -> str:
    last = ipaddress.IPv4Address(int(ipaddress.IPv4Address(first)) + count - 1)
    return f"{first}-{last}"


def scale_fleet(fleet: dict[str, Any], rigs: int | None) -> tuple[dict[str, Any], float]:
    """The fleet with about `rigs` rigs (each group scaled, at least one rig each)."""
    fleet = copy.deepcopy(fleet)
    total = sum(int(g["count"]) for g in fleet["rigs"])
    if rigs is None or rigs == total:
        return fleet, 1.0
    if rigs < len(fleet["rigs"]):
        raise ValueError(f"--rigs {rigs}: expected at least {len(fleet['rigs'])} (one per group)")
    for g in fleet["rigs"]:
        g["count"] = max(1, round(int(g["count"]) * rigs / total))
        g["addresses"] = _range(g["addresses"].split("-")[0].strip(), g["count"])
    factor = sum(g["count"] for g in fleet["rigs"]) / total
    for site in fleet["sites"].values():
        _scale(site, factor, "aux_kw")
        for load in site.get("firm_loads", []):
            _scale(load, factor, "kw", "swing_kw")
    return fleet, factor


def starting_hashrate_hs(fleet_cfg: Any) -> float:
    """Real H/s the fleet's miners start at: rigs that start hashing, at their profile."""
    from rigsim.fleet import Fleet

    fleet = Fleet(fleet_cfg)
    return float(fleet.hashrate_ths.sum()) * fleet_cfg.fleet.hashrate_scale


def block_difficulty(hashrate_hs: float, block_time_s: float) -> Decimal:
    """The devnet difficulty at which `hashrate_hs` finds a block every `block_time_s`."""
    d = hashrate_hs * block_time_s / DIFF1_HASHES
    return Decimal(f"{d:.3g}")


# ---------------------------------------------------------------------- allotment day


def retimed_schedule(csv_text: str, start: float, scale: float) -> str:
    """The schedule CSV with its first step at `start` (UTC) and every MW x `scale`."""
    rows = [r for r in csv.reader(line for line in io.StringIO(csv_text)
                                  if line.strip() and not line.startswith("#"))]  # fmt: skip
    header, body = rows[0], rows[1:]
    if [h.strip() for h in header[:2]] != ["start", "mw"]:
        raise ValueError(f"schedule header {header!r}: expected start,mw")
    times = [dt.datetime.fromisoformat(r[0]) for r in body]
    t0 = dt.datetime.fromtimestamp(start, dt.UTC)
    out = io.StringIO()
    out.write("# the shipped allotment day, re-timed to start with this demo run\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["start", "mw"])
    for t, r in zip(times, body, strict=True):
        at = t0 + (t - times[0])
        w.writerow([at.isoformat(timespec="seconds"), f"{float(r[1]) * scale:.6f}"])
    return out.getvalue()


# ---------------------------------------------------------------------- fleetd


def fleetd_config(
    shipped: dict[str, Any],
    fleet: dict[str, Any],
    *,
    ports: Ports,
    scale: float,
    compress: float | None,
    schedule_file: Path,
    audit_file: Path,
) -> dict[str, Any]:
    """fleetd-demo.toml for this run: its rigs are the run's fleet, its MW figures
    scaled, its URLs on this run's ports, its schedule the re-timed file."""
    cfg = copy.deepcopy(shipped)
    cfg["api"]["listen"] = f"127.0.0.1:{ports.fleetd_api}"
    cfg["metrics"] = {"listen": f"127.0.0.1:{ports.fleetd_metrics}"}
    cfg["audit"]["path"] = str(audit_file)
    moves = {"127.0.0.1:9103": f"127.0.0.1:{ports.rigsim_metrics}",
             "127.0.0.1:8480": f"127.0.0.1:{ports.grid}"}  # fmt: skip

    def port_of(url: str) -> str:
        for old, new in moves.items():
            url = url.replace(old, new)
        return url

    for name, site in cfg["sites"].items():
        _scale(site, scale, "margin_kw", "ramp_up_mw_per_min", "ramp_down_mw_per_min")
        _scale(site.get("overhead", {}), scale, "aux_kw")
        for a in site["allotment"]:
            _scale(a, scale, "mw", "floor_mw")  # constants' figures and feeds' floors
            if a["kind"] == "schedule":
                a["file"] = str(schedule_file)
                a["align"] = "file"  # the re-timed file starts with the run
                a.pop("timezone", None)
                if compress is not None:
                    a["compress"] = compress
            if "url" in a:
                a["url"] = port_of(a["url"])
        if "meter" in site:
            site["meter"]["url"] = port_of(site["meter"]["url"])
        for f in site.get("firm_loads", []):
            _scale(f, scale, "kw", "max_kw")
            if "meter" in f:
                f["meter"]["url"] = port_of(f["meter"]["url"])
        site["rigs"] = [
            {"range": g["addresses"], "model": g["model"],
             "firmware": FLEETD_FAMILY[g.get("firmware", "luxos")],
             **({"name": g["name"]} if "name" in g else {})}
            for g in fleet["rigs"] if g["site"] == name
        ]  # fmt: skip
    return cfg


def grid_nominal_mw(shipped_fleetd: dict[str, Any], scale: float) -> float:
    """The grid feed's normal figure: the site's licence (its constant allotment)."""
    site = shipped_fleetd["sites"][GRID_SITE]
    constants = [a["mw"] for a in site["allotment"] if a["kind"] == "constant"]
    return min(constants) * scale


# ---------------------------------------------------------------------- pool


def node_payout_address(node_url: str) -> str:
    """The pool's address spelt as the node wants it: Bitcoin Core's regtest spelling
    (bcrt1...) or bcoin's (rb1...) for the same script. Raises what the node raised when
    it cannot be reached."""
    from bitcoinrpc.authproxy import AuthServiceProxy

    from pool.bitcoin.address import address_to_script, script_to_address

    script = address_to_script(POOL_ADDRESS, "regtest")
    for network in ("regtest-core", "regtest-bcoin"):
        address = script_to_address(script, network)
        if address and AuthServiceProxy(node_url, timeout=10).validateaddress(address).get(
            "isvalid"
        ):
            return address
    raise ValueError(f"the node at {redact(node_url)} takes neither regtest spelling of the "
                     "pool's address; is it a regtest node?")  # fmt: skip


def pool_config(
    *,
    ports: Ports,
    ledger: Path,
    node_url: str | None,
    difficulty: Decimal | None,
    payout_address: str = POOL_ADDRESS,
    account: str = "surplus",
) -> dict[str, Any]:
    """The pool's config: pool mode, the site's rigs mining to `account` (their worker
    prefix), which the `[accounts]` table maps to the site's own payout address."""
    node: dict[str, Any]
    # a few kH/s per emulated rig: start near one share per 5 s and let vardiff tune
    vardiff: dict[str, Any] = {"initial": 2.0**-17, "minimum": 2.0**-30, "target_interval": 5.0}
    if node_url is None:
        node = {"devnet": True, "difficulty": str(difficulty), "mempool_txs": 20,
                "poll_interval": 0.1}  # fmt: skip
    else:
        node = {"urls": [node_url], "poll_interval": 0.1}
        # regtest: every hash is a share (the target clamps), about every other a block
        vardiff = {"enabled": False, "initial": 1e-10, "minimum": 1e-12}
    return {
        "mode": "pool",
        "network": "regtest",
        "payout_address": payout_address,
        "coinbase_tag": "/surplus-demo/",
        "ledger_interval": 5.0,
        "node": node,
        "stratum": {
            "host": "127.0.0.1",
            "port": ports.stratum,
            "vardiff": vardiff,
        },
        "ledger": {"backend": "sqlite", "path": str(ledger)},
        "accounts": {account: payout_address},
        "metrics": {"listen": f"127.0.0.1:{ports.pool_metrics}"},
        "stats_api": {"listen": f"127.0.0.1:{ports.pool_stats}"},
    }


# ---------------------------------------------------------------------- writing


def write_layout(
    out: Path,
    *,
    configs: Path = CHECKOUT_CONFIGS,
    ports: Ports,
    start: float,
    rigs: int | None,
    compress: float | None,
    node_url: str | None,
    block_time_s: float,
    payout_address: str = POOL_ADDRESS,
) -> Layout:
    """Write the run's configuration files into `out` (made empty first)."""
    from fleetd.config import load as load_fleetd
    from pool.config import load as load_pool
    from rigsim.config import load_fleet_config

    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file() or old.is_symlink():
            old.unlink()
    fleet, scale = scale_fleet(read_toml(configs / FLEET_NAME), rigs)
    fleet["fleet"]["pool_url"] = f"stratum+tcp://127.0.0.1:{ports.stratum}"
    fleet_file = out / "fleet.toml"
    fleet_file.write_text(tomli_w.dumps(fleet), encoding="utf-8")
    fleet_cfg = load_fleet_config(fleet_file)  # validates what was written
    if node_url is not None:
        # a real regtest node: slow the real hashing down to a block every block_time_s
        per_ths = fleet_cfg.fleet.hashrate_scale / starting_hashrate_hs(fleet_cfg)
        want = DIFF1_HASHES * REGTEST_DIFFICULTY / block_time_s
        fleet["fleet"]["hashrate_scale"] = want * per_ths
        fleet_file.write_text(tomli_w.dumps(fleet), encoding="utf-8")
        fleet_cfg = load_fleet_config(fleet_file)

    shipped = read_toml(configs / FLEETD_NAME)
    schedule = next(a for s in shipped["sites"].values() for a in s["allotment"]
                    if a["kind"] == "schedule")  # fmt: skip
    schedule_src = (configs / schedule["file"]).read_text(encoding="utf-8")
    schedule_file = out / "allotment.csv"
    schedule_file.write_text(retimed_schedule(schedule_src, start, scale), encoding="utf-8")
    audit_file = out / "audit.jsonl"
    fd = fleetd_config(shipped, fleet, ports=ports, scale=scale, compress=compress,
                       schedule_file=schedule_file, audit_file=audit_file)  # fmt: skip
    fleetd_file = out / "fleetd.toml"
    fleetd_file.write_text(tomli_w.dumps(fd), encoding="utf-8")
    fd_cfg = load_fleetd(fleetd_file)

    difficulty = None
    if node_url is None:
        difficulty = block_difficulty(starting_hashrate_hs(fleet_cfg), block_time_s)
    pool = pool_config(ports=ports, ledger=out / "ledger.sqlite3", node_url=node_url,
                       difficulty=difficulty, payout_address=payout_address,
                       account=fleet_cfg.fleet.worker_prefix)  # fmt: skip
    pool_file = out / "pool.toml"
    pool_file.write_text(tomli_w.dumps(pool), encoding="utf-8")
    load_pool(pool_file)
    sched_cfg = next(a for site in fd_cfg.sites.values() for a in site.allotment
                     if a.kind == "schedule")  # fmt: skip
    return Layout(
        out=out, ports=ports, start=start, scale=scale, compress=sched_cfg.compress,
        fleet_file=fleet_file, fleetd_file=fleetd_file, pool_file=pool_file,
        schedule_file=schedule_file, audit_file=audit_file,
        grid_nominal_mw=grid_nominal_mw(shipped, scale), block_difficulty=difficulty,
        fleetd_token=fd_cfg.api.bearer_token() or "", sites=tuple(fd_cfg.sites),
        rigs=fleet_cfg.total_rigs, hashrate_scale=fleet_cfg.fleet.hashrate_scale,
    )  # fmt: skip
