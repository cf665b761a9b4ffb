"""Site loads besides the rigs: what a site's utility meter adds to the rigs' true draw.

A site meter reads  PUE x (rigs' true draw) + fixed auxiliary load + firm loads.
Firm loads (an AI data hall, offices) swing smoothly around their mean, so a fleet tool
that closes its loop on the meter sees the miners' share of the site move under it.
Pure functions of simulated time.
"""

from __future__ import annotations

import math

from rigsim.config import FirmLoadConfig, SiteConfig


def firm_load_w(load: FirmLoadConfig, elapsed_s: float) -> float:
    """Watts `load` draws `elapsed_s` simulated seconds after the fleet started."""
    swing = load.swing_kw * math.sin(2.0 * math.pi * elapsed_s / load.period_s)
    return max(0.0, load.kw + swing) * 1e3


def site_firm_w(site: SiteConfig, elapsed_s: float) -> dict[str, float]:
    return {f.name: firm_load_w(f, elapsed_s) for f in site.firm_loads}


def site_meter_w(site: SiteConfig, rigs_true_w: float, elapsed_s: float) -> float:
    """What the site's utility meter reads."""
    firm = sum(site_firm_w(site, elapsed_s).values())
    return rigs_true_w * site.pue + site.aux_kw * 1e3 + firm
