"""Harnesses that start and drive the real components tests talk to (bcoin, ...)."""
