"""Surplus: a Bitcoin mining pool and fleet controller for sites on allotted power."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("surplus")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
