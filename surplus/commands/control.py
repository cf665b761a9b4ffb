"""`surplus control`: the control room over many fleetd sites (also: report)."""

from coordinator.cli import register, run

__all__ = ["register", "run"]
