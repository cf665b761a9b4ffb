"""The shape of every Stratum method's params, checked before a handler acts on them.

A miner's params are untrusted JSON: any position may hold a string, a number, a list,
an object, a boolean or null, and any count of them. Each check here accepts exactly
what real firmware sends and answers anything else with error 20 (`StratumError`) that
names the parameter, so a handler only ever sees the types it expects. Pure functions:
no session state, no I/O.
"""

from __future__ import annotations

import math
from typing import Any

from pool.protocol import ErrorCode, StratumError

# mining.subscribe: [user agent, session id to resume, host, port] (NiceHash adds the
# last two); every one of them may be null.
_SUBSCRIBE_MAX = 4
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def bad(message: str) -> StratumError:
    """Error 20 for a request whose params are not what the method takes."""
    return StratumError(ErrorCode.OTHER, message)


def _count(params: list, method: str, low: int, high: int) -> None:
    if not low <= len(params) <= high:
        takes = f"{low}" if low == high else f"{low} or {high}" if high == low + 1 \
            else f"{low} to {high}"
        raise bad(f"{method} takes {takes} params, got {len(params)}")


def _optional_str(params: list, index: int, method: str, what: str) -> str | None:
    value = params[index] if index < len(params) else None
    if value is not None and not isinstance(value, str):
        raise bad(f"{method}: {what} must be a string or null, got {type(value).__name__}")
    return value


def subscribe(params: list) -> str | None:
    """The user agent (or None); the rest is checked for type and ignored."""
    _count(params, "mining.subscribe", 0, _SUBSCRIBE_MAX)
    agent = _optional_str(params, 0, "mining.subscribe", "the user agent")
    _optional_str(params, 1, "mining.subscribe", "the session id")
    _optional_str(params, 2, "mining.subscribe", "the host")
    if len(params) > 3:
        port = params[3]
        if port is not None and (isinstance(port, bool) or not isinstance(port, int | str)):
            raise bad(f"mining.subscribe: the port must be a number or a string, got "
                      f"{type(port).__name__}")  # fmt: skip
    return agent


def authorize(params: list) -> tuple[str, str | None]:
    """(worker name as sent, password or None). Whether the name is acceptable is the
    authorize handler's business; here only that it is a string."""
    _count(params, "mining.authorize", 1, 2)
    worker = params[0]
    if not isinstance(worker, str):
        raise bad(f"mining.authorize: the worker name must be a string, got "
                  f"{type(worker).__name__}")  # fmt: skip
    return worker, _optional_str(params, 1, "mining.authorize", "the password")


_SUBMIT_FIELDS = ("worker name", "job id", "extranonce2", "ntime", "nonce", "version bits")


def submit(params: list) -> str:
    """The worker name of a mining.submit whose params are 5 or 6 strings; the fields'
    contents are parsed later (pool.shares.submission)."""
    _count(params, "mining.submit", 5, 6)
    for index, value in enumerate(params):
        if not isinstance(value, str):
            field = _SUBMIT_FIELDS[index]
            kind = "8 hex characters" if index >= 3 else "a string"
            raise bad(f"mining.submit: {field} must be {kind}, got {type(value).__name__}")
    return params[0]


def configure(params: list) -> tuple[list[str], dict[str, Any]]:
    """([extension names], {option: value}) of mining.configure (BIP310)."""
    _count(params, "mining.configure", 1, 2)
    extensions, options = params[0], params[1] if len(params) > 1 else {}
    if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
        raise bad("mining.configure: the extensions must be a list of strings")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise bad(f"mining.configure: the options must be an object, got "
                  f"{type(options).__name__}")  # fmt: skip
    return extensions, options


def version_mask(value: Any) -> int | None:
    """`version-rolling.mask`: 1-8 hex digits (a JSON number is refused, not read as the
    hex of its decimal digits); None when the miner sent none."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 8 or not set(value) <= _HEX_DIGITS:
        raise bad(f"version-rolling.mask is not hex (1-8 hex digits in a string): {value!r:.40}")
    return int(value, 16)


def min_bit_count(value: Any) -> None:
    """`version-rolling.min-bit-count`: a whole number 0-32 when present (the pool's mask
    is what it is; the value is only checked)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 32:
        raise bad(f"version-rolling.min-bit-count must be 0-32, got {value!r:.40}")


def minimum_difficulty(value: Any) -> float:
    """`minimum-difficulty.value`: a finite number >= 0."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 <= value < math.inf):
        raise bad(f"minimum-difficulty.value must be a number >= 0, got {value!r:.40}")
    return float(value)


def suggest_difficulty(params: list) -> float:
    """mining.suggest_difficulty [difficulty]: a positive finite number (or its decimal
    string, as some firmware sends)."""
    _count(params, "mining.suggest_difficulty", 1, 1)
    value = params[0]
    if isinstance(value, str) and len(value) <= 64:
        try:
            value = float(value)
        except ValueError:
            value = None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 < value < math.inf):
        raise bad("mining.suggest_difficulty needs a positive number")
    return float(value)


def no_params(params: list, method: str) -> None:
    """Methods that take nothing (mining.extranonce.subscribe). mining.ping ignores its
    params instead: proxies send a timestamp or filler there."""
    if params:
        raise bad(f"{method} takes no params, got {len(params)}")
