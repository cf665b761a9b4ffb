"""Signed allotment messages: HMAC-SHA256 with a per-site key, a timestamp and a sequence
number, so a site takes figures only from its coordinator, and only fresh ones, once.

The coordinator (`coordinator/`) signs what it serves; fleetd verifies what its live feed
receives (fleetd.allotment.live). Both import this module, which holds no clock and no
socket: every call passes `now`.

On the wire a signed message is a JSON envelope around the exact text that was signed:

    {"alg": "HMAC-SHA256", "signed": "{\\"site\\":\\"north\\",\\"seq\\":17,\\"ts\\":...,
     \\"mw\\":12.5,\\"as_of\\":...,\\"id\\":\\"portfolio-3\\"}", "hmac": "<64 hex>"}

Signing the text itself (not a re-serialisation of the parsed object) leaves nothing to
canonicalise: floats, key order and escapes reach the verifier byte for byte. The MAC
covers `DOMAIN` + the text, so a key shared by mistake with another protocol cannot be
used to forge an allotment.

The body names the `site` (a message for one site is refused by another that shares its
key by mistake), `seq` (strictly increasing per site; a message whose seq is not above
the last accepted one is a replay) and `ts` (epoch seconds of signing; older than
`max_age_s`, or ahead of the verifier's clock by more than `max_skew_s`, is refused).
After a verifier restarts it has no last seq: the `ts` window then bounds what a replay
can achieve (a figure at most `max_age_s` old, which the feed's own staleness rule also
bounds). The coordinator takes seq = max(last + 1, now in ms), so its sequence keeps
rising across its own restarts even if its state file is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALG = "HMAC-SHA256"
DOMAIN = b"surplus-allotment-v1\n"
MIN_KEY_BYTES = 32
MAX_KEY_BYTES = 4096
MAX_SIGNED_CHARS = 64 * 1024  # a body is a few hundred characters
MAX_SEQ = 2**63 - 1
MAX_SITE_CHARS = 64

# why a message was refused: the label of the metric that counts them
REFUSALS = ("unsigned", "malformed", "forged", "wrong_site", "stale", "future", "replayed")


class SigningError(ValueError):
    """A key that cannot be used, or a message that cannot be signed."""


class Refused(ValueError):
    """A message the verifier refuses; `reason` is one of REFUSALS, str() says why (any
    outside text in it repr-escaped and bounded)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_key(key: bytes, where: str) -> bytes:
    """A key of MIN_KEY_BYTES..MAX_KEY_BYTES bytes, or SigningError naming `where`."""
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise SigningError(
            f"{where}: the signing key has {len(key)} bytes; expected "
            f"{MIN_KEY_BYTES} to {MAX_KEY_BYTES} (e.g. `openssl rand -hex 32`)"
        )
    return key


def read_key(*, env: str | None = None, file: Path | None = None, where: str = "key") -> bytes:
    """The key from the environment variable `env` or the file `file` (surrounding
    whitespace stripped: a trailing newline is not part of the key)."""
    if (env is None) == (file is None):
        raise SigningError(f"{where}: expected exactly one of key_env or key_file")
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise SigningError(f"{where}.key_env: environment variable {env} is not set")
        return check_key(value.strip().encode(), f"{where}.key_env ({env})")
    assert file is not None
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise SigningError(f"{where}.key_file: cannot read {str(file)!r}: {exc.strerror}") from None
    return check_key(data.strip(), f"{where}.key_file ({file})")


def mac(key: bytes, signed: str) -> str:
    return hmac.new(key, DOMAIN + signed.encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, site: str, seq: int, ts: float, fields: dict[str, Any]) -> dict[str, str]:
    """The envelope for `fields` (the feed message: mw, as_of, id, next) to `site`."""
    if not 0 <= seq <= MAX_SEQ:
        raise SigningError(f"seq {seq} out of range")
    if not math.isfinite(ts):
        raise SigningError(f"ts {ts!r} is not finite")
    body = {"site": site, "seq": seq, "ts": ts} | {
        k: v for k, v in fields.items() if k not in ("site", "seq", "ts")
    }
    signed = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return {"alg": ALG, "signed": signed, "hmac": mac(key, signed)}


