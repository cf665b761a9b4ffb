"""A real browser for the miners' page tests: Debian's chromium, driven by Playwright
from PyPI (never a browser Playwright downloads itself; `make components` installs the
`chromium` package). Each launch gets a fresh profile directory and the switches that
keep chromium quiet on an offline machine."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from .bcoin import ROOT
from .require import component_missing

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / ".cache" / "artifacts" / "web"  # screenshots (gitignored with .cache)


def require_browser() -> None:
    """Fail the current test, naming what to install, when chromium or Playwright is missing."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        component_missing("chromium (Debian package `chromium`; `make components` installs it)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        component_missing("playwright (PyPI, in the test extras: pip install -e '.[test]')")


@asynccontextmanager
async def browser(profile: Path, **context: Any) -> AsyncIterator[Any]:
    """A Playwright browser context on Debian's chromium with a fresh profile in `profile`."""
    require_browser()
    from playwright.async_api import async_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))
    profile.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        ctx = await p.chromium.launch_persistent_context(
            str(profile), executable_path=str(executable), args=ARGS, headless=True,
            **context,
        )
        try:
            yield ctx
        finally:
            await ctx.close()
