"""The daemons' log format: one record per line, whatever the record carries.

Call sites log outside strings with ``%r``; this formatter is the net under them. The
message of every record has its unprintable characters escaped (plumbing.escape), and
every line of a traceback is prefixed with ``  | ``, so an exception whose text came
from a miner, a rig or a feed can never start a line that looks like a record of its
own, nor carry a terminal escape.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from plumbing.escape import printable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TRACE_PREFIX = "  | "


def _block(text: str) -> str:
    return "\n".join(TRACE_PREFIX + printable(line) for line in text.splitlines())


class EscapingFormatter(logging.Formatter):
    """logging.Formatter with the message escaped and tracebacks fenced (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = printable(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + _block(record.exc_text)
        if record.stack_info:
            text += "\n" + _block(self.formatStack(record.stack_info))
        return text


class _Handler(logging.StreamHandler[TextIO]):
    """The handler `configure` installs (so a later call can tell it from others')."""


def configure(
    level: str | int = "INFO", stream: TextIO | None = None, *, force: bool = False
) -> None:
    """Send the root logger's records to `stream` (stderr) in FORMAT, escaped, as a
    daemon does at start. Like logging.basicConfig it leaves a root logger that already
    has handlers alone (a test harness, or a program embedding the daemon, configured
    logging), unless `force`: then it replaces the handlers an earlier call installed."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _Handler)]
    if root.handlers and not force:
        return
    if isinstance(level, str):
        level = level.upper()
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(EscapingFormatter(FORMAT))
    for old in ours:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
