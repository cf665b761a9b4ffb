"""`surplus rigsim`: run an emulated ASIC fleet (firmware APIs, mining, physics)."""

from rigsim.cli import register, run

__all__ = ["register", "run"]
