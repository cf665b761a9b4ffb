"""`surplus control report`: fetch each site's compliance report from its fleetd, add the
coordinator's own commands, and write the regulator's report (coordinator.report)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp

from coordinator.audit import read_audit
from coordinator.config import ControlConfig
from coordinator.report import Report, ReportError, build, to_csv, to_json
from plumbing import when
from plumbing.escape import printable

MAX_REPORT_BYTES = 16 << 20


def parse_when(text: str, what: str) -> float:
    """Epoch seconds, or ISO 8601 with a UTC offset."""
    try:
        return when.parse_when(text, what)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


async def fetch_site_reports(
    config: ControlConfig, since: float, until: float, http: aiohttp.ClientSession
) -> tuple[dict[str, dict[str, Any] | None], dict[str, str]]:
    """Each site's fleetd report (GET /sites/{site}/report), concurrently."""
    reports: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}

    async def one(name: str) -> None:
        s = config.sites[name]
        url = f"{s.api_url}/sites/{s.site or name}/report"
        try:
            async with http.get(url, params={"from": repr(since), "to": repr(until)}) as r:
                body = await r.content.read(MAX_REPORT_BYTES + 1)
                if len(body) > MAX_REPORT_BYTES:
                    raise ValueError(f"a report larger than {MAX_REPORT_BYTES} bytes")
                if r.status != 200:
                    raise ValueError(f"HTTP {r.status}: {body[:200]!r}")
            data = json.loads(body)
            reports[name] = data["report"]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            reports[name] = None
            errors[name] = printable(f"{type(exc).__name__}: {exc}", 200)

    await asyncio.gather(*(one(n) for n in config.sites))
    return reports, errors


async def regulator_report(
    config: ControlConfig,
    since: float,
    until: float,
    http: aiohttp.ClientSession,
    pending: list[dict[str, Any]] | None = None,
) -> Report:
    """`pending`: a running coordinator's credited work of the intervals still open."""
    reports, errors = await fetch_site_reports(config, since, until, http)
    commands = read_audit(config.control.audit_path, ("command",))
    credited = [*read_audit(config.control.audit_path, ("credited",)), *(pending or [])]
    return build(since, until, reports, commands, errors=errors, credited=credited)


def report(args: argparse.Namespace) -> int:
    from coordinator.config import load
    from plumbing.config import ConfigError

    try:
        cfg = load(args.report_config)
        since = parse_when(args.since, "--from")
        until = parse_when(args.until, "--to")

        async def main() -> Report:
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                return await regulator_report(cfg, since, until, http)

        rep = asyncio.run(main())
    except (ConfigError, ReportError) as exc:
        print(f"surplus control report: {exc}", file=sys.stderr)
        return 2
    text = to_csv(rep) if args.format == "csv" else to_json(rep)
    if args.output is not None:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for site, error in rep.errors.items():
        print(f"surplus control report: site {site!r}: no report: {error}", file=sys.stderr)
    return 1 if rep.errors else 0
