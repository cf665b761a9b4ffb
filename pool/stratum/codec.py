"""Stratum V1 wire format: newline-delimited JSON-RPC, error codes and message encoders.

Everything here is pure and allocation-light because it sits on the hot path of every
share. Notifications that go to many sessions (`mining.notify`, `mining.set_difficulty`)
are encoded once and the same bytes are written to every transport. orjson is used when
it is installed; the stdlib encoder with compact separators is the fallback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pool.protocol import ErrorCode, StratumError

try:  # pragma: no cover - depends on the environment
    import orjson as _orjson

    def dumps(obj: Any) -> bytes:
        return _orjson.dumps(obj)

    _loads: Callable[[str | bytes], Any] = _orjson.loads
    _DecodeError: type[Exception] = _orjson.JSONDecodeError
except ImportError:  # pragma: no cover - depends on the environment
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode()

    _loads = json.loads
    _DecodeError = ValueError

DEFAULT_MAX_LINE = 16 * 1024



class ProtocolViolation(ValueError):
    """Input that ends the connection (a line that is not JSON, a line that is too long)."""


class InvalidJSON(ProtocolViolation):
    pass


class LineTooLong(ProtocolViolation):
    pass


class MalformedRequest(StratumError):
    """Valid JSON that is not a JSON-RPC request (answered with error 20, kept open)."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(ErrorCode.OTHER, message)
        self.request_id = request_id


@dataclass(slots=True)
class Request:
    id: Any
    method: str
    params: list


def loads(line: bytes | str) -> Any:
    """Decode one JSON line; InvalidJSON names what was wrong."""
    try:
        return _loads(line)
    except (_DecodeError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"line is not valid JSON: {exc}") from None


def _exact_id(line: bytes | str) -> Any:
    """The request id read with exact integers. orjson reads an integer beyond 64 bits as a
    float; the stdlib parser keeps it whole, so such an id is echoed digit for digit. Only
    called for the rare request whose id came back as a float."""
    try:
        msg = json.loads(line, parse_constant=_no_constant)
    except ValueError:  # e.g. more digits than int() accepts: echo null rather than a guess
        return None
    return msg.get("id") if isinstance(msg, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_request(line: bytes | str) -> Request:
    """One line from a miner -> Request. InvalidJSON closes, MalformedRequest answers 20."""
    msg = loads(line)
    if not isinstance(msg, dict):
        raise MalformedRequest(f"request must be a JSON object, got {type(msg).__name__}")
    req_id = msg.get("id")
    if isinstance(req_id, (dict, list)):
        raise MalformedRequest("request id must be a number, a string or null")
    if type(req_id) is float:
        req_id = _exact_id(line)
        if isinstance(req_id, float) and not math.isfinite(req_id):
            raise MalformedRequest("request id must be a finite number")
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise MalformedRequest("request has no method", req_id)
    params = msg.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        raise MalformedRequest("params must be a list", req_id)
    return Request(req_id, method, params)


def parse_message(line: bytes | str) -> dict:
    """One line from a pool (a response or a notification) -> dict; used by clients."""
    msg = loads(line)
    if not isinstance(msg, dict):
        raise InvalidJSON(f"message must be a JSON object, got {type(msg).__name__}")
    return msg


class LineSplitter:
    """Splits a byte stream into lines, refusing any line longer than `max_line`.

    The remainder is kept as bytes (not a bytearray) so an idle connection holds an empty
    bytes singleton and nothing else.
    """

    __slots__ = ("_rest", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self._rest:
            data = self._rest + data
        parts = data.split(b"\n")
        rest = parts.pop()
        if len(rest) > self.max_line:
            self._rest = b""
            raise LineTooLong(f"line longer than {self.max_line} bytes")
        self._rest = rest
        lines = []
        for part in parts:
            if len(part) > self.max_line:
                raise LineTooLong(f"line of {len(part)} bytes, limit {self.max_line}")
            if part.strip():
                lines.append(part)
        return lines


# ---------------------------------------------------------------- encoders

_TRUE_TAIL = b',"result":true,"error":null}\n'
_INT_IDS: dict[int, bytes] = {}


def _id_bytes(req_id: Any) -> bytes:
    if type(req_id) is int:
        if 0 <= req_id < 1 << 16:
            cached = _INT_IDS.get(req_id)
            if cached is None:
                cached = _INT_IDS[req_id] = str(req_id).encode()
            return cached
        return str(req_id).encode()  # exact at any size (orjson stops at 64 bits)
    return dumps(req_id)


def encode_true(req_id: Any) -> bytes:
    """The answer to an accepted share, the commonest line a pool writes."""
    return b'{"id":' + _id_bytes(req_id) + _TRUE_TAIL


def encode_result(req_id: Any, result: Any) -> bytes:
    if result is True:
        return encode_true(req_id)
    return b'{"id":' + _id_bytes(req_id) + b',"result":' + dumps(result) + b',"error":null}\n'


def encode_error(req_id: Any, code: int, message: str) -> bytes:
    body = dumps([int(code), message, None])
    return b'{"id":' + _id_bytes(req_id) + b',"result":null,"error":' + body + b"}\n"


def encode_request(req_id: Any, method: str, params: Sequence[Any]) -> bytes:
    return dumps({"id": req_id, "method": method, "params": list(params)}) + b"\n"


def encode_notification(method: str, params: Sequence[Any]) -> bytes:
    return dumps({"id": None, "method": method, "params": list(params)}) + b"\n"


def encode_notify(params: Sequence[Any]) -> bytes:
    """mining.notify with the nine params of Job.notify_params()."""
    if len(params) != 9:
        raise ValueError(f"mining.notify takes 9 params, got {len(params)}")
    return encode_notification("mining.notify", params)


def difficulty_json(difficulty: float) -> float | int:
    """Whole difficulties go out as integers: some firmware chokes on `1024.0`."""
    if difficulty <= 0:
        raise ValueError(f"difficulty must be positive, got {difficulty}")
    as_int = int(difficulty)
    return as_int if as_int == difficulty else float(difficulty)


def encode_set_difficulty(difficulty: float) -> bytes:
    return encode_notification("mining.set_difficulty", [difficulty_json(difficulty)])


def encode_set_extranonce(extranonce1: bytes, extranonce2_size: int) -> bytes:
    return encode_notification("mining.set_extranonce", [extranonce1.hex(), extranonce2_size])


def encode_set_version_mask(mask: int) -> bytes:
    return encode_notification("mining.set_version_mask", [f"{mask:08x}"])


def encode_reconnect(host: str | None = None, port: int | None = None, wait: int = 0) -> bytes:
    """client.reconnect; no host/port means "come back to the same place"."""
    params: list[Any] = []
    if host is not None:
        params = [host, port if port is not None else 0, wait]
    return encode_notification("client.reconnect", params)


def encode_show_message(message: str) -> bytes:
    return encode_notification("client.show_message", [message])
