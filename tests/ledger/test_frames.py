"""The ledger writer's framing codec (pool.ledger.frames) as a pure module: round trips,
the bound checked from the header before any body is read, and every malformed body."""

from __future__ import annotations

import asyncio

import pytest

from pool.ledger import frames


def test_a_message_round_trips() -> None:
    message = {"id": 7, "op": "shares", "rows": [["bc1q", "bc1q.rig·1", "1/1000", "1a", 5,
                                                   1.25, False]]}  # fmt: skip
    frame = frames.encode(message)
    length = frames.body_length(frame[: frames.HEADER])
    assert length == len(frame) - frames.HEADER
    assert frames.decode(frame[frames.HEADER :]) == message


def test_the_header_is_big_endian_length() -> None:
    frame = frames.encode({"a": 1})
    assert frame[:4] == (len(b'{"a":1}')).to_bytes(4, "big") and frame[4:] == b'{"a":1}'


def test_a_message_over_the_bound_is_not_encoded() -> None:
    with pytest.raises(frames.FrameError, match="exceeds the bound"):
        frames.encode({"x": "y" * 100}, max_frame=50)


@pytest.mark.parametrize(("header", "why"), [
    ((0).to_bytes(4, "big"), "empty frame"),
    ((frames.MAX_FRAME + 1).to_bytes(4, "big"), "the bound is"),
    (b"\xff\xff\xff\xff", "the bound is"),
    (b"\x00\x01", "expected 4"),
])  # fmt: skip
def test_bad_headers_are_refused_before_the_body(header: bytes, why: str) -> None:
    with pytest.raises(frames.FrameError, match=why):
        frames.body_length(header)


@pytest.mark.parametrize(("body", "why"), [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"{not json", "not UTF-8 JSON"),
    (b"[1, 2]", "JSON list"),
    (b'"text"', "JSON str"),
    (b"NaN", "NaN"),
    (b'{"d": Infinity}', "Infinity"),
    (b"[" * 100_000 + b"]" * 100_000, "not UTF-8 JSON"),
])  # fmt: skip
def test_bad_bodies_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(frames.FrameError, match=why):
        frames.decode(body)


def test_nan_is_never_encoded() -> None:
    with pytest.raises(ValueError):
        frames.encode({"d": float("nan")})


def stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_read_frame_reads_consecutive_frames_then_a_clean_end() -> None:
    reader = stream(frames.encode({"id": 1}) + frames.encode({"id": 2}))
    assert await frames.read_frame(reader) == {"id": 1}
    assert await frames.read_frame(reader) == {"id": 2}
    assert await frames.read_frame(reader) is None


@pytest.mark.parametrize(("data", "why"), [
    (b"\x00\x00", "inside a frame header"),
    ((10).to_bytes(4, "big") + b'{"a"', "inside a frame of 10 bytes"),
    ((frames.MAX_FRAME + 1).to_bytes(4, "big"), "the bound is"),
])  # fmt: skip
async def test_read_frame_refuses_truncated_and_oversized_frames(data: bytes, why: str) -> None:
    with pytest.raises(frames.FrameError, match=why):
        await frames.read_frame(stream(data))


async def test_read_frame_honours_a_smaller_bound() -> None:
    with pytest.raises(frames.FrameError, match="the bound is 8"):
        await frames.read_frame(stream(frames.encode({"id": 12345})), max_frame=8)
