"""`surplus pool`: run the Stratum pool described by a TOML file."""

from pool.cli import register, run

__all__ = ["register", "run"]
