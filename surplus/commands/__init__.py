"""Subcommands of the `surplus` console script, one module each."""
