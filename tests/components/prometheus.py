"""A real Prometheus (Debian's `prometheus` package) for tests: start, query, stop.

Each server runs in its own temporary directory (config + TSDB) on a free loopback
port, so tests can run side by side and leave nothing behind. `promtool` checks
exposition text and configs the way an operator's CI would.

    with PrometheusServer(scrape_configs=[...], scrape_interval="1s") as prom:
        prom.wait_for_targets(3)
        prom.query('up')

`make components` (tests/components/install.sh) installs the package when missing.
The methods are synchronous (test set-up and HTTP reads); from async tests call them
through ``asyncio.to_thread`` so the event loop serving the scraped endpoints keeps
running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from tests.components.process import ChildComponent, ComponentFailed, Traits, free_port

DEFAULT_DIRS = (Path("/usr/bin"), Path("/usr/local/bin"))
INSTALL_HINT = "run `make components` (or `bash tests/components/install.sh`)"


class PrometheusMissing(RuntimeError):
    """prometheus or promtool is not installed."""


class PrometheusFailed(ComponentFailed):
    """Prometheus did not start or did not answer; the message ends with its log."""


class PromQLError(RuntimeError):
    """Prometheus refused a query (bad expression); the message carries its error."""


def _binary(name: str, env: str) -> Path:
    override = os.environ.get(env)
    candidates = [Path(override)] if override else []
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    candidates += [d / name for d in DEFAULT_DIRS]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise PrometheusMissing(f"{name} not found (Debian package `prometheus`): {INSTALL_HINT}, "
                            f"or set {env}")


def prometheus_binary() -> Path:
    return _binary("prometheus", "SURPLUS_PROMETHEUS")


def promtool_binary() -> Path:
    return _binary("promtool", "SURPLUS_PROMTOOL")


@dataclass(frozen=True)
class PromtoolResult:
    ok: bool
    output: str  # promtool's stdout + stderr (lint findings, or the parse error)


def check_metrics(exposition: bytes | str) -> PromtoolResult:
    """`promtool check metrics` on an exposition (text format): parse errors and lint
    findings (naming, units, counters without _total, missing HELP) both fail."""
    data = exposition.encode() if isinstance(exposition, str) else exposition
    proc = subprocess.run(
        [str(promtool_binary()), "check", "metrics"], input=data, capture_output=True,
        timeout=60, check=False,
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    return PromtoolResult(proc.returncode == 0 and not output, output)


def check_config(path: Path | str) -> PromtoolResult:
    """`promtool check config` on a Prometheus configuration file."""
    proc = subprocess.run(
        [str(promtool_binary()), "check", "config", str(path)], capture_output=True,
        timeout=60, check=False,
    )  # fmt: skip
    return PromtoolResult(proc.returncode == 0, (proc.stdout + proc.stderr).decode().strip())


@dataclass
class PrometheusServer(ChildComponent):
    """One Prometheus process scraping `scrape_configs` (Prometheus YAML, as dicts)."""

    traits: ClassVar[Traits] = Traits("prometheus", PrometheusFailed, "prometheus.log",
                                      clash="address already in use", start_timeout=30.0,
                                      poll_s=0.1)

    scrape_configs: list[dict[str, Any]]
    scrape_interval: str = "1s"
    binary: Path = field(default_factory=prometheus_binary)
    port: int = 0
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": self.scrape_configs,
        }

    def _command(self, workdir: Path) -> list[str]:
        self.port = free_port()
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return [
            str(self.binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def _ready(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready",
                                                                  timeout=2) as resp:  # fmt: skip
            return bool(resp.status == 200)
        return False

    # -- the HTTP API ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the `data` of a success, PromQLError otherwise."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # 400/422 carry a JSON error
            try:
                body = json.load(exc)
            except ValueError:
                raise PromQLError(f"{url}: HTTP {exc.code}") from None
        if body.get("status") != "success":
            raise PromQLError(f"{params.get('query', path)}: {body.get('errorType')}: "
                              f"{body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: [{"metric": {labels}, "value": [ts, "v"]}, ...] (a scalar
        or string result comes back as one row without labels)."""
        data = self.api("query", query=expr, time=at)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def value(self, expr: str, at: float | None = None) -> float:
        """The single value of an expression that must give exactly one series."""
        rows = self.query(expr, at)
        if len(rows) != 1:
            raise PromQLError(f"{expr}: expected one series, got {len(rows)}: {rows}")
        return float(rows[0]["value"][1])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])

    def wait_for_targets(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until `count` targets are up (each scraped at least once successfully)."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            up = [t for t in targets if t.get("health") == "up"]
            if len(up) >= count:
                return targets
            if time.monotonic() > deadline:
                states = [(t["scrapeUrl"], t.get("health"), t.get("lastError")) for t in targets]
                raise PrometheusFailed(f"{len(up)} of {count} targets up after {timeout} s: "
                                       f"{states}\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_for_scrape_after(self, moment: float, timeout: float = 15.0) -> None:
        """Wait until every target's last scrape started after `moment` (epoch s)."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(_scraped_at(t) > moment for t in targets):
                return
            if time.monotonic() > deadline:
                raise PrometheusFailed(f"no scrape of every target after {moment} "
                                       f"within {timeout} s")
            time.sleep(0.1)


def _scraped_at(target: dict[str, Any]) -> float:
    """A target's lastScrape (RFC 3339 with nanoseconds) as epoch seconds."""
    raw = target.get("lastScrape") or ""
    if not raw or raw.startswith("0001-"):
        return 0.0
    from datetime import datetime

    head, _, frac = raw.partition(".")
    zone = ""
    for i, ch in enumerate(frac):
        if not ch.isdigit():
            frac, zone = frac[:i], frac[i:]
            break
    stamp = datetime.fromisoformat(head + (zone.replace("Z", "+00:00") or "+00:00"))
    return stamp.timestamp() + (float(f"0.{frac}") if frac else 0.0)
