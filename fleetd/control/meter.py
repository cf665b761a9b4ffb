"""Meters: a site's measured power, or a firm load's, polled over HTTP (JSON or Prometheus).

A reading older than `stale_after_s` is not used: the controller then falls back to its
estimate (site) or to the configured worst case (firm load). Errors are counted, never
raised into the control loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from fleetd.allotment.base import shown
from fleetd.allotment.health import Throttle

log = logging.getLogger(__name__)

_SCALE = {"W": 1.0, "kW": 1e3, "MW": 1e6}
MAX_METER_W = 1e11  # 100 GW: a larger reading is a fault, not a site's draw


class MeterError(ValueError):
    """A meter reply without a usable figure (named)."""


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            raise MeterError(f"field {path!r} not found in the meter reply")
    return obj


def parse_json_reading(payload: Any, field: str, unit: str) -> float:
    value = _lookup(payload, field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MeterError(f"field {field!r}: expected a number, got {value!r}")
    try:
        w = float(value) * _SCALE[unit]
    except ValueError:
        raise MeterError(f"field {field!r}: expected a number, got {value!r}") from None
    if not math.isfinite(w) or not 0 <= w <= MAX_METER_W:
        raise MeterError(
            f"field {field!r}: expected finite power in [0, {MAX_METER_W:g}] W, got {shown(value)}"
        )
    return w


def parse_prometheus_reading(payload: Any, unit: str) -> float:
    try:
        result = payload["data"]["result"]
        if payload["data"].get("resultType") == "scalar":
            value = result[1]
        else:
            if len(result) != 1:
                raise MeterError(f"query gave {len(result)} series; expected exactly one")
            value = result[0]["value"][1]
    except (KeyError, IndexError, TypeError):
        raise MeterError("reply is not a Prometheus instant-query result") from None
    return parse_json_reading({"v": value}, "v", unit)


class Meter:
    """Polls one meter; `current_w(now)` is the last good figure while it is fresh."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        kind: str = "http_json",
        field: str = "kw",
        unit: str = "kW",
        query: str | None = None,
        interval_s: float = 5.0,
        timeout_s: float = 3.0,
        stale_after_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if kind not in ("http_json", "prometheus"):
            raise ValueError(f"meter {name!r}: kind must be http_json or prometheus, got {kind!r}")
        if kind == "prometheus" and not query:
            raise ValueError(f"meter {name!r}: a prometheus meter needs a query")
        self.name, self.url, self.kind = name, url, kind
        self.field, self.unit, self.query = field, unit, query
        self.interval_s, self.timeout_s, self.stale_after_s = interval_s, timeout_s, stale_after_s
        self.clock = clock
        self.value_w: float | None = None
        self.read_at: float | None = None
        self.errors = 0
        self.last_error = ""
        self.updated = asyncio.Event()
        self._throttle = Throttle()  # failures logged, at most one line a kind per 30 s

    @classmethod
    def from_config(cls, name: str, cfg: Any, clock: Callable[[], float] = time.time) -> Meter:
        """From fleetd.config's HttpJsonMeter / PrometheusMeter."""
        extra = {"field": cfg.field} if cfg.kind == "http_json" else {"query": cfg.query}
        return cls(
            name, cfg.url, kind=cfg.kind, unit=cfg.unit, interval_s=cfg.interval_s,
            timeout_s=cfg.timeout_s, stale_after_s=cfg.stale_after_s, clock=clock, **extra,
        )  # fmt: skip

    def current_w(self, now: float) -> float | None:
        if self.value_w is None or self.read_at is None:
            return None
        return self.value_w if now - self.read_at <= self.stale_after_s else None

    def accept(self, watts: float, at: float | None = None) -> None:
        self.value_w = watts
        self.read_at = self.clock() if at is None else at
        self.updated.set()

    async def poll_once(self, client: httpx.AsyncClient) -> bool:
        try:
            if self.kind == "prometheus":
                url = self.url.rstrip("/") + "/api/v1/query"
                resp = await client.get(url, params={"query": self.query}, timeout=self.timeout_s)
            else:
                resp = await client.get(self.url, timeout=self.timeout_s)
            if resp.status_code != 200:
                raise MeterError(f"HTTP {resp.status_code}")
            payload = resp.json()
            if self.kind == "prometheus":
                w = parse_prometheus_reading(payload, self.unit)
            else:
                w = parse_json_reading(payload, self.field, self.unit)
        except (httpx.HTTPError, MeterError, ValueError) as exc:
            self.errors += 1
            self.last_error = f"meter {self.name!r}: {type(exc).__name__}: {shown(str(exc))}"
            self._throttle.warn(log, type(exc).__name__, time.monotonic(), "%s", self.last_error)
            return False
        if self._throttle.active:
            log.info("meter %r reads again: %.1f kW", self.name, w / 1e3)
            self._throttle.reset()
        self.accept(w)
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        async with httpx.AsyncClient() as client:
            while True:
                started = time.monotonic()
                await self.poll_once(client)
                await asyncio.sleep(max(0.05, self.interval_s - (time.monotonic() - started)))
