"""plumbing.escape and plumbing.logs: outside text on one line, with nothing a terminal
acts on, in what is shown and in every log record."""

from __future__ import annotations

import io
import logging

from plumbing.escape import printable
from plumbing.logs import EscapingFormatter, configure

FORGED = "evil\n2099-01-01 00:00:00 ERROR pool.app: FORGED LINE \x1b[31mred\x1b[0m"


def test_printable_escapes_what_a_terminal_acts_on() -> None:
    assert printable(FORGED) == (
        "evil\\n2099-01-01 00:00:00 ERROR pool.app: FORGED LINE \\x1b[31mred\\x1b[0m"
    )
    assert printable("Zürich 北 [/x]") == "Zürich 北 [/x]"  # printable text is kept
    assert printable("a\\nb") == "a\\\\nb"  # a literal backslash reads back unambiguously
    assert printable("\u2028\x00\ud800") == "\\u2028\\x00\\ud800"
    assert printable("x" * 10, limit=4) == "xxx…" and printable(42) == "42"


def _records(emit) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tests.plumbing.escaping")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_record_is_one_line_whatever_it_carries() -> None:
    text = _records(lambda log: log.warning("block from %s", FORGED))
    assert text.count("\n") == 1 and "\x1b" not in text
    assert text.startswith("WARNING tests.plumbing.escaping: block from evil\\n2099")


def test_traceback_lines_are_fenced_and_escaped() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError(FORGED)
        except ValueError:
            log.exception("failed")

    lines = _records(emit).splitlines()
    assert lines[0] == "ERROR tests.plumbing.escaping: failed"
    assert all(line.startswith("  | ") for line in lines[1:])
    assert not any(line.startswith("2099") for line in lines) and "\x1b" not in "".join(lines)
    assert any("Traceback" in line for line in lines)


def test_configure_installs_one_escaping_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    stream = io.StringIO()
    try:
        configure("warning", stream, force=True)
        configure("info", stream, force=True)
        ours = [h for h in root.handlers if h not in before]
        configure("debug", io.StringIO())  # configured already: left alone
        assert [h for h in root.handlers if h not in before] == ours
        assert len(ours) == 1 and isinstance(ours[0].formatter, EscapingFormatter)
        logging.getLogger("tests.plumbing.cfg").info("rig said %s", "x\ny")
        assert stream.getvalue().endswith("tests.plumbing.cfg: rig said x\\ny\n")
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
