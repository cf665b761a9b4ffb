"""The ledger writer's framing: a 4-byte big-endian length, then that many bytes of one
UTF-8 JSON object. Pure (no sockets): `encode` builds a frame, `body_length` checks a
header against the bound, `decode` turns a body back into its object; `read_frame`
applies them to an asyncio stream.

Why a length prefix and not lines: a share's worker name is a miner's text, and a
length never has to be escaped or searched for. Why JSON: the messages are small dicts
of strings and numbers, it is in the standard library, and a peer can never make the
reader build anything but plain values. Frames are bounded (`MAX_FRAME`) so a broken or
hostile peer cannot make the reader allocate more than that for one message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

HEADER = 4
MAX_FRAME = 8 * 1024 * 1024  # bytes of one body: 5,000 shares of long names fit many times


class FrameError(ValueError):
    """A frame that breaks the protocol: too long, empty, not JSON, not an object. The
    connection it came on can no longer be trusted to be in step, so it is closed."""


def encode(message: dict[str, Any], max_frame: int = MAX_FRAME) -> bytes:
    """One frame holding `message`; FrameError when its body would exceed `max_frame`."""
    body = json.dumps(message, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")  # fmt: skip
    if len(body) > max_frame:
        raise FrameError(f"frame of {len(body)} bytes exceeds the bound of {max_frame}")
    return len(body).to_bytes(HEADER, "big") + body


def body_length(header: bytes, max_frame: int = MAX_FRAME) -> int:
    """The body length a header announces, checked against the bound before any of the
    body is read."""
    if len(header) != HEADER:
        raise FrameError(f"frame header of {len(header)} bytes, expected {HEADER}")
    length = int.from_bytes(header, "big")
    if length == 0:
        raise FrameError("empty frame")
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes announced, the bound is {max_frame}")
    return length


def decode(body: bytes) -> dict[str, Any]:
    """The object a frame body holds; FrameError for anything but a JSON object."""
    try:
        message = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FrameError(f"frame body is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame body is a JSON {type(message).__name__}, expected an object")
    return message


def _refuse_constant(name: str) -> Any:
    raise FrameError(f"frame body holds {name}, which is not a JSON number")


async def read_frame(
    reader: asyncio.StreamReader, max_frame: int = MAX_FRAME
) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream (between frames). A stream
    that ends inside a frame, or a bad frame, raises FrameError."""
    try:
        header = await reader.readexactly(HEADER)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError("stream ended inside a frame header") from None
    length = body_length(header, max_frame)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError(f"stream ended inside a frame of {length} bytes") from None
    return decode(body)
