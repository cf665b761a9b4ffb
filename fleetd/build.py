"""A site as its config describes it, built for the controller (fleetd.control.site.Site):
a driver per rig, its allotment sources (fleetd.sources), its site and firm-load meters.

    site = build_site("north", cfg.sites["north"], cfg.rigs("north"), drivers=cfg.drivers)

It sits above the config and the control package, so neither needs the other's modules
to build a site.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from fleetd.config import DriverConfig, RigSpec, SiteConfig
from fleetd.control.meter import Meter
from fleetd.control.site import ControlTuning, Site
from fleetd.drivers import Driver, PyasicDriver
from fleetd.models import DEFAULT_CATALOG, ModelCatalog
from fleetd.sources import build_site_allotment

DriverFactory = Callable[[RigSpec], Driver]


def default_driver_factory(cfg: DriverConfig | None = None) -> DriverFactory:
    """pyasic drivers, one backend per firmware family, with the configured timeouts and
    each family's credentials (read from the environment now: an unset variable is a
    ConfigError at start, not a refusal later) and control."""
    cfg = cfg or DriverConfig()
    timeouts = cfg.timeouts()
    settings = cfg.settings()

    def make(spec: RigSpec) -> Driver:
        creds, control = settings[spec.firmware]
        driver: Driver = PyasicDriver(spec.host, spec.firmware, timeouts=timeouts,
                                      credentials=creds, control=control)  # fmt: skip
        return driver

    return make


def build_site(
    name: str,
    config: SiteConfig,
    specs: Sequence[RigSpec],
    *,
    driver_factory: DriverFactory | None = None,
    drivers: DriverConfig | None = None,
    catalog: ModelCatalog = DEFAULT_CATALOG,
    tuning: ControlTuning | None = None,
    clock: Callable[[], float] = time.time,
    start_at: float | None = None,
) -> Site:
    """The site `name` as its config describes it: a driver per rig (`driver_factory`,
    pyasic by default), its allotment sources, its site meter and firm-load meters."""
    make = driver_factory or default_driver_factory(drivers)
    allotment = build_site_allotment(config, start_at=start_at, clock=clock, name=name)
    meter = Meter.from_config(f"{name}:site", config.meter, clock) if config.meter else None
    firm = {
        f.name: Meter.from_config(f"{name}:{f.name}", f.meter, clock)
        for f in config.firm_loads
        if f.meter is not None
    }
    return Site(
        name, config, specs, allotment, [make(s) for s in specs], catalog=catalog,
        meter=meter, firm_meters=firm, tuning=tuning, clock=clock,
    )  # fmt: skip
