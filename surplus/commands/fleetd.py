"""`surplus fleetd`: keep each site inside its allotted power (also: discover, report)."""

from fleetd.cli import register, run

__all__ = ["register", "run"]