def encode(envelope: dict[str, str]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass
class Verifier:
    """Checks envelopes for one site and remembers the last seq it accepted; counts what
    it refused by reason (`refused`), for the metric."""

    key: bytes
    site: str
    max_age_s: float = 30.0
    max_skew_s: float = 5.0
    last_seq: int | None = None
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        check_key(self.key, f"site {self.site!r}")
        if not (math.isfinite(self.max_age_s) and self.max_age_s > 0):
            raise SigningError(f"max_age_s must be > 0, got {self.max_age_s!r}")
        if not (math.isfinite(self.max_skew_s) and self.max_skew_s >= 0):
            raise SigningError(f"max_skew_s must be >= 0, got {self.max_skew_s!r}")

    def open(self, envelope: Any, now: float) -> dict[str, Any]:
        """The verified body (a dict with the feed's fields), or Refused."""
        try:
            body = self._open(envelope, now)
        except Refused as exc:
            self.refused[exc.reason] += 1
            raise
        self.accepted += 1
        return body

    def _open(self, envelope: Any, now: float) -> dict[str, Any]:
        if not isinstance(envelope, dict) or "signed" not in envelope or "hmac" not in envelope:
            keys = list(envelope)[:6] if isinstance(envelope, dict) else type(envelope).__name__
            raise Refused("unsigned", f"unsigned message; expected 'signed' and 'hmac' "
                                      f"(got {_shown(keys)})")  # fmt: skip
        signed, given = envelope["signed"], envelope["hmac"]
        alg = envelope.get("alg", ALG)
        if alg != ALG:
            raise Refused("malformed", f"malformed message: alg {_shown(alg)}; expected {ALG}")
        if not isinstance(signed, str) or len(signed) > MAX_SIGNED_CHARS:
            raise Refused("malformed", "malformed message: 'signed' is not a string of at "
                                       f"most {MAX_SIGNED_CHARS} characters")  # fmt: skip
        if not isinstance(given, str) or len(given) != 64:
            raise Refused("malformed", "malformed message: 'hmac' is not 64 hex digits")
        if not hmac.compare_digest(given.lower().encode(), mac(self.key, signed).encode()):
            raise Refused("forged", "forged message: the signature does not match this "
                                    "site's key")  # fmt: skip
        try:
            body = json.loads(signed)
        except json.JSONDecodeError:
            raise Refused("malformed", "malformed message: the signed text is not JSON") from None
        if not isinstance(body, dict):
            raise Refused("malformed", "malformed message: the signed text is not an object")
        site, seq, ts = body.get("site"), body.get("seq"), body.get("ts")
        if site != self.site:
            raise Refused("wrong_site", f"message for another site: {_shown(site)}; expected "
                                        f"{self.site!r}")  # fmt: skip
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
            raise Refused("malformed", f"malformed message: seq {_shown(seq)}; expected an "
                                       "integer")  # fmt: skip
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
            raise Refused("malformed", f"malformed message: ts {_shown(ts)}; expected epoch "
                                       "seconds")  # fmt: skip
        if now - ts > self.max_age_s:
            raise Refused("stale", f"stale message: signed {now - ts:.0f} s ago (at most "
                                   f"{self.max_age_s:g} s accepted)")  # fmt: skip
        if ts - now > self.max_skew_s:
            raise Refused("future", f"message from the future: signed {ts - now:.0f} s ahead "
                                    f"of this clock (at most {self.max_skew_s:g} s)")  # fmt: skip
        if self.last_seq is not None and seq <= self.last_seq:
            raise Refused("replayed", f"replayed message: seq {seq}, last accepted "
                                      f"{self.last_seq}")  # fmt: skip
        self.last_seq = seq
        return body
