"""Outside text made safe to show: on one line, with nothing a terminal acts on.

A worker name, a rig's reply or a feed's message may hold newlines (a forged log line),
ANSI escapes (a recoloured or cleared terminal) or invisible characters. `printable`
keeps every printable character (accented letters and other scripts included) and turns
the rest into the escapes ``repr`` uses (``\\n``, ``\\x1b``, ``\\u2028``); a backslash is
doubled, so what is shown reads back unambiguously.
"""

from __future__ import annotations

SHOW_LIMIT = 256


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    return repr(char)[1:-1]


def printable(text: object, limit: int | None = None) -> str:
    """`text` (str() of anything else) with every unprintable character escaped; cut to
    `limit` characters (with an ellipsis) when given."""
    if not isinstance(text, str):
        text = str(text)
    if not (text.isprintable() and "\\" not in text):
        text = "".join(map(_escape, text))
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text
