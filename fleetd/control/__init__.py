"""The control loop: per-site bookkeeping, thermal caps, meters, samples and the controller.

    book        RigBook: readings + intents -> the planner's FleetState; plan -> orders (pure)
    thermal     ThermalCaps: caps for hot rigs (pure)
    meter       Meter: measured site or firm-load power over HTTP (JSON or Prometheus)
    stats       SiteStats: the figures metrics read (plain attributes)
    samples     SampleLog / read_samples: per-cycle compliance samples (JSON lines)
    reader      Reader: every rig read each period, each reading taken as it arrives
    dispatch    Dispatcher: a window of commands in flight, one per rig, sheds first
    site        Site: a site's rigs, drivers, sources and meters, and its power budget
    controller  SiteController: reader, plan step, dispatcher and watch side by side;
                re-plan on a drop, e-stop
"""

from fleetd.control.book import Order, RigBook, StateView
from fleetd.control.controller import CycleReport, SiteController
from fleetd.control.meter import Meter, MeterError
from fleetd.control.samples import SampleLog, read_samples, samples_path_for
from fleetd.control.site import ControlTuning, Site, SiteBudget
from fleetd.control.stats import SiteStats
from fleetd.control.thermal import ThermalCaps, ThermalPolicy

__all__ = [
    "ControlTuning",
    "CycleReport",
    "Meter",
    "MeterError",
    "Order",
    "RigBook",
    "SampleLog",
    "Site",
    "SiteBudget",
    "SiteController",
    "SiteStats",
    "StateView",
    "ThermalCaps",
    "ThermalPolicy",
    "read_samples",
    "samples_path_for",
]
